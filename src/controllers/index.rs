//! The reference index of each [`Cache`](super::cache::Cache): which cached objects name a
//! given workspace, connection or Secret, or record a given Meshes ID. Watch mappers, parent
//! triggers and look-ups by ID ask it instead of scanning the whole store, so an event costs the
//! objects it concerns, not every object of the kind (issue 16: a resync round was O(N²)).
//!
//! The watch keeps the index in step with its store ([`Index::observe`] runs right after the
//! store applied the event, before anyone hears of it), so a look-up finds what a scan of the
//! store would. Callers still test each candidate with their own predicate: the index only has
//! to file an object under every key the predicate could accept it for.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use kube::ResourceExt;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use crate::resources::{Decoded, MeshesConnection, MeshesRule, MeshesWorkspace};

/// What a key points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `spec.workspaceRef.name`.
    Workspace,
    /// `spec.connectionRef.name`.
    Connection,
    /// A Secret the object reads (credentials, `secretMetadata`) or writes (the output Secret).
    Secret,
    /// Uses the operator's default credentials (no `credentialsRef`); namespace-less.
    DefaultCredentials,
    /// `status.workspaceId` (the workspace's own, or its parent's for a child).
    WorkspaceId,
    /// A Meshes rule ID the object records (`ruleId`, `previousRuleId`); namespace-less, since
    /// IDs are global.
    RuleId,
}

/// One index key: a tag, the namespace it applies in ("" for namespace-less tags) and a value.
/// Held inside the index as one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    tag: Tag,
    namespace: String,
    value: String,
}

impl Key {
    /// The key `tag` = `value` in `namespace`.
    pub fn new(tag: Tag, namespace: &str, value: &str) -> Self {
        Self {
            tag,
            namespace: namespace.to_owned(),
            value: value.to_owned(),
        }
    }

    /// A namespace-less key (default credentials, rule IDs).
    pub fn global(tag: Tag, value: &str) -> Self {
        Self::new(tag, "", value)
    }
}

/// A kind the index can file: the keys each of its objects belongs under.
pub trait Indexed {
    /// Every key this object must be found under.
    fn keys(&self) -> Vec<Key>;
}

fn ns_of<K: kube::Resource>(o: &K) -> String {
    o.namespace().unwrap_or_default()
}

impl Indexed for MeshesWorkspace {
    fn keys(&self) -> Vec<Key> {
        let ns = ns_of(self);
        let mut keys = vec![Key::new(
            Tag::Secret,
            &ns,
            &super::workspace::output::secret_name(self),
        )];
        match &self.spec.credentials_ref {
            Some(r) => keys.push(Key::new(Tag::Secret, &ns, &r.name)),
            None => keys.push(Key::global(Tag::DefaultCredentials, "")),
        }
        if let Some(s) = &self.status {
            if let Some(name) = &s.publishable_key_secret_name {
                keys.push(Key::new(Tag::Secret, &ns, name));
            }
            if let Some(id) = &s.workspace_id {
                keys.push(Key::new(Tag::WorkspaceId, &ns, id));
            }
        }
        keys
    }
}

impl Indexed for MeshesConnection {
    fn keys(&self) -> Vec<Key> {
        let ns = ns_of(self);
        let mut keys = Vec::new();
        if let Some(w) = &self.spec.workspace_ref {
            keys.push(Key::new(Tag::Workspace, &ns, &w.name));
        }
        if let Some(r) = &self.spec.credentials_ref {
            keys.push(Key::new(Tag::Secret, &ns, &r.name));
        }
        for e in self.spec.secret_metadata.iter().flatten() {
            keys.push(Key::new(Tag::Secret, &ns, &e.secret_key_ref.name));
        }
        if let Some(id) = self.status.as_ref().and_then(|s| s.workspace_id.as_ref()) {
            keys.push(Key::new(Tag::WorkspaceId, &ns, id));
        }
        keys
    }
}

impl Indexed for MeshesRule {
    fn keys(&self) -> Vec<Key> {
        let ns = ns_of(self);
        let mut keys = Vec::new();
        if let Some(c) = &self.spec.connection_ref {
            keys.push(Key::new(Tag::Connection, &ns, &c.name));
        }
        if let Some(r) = &self.spec.credentials_ref {
            keys.push(Key::new(Tag::Secret, &ns, &r.name));
        }
        if let Some(s) = &self.status {
            if let Some(id) = &s.workspace_id {
                keys.push(Key::new(Tag::WorkspaceId, &ns, id));
            }
            for id in [&s.rule_id, &s.previous_rule_id].into_iter().flatten() {
                keys.push(Key::global(Tag::RuleId, id));
            }
        }
        keys
    }
}

/// Separates the parts of a key's or a place's text (never part of a Kubernetes name or a
/// Meshes ID).
const SEP: char = '\u{1f}';

impl Key {
    /// The key as one string: each key is held once, shared by every object filed under it.
    fn text(&self) -> String {
        format!(
            "{}{SEP}{}{SEP}{}",
            self.tag as u8, self.namespace, self.value
        )
    }
}

/// An object's place in its store (namespace, name) as one string, held once per object.
fn place_text(namespace: &str, name: &str) -> Arc<str> {
    Arc::from(format!("{namespace}{SEP}{name}"))
}

/// The index proper, compact: with a B-tree set of (namespace, name) pairs per key (a node
/// allocated for each), the bench's peak RSS at 4,000 custom resources was 64.3 MiB; with each
/// key and place held once as a shared string, in small vectors, 51.6 MiB.
#[derive(Debug, Default)]
struct Entries {
    /// Key text → the places of the objects filed under it.
    by_key: HashMap<Arc<str>, Vec<Arc<str>>>,
    /// Place → the key texts it is filed under (to unfile it when it changes or goes).
    keys_of: HashMap<Arc<str>, Vec<Arc<str>>>,
}

impl Entries {
    fn remove(&mut self, place: &str) {
        for key in self.keys_of.remove(place).unwrap_or_default() {
            if let Some(places) = self.by_key.get_mut(&*key) {
                places.retain(|p| **p != *place);
                if places.is_empty() {
                    self.by_key.remove(&*key);
                }
            }
        }
    }

    fn insert(&mut self, place: Arc<str>, keys: &[Key]) {
        let mut texts: Vec<String> = keys.iter().map(Key::text).collect();
        texts.sort();
        texts.dedup();
        let mut held = Vec::with_capacity(texts.len());
        for text in texts {
            let key = match self.by_key.get_key_value(text.as_str()) {
                Some((k, _)) => k.clone(),
                None => Arc::from(text),
            };
            let places = self.by_key.entry(key.clone()).or_default();
            if !places.contains(&place) {
                places.push(place.clone());
            }
            held.push(key);
        }
        if !held.is_empty() {
            self.keys_of.insert(place, held);
        }
    }
}

/// The keys of one kind's cached objects (see the module documentation). Cheap to clone; the
/// clones share the entries.
pub struct Index<K> {
    entries: Arc<RwLock<Entries>>,
    keys: fn(&K) -> Vec<Key>,
}

impl<K> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            keys: self.keys,
        }
    }
}

impl<K> std::fmt::Debug for Index<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Index")
            .field("keys", &e.by_key.len())
            .finish()
    }
}

impl<K> Index<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    /// An empty index filing each object under `keys(object)`.
    pub fn new(keys: fn(&K) -> Vec<Key>) -> Self {
        Self {
            entries: Arc::default(),
            keys,
        }
    }

    /// Applies watch event `event`, which `store` has just applied. A relist is taken whole at
    /// its end, as the store swaps its list in then.
    pub fn observe(&self, event: &watcher::Event<Decoded<K>>, store: &Store<Decoded<K>>) {
        let place = |d: &Decoded<K>| place_text(&d.namespace().unwrap_or_default(), &d.name_any());
        let mut e = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(d) => {
                let place = place(d);
                e.remove(&place);
                if let Some(obj) = d.shared() {
                    e.insert(place, &(self.keys)(&obj));
                }
            }
            watcher::Event::Delete(d) => e.remove(&place(d)),
            watcher::Event::InitDone => {
                let mut fresh = Entries::default();
                for d in store.state() {
                    if let Some(obj) = d.shared() {
                        fresh.insert(place(&d), &(self.keys)(&obj));
                    }
                }
                *e = fresh;
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }

    /// The places (namespace, name) of the objects filed under `key`.
    pub fn places(&self, key: &Key) -> Vec<(String, String)> {
        let e = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let places = e.by_key.get(key.text().as_str());
        places
            .into_iter()
            .flatten()
            .filter_map(|p| p.split_once(SEP))
            .map(|(ns, name)| (ns.to_owned(), name.to_owned()))
            .collect()
    }

    /// Whether some object is filed under `key`.
    pub fn contains(&self, key: &Key) -> bool {
        let e = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        e.by_key.contains_key(key.text().as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kube::runtime::watcher::Event;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::controllers::cache::{Cache, Feed};
    use crate::controllers::references::{self, connection_reads, names_workspace};

    fn connection(
        name: &str,
        ws: &str,
        secret: Option<&str>,
        id: Option<&str>,
    ) -> MeshesConnection {
        let mut spec = json!({"workspaceRef": {"name": ws}, "type": "webhook"});
        if let Some(s) = secret {
            spec["secretMetadata"] =
                json!([{"key": "token", "secretKeyRef": {"name": s, "key": "t"}}]);
        }
        let mut obj = json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": name, "namespace": "a", "uid": format!("u-{name}")},
            "spec": spec});
        if let Some(id) = id {
            obj["status"] = json!({"workspaceId": id});
        }
        serde_json::from_value(obj).expect("connection")
    }

    fn names(v: impl IntoIterator<Item = Arc<MeshesConnection>>) -> BTreeSet<String> {
        v.into_iter().map(|c| c.name_any()).collect()
    }

    /// What the index answers for every key of the small universe, against a scan of the
    /// whole cache with the same predicate (what every look-up did before the index).
    fn agrees_with_a_scan(cache: &Cache<MeshesConnection>) -> Result<(), TestCaseError> {
        let all = cache.state();
        let ns = Some("a".to_string());
        for ws in ["w1", "w2"] {
            let indexed =
                references::referring(cache, ns.clone(), Tag::Workspace, ws, names_workspace);
            let scanned = all.iter().filter(|c| names_workspace(c, ws)).cloned();
            prop_assert_eq!(names(indexed), names(scanned), "workspace {}", ws);
        }
        for s in ["s1", "s2"] {
            let indexed =
                references::referring(cache, ns.clone(), Tag::Secret, s, connection_reads);
            let scanned = all.iter().filter(|c| connection_reads(c, s)).cloned();
            prop_assert_eq!(names(indexed), names(scanned), "secret {}", s);
        }
        for id in ["i1", "i2"] {
            let has = |c: &MeshesConnection| {
                c.status.as_ref().and_then(|s| s.workspace_id.as_deref()) == Some(id)
            };
            let indexed = cache.filed_under(&Key::new(Tag::WorkspaceId, "a", id));
            let indexed = indexed.into_iter().filter(|c| has(c));
            let scanned = all.iter().filter(|c| has(c)).cloned();
            prop_assert_eq!(names(indexed), names(scanned), "workspace id {}", id);
        }
        // Nothing stale either: each key holds exactly the objects now filed under it (a
        // stale entry would be filtered out above, but cost every later look-up).
        let keys = ["w1", "w2"]
            .map(|v| Key::new(Tag::Workspace, "a", v))
            .into_iter()
            .chain(["s1", "s2"].map(|v| Key::new(Tag::Secret, "a", v)))
            .chain(["i1", "i2"].map(|v| Key::new(Tag::WorkspaceId, "a", v)));
        for key in keys {
            let scanned = all.iter().filter(|c| c.keys().contains(&key)).cloned();
            prop_assert_eq!(names(cache.filed_under(&key)), names(scanned), "{:?}", key);
        }
        Ok(())
    }

    /// One watch event of the universe: apply, delete, or a whole relist.
    #[derive(Debug, Clone)]
    enum Op {
        Apply(usize, usize, Option<usize>, Option<usize>),
        Delete(usize),
        Relist(Vec<(usize, usize, Option<usize>, Option<usize>)>),
    }

    const NAMES: [&str; 4] = ["c1", "c2", "c3", "c4"];

    fn object((n, ws, s, id): (usize, usize, Option<usize>, Option<usize>)) -> MeshesConnection {
        connection(
            NAMES[n],
            ["w1", "w2"][ws],
            s.map(|s| ["s1", "s2"][s]),
            id.map(|i| ["i1", "i2"][i]),
        )
    }

    fn fields() -> impl Strategy<Value = (usize, usize, Option<usize>, Option<usize>)> {
        (
            0..4usize,
            0..2usize,
            proptest::option::of(0..2usize),
            proptest::option::of(0..2usize),
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => fields().prop_map(|(n, w, s, i)| Op::Apply(n, w, s, i)),
            2 => (0..4usize).prop_map(Op::Delete),
            1 => proptest::collection::vec(fields(), 0..5).prop_map(Op::Relist),
        ]
    }

    proptest! {
        // A fixed case count and no persistence files, as the client's property tests.
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// After any sequence of applies (references changed, added, dropped), deletes and
        /// relists (objects gone from the new list included), each look-up through the index
        /// finds exactly what a scan of the cache finds.
        #[test]
        fn the_index_answers_as_a_scan_would(ops in proptest::collection::vec(op(), 1..40)) {
            let (cache, mut feed) = Feed::<MeshesConnection>::new();
            feed.apply(Event::Init);
            feed.apply(Event::InitDone);
            for op in ops {
                match op {
                    Op::Apply(n, w, s, i) => feed.apply(Event::Apply(object((n, w, s, i)))),
                    Op::Delete(n) => feed.apply(Event::Delete(connection(NAMES[n], "w1", None, None))),
                    Op::Relist(list) => {
                        feed.apply(Event::Init);
                        for f in list {
                            feed.apply(Event::InitApply(object(f)));
                        }
                        feed.apply(Event::InitDone);
                    }
                }
                agrees_with_a_scan(&cache)?;
            }
        }
    }

    /// A look-up touches only the objects filed under its key: with 1,000 connections of
    /// other workspaces cached, the predicate runs for the two of `w1` (positive control: a
    /// scan would run it 1,002 times, and both are found).
    #[test]
    fn a_look_up_costs_the_matches_not_the_cache() {
        let mut objects: Vec<_> = (0..1000)
            .map(|i| connection(&format!("other-{i}"), &format!("w-{i}"), None, None))
            .collect();
        objects.push(connection("mine-1", "w1", None, None));
        objects.push(connection("mine-2", "w1", None, None));
        let cache = Feed::of(objects);
        let calls = std::cell::Cell::new(0);
        let found =
            references::referring(&cache, Some("a".into()), Tag::Workspace, "w1", |c, n| {
                calls.set(calls.get() + 1);
                names_workspace(c, n)
            });
        assert_eq!(
            names(found),
            ["mine-1".to_string(), "mine-2".to_string()].into()
        );
        assert_eq!(calls.get(), 2);
        assert_eq!(cache.state().len(), 1002);
    }

    /// Workspaces are found by the Secrets they read or write (default credentials under one
    /// namespace-less key) and by their Meshes ID; rules by the rule IDs they record, across
    /// namespaces.
    #[test]
    fn workspaces_and_rules_are_filed_under_what_their_look_ups_ask() {
        let ws: MeshesWorkspace = serde_json::from_value(json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": "shop", "namespace": "a"}, "spec": {},
            "status": {"workspaceId": "w-1", "publishableKeySecretName": "renamed"}}))
        .expect("workspace");
        let keys = ws.keys();
        for k in [
            Key::new(Tag::Secret, "a", "shop-publishable-key"),
            Key::new(Tag::Secret, "a", "renamed"),
            Key::global(Tag::DefaultCredentials, ""),
            Key::new(Tag::WorkspaceId, "a", "w-1"),
        ] {
            assert!(keys.contains(&k), "{k:?} missing from {keys:?}");
        }
        let rule: MeshesRule = serde_json::from_value(json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule",
            "metadata": {"name": "r", "namespace": "b"},
            "spec": {"connectionRef": {"name": "hook"}, "event": "x", "metadata": {"action": "send_webhook"},
                     "credentialsRef": {"name": "creds"}},
            "status": {"ruleId": "r-2", "previousRuleId": "r-1", "workspaceId": "w-1"}}))
        .expect("rule");
        let cache = Feed::of([rule]);
        assert!(cache.has(&Key::global(Tag::RuleId, "r-1")));
        assert!(cache.has(&Key::global(Tag::RuleId, "r-2")));
        assert!(!cache.has(&Key::global(Tag::RuleId, "r-3")));
        for k in [
            Key::new(Tag::Connection, "b", "hook"),
            Key::new(Tag::Secret, "b", "creds"),
            Key::new(Tag::WorkspaceId, "b", "w-1"),
        ] {
            assert_eq!(cache.filed_under(&k).len(), 1, "{k:?}");
        }
        assert!(
            cache
                .filed_under(&Key::new(Tag::Connection, "a", "hook"))
                .is_empty()
        );
    }
}
