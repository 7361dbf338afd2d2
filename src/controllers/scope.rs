//! Which objects an instance handles ([`Scope`]: namespaces and a label selector) and its watches
//! of them, each object decoded on its own ([`Decoded`]): an object the Rust types cannot read is
//! reported on itself and never breaks the list or watch of its kind. The controllers run over
//! [`Decoded`] objects; the [`Cache`] of each kind, shared through the context, reads the same
//! store as the objects that decode.

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use kube::api::Api;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::cache::Cache;
use super::fanout::Fanout;
use super::index::Indexed;
use super::watches;
use crate::resources::Decoded;

/// A namespaced kind the operator watches and decodes (the bounds every watch needs).
pub trait Watched:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Which objects this operator instance handles (shards split by namespace or label selector).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Watch only these namespaces; empty = all namespaces. Each namespace has its own watches
    /// (merged, [`watches::merge`]), so RBAC in those namespaces is enough: nothing is listed
    /// or watched cluster-wide.
    pub namespaces: Vec<String>,
    /// Watch only custom resources with these labels (e.g. `meshes.io/shard=a`).
    pub label_selector: Option<String>,
}

impl Scope {
    /// One API per watched namespace, or one for all namespaces.
    pub(super) fn apis<K>(&self, client: kube::Client) -> Vec<Api<K>>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        if self.namespaces.is_empty() {
            return vec![Api::all(client)];
        }
        self.namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }

    /// Whether objects of `namespace` belong to this instance.
    pub fn covers(&self, namespace: Option<&str>) -> bool {
        self.namespaces.is_empty()
            || namespace.is_some_and(|ns| self.namespaces.iter().any(|n| n == ns))
    }

    /// The watch events of this scope's objects of kind `K`: one watcher per namespace,
    /// merged into the events of one watch ([`watches::merge`]).
    pub(super) fn events<K>(
        &self,
        client: kube::Client,
        wc: watcher::Config,
    ) -> BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let streams = self
            .apis::<K>(client)
            .into_iter()
            .map(|api| {
                watcher(api, wc.clone())
                    .default_backoff()
                    // Never read, and often the largest part of an object: not kept in any
                    // store (memory grows with every cached object otherwise).
                    .modify(|o: &mut K| o.meta_mut().managed_fields = None)
                    .boxed()
            })
            .collect();
        watches::merge(streams)
    }

    /// The watch of this scope's objects of kind `K`, each decoded on its own: a controller
    /// over all of them (those that do not decode included, to be reported), a store of the
    /// ones that decode, and the watch's events for other readers, each sent once the store
    /// has applied it ([`Fanout`]). The events flow while the controller runs.
    pub(super) fn watch<K>(
        &self,
        client: kube::Client,
        wc: watcher::Config,
    ) -> (Controller<Decoded<K>>, Cache<K>, Fanout<Decoded<K>>)
    where
        K: Watched + Indexed,
    {
        let (reader, mut writer) = reflector::store::<Decoded<K>>();
        let (cache, upkeep) = Cache::new(reader.clone(), K::keys);
        let fanout = Fanout::default();
        let subscribers = fanout.clone();
        let events = self
            .events::<Decoded<K>>(client, wc)
            .map_ok(move |ev| {
                writer.apply_watcher_event(&ev);
                upkeep.observe(&ev);
                subscribers.send(&ev);
                ev
            })
            .applied_objects()
            // Not woken by its own status writes (see `wake`): retries follow the backoff.
            .predicate_filter(super::wake::changed_by_others, Default::default());
        (Controller::for_stream(events, reader), cache, fanout)
    }

    pub(super) fn watcher_config(&self) -> watcher::Config {
        let wc = watcher::Config::default().any_semantic();
        match &self.label_selector {
            Some(sel) => wc.labels(sel),
            None => wc,
        }
    }
}

/// The same object's reference as one of type `B` (`K` and [`Decoded`] `K`).
pub(super) fn same_object<A, B>(r: ObjectRef<A>) -> ObjectRef<B>
where
    A: Resource<DynamicType = ()>,
    B: Resource<DynamicType = ()>,
{
    let mut out = ObjectRef::new(&r.name);
    out.namespace = r.namespace;
    out
}

/// The reference of a [`Decoded`] object.
pub(super) fn decoded_ref<K: Resource<DynamicType = ()> + Clone>(
    r: ObjectRef<K>,
) -> ObjectRef<Decoded<K>> {
    same_object(r)
}

/// A mapper to references of `K` as one to references of [`Decoded`] `K`.
pub(super) fn to_decoded<P, K, I>(
    mapper: impl Fn(P) -> I + Send + Sync + 'static,
) -> impl Fn(P) -> Vec<ObjectRef<Decoded<K>>> + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone,
    I: IntoIterator<Item = ObjectRef<K>>,
{
    move |p| mapper(p).into_iter().map(decoded_ref).collect()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{MeshesConnection, MeshesRule};
    use kube::ResourceExt;
    use serde_json::json;

    fn decoded(name: &str, type_: &str) -> Decoded<MeshesConnection> {
        let obj = json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": name, "namespace": "acme", "uid": format!("uid-{name}")},
            "spec": {"workspaceRef": {"name": "acme"}, "type": type_}
        });
        Decoded::from_json(&obj.to_string()).unwrap()
    }

    fn names(cache: &Cache<MeshesConnection>) -> Vec<String> {
        let mut names: Vec<String> = cache.state().iter().map(|c| c.name_any()).collect();
        names.sort();
        names
    }

    /// The cache reads the watch's one store as the objects that decode: one that stops
    /// decoding is left out, one that decodes again is back, and each is the store's own copy.
    #[test]
    fn the_cache_leaves_out_objects_that_do_not_decode() {
        let (store, mut writer) = reflector::store::<Decoded<MeshesConnection>>();
        let (cache, upkeep) = Cache::new(store.clone(), Indexed::keys);
        let mut apply = |ev: watcher::Event<Decoded<MeshesConnection>>| {
            writer.apply_watcher_event(&ev);
            upkeep.observe(&ev);
        };
        let (good, bad) = (decoded("good", "webhook"), decoded("bad", "carrier-pigeon"));
        assert!(good.ok().is_some() && bad.ok().is_none());
        apply(watcher::Event::Init);
        apply(watcher::Event::InitApply(good.clone()));
        apply(watcher::Event::InitApply(bad.clone()));
        apply(watcher::Event::InitDone);
        assert_eq!(names(&cache), ["good"]);
        assert_eq!(cache.len(), 2);
        // One copy: the cache hands out the store's own object.
        let held = store
            .get(&decoded_ref(ObjectRef::new("good").within("acme")))
            .and_then(|d| d.shared())
            .unwrap();
        let read = cache.get(&ObjectRef::new("good").within("acme")).unwrap();
        assert!(std::sync::Arc::ptr_eq(&held, &read));
        // An object that stops decoding leaves the cache; one that decodes again comes back.
        apply(watcher::Event::Apply(decoded("good", "carrier-pigeon")));
        assert!(names(&cache).is_empty());
        assert!(cache.get(&ObjectRef::new("good").within("acme")).is_none());
        apply(watcher::Event::Apply(good.clone()));
        apply(watcher::Event::Apply(decoded("bad", "webhook")));
        assert_eq!(names(&cache), ["bad", "good"]);
        apply(watcher::Event::Delete(good));
        apply(watcher::Event::Delete(bad));
        assert!(names(&cache).is_empty());
    }

    #[test]
    fn references_keep_name_and_namespace() {
        let r: ObjectRef<MeshesConnection> = ObjectRef::new("hook").within("acme");
        let d = decoded_ref(r.clone());
        assert_eq!(
            (d.name.as_str(), d.namespace.as_deref()),
            ("hook", Some("acme"))
        );
        assert_eq!(same_object::<_, MeshesConnection>(d), r);
        let mapper = to_decoded(|n: &str| vec![ObjectRef::<MeshesRule>::new(n).within("acme")]);
        let refs = mapper("r1");
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].name, "r1");
    }
}
