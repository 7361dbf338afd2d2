//! Several namespaced watches as one: the watch of a scope with several namespaces is one
//! watcher per namespace (so Role-only RBAC in those namespaces is enough; a cluster-wide
//! watch would need a ClusterRole), merged into one stream with the meaning of a single
//! watch, so one reflector store and one controller can consume it.
//!
//! A reflector store rebuilds itself between `Init` and `InitDone`: an `InitDone` swaps the
//! objects listed since the last `Init` in as the whole store. Interleaving the initial lists
//! of several watches as they come would let one namespace's `InitDone` drop every other
//! namespace's objects. So [`Merge`]:
//! - holds back the initial lists until every namespace has listed, then emits them as one
//!   `Init`, `InitApply`…, `InitDone` (the store is whole when it first becomes ready);
//! - turns a later relist of one namespace (after a watch error or an expired
//!   resourceVersion) into `Apply` for what it lists and `Delete` for what that namespace had
//!   and no longer has, leaving the other namespaces' objects alone.
//!
//! It keeps the last version of each object per namespace (to know what a relist dropped),
//! which costs one copy of the watched objects; a single watch (one namespace, or all) is
//! passed through untouched and costs nothing.

use std::collections::HashMap;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::Resource;
use kube::runtime::watcher;

/// The events of several watches of kind `K` (one per namespace) as one watch.
pub fn merge<K>(
    mut streams: Vec<BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>>,
) -> BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>
where
    K: Resource + Clone + Send + 'static,
{
    if streams.len() == 1
        && let Some(only) = streams.pop()
    {
        return only;
    }
    let tagged = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.map(move |r| (i, r)).boxed());
    let merge = Merge::new(tagged.len());
    futures::stream::select_all(tagged)
        .scan(merge, |m, (i, r)| {
            let out = match r {
                Ok(ev) => m.step(i, ev).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::future::ready(Some(out))
        })
        .flat_map(futures::stream::iter)
        .boxed()
}

/// The state of a merge of `n` watches (see the module documentation).
#[derive(Debug)]
pub struct Merge<K> {
    /// Per watch: the objects it has, by name (one namespace each, so names are unique).
    known: Vec<HashMap<String, K>>,
    /// Per watch: the objects listed since its last `Init`, while it relists.
    relisting: Vec<Option<HashMap<String, K>>>,
    /// Per watch: whether its first list is complete.
    listed: Vec<bool>,
    /// Whether the merged initial list has been emitted.
    started: bool,
}

impl<K: Resource + Clone> Merge<K> {
    /// A merge of `n` watches.
    pub fn new(n: usize) -> Self {
        Self {
            known: (0..n).map(|_| HashMap::new()).collect(),
            relisting: (0..n).map(|_| None).collect(),
            listed: vec![false; n],
            started: false,
        }
    }

    /// The merged events for event `ev` of watch `i`.
    pub fn step(&mut self, i: usize, ev: watcher::Event<K>) -> Vec<watcher::Event<K>> {
        if i >= self.known.len() {
            return Vec::new();
        }
        let name = |o: &K| o.meta().name.clone().unwrap_or_default();
        let mut out = Vec::new();
        match ev {
            watcher::Event::Init => self.relisting[i] = Some(HashMap::new()),
            watcher::Event::InitApply(o) => {
                if let Some(fresh) = self.relisting[i].as_mut() {
                    fresh.insert(name(&o), o.clone());
                }
                if self.started {
                    self.known[i].insert(name(&o), o.clone());
                    out.push(watcher::Event::Apply(o));
                }
            }
            watcher::Event::InitDone => {
                let fresh = self.relisting[i].take().unwrap_or_default();
                if self.started {
                    out.extend(
                        self.known[i]
                            .iter()
                            .filter(|(n, _)| !fresh.contains_key(*n))
                            .map(|(_, o)| watcher::Event::Delete(o.clone())),
                    );
                }
                self.known[i] = fresh;
                self.listed[i] = true;
                if !self.started && self.listed.iter().all(|l| *l) {
                    self.started = true;
                    out.push(watcher::Event::Init);
                    out.extend(
                        self.known
                            .iter()
                            .flat_map(|m| m.values().cloned())
                            .map(watcher::Event::InitApply),
                    );
                    out.push(watcher::Event::InitDone);
                }
            }
            watcher::Event::Apply(o) => {
                self.known[i].insert(name(&o), o.clone());
                if self.started {
                    out.push(watcher::Event::Apply(o));
                }
            }
            watcher::Event::Delete(o) => {
                self.known[i].remove(&name(&o));
                if self.started {
                    out.push(watcher::Event::Delete(o));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;
    use kube::runtime::reflector::ObjectRef;

    fn cm(ns: &str, name: &str, v: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some(ns.into());
        c.data = Some([("v".to_string(), v.to_string())].into());
        c
    }

    fn names(store: &reflector::Store<ConfigMap>) -> Vec<String> {
        let mut v: Vec<String> = store
            .state()
            .iter()
            .map(|c| {
                format!(
                    "{}/{}={}",
                    c.metadata.namespace.clone().unwrap_or_default(),
                    c.metadata.name.clone().unwrap_or_default(),
                    c.data
                        .as_ref()
                        .and_then(|d| d.get("v"))
                        .cloned()
                        .unwrap_or_default()
                )
            })
            .collect();
        v.sort();
        v
    }

    /// A store fed by the merge of two namespaces' watches holds both, through interleaved
    /// initial lists, changes during them, and a relist of one namespace.
    #[test]
    fn a_store_fed_by_the_merge_holds_every_namespace() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let mut m = Merge::new(2);
        let mut feed = |i: usize, ev: watcher::Event<ConfigMap>| {
            for out in m.step(i, ev) {
                writer.apply_watcher_event(&out);
            }
        };
        use watcher::Event::*;
        feed(0, Init);
        feed(1, Init);
        feed(0, InitApply(cm("a", "x", "1")));
        feed(1, InitApply(cm("b", "y", "1")));
        feed(0, InitDone);
        // Namespace a changes while b still lists: nothing is emitted yet (the store is not
        // ready), but the change is kept.
        feed(0, Apply(cm("a", "x", "2")));
        feed(0, Apply(cm("a", "z", "1")));
        feed(0, Delete(cm("a", "z", "1")));
        assert!(names(&store).is_empty());
        feed(1, InitApply(cm("b", "w", "1")));
        feed(1, InitDone);
        assert_eq!(names(&store), ["a/x=2", "b/w=1", "b/y=1"]);
        // A relist of b that no longer has y: y leaves, a is untouched.
        feed(1, Init);
        feed(1, InitApply(cm("b", "w", "3")));
        assert_eq!(names(&store), ["a/x=2", "b/w=3", "b/y=1"]);
        feed(1, InitDone);
        assert_eq!(names(&store), ["a/x=2", "b/w=3"]);
        // Plain changes pass through.
        feed(0, Delete(cm("a", "x", "2")));
        feed(1, Apply(cm("b", "v", "1")));
        assert_eq!(names(&store), ["b/v=1", "b/w=3"]);
        assert!(store.get(&ObjectRef::new("v").within("b")).is_some());
    }

    /// The plain interleaving this replaces loses a namespace: the control that shows the
    /// test above would fail without the merge.
    #[test]
    fn interleaved_initial_lists_without_the_merge_lose_a_namespace() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        use watcher::Event::*;
        for ev in [
            Init,
            InitApply(cm("a", "x", "1")),
            Init,
            InitApply(cm("b", "y", "1")),
            InitDone,
            InitDone,
        ] {
            writer.apply_watcher_event(&ev);
        }
        assert_eq!(names(&store), Vec::<String>::new());
    }

    #[tokio::test]
    async fn merged_streams_end_when_all_end_and_pass_errors() {
        use watcher::Event::*;
        let a = futures::stream::iter(vec![
            Ok(Init),
            Ok(InitApply(cm("a", "x", "1"))),
            Ok(InitDone),
        ])
        .boxed();
        let b = futures::stream::iter(vec![
            Err(watcher::Error::NoResourceVersion),
            Ok(Init),
            Ok(InitDone),
            Ok(Apply(cm("b", "y", "1"))),
        ])
        .boxed();
        let out: Vec<_> = merge(vec![a, b]).collect().await;
        assert!(out.iter().any(|r| r.is_err()));
        let applied: Vec<String> = out
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| match e {
                InitApply(o) | Apply(o) => o.metadata.name,
                _ => None,
            })
            .collect();
        assert_eq!(applied, ["x", "y"]);
    }
}
