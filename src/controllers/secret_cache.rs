//! Secrets read by passes (credentials, `secretMetadata`, the output Secret), cached by
//! resourceVersion: the metadata watch the controllers already run reports each Secret's
//! current resourceVersion, and a pass GETs a Secret only when the cached copy is older than
//! that (or unknown). In steady state no pass reads a Secret from the API server.
//!
//! Only Secrets in namespaces the watch covers are served from the cache (the operator's
//! default credentials may live outside its scope; those are read every time), and only once
//! a watch feeds the cache at all (a context without the controllers reads every time). A
//! relist of the watch drops everything, since Deletes may have been missed. Exactly one watch
//! stream feeds it ([`super::secret_feed`]): resourceVersions are only compared for equality,
//! so the newest one reported must be the last one reported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;

use super::scope::Scope;

/// One cached Secret.
#[derive(Debug)]
struct Entry {
    /// The resourceVersion of the copy held (`secret`).
    cached: Option<String>,
    /// The newest resourceVersion the watch reported.
    latest: Option<String>,
    /// The Secret without managedFields (`None` while the first read is in flight).
    secret: Option<Arc<Secret>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The scope of the watch feeding the cache; `None` until one does.
    scope: Option<Scope>,
    entries: HashMap<(String, String), Entry>,
    /// Secrets whose in-use finalizer this process added and has not yet seen.
    finalizing: std::collections::HashSet<(String, String)>,
}

/// The cache, shared by every pass (cloning shares it).
#[derive(Debug, Clone, Default)]
pub struct SecretCache(Arc<Mutex<Inner>>);

impl SecretCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on a watch of `scope` feeds the cache through [`Self::observe`].
    pub fn fed_by(&self, scope: &Scope) {
        self.lock().scope = Some(scope.clone());
    }

    /// Takes note of one event of the Secret metadata watch.
    pub fn observe(&self, event: &watcher::Event<PartialObjectMeta<Secret>>) {
        let mut inner = self.lock();
        let key = |m: &PartialObjectMeta<Secret>| {
            (
                m.metadata.namespace.clone().unwrap_or_default(),
                m.metadata.name.clone().unwrap_or_default(),
            )
        };
        match event {
            watcher::Event::Apply(m) | watcher::Event::InitApply(m) => {
                if let Some(e) = inner.entries.get_mut(&key(m)) {
                    e.latest = m.metadata.resource_version.clone();
                }
            }
            watcher::Event::Delete(m) => {
                inner.entries.remove(&key(m));
            }
            watcher::Event::Init => inner.entries.clear(),
            watcher::Event::InitDone => {}
        }
    }

    /// Whether a pass should add the in-use finalizer to `namespace/name`, which lacks it in the
    /// copy the pass read: not when this process already added it and has not seen the result
    /// yet (every pass in flight would patch again and all but one be refused with a 409).
    /// `has` says whether the copy read carries it (seeing it ends the record).
    pub fn should_add_finalizer(&self, namespace: &str, name: &str, has: bool) -> bool {
        let key = (namespace.to_string(), name.to_string());
        let mut inner = self.lock();
        if has {
            inner.finalizing.remove(&key);
            return false;
        }
        inner.finalizing.insert(key)
    }

    /// Adding the in-use finalizer to `namespace/name` failed: the next pass tries again.
    pub fn finalizer_failed(&self, namespace: &str, name: &str) {
        self.lock()
            .finalizing
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Secrets held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no Secret is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached copy of `namespace/name` if it is current.
    pub(super) fn cached(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        let inner = self.lock();
        let covered = inner
            .scope
            .as_ref()
            .is_some_and(|s| s.covers(Some(namespace)));
        if !covered {
            return None;
        }
        let e = inner
            .entries
            .get(&(namespace.to_string(), name.to_string()))?;
        if e.cached.is_some() && e.cached == e.latest {
            e.secret.clone()
        } else {
            None
        }
    }

    /// Secret `namespace/name`: the cached copy while the watch reports no newer version, else
    /// read from the API server (and cached). `Ok(None)` when it does not exist.
    pub async fn get(
        &self,
        client: &kube::Client,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<Secret>>, kube::Error> {
        if let Some(hit) = self.cached(namespace, name) {
            tracing::trace!(
                namespace,
                name,
                resource_version = hit.metadata.resource_version.as_deref().unwrap_or_default(),
                "Secret served from the cache"
            );
            return Ok(Some(hit));
        }
        // Registered before the read, so a change the watch reports while it is in flight is
        // not lost (the copy read may be older than that change).
        self.register(namespace, name);
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let Some(mut found) = api.get_opt(name).await? else {
            self.lock()
                .entries
                .remove(&(namespace.to_string(), name.to_string()));
            return Ok(None);
        };
        found.metadata.managed_fields = None;
        let found = Arc::new(found);
        self.insert(namespace, name, found.clone());
        Ok(Some(found))
    }

    /// Makes `namespace/name` followed by the watch, before it is read.
    pub(super) fn register(&self, namespace: &str, name: &str) {
        let mut inner = self.lock();
        if inner.scope.is_some() {
            inner
                .entries
                .entry((namespace.to_string(), name.to_string()))
                .or_insert(Entry {
                    cached: None,
                    latest: None,
                    secret: None,
                });
        }
    }

    /// Holds `secret` as read by the operator, if `namespace/name` is still registered: a
    /// relist (or a Delete) while the read was in flight dropped the entry, and the copy read
    /// may predate what the relist saw, so it is not kept.
    pub fn insert(&self, namespace: &str, name: &str, secret: Arc<Secret>) {
        let mut inner = self.lock();
        let version = secret.metadata.resource_version.clone();
        let Some(entry) = inner
            .entries
            .get_mut(&(namespace.to_string(), name.to_string()))
        else {
            return;
        };
        if entry.latest.is_none() {
            entry.latest = version.clone();
        }
        entry.cached = version;
        entry.secret = Some(secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ns: &str, name: &str, rv: &str) -> PartialObjectMeta<Secret> {
        let mut m = PartialObjectMeta::<Secret>::default();
        m.metadata.namespace = Some(ns.into());
        m.metadata.name = Some(name.into());
        m.metadata.resource_version = Some(rv.into());
        m
    }

    fn secret(rv: &str) -> Arc<Secret> {
        let mut s = Secret::default();
        s.metadata.resource_version = Some(rv.into());
        Arc::new(s)
    }

    fn scoped(namespaces: &[&str]) -> SecretCache {
        let c = SecretCache::default();
        c.fed_by(&Scope {
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            label_selector: None,
        });
        c
    }

    #[test]
    fn a_copy_is_served_until_the_watch_reports_a_newer_version() {
        let c = scoped(&[]);
        c.register("a", "creds");
        c.insert("a", "creds", secret("5"));
        assert!(c.cached("a", "creds").is_some(), "fresh copy");
        c.observe(&watcher::Event::Apply(meta("a", "creds", "5")));
        assert!(c.cached("a", "creds").is_some(), "same version");
        c.observe(&watcher::Event::Apply(meta("a", "creds", "6")));
        assert!(
            c.cached("a", "creds").is_none(),
            "newer version: read again"
        );
        c.insert("a", "creds", secret("6"));
        assert!(c.cached("a", "creds").is_some());
        c.observe(&watcher::Event::Delete(meta("a", "creds", "6")));
        assert!(c.cached("a", "creds").is_none(), "deleted");
        c.register("a", "creds");
        c.insert("a", "creds", secret("7"));
        assert!(c.cached("a", "creds").is_some(), "read again");
        c.observe(&watcher::Event::Init);
        assert!(
            c.cached("a", "creds").is_none(),
            "a relist drops everything"
        );
    }

    /// The in-use finalizer is added once while the copies read lack it, again after a
    /// failure or once it was seen and is missing again.
    #[test]
    fn the_in_use_finalizer_is_added_once_until_seen() {
        let c = SecretCache::default();
        assert!(c.should_add_finalizer("a", "creds", false));
        assert!(!c.should_add_finalizer("a", "creds", false), "in flight");
        c.finalizer_failed("a", "creds");
        assert!(
            c.should_add_finalizer("a", "creds", false),
            "after a failure"
        );
        assert!(!c.should_add_finalizer("a", "creds", true), "seen");
        assert!(
            c.should_add_finalizer("a", "creds", false),
            "removed since (released by the janitor)"
        );
    }

    /// A change the watch reports while a read is in flight makes the copy read stale.
    #[test]
    fn a_change_during_a_read_is_not_lost() {
        let c = scoped(&[]);
        c.lock().entries.insert(
            ("a".into(), "creds".into()),
            Entry {
                cached: None,
                latest: None,
                secret: None,
            },
        );
        c.observe(&watcher::Event::Apply(meta("a", "creds", "6")));
        c.insert("a", "creds", secret("5"));
        assert!(c.cached("a", "creds").is_none());
    }

    /// A relist while a read is in flight: the copy read may predate what the relist saw, so
    /// it is not kept (the next pass reads again).
    #[test]
    fn a_copy_read_across_a_relist_is_not_kept() {
        let c = scoped(&[]);
        c.register("a", "creds");
        c.observe(&watcher::Event::Init);
        c.observe(&watcher::Event::InitApply(meta("a", "creds", "6")));
        c.observe(&watcher::Event::InitDone);
        c.insert("a", "creds", secret("5"));
        assert!(c.cached("a", "creds").is_none());
        c.register("a", "creds");
        c.insert("a", "creds", secret("6"));
        assert!(
            c.cached("a", "creds").is_some(),
            "control: a read after the relist is kept"
        );
    }

    #[test]
    fn nothing_is_served_without_a_watch_or_outside_its_scope() {
        let unfed = SecretCache::default();
        unfed.insert("a", "creds", secret("5"));
        assert!(unfed.cached("a", "creds").is_none());
        let c = scoped(&["a"]);
        c.register("ops", "default");
        c.insert("ops", "default", secret("5"));
        assert!(c.cached("ops", "default").is_none(), "outside the watch");
        c.register("a", "creds");
        c.insert("a", "creds", secret("5"));
        assert!(c.cached("a", "creds").is_some(), "inside the watch");
    }
}
