//! Shared state handed to every reconcile: clients, configuration, the Event recorder, the
//! reflector stores of all three kinds (for ownership and reference look-ups) and small
//! in-memory memos that let a reconcile skip Meshes calls when nothing can have changed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;

use super::cache::Cache;

use super::config::OperatorConfig;
use crate::api::MeshesApi;
use crate::resources::{MeshesConnection, MeshesRule, MeshesWorkspace};

/// Reflector stores of the three kinds, filled by their controllers.
#[derive(Clone, Default)]
pub struct Stores {
    /// Every watched `MeshesWorkspace`.
    pub workspaces: Option<Cache<MeshesWorkspace>>,
    /// Every watched `MeshesConnection`.
    pub connections: Option<Cache<MeshesConnection>>,
    /// Every watched `MeshesRule`.
    pub rules: Option<Cache<MeshesRule>>,
    /// Whether the caches hold every object a child can name as its parent, and a parent's
    /// change wakes its children only once its cache has it (`fanout`): then a parent missing
    /// or not Ready in the cache is so, and reading it again from the API server is waste. Not
    /// with a label selector: a parent in another shard is in no cache here.
    pub complete: bool,
}

impl Stores {
    /// Every cached workspace (empty when that controller is not running).
    pub fn all_workspaces(&self) -> Vec<Arc<MeshesWorkspace>> {
        self.workspaces
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default()
    }

    /// Every cached connection.
    pub fn all_connections(&self) -> Vec<Arc<MeshesConnection>> {
        self.connections
            .as_ref()
            .map(|s| s.state())
            .unwrap_or_default()
    }

    /// Every cached rule.
    pub fn all_rules(&self) -> Vec<Arc<MeshesRule>> {
        self.rules.as_ref().map(|s| s.state()).unwrap_or_default()
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("workspaces", &self.workspaces.as_ref().map(|s| s.len()))
            .field("connections", &self.connections.as_ref().map(|s| s.len()))
            .field("rules", &self.rules.as_ref().map(|s| s.len()))
            .field("complete", &self.complete)
            .finish()
    }
}

/// Channels that make the connection and rule controllers reconcile given objects now.
#[derive(Clone, Default)]
pub struct Triggers {
    /// Workspace reconcile requests.
    pub workspaces: Option<futures::channel::mpsc::UnboundedSender<ObjectRef<MeshesWorkspace>>>,
    /// Connection reconcile requests.
    pub connections: Option<futures::channel::mpsc::UnboundedSender<ObjectRef<MeshesConnection>>>,
    /// Rule reconcile requests.
    pub rules: Option<futures::channel::mpsc::UnboundedSender<ObjectRef<MeshesRule>>>,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Triggers")
    }
}

impl Triggers {
    /// Asks for a reconcile of `obj` (ignored when that controller is not running).
    pub fn workspace(&self, obj: ObjectRef<MeshesWorkspace>) {
        if let Some(tx) = &self.workspaces {
            let _ = tx.unbounded_send(obj);
        }
    }

    /// Asks for a reconcile of `obj` (ignored when that controller is not running).
    pub fn connection(&self, obj: ObjectRef<MeshesConnection>) {
        if let Some(tx) = &self.connections {
            let _ = tx.unbounded_send(obj);
        }
    }

    /// Asks for a reconcile of `obj` (ignored when that controller is not running).
    pub fn rule(&self, obj: ObjectRef<MeshesRule>) {
        if let Some(tx) = &self.rules {
            let _ = tx.unbounded_send(obj);
        }
    }
}

/// What the last successful upstream observation of an object established, keyed by UID.
/// Lets a reconcile triggered by our own status write skip the Meshes call.
#[derive(Debug, Clone)]
pub struct Memo {
    /// When upstream must be read again (the next resync, jittered).
    pub due: Instant,
    /// The generation that observation was for.
    pub generation: Option<i64>,
    /// Fingerprint of the credentials used (never the secret itself).
    pub credentials: u64,
    /// Value of `meshes.io/reconcile-requested-at` at that time.
    pub requested_at: Option<String>,
    /// Kind-specific facts the idle path reports from.
    pub facts: MemoFacts,
    /// When the operator last wrote this object upstream (a workspace snapshot older than this
    /// may not contain it yet).
    pub written_at: Instant,
    /// The workspace snapshot sequence number this object was last checked against.
    pub checked_seq: u64,
    /// Fingerprint of kind-specific inputs (e.g. a connection's settings including secrets).
    pub inputs: u64,
}

/// Kind-specific facts a memo keeps for the idle path (no Meshes call).
#[derive(Clone, PartialEq, Eq)]
pub enum MemoFacts {
    /// Nothing beyond the memo itself.
    None,
    /// A workspace's publishable key (browser-safe, but kept out of `Debug` all the same).
    PublishableKey(String),
}

impl std::fmt::Debug for MemoFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::PublishableKey(_) => f.write_str("PublishableKey(..)"),
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// The Meshes API (HTTP in production, a fake in unit tests).
    pub api: Arc<dyn MeshesApi>,
    /// Operator-wide settings.
    pub config: OperatorConfig,
    /// Event recorder (de-duplicates into Event series).
    pub recorder: Recorder,
    /// Stores of the three kinds.
    pub stores: Stores,
    /// Per-workspace snapshots of upstream connections and rules.
    pub snapshots: super::snapshot::Snapshots,
    /// Integrations catalogs per org.
    pub catalogs: super::catalog::Catalogs,
    /// Counters.
    pub metrics: Arc<super::metrics::Metrics>,
    /// Asks the child controllers to look at a workspace's new snapshot.
    pub triggers: Triggers,
    /// The rate limit on Events per object and reason.
    pub event_limit: super::event_limit::EventLimiter,
    /// Secrets read by passes, re-read only when the metadata watch reports a change.
    pub secrets: super::secret_cache::SecretCache,
    /// Objects in error backoff, woken when Meshes recovers from an outage.
    pub backoff_waiters: super::outage::Waiters,
    /// Namespaces seen refusing new Events because they are being deleted.
    pub terminating: super::terminating::TerminatingNamespaces,
    memos: Mutex<HashMap<String, Memo>>,
    failures: Mutex<HashMap<String, u32>>,
    waiting_since: Mutex<HashMap<String, Instant>>,
    stalls: Mutex<HashMap<String, StallKey>>,
    connection_facts: Mutex<HashMap<String, (String, String)>>,
    finalizer_added: Mutex<HashSet<String>>,
    /// A hash of the status this process last wrote to each object (`report::status_hash`).
    written_status: Mutex<HashMap<String, u64>>,
    /// The resourceVersions this process's last writes to each object made, oldest first,
    /// until a pass is handed the last of them ([`Context::own_version`]).
    written_versions: Mutex<HashMap<String, VecDeque<String>>>,
}

/// How many of an object's own writes [`Context::own_version`] remembers: a pass makes at most
/// three (finalizer, pending create, result).
const OWN_VERSIONS: usize = 4;

/// How a copy of an object compares with this process's recent writes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnVersion {
    /// The copy is this process's last write: nothing newer of ours is missing from it.
    Latest,
    /// The copy is an earlier write of ours: a later one has not reached it yet.
    Older,
    /// Not a version this process made (or remembers).
    Unknown,
}

/// The inputs a stall was concluded from. While they are unchanged, reconciling again (for
/// example after our own status write) would only repeat the same refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallKey {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Credentials fingerprint.
    pub credentials: u64,
    /// `meshes.io/reconcile-requested-at`.
    pub requested_at: Option<String>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("stores", &self.stores)
            .finish()
    }
}

impl Context {
    /// A context with empty memos.
    pub fn new(
        client: kube::Client,
        api: Arc<dyn MeshesApi>,
        config: OperatorConfig,
        stores: Stores,
        metrics: Arc<super::metrics::Metrics>,
        triggers: Triggers,
    ) -> Self {
        let reporter = Reporter {
            controller: config.manager_name.clone(),
            instance: config.instance_id.clone(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            api,
            config,
            stores,
            snapshots: Default::default(),
            catalogs: Default::default(),
            metrics,
            triggers,
            event_limit: Default::default(),
            secrets: Default::default(),
            backoff_waiters: Default::default(),
            terminating: Default::default(),
            memos: Mutex::default(),
            failures: Mutex::default(),
            waiting_since: Mutex::default(),
            stalls: Mutex::default(),
            connection_facts: Mutex::default(),
            finalizer_added: Mutex::default(),
            written_status: Mutex::default(),
            written_versions: Mutex::default(),
        }
    }

    /// The memo of object `uid`, if any.
    pub fn memo(&self, uid: &str) -> Option<Memo> {
        self.memos.lock().ok()?.get(uid).cloned()
    }

    /// Records a successful upstream observation.
    pub fn remember(&self, uid: &str, memo: Memo) {
        if let Ok(mut m) = self.memos.lock() {
            m.insert(uid.to_string(), memo);
        }
    }

    /// Records that object `uid` stalled with these inputs.
    pub fn remember_stall(&self, uid: &str, key: StallKey) {
        if let Ok(mut m) = self.stalls.lock() {
            m.insert(uid.to_string(), key);
        }
    }

    /// Whether object `uid` already stalled with exactly these inputs.
    pub fn stalled_with(&self, uid: &str, key: &StallKey) -> bool {
        self.stalls
            .lock()
            .map(|m| m.get(uid) == Some(key))
            .unwrap_or(false)
    }

    /// Object `uid` is no longer stalled.
    pub fn clear_stall(&self, uid: &str) {
        if let Ok(mut m) = self.stalls.lock() {
            m.remove(uid);
        }
    }

    /// Records the workspace and integration type of Meshes connection `id` (they never change),
    /// so rules naming a raw `connectionId` look them up once, not on every pass.
    pub fn remember_connection(&self, id: &str, workspace: &str, kind: &str) {
        if let Ok(mut m) = self.connection_facts.lock() {
            m.insert(id.to_string(), (workspace.to_string(), kind.to_string()));
        }
    }

    /// The recorded (workspace, type) of Meshes connection `id`.
    pub fn connection_facts(&self, id: &str) -> Option<(String, String)> {
        self.connection_facts.lock().ok()?.get(id).cloned()
    }

    /// Forgets what was last observed of object `uid` (its upstream state is unknown again).
    pub fn forget_memo(&self, uid: &str) {
        if let Ok(mut m) = self.memos.lock() {
            m.remove(uid);
        }
    }

    /// Records that this process added its finalizer to object `uid`, making resourceVersion
    /// `version`, and has not yet been handed a version showing it.
    pub fn finalizer_added(&self, uid: &str, version: Option<String>) {
        self.wrote(uid, version);
        if let Ok(mut s) = self.finalizer_added.lock() {
            s.insert(uid.to_string());
        }
    }

    /// Records that a write of this process to object `uid` made resourceVersion `version`.
    pub fn wrote(&self, uid: &str, version: Option<String>) {
        let (Some(version), Ok(mut m)) = (version, self.written_versions.lock()) else {
            return;
        };
        let own = m.entry(uid.to_string()).or_default();
        own.push_back(version);
        while own.len() > OWN_VERSIONS {
            own.pop_front();
        }
    }

    /// How a copy of object `uid` at resourceVersion `version` compares with this process's
    /// recent writes to it. resourceVersions are compared for equality only (they are opaque);
    /// the order is the order of our own writes.
    pub fn own_version(&self, uid: &str, version: Option<&str>) -> OwnVersion {
        let (Some(version), Ok(m)) = (version, self.written_versions.lock()) else {
            return OwnVersion::Unknown;
        };
        match m.get(uid) {
            Some(own) if own.back().is_some_and(|v| v == version) => OwnVersion::Latest,
            Some(own) if own.iter().any(|v| v == version) => OwnVersion::Older,
            _ => OwnVersion::Unknown,
        }
    }

    /// A pass was handed object `uid` at `version`: once that is this process's last write, the
    /// cache has caught up and the record goes (it is kept only while writes are in flight).
    pub fn handed(&self, uid: &str, version: Option<&str>) {
        if self.own_version(uid, version) == OwnVersion::Latest
            && let Ok(mut m) = self.written_versions.lock()
        {
            m.remove(uid);
        }
    }

    /// Whether the finalizer of object `uid` was added by this process and not seen yet; seeing
    /// it (`has` true) ends the record.
    pub fn finalizer_pending(&self, uid: &str, has: bool) -> bool {
        let Ok(mut s) = self.finalizer_added.lock() else {
            return false;
        };
        if has {
            s.remove(uid);
            false
        } else {
            s.contains(uid)
        }
    }

    /// This process wrote a status hashing to `hash` to object `uid`.
    pub fn status_written(&self, uid: &str, hash: u64) {
        if let Ok(mut m) = self.written_status.lock() {
            m.insert(uid.to_string(), hash);
        }
    }

    /// The hash of the status this process last wrote to object `uid`, if any.
    pub fn last_written_status(&self, uid: &str) -> Option<u64> {
        self.written_status.lock().ok()?.get(uid).copied()
    }

    /// Forgets object `uid` (deleted, or its upstream state is unknown again).
    pub fn forget(&self, uid: &str) {
        self.clear_stall(uid);
        if let Ok(mut m) = self.written_status.lock() {
            m.remove(uid);
        }
        if let Ok(mut s) = self.finalizer_added.lock() {
            s.remove(uid);
        }
        if let Ok(mut m) = self.written_versions.lock() {
            m.remove(uid);
        }
        if let Ok(mut m) = self.memos.lock() {
            m.remove(uid);
        }
        if let Ok(mut m) = self.failures.lock() {
            m.remove(uid);
        }
        if let Ok(mut m) = self.waiting_since.lock() {
            m.remove(uid);
        }
    }

    /// The next backoff delay for object `uid` after a transient error: exponential, jittered
    /// between half and all of it, from the configured floor up to the configured ceiling while
    /// some key is in an outage or storm, else up to [`super::outage::CALM_BACKOFF_MAX`].
    pub fn next_backoff(&self, uid: &str) -> Duration {
        let attempt = self
            .failures
            .lock()
            .map(|mut m| {
                let n = m.entry(uid.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            })
            .unwrap_or(1);
        // The full ceiling only while Meshes fails broadly (`outage::OutageWatch::storming`).
        let max = if self.metrics.outages().storming() {
            self.config.error_backoff_max
        } else {
            self.config
                .error_backoff_max
                .min(super::outage::CALM_BACKOFF_MAX)
        };
        backoff(
            attempt,
            self.config.error_backoff_min,
            max,
            rand::random::<f64>(),
        )
    }

    /// Whether object `uid` is in error backoff (its last pass failed transiently).
    pub fn in_backoff(&self, uid: &str) -> bool {
        self.failures.lock().is_ok_and(|m| m.contains_key(uid))
    }

    /// Meshes answers again after an outage: every object waiting in error backoff is
    /// reconciled now, with its backoff reset. Returns how many were woken.
    pub fn wake_after_outage(&self) -> usize {
        use super::outage::Waiter;
        let waiting = self.backoff_waiters.take_all();
        for (uid, waiter) in &waiting {
            self.reset_backoff(uid);
            match waiter.clone() {
                Waiter::Workspace(r) => self.triggers.workspace(r),
                Waiter::Connection(r) => self.triggers.connection(r),
                Waiter::Rule(r) => self.triggers.rule(r),
            }
        }
        waiting.len()
    }

    /// Resets the backoff of object `uid` after a success.
    pub fn reset_backoff(&self, uid: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(uid);
        }
    }

    /// When this process first saw object `uid` waiting (for a Secret), starting now if new.
    pub fn waiting_since(&self, uid: &str) -> Instant {
        self.waiting_since
            .lock()
            .map(|mut m| *m.entry(uid.to_string()).or_insert_with(Instant::now))
            .unwrap_or_else(|_| Instant::now())
    }

    /// The wait of object `uid` is over.
    pub fn stop_waiting(&self, uid: &str) {
        if let Ok(mut m) = self.waiting_since.lock() {
            m.remove(uid);
        }
    }

    /// When this process first saw object `uid` waiting for input `what` (for example one
    /// `secretMetadata` Secret), starting now if new. A timer of its own per input, separate
    /// from [`Self::waiting_since`] (the credentials Secret), so finding one input never
    /// restarts the grace period of another.
    pub fn waiting_for_since(&self, uid: &str, what: &str) -> Instant {
        self.waiting_since(&Self::wait_key(uid, what))
    }

    /// The wait of object `uid` for input `what` is over.
    pub fn stop_waiting_for(&self, uid: &str, what: &str) {
        self.stop_waiting(&Self::wait_key(uid, what));
    }

    /// Drops every per-input timer of object `uid` (not its credentials timer): all its inputs
    /// resolved, or the object is gone.
    pub fn stop_waiting_for_all(&self, uid: &str) {
        let prefix = Self::wait_key(uid, "");
        if let Ok(mut m) = self.waiting_since.lock() {
            m.retain(|k, _| !k.starts_with(&prefix));
        }
    }

    /// The key of a per-input wait timer: the UID, a separator no UID contains, the input.
    fn wait_key(uid: &str, what: &str) -> String {
        format!("{uid}\u{1f}{what}")
    }
}

/// Exponential backoff with jitter: `min * 2^(attempt-1)` capped at `max`, then scaled into
/// `[50%, 100%]` by `unit` (a random number in `[0, 1)`), so retries of many objects spread.
pub fn backoff(attempt: u32, min: Duration, max: Duration, unit: f64) -> Duration {
    let exp = min.saturating_mul(
        1u32.checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX),
    );
    let capped = exp.min(max);
    super::durations::scale(capped, 0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// `base` moved by up to `±fraction` according to `unit` (random in `[0, 1)`).
pub fn jittered(base: Duration, fraction: f64, unit: f64) -> Duration {
    let f = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 0.9)
    };
    super::durations::scale(base, 1.0 - f + 2.0 * f * unit.clamp(0.0, 1.0))
}

/// A context for unit tests: `stores`, the default configuration, and a Kubernetes client for
/// `url` (a dead port when nothing should be asked).
#[cfg(test)]
pub fn test_context(url: &str, stores: Stores) -> Context {
    let config = kube::Config::new(url.parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    let api = Arc::new(crate::api::MeshesClient::new(Default::default()).expect("api"));
    Context::new(
        client,
        api,
        OperatorConfig::default(),
        stores,
        Default::default(),
        Triggers::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, min, max, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, min, max, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(30, min, max, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(3, min, max, 0.0), Duration::from_secs(2));
    }

    /// Backoff reaches the configured ceiling only while Meshes fails broadly.
    #[tokio::test]
    async fn backoff_stays_short_unless_meshes_is_in_an_outage() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        let client = kube::Client::try_from(config).expect("client");
        let api = Arc::new(crate::api::MeshesClient::new(Default::default()).expect("api"));
        let metrics = Arc::new(super::super::metrics::Metrics::new());
        let ctx = Context::new(
            client,
            api,
            OperatorConfig::default(),
            Stores::default(),
            metrics.clone(),
            Triggers::default(),
        );
        let calm = (0..12).map(|_| ctx.next_backoff("a")).max().expect("some");
        assert!(calm <= super::super::outage::CALM_BACKOFF_MAX, "{calm:?}");
        // Eight 429s in a row: the key's failure fraction passes the storm mark.
        for _ in 0..8 {
            metrics.outages().rate_limited("key");
        }
        let stormy = ctx.next_backoff("a");
        assert!(stormy >= Duration::from_secs(150), "{stormy:?}");
    }

    #[test]
    fn jitter_stays_within_the_fraction() {
        let base = Duration::from_secs(100);
        assert_eq!(jittered(base, 0.1, 0.0), Duration::from_secs(90));
        assert_eq!(jittered(base, 0.1, 0.5), Duration::from_secs(100));
        assert!(jittered(base, 0.1, 0.999) <= Duration::from_secs(110));
    }
}
