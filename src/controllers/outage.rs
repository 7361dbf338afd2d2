//! Recovery from a Meshes outage or a 429 storm. An object whose pass failed transiently waits
//! out its own exponential backoff (up to `--error-backoff-max`, 5 min by default), which is
//! right while Meshes is failing but outlives the failure by minutes once it ends: after a long
//! storm every object waits 2.5–5 min, and a namespace being deleted stays Terminating that
//! long after Meshes is back.
//!
//! The watch follows each access key through the client's observer and calls it *recovered*
//! (every object waiting in backoff is then woken once, its backoff reset) when either
//!
//! - a run of at least [`MIN_FAILURES`] failures (5xx, no answer, 429) with no success between,
//!   lasting at least [`MIN_OUTAGE`], ends with a success (an outage), or
//! - the key's failure fraction, weighted over about its last ten answers, rose to [`STORM`]
//!   and has fallen back to [`CALM`] (a storm of partial failures: 60 % of answers failing
//!   never makes a long run, yet backs every object off for minutes).
//!
//! Random faults at the rates Meshes may show on a bad day (20 %) rarely look like either, and
//! a spurious wake costs one pass per waiting object, paced by the key's budget like any other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::reflector::ObjectRef;
use tokio::sync::watch;

use crate::api::StatusClass;
use crate::resources::{MeshesConnection, MeshesRule, MeshesWorkspace};

/// Failures in a row (with no success between) before a run counts as an outage.
pub const MIN_FAILURES: u32 = 3;
/// How long an outage or storm must have lasted before its end counts as a recovery.
pub const MIN_OUTAGE: Duration = Duration::from_secs(5);
/// The weight of the newest answer in a key's failure fraction (about ten answers count).
const WEIGHT: f64 = 0.1;
/// A failure fraction at or above this is a storm.
pub const STORM: f64 = 0.5;
/// A storm is over when the failure fraction is back at or below this.
pub const CALM: f64 = 0.1;
/// The longest error backoff while no key is in an outage or storm: an object that keeps
/// failing while Meshes mostly answers is unlucky (random faults hit each of its calls), not
/// facing a struggling service, and retries at least this often. The full backoff (up to
/// `error_backoff_max`) is for outages and storms, where it spares Meshes.
pub const CALM_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One access key's recent answers.
#[derive(Debug, Clone, Copy, Default)]
struct Health {
    /// The current run of failures with no success between: when it began, how long it is.
    run: Option<(Instant, u32)>,
    /// The failure fraction, exponentially weighted.
    failing: f64,
    /// When the failure fraction reached [`STORM`], until the storm is over.
    storm_since: Option<Instant>,
}

/// Each access key's health, and a counter of recoveries to wait on.
#[derive(Debug)]
pub struct OutageWatch {
    keys: Mutex<HashMap<String, Health>>,
    recoveries: watch::Sender<u64>,
}

impl Default for OutageWatch {
    fn default() -> Self {
        Self {
            keys: Mutex::default(),
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

    /// Whether some key is in an outage (a run of [`MIN_FAILURES`] failures or more over
    /// [`MIN_OUTAGE`] or more) or a storm now. A few failures in a row within a moment are
    /// random faults, not an outage.
    pub fn storming(&self) -> bool {
        let now = Instant::now();
        self.lock().values().any(|h| {
            h.storm_since.is_some()
                || h.run.is_some_and(|(since, count)| {
                    count >= MIN_FAILURES && now.duration_since(since) >= MIN_OUTAGE
                })
        })
    }

    /// Recoveries seen since the process started.
    pub fn recoveries(&self) -> u64 {
        *self.recoveries.borrow()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Health>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, credential: &str, now: Instant) {
        let mut keys = self.lock();
        let h = keys.entry(credential.to_owned()).or_default();
        let (since, count) = h.run.unwrap_or((now, 0));
        h.run = Some((since, count.saturating_add(1)));
        h.failing = h.failing * (1.0 - WEIGHT) + WEIGHT;
        if h.storm_since.is_none() && h.failing >= STORM {
            h.storm_since = Some(now);
        }
    }

    fn succeeded(&self, credential: &str, now: Instant) {
        let mut keys = self.lock();
        let Some(h) = keys.get_mut(credential) else {
            return; // healthy keys are not tracked
        };
        let outage = h
            .run
            .take()
            .filter(|(since, count)| {
                *count >= MIN_FAILURES && now.duration_since(*since) >= MIN_OUTAGE
            })
            .map(|(since, _)| since);
        h.failing *= 1.0 - WEIGHT;
        let calm = h.failing <= CALM;
        // Any storm's end counts, however short: while it lasted, backoffs could grow to the
        // full ceiling (`storming`), and they must not outlive it.
        let storm = h.storm_since.filter(|_| calm);
        let began = outage.or(storm);
        if calm || began.is_some() {
            h.storm_since = None;
        }
        if calm && h.run.is_none() && h.storm_since.is_none() {
            keys.remove(credential);
        }
        drop(keys);
        if let Some(since) = began {
            tracing::info!(
                credential,
                outage_s = now.duration_since(since).as_secs(),
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
        let count = |w: &OutageWatch| w.lock().get(KEY).and_then(|h| h.run).map(|r| r.1);
        w.rate_limited(KEY);
        w.answered(KEY, StatusClass::ClientError);
        w.answered(KEY, StatusClass::ServerError);
        w.answered(KEY, StatusClass::Transport);
        assert_eq!(count(&w), Some(3), "429, 5xx and no answer");
        let since = w.lock().get(KEY).and_then(|h| h.run).expect("failing").0;
        w.succeeded(KEY, since + MIN_OUTAGE);
        assert!(rx.has_changed().expect("open"), "recovered");
        assert_eq!(count(&w), None, "the run ended");
        w.answered(KEY, StatusClass::ServerError);
        w.answered(KEY, StatusClass::Success);
        assert_eq!(count(&w), None, "a 2xx ends a run");
        assert_eq!(w.recoveries(), 1);
    }

    /// Answers `pattern` (true: failed) repeated `times`, 20 ms apart from `start`; the time
    /// after the last.
    fn play(w: &OutageWatch, start: Instant, pattern: &[bool], times: usize) -> Instant {
        let mut t = start;
        for _ in 0..times {
            for failed in pattern {
                t += Duration::from_millis(20);
                if *failed {
                    w.failed(KEY, t);
                } else {
                    w.succeeded(KEY, t);
                }
            }
        }
        t
    }

    /// A storm of partial failures (60 %: never a long run) is a recovery once it ends, once,
    /// however short it was; random faults at 20 % are not.
    #[test]
    fn a_storm_of_partial_failures_is_a_recovery_once_it_ends() {
        const STORMY: [bool; 5] = [true, false, true, true, false];
        const BAD_DAY: [bool; 5] = [true, false, false, false, false];
        let w = OutageWatch::default();
        let t = play(&w, Instant::now(), &BAD_DAY, 2000);
        assert_eq!(w.recoveries(), 0, "20 % random faults over 200 s");

        let t = play(&w, t, &STORMY, 40); // 4 s of storm
        assert!(w.storming());
        let t = play(&w, t, &[false], 40);
        assert_eq!(w.recoveries(), 1, "a short storm ended");
        assert!(!w.storming());

        let t = play(&w, t, &STORMY, 400); // 40 s of storm
        assert_eq!(w.recoveries(), 1, "during the storm");
        let t = play(&w, t, &[false], 40);
        assert_eq!(w.recoveries(), 2, "the storm ended");
        let t = play(&w, t, &BAD_DAY, 200);
        assert_eq!(w.recoveries(), 2, "counted once");
        assert!(!w.storming(), "random faults are no storm");
        play(&w, t, &STORMY, 20);
        assert!(w.storming(), "a storm again");
        assert!(w.lock().len() <= 1, "one key tracked at most");
    }
}
