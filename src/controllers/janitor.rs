//! The credentials janitor: removes the in-use finalizer from credentials Secrets no object uses
//! any more. It reacts to Secret events and to custom resources going away, changing their spec
//! or finishing their cleanup (batched per tick), and sweeps Secrets being deleted as a safety
//! net; a release is always decided from live lists (`users.rs`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use super::config::SecretRef;
use super::context::Context;
use super::fanout::Fanout;
use super::run::{Scope, Watched};
use super::{credentials, users};
use crate::resources::finalizers::CREDENTIALS_IN_USE;
use crate::resources::{Decoded, MeshesConnection, MeshesRule, MeshesWorkspace};

/// How often the janitor acts on custom-resource changes: all changes gathered in one tick
/// (a namespace deletion's burst) cost one re-check per in-use Secret of those namespaces.
const JANITOR_TICK: Duration = Duration::from_millis(500);
/// Every this many ticks (5 s), credentials Secrets that are being deleted and still carry the
/// in-use finalizer are re-checked, whatever happened: a safety net behind the event-driven
/// checks, so a deletion (a namespace's) never hangs on a missed event.
const JANITOR_SWEEP_TICKS: u32 = 10;

/// What the janitor reacts to.
enum Signal {
    /// A Secret changed (metadata only).
    Secret(Box<watcher::Event<PartialObjectMeta<Secret>>>),
    /// A custom resource of the given kind changed.
    User(&'static str, watcher::Event<UserMeta>),
}

/// What the janitor keeps of a custom resource: enough to tell when it may have stopped using
/// a Secret (it went away, its spec changed, or its own cleanup finished).
#[derive(Debug, Clone, PartialEq)]
struct UserMeta {
    uid: String,
    namespace: String,
    generation: Option<i64>,
    needs_credentials: bool,
}

impl UserMeta {
    fn of<K: Resource>(obj: &K) -> Self {
        let meta = obj.meta();
        Self {
            uid: meta.uid.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            generation: meta.generation,
            needs_credentials: users::still_needs_credentials(obj),
        }
    }
}

/// Custom resources the janitor has seen, per kind, to turn watch events into "the users of
/// this namespace's Secrets may have changed".
#[derive(Debug, Default)]
struct UserTracker {
    kinds: HashMap<&'static str, KindUsers>,
}

#[derive(Debug, Default)]
struct KindUsers {
    known: HashMap<String, UserMeta>,
    /// Objects listed since the watch (re)started, until its initial list is complete.
    relisting: Option<HashMap<String, UserMeta>>,
}

/// What one custom-resource event means to the janitor.
#[derive(Debug, Default, PartialEq)]
struct UserChanges {
    /// Namespaces whose in-use Secrets must be re-checked.
    namespaces: BTreeSet<String>,
    /// UIDs of objects that are gone.
    gone: Vec<String>,
}

impl UserTracker {
    /// Records `event` of `kind`. An object that went away, changed its spec (generation) or
    /// finished its own cleanup may have stopped using a Secret: its namespace is re-checked.
    /// A new object only adds a user and needs nothing. After a watch restart, objects missing
    /// from the new initial list count as gone.
    fn observe(&mut self, kind: &'static str, event: watcher::Event<UserMeta>) -> UserChanges {
        let mut out = UserChanges::default();
        let k = self.kinds.entry(kind).or_default();
        match event {
            watcher::Event::Apply(m) | watcher::Event::InitApply(m) => {
                if let Some(fresh) = k.relisting.as_mut() {
                    fresh.insert(m.uid.clone(), m.clone());
                }
                if let Some(prev) = k.known.insert(m.uid.clone(), m.clone())
                    && (prev.generation != m.generation
                        || prev.needs_credentials != m.needs_credentials)
                {
                    out.namespaces.insert(m.namespace);
                }
            }
            watcher::Event::Delete(m) => {
                k.known.remove(&m.uid);
                if let Some(fresh) = k.relisting.as_mut() {
                    fresh.remove(&m.uid);
                }
                out.namespaces.insert(m.namespace);
                out.gone.push(m.uid);
            }
            watcher::Event::Init => k.relisting = Some(HashMap::new()),
            watcher::Event::InitDone => {
                if let Some(fresh) = k.relisting.take() {
                    for (uid, m) in &k.known {
                        if !fresh.contains_key(uid) {
                            out.namespaces.insert(m.namespace.clone());
                            out.gone.push(uid.clone());
                        }
                    }
                    k.known = fresh;
                }
            }
        }
        out
    }
}

/// The Secrets to re-check at a tick: those carrying the in-use finalizer in a namespace whose
/// users changed (and the operator's default credentials, which users anywhere may hold), and
/// at a sweep every one that is being deleted.
fn janitor_targets(
    default_credentials: Option<&SecretRef>,
    held: &HashMap<SecretRef, bool>,
    dirty: &BTreeSet<String>,
    sweep: bool,
) -> BTreeSet<SecretRef> {
    let mut out: BTreeSet<SecretRef> = held
        .iter()
        .filter(|(s, deleting)| dirty.contains(&s.namespace) || (sweep && **deleting))
        .map(|(s, _)| s.clone())
        .collect();
    if !dirty.is_empty()
        && let Some(d) = default_credentials
    {
        out.insert(d.clone());
    }
    out
}

/// Of a tick's `targets`, the Secrets to read live. Between sweeps a Secret the cache shows in
/// use is not read (during a namespace deletion every tick finds its namespace dirty, and a
/// read with three lists per Secret spent the client's rate limit that the finalizer patches
/// need); the cache may lag the change that made it dirty, so it is `deferred` to the next
/// sweep, which reads it live whatever the cache says.
fn to_read_live(
    targets: &mut BTreeSet<SecretRef>,
    deferred: &mut BTreeSet<SecretRef>,
    sweep: bool,
    cached_in_use: impl Fn(&SecretRef) -> bool,
) -> BTreeSet<SecretRef> {
    if sweep {
        targets.append(deferred);
        return std::mem::take(targets);
    }
    let (cached, live): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(targets)
        .into_iter()
        .partition(|s| cached_in_use(s));
    deferred.extend(cached);
    live
}

/// The custom resources of kind `K`, as janitor signals (only their metadata is used). Each
/// object decodes on its own ([`Decoded`]), so one the operator cannot read still signals and
/// never stops the watch (a `PartialObjectMeta` watch would: it lists the full objects and
/// reads their `managedFields`, as deep as their spec).
fn user_signals<K>(
    events: impl futures::Stream<Item = watcher::Event<Decoded<K>>> + Send + 'static,
    kind: &'static str,
) -> futures::stream::BoxStream<'static, Signal>
where
    K: Watched,
{
    events
        .map(move |ev| {
            let ev = match ev {
                watcher::Event::Apply(o) => watcher::Event::Apply(UserMeta::of(&o)),
                watcher::Event::Delete(o) => watcher::Event::Delete(UserMeta::of(&o)),
                watcher::Event::InitApply(o) => watcher::Event::InitApply(UserMeta::of(&o)),
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitDone => watcher::Event::InitDone,
            };
            Signal::User(kind, ev)
        })
        .boxed()
}

/// The janitor's view of the three custom resource kinds: every object in the scope's
/// namespaces, whatever its labels (a Secret is in use by any object that names it, in this
/// shard or another).
pub(super) struct UserEvents {
    workspaces: futures::stream::BoxStream<'static, watcher::Event<Decoded<MeshesWorkspace>>>,
    connections: futures::stream::BoxStream<'static, watcher::Event<Decoded<MeshesConnection>>>,
    rules: futures::stream::BoxStream<'static, watcher::Event<Decoded<MeshesRule>>>,
}

impl UserEvents {
    /// The controllers' own watches, when they see every object (no label selector).
    pub(super) fn shared(
        workspaces: &Fanout<Decoded<MeshesWorkspace>>,
        connections: &Fanout<Decoded<MeshesConnection>>,
        rules: &Fanout<Decoded<MeshesRule>>,
    ) -> Self {
        Self {
            workspaces: workspaces.subscribe().boxed(),
            connections: connections.subscribe().boxed(),
            rules: rules.subscribe().boxed(),
        }
    }

    /// Watches of their own, without the label selector (a sharded instance).
    pub(super) fn watched(client: &kube::Client, scope: &Scope) -> Self {
        fn watch<K: Watched>(
            client: &kube::Client,
            scope: &Scope,
        ) -> futures::stream::BoxStream<'static, watcher::Event<Decoded<K>>> {
            scope
                .events::<Decoded<K>>(client.clone(), watcher::Config::default().any_semantic())
                .filter_map(|res| futures::future::ready(res.ok()))
                .boxed()
        }
        Self {
            workspaces: watch(client, scope),
            connections: watch(client, scope),
            rules: watch(client, scope),
        }
    }
}

/// Removes the in-use finalizer from credentials Secrets no object uses any more. It looks
/// again at a Secret carrying the finalizer
/// - when the Secret changes;
/// - when a custom resource in its namespace goes away, changes its spec (a switch to another
///   Secret) or finishes its own cleanup: objects deleted together (a namespace deletion) see
///   each other as users during their cleanups, so the last one to go must not be the last
///   chance to release the Secret;
/// - every few seconds while the Secret is being deleted (a safety net);
/// - at the next sweep after a look the cache answered (it may lag the change).
///
/// A release is always decided from live lists (`users`); the cache only answers "still in use".
pub(super) async fn janitor(
    ctx: Arc<Context>,
    users: UserEvents,
    secrets: futures::channel::mpsc::UnboundedReceiver<watcher::Event<PartialObjectMeta<Secret>>>,
) {
    let secret_signals = secrets.map(|ev| Signal::Secret(Box::new(ev))).boxed();
    let mut signals = futures::stream::select_all([
        secret_signals,
        user_signals(users.workspaces, "MeshesWorkspace"),
        user_signals(users.connections, "MeshesConnection"),
        user_signals(users.rules, "MeshesRule"),
    ]);
    let mut tick = tokio::time::interval(JANITOR_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u32 = 0;
    let mut tracker = UserTracker::default();
    // Secrets seen carrying the in-use finalizer, and whether they are being deleted. Only
    // candidates: every decision re-reads the Secret and lists its users live.
    let mut held: HashMap<SecretRef, bool> = HashMap::new();
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    // Secrets a tick left to the next sweep because the cache showed them in use.
    let mut deferred: BTreeSet<SecretRef> = BTreeSet::new();
    loop {
        tokio::select! {
            signal = signals.next() => match signal {
                None => return,
                Some(Signal::Secret(ev)) => on_secret_event(&ctx, &mut held, *ev).await,
                Some(Signal::User(kind, ev)) => {
                    let changes = tracker.observe(kind, ev);
                    for uid in &changes.gone {
                        ctx.stop_waiting_for_all(uid);
                    }
                    dirty.extend(changes.namespaces);
                }
            },
            _ = tick.tick() => {
                ticks = ticks.wrapping_add(1);
                let sweep = ticks.is_multiple_of(JANITOR_SWEEP_TICKS);
                let mut targets = janitor_targets(ctx.config.default_credentials.as_ref(), &held, &dirty, sweep);
                dirty.clear();
                let live = to_read_live(&mut targets, &mut deferred, sweep, |s| {
                    users::in_use_per_cache(&ctx, s, "")
                });
                for secret in live {
                    match users::recheck(&ctx, &secret).await {
                        Ok(None) => {
                            held.remove(&secret);
                        }
                        Ok(Some(_)) => {}
                        Err(e) => {
                            tracing::debug!(%secret, error = %e, "janitor could not list users")
                        }
                    }
                }
            }
        }
    }
}

/// A Secret event: remembers whether it carries the in-use finalizer (and is being deleted),
/// and checks a Secret carrying it at once.
async fn on_secret_event(
    ctx: &Context,
    held: &mut HashMap<SecretRef, bool>,
    event: watcher::Event<PartialObjectMeta<Secret>>,
) {
    let secret = match event {
        watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s,
        watcher::Event::Delete(s) => {
            held.remove(&SecretRef {
                namespace: s.namespace().unwrap_or_default(),
                name: s.name_any(),
            });
            return;
        }
        watcher::Event::Init | watcher::Event::InitDone => return,
    };
    let sr = SecretRef {
        namespace: secret.namespace().unwrap_or_default(),
        name: secret.name_any(),
    };
    if !secret.finalizers().iter().any(|f| f == CREDENTIALS_IN_USE) {
        held.remove(&sr);
        return;
    }
    held.insert(sr.clone(), secret.metadata.deletion_timestamp.is_some());
    match users::secret_in_use(ctx, &sr, "").await {
        Ok(used) => credentials::release_if_unused(ctx, &sr, used).await,
        Err(e) => tracing::debug!(secret = %sr, error = %e, "janitor could not list users"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: &str, ns: &str, generation: i64, needs_credentials: bool) -> UserMeta {
        UserMeta {
            uid: uid.into(),
            namespace: ns.into(),
            generation: Some(generation),
            needs_credentials,
        }
    }

    fn namespaces(c: &UserChanges) -> Vec<&str> {
        c.namespaces.iter().map(String::as_str).collect()
    }

    #[test]
    fn only_changes_that_can_end_a_use_mark_the_namespace() {
        let mut t = UserTracker::default();
        let kind = "MeshesWorkspace";
        assert_eq!(
            t.observe(kind, watcher::Event::Init),
            UserChanges::default()
        );
        let listed = t.observe(kind, watcher::Event::InitApply(user("u1", "a", 1, true)));
        assert!(listed.namespaces.is_empty(), "startup list: nothing to do");
        t.observe(kind, watcher::Event::InitDone);
        // A new object adds a user; a status write (same generation) changes nothing.
        assert!(
            t.observe(kind, watcher::Event::Apply(user("u2", "b", 1, true)))
                .namespaces
                .is_empty()
        );
        assert!(
            t.observe(kind, watcher::Event::Apply(user("u1", "a", 1, true)))
                .namespaces
                .is_empty()
        );
        // A spec change (e.g. another credentialsRef) may end a use.
        let spec = t.observe(kind, watcher::Event::Apply(user("u1", "a", 2, true)));
        assert_eq!(namespaces(&spec), ["a"]);
        // Its own cleanup finished (finalizer gone, another one left).
        let done = t.observe(kind, watcher::Event::Apply(user("u1", "a", 2, false)));
        assert_eq!(namespaces(&done), ["a"]);
        // Gone.
        let gone = t.observe(kind, watcher::Event::Delete(user("u2", "b", 1, true)));
        assert_eq!(namespaces(&gone), ["b"]);
        assert_eq!(gone.gone, ["u2"]);
    }

    #[test]
    fn objects_missing_after_a_watch_restart_count_as_gone() {
        let mut t = UserTracker::default();
        let kind = "MeshesRule";
        t.observe(kind, watcher::Event::Apply(user("u1", "a", 1, true)));
        t.observe(kind, watcher::Event::Apply(user("u2", "b", 1, true)));
        t.observe(kind, watcher::Event::Init);
        t.observe(kind, watcher::Event::InitApply(user("u1", "a", 1, true)));
        let done = t.observe(kind, watcher::Event::InitDone);
        assert_eq!(namespaces(&done), ["b"]);
        assert_eq!(done.gone, ["u2"]);
        // Kinds are tracked apart: the same UID under another kind is another object.
        assert!(
            t.observe(
                "MeshesConnection",
                watcher::Event::Apply(user("u1", "a", 5, true))
            )
            .namespaces
            .is_empty()
        );
    }

    #[test]
    fn a_tick_rechecks_dirty_namespaces_and_a_sweep_every_deleting_secret() {
        let sr = |ns: &str, name: &str| SecretRef {
            namespace: ns.into(),
            name: name.into(),
        };
        let held: HashMap<SecretRef, bool> = [
            (sr("a", "creds"), false),
            (sr("b", "creds"), true),
            (sr("c", "creds"), false),
        ]
        .into();
        let dirty: BTreeSet<String> = ["a".to_string()].into();
        let names =
            |t: BTreeSet<SecretRef>| t.into_iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(janitor_targets(None, &held, &dirty, false)),
            ["a/creds"]
        );
        assert_eq!(
            names(janitor_targets(None, &held, &dirty, true)),
            ["a/creds", "b/creds"]
        );
        assert!(janitor_targets(None, &held, &BTreeSet::new(), false).is_empty());
        let default = sr("ops", "meshes");
        assert_eq!(
            names(janitor_targets(Some(&default), &held, &dirty, false)),
            ["a/creds", "ops/meshes"]
        );
        assert!(janitor_targets(Some(&default), &held, &BTreeSet::new(), false).is_empty());
    }

    /// Between sweeps a Secret the cache shows in use is not read but deferred; the next sweep
    /// reads it live even though the cache still shows it in use (the cache may lag).
    #[test]
    fn a_secret_the_cache_shows_in_use_is_read_live_at_the_next_sweep() {
        let sr = |name: &str| SecretRef {
            namespace: "a".into(),
            name: name.into(),
        };
        let mut deferred = BTreeSet::new();
        let used = |s: &SecretRef| s.name == "used";
        let mut targets: BTreeSet<SecretRef> = [sr("used"), sr("free")].into();
        assert_eq!(
            to_read_live(&mut targets, &mut deferred, false, used),
            [sr("free")].into()
        );
        assert_eq!(deferred, [sr("used")].into());
        let mut targets = BTreeSet::new();
        assert!(to_read_live(&mut targets, &mut deferred, false, used).is_empty());
        assert_eq!(
            to_read_live(&mut targets, &mut deferred, true, used),
            [sr("used")].into(),
            "the sweep reads it whatever the cache says"
        );
        assert!(deferred.is_empty());
    }
}
