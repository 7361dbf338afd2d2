//! Recovery from a Meshes outage or a 429 storm. An object whose pass failed transiently waits
//! out its own exponential backoff (up to `--error-backoff-max`, 5 min by default), which is
//! right while Meshes is failing but outlives the failure by minutes once it ends: after a long
//! storm every object waits 2.5–5 min, and a namespace being deleted stays Terminating that
//! long after Meshes is back.
//!
//! The watch follows each access key through the client's observer: a key that answered only
//! with failures (5xx, no answer, 429) for a while and then succeeds has *recovered*, and every
//! object waiting in backoff is woken once, with its backoff reset. Random faults never look
//! like an outage (they need [`MIN_FAILURES`] failures in a row over [`MIN_OUTAGE`]), so a
//! healthy operator never wakes anything; and the wake is one pass per waiting object, paced by
//! the key's budget like any other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;

use crate::api::StatusClass;
use crate::resources::{MeshesConnection, MeshesRule, MeshesWorkspace};

/// Failures in a row (with no success between) before a key counts as failing.
pub const MIN_FAILURES: u32 = 3;
/// How long a key must have been failing before its first success counts as a recovery.
pub const MIN_OUTAGE: Duration = Duration::from_secs(5);

/// A key's run of failures.
#[derive(Debug, Clone, Copy)]
struct Failing {
    since: Instant,
    count: u32,
}

/// Each access key's run of failures, and a counter of recoveries to wait on.
#[derive(Debug)]
pub struct OutageWatch {
    failing: Mutex<HashMap<String, Failing>>,
    recoveries: watch::Sender<u64>,
}

impl Default for OutageWatch {
    fn default() -> Self {
        Self {
            failing: Mutex::default(),
            recoveries: watch::Sender::new(0),
        }
    }
}

impl OutageWatch {
    /// A request with the key labelled `credential` ended with `status`. 4xx other than 429
    /// (reported through [`Self::rate_limited`]) say nothing about the key's health.
    pub fn answered(&self, credential: &str, status: StatusClass) {
        match status {
            StatusClass::Success => self.succeeded(credential, Instant::now()),
            StatusClass::ServerError | StatusClass::Transport => {
                self.failed(credential, Instant::now())
            }
            StatusClass::ClientError | StatusClass::Redirect | StatusClass::OtherStatus => {}
        }
    }

    /// Meshes answered 429 to a request with the key labelled `credential`.
    pub fn rate_limited(&self, credential: &str) {
        self.failed(credential, Instant::now());
    }

    /// A receiver that changes with every recovery (of any key).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.recoveries.subscribe()
    }

    /// Recoveries seen since the process started.
    pub fn recoveries(&self) -> u64 {
        *self.recoveries.borrow()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failing>> {
        self.failing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, credential: &str, now: Instant) {
        let mut failing = self.lock();
        let run = failing.entry(credential.to_owned()).or_insert(Failing {
            since: now,
            count: 0,
        });
        run.count = run.count.saturating_add(1);
    }

    fn succeeded(&self, credential: &str, now: Instant) {
        let Some(run) = self.lock().remove(credential) else {
            return;
        };
        if run.count >= MIN_FAILURES && now.duration_since(run.since) >= MIN_OUTAGE {
            tracing::info!(
                credential,
                failures = run.count,
                outage_s = now.duration_since(run.since).as_secs(),
                "Meshes answers again; objects waiting in error backoff are retried now"
            );
            self.recoveries.send_modify(|n| *n += 1);
        }
    }
}

/// An object waiting in error backoff, as its controller's trigger takes it.
#[derive(Debug, Clone)]
pub enum Waiter {
    /// A workspace.
    Workspace(ObjectRef<MeshesWorkspace>),
    /// A connection.
    Connection(ObjectRef<MeshesConnection>),
    /// A rule.
    Rule(ObjectRef<MeshesRule>),
}

impl Waiter {
    /// The waiter for object `namespace/name` of kind `kind` (`None` for another kind).
    pub fn of(kind: &str, namespace: &str, name: &str) -> Option<Self> {
        Some(match kind {
            "MeshesWorkspace" => Self::Workspace(ObjectRef::new(name).within(namespace)),
            "MeshesConnection" => Self::Connection(ObjectRef::new(name).within(namespace)),
            "MeshesRule" => Self::Rule(ObjectRef::new(name).within(namespace)),
            _ => return None,
        })
    }
}

/// The objects in error backoff, by UID: set after each pass, taken all at once on a recovery.
/// An object that leaves backoff (a pass succeeded) or is deleted leaves the set with its next
/// pass or at the next recovery, so it holds at most the objects that failed lately.
#[derive(Debug, Default)]
pub struct Waiters(Mutex<HashMap<String, Waiter>>);

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Object `uid` waits in backoff as `waiter`, or (`None`) does not.
    pub fn set(&self, uid: &str, waiter: Option<Waiter>) {
        let mut m = self.lock();
        match waiter {
            Some(w) => {
                m.insert(uid.to_owned(), w);
            }
            None => {
                m.remove(uid);
            }
        }
    }

    /// Every waiting object (the set is left empty).
    pub fn take_all(&self) -> Vec<(String, Waiter)> {
        self.lock().drain().collect()
    }

    /// How many objects wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no object waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ab12cd34";

    /// A key that failed for a while and then answers is a recovery, once; a success alone,
    /// a short run of failures or failures of another key are not.
    #[test]
    fn only_a_long_run_of_failures_ended_by_a_success_is_a_recovery() {
        let w = OutageWatch::default();
        let t0 = Instant::now();
        w.succeeded(KEY, t0);
        assert_eq!(w.recoveries(), 0, "a success alone");

        for _ in 0..10 {
            w.failed(KEY, t0);
        }
        w.succeeded(KEY, t0 + Duration::from_secs(1));
        assert_eq!(
            w.recoveries(),
            0,
            "many failures within a second: random faults"
        );

        w.failed(KEY, t0);
        w.failed(KEY, t0 + Duration::from_secs(30));
        w.succeeded(KEY, t0 + Duration::from_secs(31));
        assert_eq!(w.recoveries(), 0, "two failures are not an outage");

        for s in 0..6 {
            w.failed(KEY, t0 + Duration::from_secs(s));
        }
        w.succeeded("other", t0 + Duration::from_secs(7));
        assert_eq!(w.recoveries(), 0, "another key's success");
        w.succeeded(KEY, t0 + Duration::from_secs(7));
        assert_eq!(w.recoveries(), 1, "the outage ended");
        w.succeeded(KEY, t0 + Duration::from_secs(8));
        assert_eq!(w.recoveries(), 1, "counted once");
    }

    /// 429s and 5xx count as failures; other 4xx neither fail nor end a run; a 2xx ends it.
    #[test]
    fn rate_limits_count_and_other_client_errors_do_not() {
        let w = OutageWatch::default();
        let rx = w.subscribe();
        let count = |w: &OutageWatch| w.lock().get(KEY).map(|r| r.count);
        w.rate_limited(KEY);
        w.answered(KEY, StatusClass::ClientError);
        w.answered(KEY, StatusClass::ServerError);
        w.answered(KEY, StatusClass::Transport);
        assert_eq!(count(&w), Some(3), "429, 5xx and no answer");
        let since = w.lock().get(KEY).expect("failing").since;
        w.succeeded(KEY, since + MIN_OUTAGE);
        assert!(rx.has_changed().expect("open"), "recovered");
        assert_eq!(count(&w), None, "the run ended");
        w.answered(KEY, StatusClass::ServerError);
        w.answered(KEY, StatusClass::Success);
        assert_eq!(count(&w), None, "a 2xx ends a run");
        assert_eq!(w.recoveries(), 1);
    }
}
