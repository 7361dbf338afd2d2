//! The one cache of each custom resource kind: the reflector store its controller runs on,
//! which holds every watched object as [`Decoded`], read here as the objects that decode.
//!
//! Each object is held once: the store entry and every reader share the decoded object's
//! `Arc`. (A second store of the decoded objects, kept beside the controller's, held every
//! custom resource twice: issue 16, memory.) An object that stops decoding is simply no longer
//! returned; one that decodes again is returned again.

use std::sync::Arc;

use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::watch;

use super::index::{Index, Key};
use super::scope::decoded_ref;
use crate::resources::Decoded;

/// The watched objects of kind `K` that decode (see the module documentation). Cheap to clone.
pub struct Cache<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<Decoded<K>>,
    /// Whether the watch's first list is complete ([`Upkeep`]). Not the store's own readiness:
    /// it wakes only its last waiter, and the controller running on the store waits on it too.
    synced: watch::Receiver<bool>,
    /// Which objects name what ([`Index`]), kept in step with the store.
    index: Index<K>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            synced: self.synced.clone(),
            index: self.index.clone(),
        }
    }
}

/// Keeps a [`Cache`]'s readiness and index in step with the watch feeding its store.
#[derive(Debug)]
pub struct Upkeep<K: Resource<DynamicType = ()> + Clone + 'static> {
    synced: watch::Sender<bool>,
    index: Index<K>,
    store: Store<Decoded<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Upkeep<K> {
    /// Notes watch event `event`, which the store has just applied.
    pub fn observe(&self, event: &watcher::Event<Decoded<K>>) {
        self.index.observe(event, &self.store);
        if matches!(event, watcher::Event::InitDone) {
            self.synced.send_replace(true);
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> std::fmt::Debug for Cache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("objects", &self.store.len())
            .finish()
    }
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// The cache reading `store`, filing each object under `keys(object)`, and what keeps it in
    /// step with the watch feeding the store.
    pub fn new(store: Store<Decoded<K>>, keys: fn(&K) -> Vec<Key>) -> (Self, Upkeep<K>) {
        let (tx, synced) = watch::channel(false);
        let index = Index::new(keys);
        let upkeep = Upkeep {
            synced: tx,
            index: index.clone(),
            store: store.clone(),
        };
        (
            Self {
                store,
                synced,
                index,
            },
            upkeep,
        )
    }

    /// The objects filed under `key` that decode ([`super::index`]): what a scan of
    /// [`Self::state`] for `key` finds, at the cost of the matches.
    pub fn filed_under(&self, key: &Key) -> Vec<Arc<K>> {
        self.index
            .places(key)
            .into_iter()
            .filter_map(|(ns, name)| self.get(&ObjectRef::new(&name).within(&ns)))
            .collect()
    }

    /// Whether some object is filed under `key`.
    pub fn has(&self, key: &Key) -> bool {
        self.index.contains(key)
    }

    /// The object `r`, if it is watched and decodes.
    pub fn get(&self, r: &ObjectRef<K>) -> Option<Arc<K>> {
        self.store
            .get(&decoded_ref(r.clone()))
            .and_then(|d| d.shared())
    }

    /// Every watched object that decodes.
    pub fn state(&self) -> Vec<Arc<K>> {
        self.store
            .state()
            .iter()
            .filter_map(|d| d.shared())
            .collect()
    }

    /// Watched objects, decodable or not.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Whether the watch's first list is complete.
    pub fn is_ready(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until the watch's first list is complete; `false` when the watch ended first.
    pub async fn wait_until_ready(&self) -> bool {
        self.synced.clone().wait_for(|s| *s).await.is_ok()
    }
}

#[cfg(test)]
pub use testing::Feed;

#[cfg(test)]
mod testing {
    use kube::runtime::reflector::{self, store::Writer};
    use kube::runtime::watcher;

    use super::*;

    /// Feeds a [`Cache`] watch events of decoded objects, as the watch does (tests).
    #[allow(missing_debug_implementations)]
    pub struct Feed<K: Resource<DynamicType = ()> + Clone + 'static> {
        writer: Writer<Decoded<K>>,
        upkeep: Upkeep<K>,
    }

    impl<K> Feed<K>
    where
        K: Resource<DynamicType = ()> + Clone + crate::controllers::index::Indexed + 'static,
    {
        /// An empty cache and its feed.
        pub fn new() -> (Cache<K>, Feed<K>) {
            let (store, writer) = reflector::store::<Decoded<K>>();
            let (cache, upkeep) = Cache::new(store, K::keys);
            (cache, Feed { writer, upkeep })
        }

        /// A cache holding `objects` (its first list complete).
        pub fn of(objects: impl IntoIterator<Item = K>) -> Cache<K> {
            let (cache, mut feed) = Self::new();
            feed.apply(watcher::Event::Init);
            for o in objects {
                feed.apply(watcher::Event::InitApply(o));
            }
            feed.apply(watcher::Event::InitDone);
            cache
        }

        /// Applies `event` to the cache.
        pub fn apply(&mut self, event: watcher::Event<K>) {
            let wrap = |o: K| Decoded(Ok(Arc::new(o)));
            let event = match event {
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
                watcher::Event::InitApply(o) => watcher::Event::InitApply(wrap(o)),
                watcher::Event::Apply(o) => watcher::Event::Apply(wrap(o)),
                watcher::Event::Delete(o) => watcher::Event::Delete(wrap(o)),
            };
            self.writer.apply_watcher_event(&event);
            self.upkeep.observe(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::runtime::watcher;

    use super::Feed;
    use crate::resources::MeshesRule;

    /// Every waiter learns that the first list is complete (the health probe and anyone else),
    /// not only the last one to wait.
    #[tokio::test]
    async fn every_waiter_sees_the_first_list_complete() {
        let (cache, mut feed) = Feed::<MeshesRule>::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.wait_until_ready().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "ready too early");
        feed.apply(watcher::Event::Init);
        feed.apply(watcher::Event::InitDone);
        for w in waiters {
            let done = tokio::time::timeout(Duration::from_secs(5), w).await;
            assert!(matches!(done, Ok(Ok(true))), "{done:?}");
        }
    }
}
