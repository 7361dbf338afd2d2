//! One watch per custom-resource kind, read by every part that needs it: the events of a kind's
//! watch go to its own controller and, *after* its cache has applied them, to each subscriber
//! (the child controllers' parent triggers, the janitor). Issue 16: each of those had a watch
//! of its own (five more watches of the same objects), and a child woken by its own watch of the
//! parent could read the parent's cache before that cache had the change, so it read the parent
//! from the API server instead. Fed from the cache's own stream, a child woken by a parent's
//! change always finds that change in the cache.

use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use kube::runtime::watcher;

/// The subscribers of one kind's watch events.
#[derive(Debug)]
pub struct Fanout<K> {
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<watcher::Event<K>>>>>,
}

impl<K> Clone for Fanout<K> {
    fn clone(&self) -> Self {
        Self {
            subscribers: self.subscribers.clone(),
        }
    }
}

impl<K> Default for Fanout<K> {
    fn default() -> Self {
        Self {
            subscribers: Arc::default(),
        }
    }
}

impl<K: Clone> Fanout<K> {
    /// A new subscriber: every event sent from now on. Subscribe before the watch is polled
    /// (the controllers are built first, then run), or the first list is missed.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<watcher::Event<K>> {
        let (tx, rx) = mpsc::unbounded();
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// Sends `event` to every subscriber still listening (unbounded: a subscriber is a
    /// controller's trigger queue or the janitor, which read as fast as events come).
    pub fn send(&self, event: &watcher::Event<K>) {
        let mut subs = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subs.retain(|tx| tx.unbounded_send(event.clone()).is_ok());
    }
}

/// The objects that changed, from a subscription: an applied or deleted object at once; the
/// objects of a (re)list when it completes, because the cache swaps a list in only at
/// `InitDone` and a subscriber woken earlier would read the cache without them.
pub fn touched<K: Send + 'static>(
    events: impl Stream<Item = watcher::Event<K>> + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    events
        .scan(Vec::new(), |listing, event| {
            let out = match event {
                watcher::Event::Apply(o) | watcher::Event::Delete(o) => vec![o],
                watcher::Event::Init => {
                    listing.clear();
                    Vec::new()
                }
                watcher::Event::InitApply(o) => {
                    listing.push(o);
                    Vec::new()
                }
                watcher::Event::InitDone => std::mem::take(listing),
            };
            futures::future::ready(Some(out))
        })
        .flat_map(futures::stream::iter)
        .map(Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn drain<T>(s: &mut (impl Stream<Item = T> + Unpin)) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(Some(x)) = s.next().now_or_never() {
            out.push(x);
        }
        out
    }

    #[test]
    fn every_subscriber_gets_every_event() {
        let fanout = Fanout::<u32>::default();
        let (mut a, mut b) = (fanout.subscribe(), fanout.subscribe());
        fanout.send(&watcher::Event::Apply(1));
        fanout.send(&watcher::Event::Delete(2));
        for rx in [&mut a, &mut b] {
            let got = drain(rx);
            assert!(matches!(
                got.as_slice(),
                [watcher::Event::Apply(1), watcher::Event::Delete(2)]
            ));
        }
        // A subscriber that went away is dropped; the others still get events.
        drop(a);
        fanout.send(&watcher::Event::Apply(3));
        assert!(matches!(
            drain(&mut b).as_slice(),
            [watcher::Event::Apply(3)]
        ));
        assert_eq!(fanout.subscribers.lock().map(|s| s.len()).ok(), Some(1));
    }

    #[test]
    fn a_list_wakes_its_objects_only_once_the_cache_has_them() {
        let (tx, rx) = mpsc::unbounded();
        let mut objects = Box::pin(touched(rx));
        for ev in [
            watcher::Event::Apply(1),
            watcher::Event::Init,
            watcher::Event::InitApply(2),
            watcher::Event::InitApply(3),
        ] {
            tx.unbounded_send(ev).ok();
        }
        let early: Vec<u32> = drain(&mut objects).into_iter().flatten().collect();
        // The live change goes at once; the relisted objects wait for the end of the list.
        assert_eq!(early, vec![1]);
        tx.unbounded_send(watcher::Event::InitDone).ok();
        tx.unbounded_send(watcher::Event::Delete(4)).ok();
        let late: Vec<u32> = drain(&mut objects).into_iter().flatten().collect();
        assert_eq!(late, vec![2, 3, 4]);
        // A relist that restarts drops what the abandoned one had listed.
        for ev in [
            watcher::Event::Init,
            watcher::Event::InitApply(5),
            watcher::Event::Init,
            watcher::Event::InitApply(6),
            watcher::Event::InitDone,
        ] {
            tx.unbounded_send(ev).ok();
        }
        let relisted: Vec<u32> = drain(&mut objects).into_iter().flatten().collect();
        assert_eq!(relisted, vec![6]);
    }
}
