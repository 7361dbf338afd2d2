//! One watch of the scope's Secrets (metadata only) for the operator: each event updates the
//! Secret cache first, then goes to every subscriber (the mappers that wake the objects using
//! the Secret, and the janitor, which reads the events themselves).
//!
//! One stream, read by a task of its own: a controller whose slots are all taken stops reading
//! its trigger streams, which delays its own wake-ups but never the cache. When each controller
//! had its own stream feeding the cache, a lagging one reported old resourceVersions after
//! newer ones, the cache took the old copy for current, and a pass read a key two rotations old
//! (the reliability churn's workspaces stuck in `InvalidCredentials` with a valid key in their
//! Secret). And since the cache is updated before anyone is woken, a woken pass reads at least
//! the version that woke it.

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;

use super::fanout::Fanout;
use super::scope::Scope;
use super::secret_cache::SecretCache;

/// The Secrets' changes, as a subscriber receives them.
pub type SecretChanges = mpsc::UnboundedReceiver<PartialObjectMeta<Secret>>;

/// Starts the feed: the future to run (for as long as the controllers run) and one stream of
/// changed Secrets for each of `N` subscribers; the watch events themselves go to `events`'
/// subscribers (subscribe before the future runs).
pub fn secret_feed<const N: usize>(
    scope: &Scope,
    client: kube::Client,
    cache: SecretCache,
    events_out: Fanout<PartialObjectMeta<Secret>>,
) -> (
    impl Future<Output = ()> + Send + 'static,
    [SecretChanges; N],
) {
    cache.fed_by(scope);
    let mut senders = Vec::with_capacity(N);
    let receivers = std::array::from_fn(|_| {
        let (tx, rx) = mpsc::unbounded();
        senders.push(tx);
        rx
    });
    let events = scope
        .events::<PartialObjectMeta<Secret>>(client, watcher::Config::default().any_semantic());
    (feed(events, cache, senders, events_out), receivers)
}

async fn feed(
    events: impl Stream<Item = Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>>,
    cache: SecretCache,
    senders: Vec<mpsc::UnboundedSender<PartialObjectMeta<Secret>>>,
    events_out: Fanout<PartialObjectMeta<Secret>>,
) {
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                // The watcher retries with backoff; subscribers only miss wake-ups it would
                // not have had either.
                tracing::debug!(error = %e, "Secret watch");
                continue;
            }
        };
        cache.observe(&event);
        events_out.send(&event);
        let changed = match event {
            watcher::Event::Apply(m) | watcher::Event::InitApply(m) | watcher::Event::Delete(m) => {
                m
            }
            watcher::Event::Init | watcher::Event::InitDone => continue,
        };
        for tx in &senders {
            // A subscriber that stopped (its controller ended) needs nothing more.
            let _ = tx.unbounded_send(changed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, rv: &str) -> PartialObjectMeta<Secret> {
        let mut m = PartialObjectMeta::<Secret>::default();
        m.metadata.namespace = Some("a".into());
        m.metadata.name = Some(name.into());
        m.metadata.resource_version = Some(rv.into());
        m
    }

    /// Every subscriber gets every changed Secret in order, and the cache has taken note of
    /// each change: the copy read at resourceVersion 1 is no longer served after 2.
    #[tokio::test]
    async fn every_subscriber_gets_every_change_and_the_cache_follows() {
        let cache = SecretCache::default();
        cache.fed_by(&Scope {
            namespaces: vec![],
            label_selector: None,
        });
        let mut secret = Secret::default();
        secret.metadata.resource_version = Some("1".into());
        cache.register("a", "creds");
        cache.insert("a", "creds", std::sync::Arc::new(secret));
        assert!(
            cache.cached("a", "creds").is_some(),
            "control: the copy is served"
        );
        let (senders, mut receivers): (Vec<_>, Vec<_>) = (0..2).map(|_| mpsc::unbounded()).unzip();
        let events = futures::stream::iter([
            Ok(watcher::Event::Apply(meta("creds", "1"))),
            Ok(watcher::Event::Apply(meta("other", "7"))),
            Ok(watcher::Event::Apply(meta("creds", "2"))),
        ]);
        let out = Fanout::default();
        let mut raw = out.subscribe();
        feed(events, cache.clone(), senders, out).await;
        let raw: Vec<_> = raw.by_ref().collect().await;
        assert_eq!(raw.len(), 3, "the janitor's copy of the events");
        for rx in &mut receivers {
            let got: Vec<String> = rx
                .by_ref()
                .map(|m| m.metadata.resource_version.unwrap_or_default())
                .collect()
                .await;
            assert_eq!(got, ["1", "7", "2"]);
        }
        assert!(
            cache.cached("a", "creds").is_none(),
            "stale after version 2"
        );
    }
}
