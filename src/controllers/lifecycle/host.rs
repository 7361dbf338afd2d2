//! The Kubernetes side of a lifecycle pass, behind a trait: status writes (the intermediate ones
//! with a `resourceVersion` precondition), the freshness check before writes upstream, Events and
//! the external-id annotation. [`KubeHost`] talks to the API server; the unit tier records calls.

use std::sync::Mutex;

use async_trait::async_trait;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::Kind;
use crate::controllers::context::{Context, OwnVersion};
use crate::controllers::report;

/// What a lifecycle pass needs from Kubernetes.
#[async_trait]
pub trait Host<K: Kind>: Send + Sync {
    /// Writes `status` now, before a call to Meshes that must be recorded first (a pending
    /// create, a replacement's new ID). Fails with a 409 when the object changed since the
    /// version the pass acted on, so a concurrent writer's status is never overwritten.
    async fn persist(&self, obj: &K, status: &K::Status) -> Result<(), kube::Error>;
    /// Whether the API server has a newer version of `obj` than the pass was handed (our own
    /// last write not yet in the cache): checked before every create or replace.
    async fn is_stale(&self, obj: &K) -> Result<bool, kube::Error>;
    /// Publishes an Event (best effort).
    async fn event(&self, obj: &K, warning: bool, reason: &str, note: String);
}

/// The real host: the API server through the context's client.
#[derive(Debug)]
pub struct KubeHost<'a> {
    ctx: &'a Context,
    /// The resourceVersion the next precondition expects (updated by our own writes).
    version: Mutex<Option<String>>,
}

impl<'a> KubeHost<'a> {
    /// A host acting on objects as handed by the cache.
    pub fn new(ctx: &'a Context) -> Self {
        Self {
            ctx,
            version: Mutex::new(None),
        }
    }

    fn expected<K: Kind>(&self, obj: &K) -> Option<String> {
        self.version
            .lock()
            .ok()
            .and_then(|v| v.clone())
            .or_else(|| obj.meta().resource_version.clone())
    }

    fn remember(&self, version: Option<String>) {
        if let Ok(mut v) = self.version.lock() {
            *v = version;
        }
    }
}

#[async_trait]
impl<K: Kind> Host<K> for KubeHost<'_> {
    async fn persist(&self, obj: &K, status: &K::Status) -> Result<(), kube::Error> {
        let api: Api<K> = Api::namespaced(
            self.ctx.client.clone(),
            &obj.namespace().unwrap_or_default(),
        );
        // Server-side apply honours metadata.resourceVersion as a precondition (409 on mismatch).
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"resourceVersion": self.expected(obj)},
            "status": status,
        });
        let written = api
            .patch_status(
                &obj.name_any(),
                &PatchParams::apply(&self.ctx.config.manager_name).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        let uid = obj.meta().uid.as_deref().unwrap_or_default();
        self.remember(written.meta().resource_version.clone());
        self.ctx.wrote(uid, written.meta().resource_version.clone());
        self.ctx.status_written(uid, report::status_hash(status));
        Ok(())
    }

    async fn is_stale(&self, obj: &K) -> Result<bool, kube::Error> {
        let version = obj.meta().resource_version.clone();
        let uid = obj.meta().uid.as_deref().unwrap_or_default();
        match self.ctx.own_version(uid, version.as_deref()) {
            // This process's last write (the answer of this pass's finalizer patch, or a write
            // the cache has caught up with): nothing of ours is missing, and a writer since then
            // fails the next write's precondition.
            OwnVersion::Latest => {
                self.remember(version);
                return Ok(false);
            }
            // An earlier write of ours: a later one is on its way to the cache (the pass after
            // a create, woken by that create's finalizer patch). No read needed to know.
            OwnVersion::Older => return Ok(true),
            OwnVersion::Unknown => {}
        }
        let api: Api<K> = Api::namespaced(
            self.ctx.client.clone(),
            &obj.namespace().unwrap_or_default(),
        );
        let fresh = api.get(&obj.name_any()).await?;
        let stale = fresh.meta().resource_version != self.expected(obj);
        if !stale {
            self.remember(fresh.meta().resource_version.clone());
        }
        Ok(stale)
    }

    async fn event(&self, obj: &K, warning: bool, reason: &str, note: String) {
        report::event(self.ctx, obj, warning, reason, note).await;
    }
}
