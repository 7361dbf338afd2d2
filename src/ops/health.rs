//! [`Health`]: what `/readyz` and `/livez` answer from, and what the leader gauge reads.
//!
//! **Ready** = `(leading && caches_synced) || (!leading && standby_healthy)`: a leader serves
//! once its caches of the three kinds hold a complete list; a standby (leader election on, not
//! holding the lease) is ready while it is healthy, so a rollout is not blocked by replicas
//! that are waiting for the lease by design.
//!
//! **Live** = the main runtime is not wedged. A task on the main runtime ticks a heartbeat
//! ([`Health::spawn_heartbeat`]); the probe server runs on a thread of its own with its own
//! small runtime (`super::server`) and answers `/livez` from the age of the last tick. When
//! every worker of the main runtime is stuck (a blocking call, a deadlock, a spinning task) the
//! ticks stop, `/livez` fails and the kubelet restarts the container, while the probe server
//! itself still answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the main runtime ticks the heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// How old the last tick may be before the process counts as wedged: ten missed ticks, long
/// enough that a busy but working runtime on a loaded node never trips it.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(10);

/// Shared health state (cheap atomics; share it through an `Arc`).
#[derive(Debug)]
pub struct Health {
    leader_election: bool,
    caches_synced: AtomicBool,
    leading: AtomicBool,
    standby_healthy: AtomicBool,
    started: Instant,
    /// Milliseconds from `started` to the last heartbeat tick.
    last_beat_ms: AtomicU64,
    beat_every: Duration,
    live_within: Duration,
}

impl Health {
    /// A fresh state: caches not synced, standby not healthy, leading exactly when leader
    /// election is off (a single instance is always the leader). The heartbeat counts as just
    /// ticked, so `/livez` passes while the process starts.
    pub fn new(leader_election_enabled: bool) -> Self {
        Self {
            leader_election: leader_election_enabled,
            caches_synced: AtomicBool::new(false),
            leading: AtomicBool::new(!leader_election_enabled),
            standby_healthy: AtomicBool::new(false),
            started: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            beat_every: HEARTBEAT_EVERY,
            live_within: LIVENESS_TIMEOUT,
        }
    }

    /// The same with other heartbeat timings (tests use short ones).
    pub fn with_heartbeat(mut self, every: Duration, live_within: Duration) -> Self {
        self.beat_every = every;
        self.live_within = live_within;
        self
    }

    /// Whether leader election is on for this process.
    pub fn leader_election(&self) -> bool {
        self.leader_election
    }

    /// The caches of the three kinds hold a complete list (or no longer do).
    pub fn set_caches_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::SeqCst);
    }

    /// This process holds (or lost) the leader lease.
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }

    /// A standby is healthy: it can reach the API server and would take over.
    pub fn set_standby_healthy(&self, healthy: bool) {
        self.standby_healthy.store(healthy, Ordering::SeqCst);
    }

    /// Whether the caches have synced.
    pub fn caches_synced(&self) -> bool {
        self.caches_synced.load(Ordering::SeqCst)
    }

    /// Whether this process is the leader.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Whether a standby reported itself healthy.
    pub fn standby_healthy(&self) -> bool {
        self.standby_healthy.load(Ordering::SeqCst)
    }

    /// `/readyz`: `(leading && caches_synced) || (!leading && standby_healthy)`.
    pub fn is_ready(&self) -> bool {
        if self.is_leading() {
            self.caches_synced()
        } else {
            self.standby_healthy()
        }
    }

    /// Records a tick of the main runtime.
    pub fn beat(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_beat_ms.store(ms, Ordering::SeqCst);
    }

    /// How long ago the main runtime last ticked.
    pub fn since_last_beat(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.last_beat_ms.load(Ordering::SeqCst),
        ))
    }

    /// `/livez`: the main runtime ticked within the liveness timeout.
    pub fn is_live(&self) -> bool {
        self.since_last_beat() < self.live_within
    }

    /// Ticks the heartbeat from the current (main) runtime until the process ends. Must be
    /// called on the runtime whose health `/livez` reports.
    pub fn spawn_heartbeat(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(health.beat_every);
            // After a stall, tick once and carry on: no burst of catch-up ticks.
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                health.beat();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_leadership_caches_and_standby_health() {
        // Leader election off: leading from the start, ready once the caches synced.
        let single = Health::new(false);
        assert!(single.is_leading() && !single.is_ready());
        single.set_caches_synced(true);
        assert!(single.is_ready());

        // Leader election on: a standby is ready only while healthy, whatever its caches.
        let ha = Health::new(true);
        assert!(!ha.is_leading() && !ha.is_ready());
        ha.set_caches_synced(true);
        assert!(!ha.is_ready(), "an unhealthy standby with synced caches");
        ha.set_standby_healthy(true);
        assert!(ha.is_ready());
        // Taking the lease: ready needs the caches again.
        ha.set_leading(true);
        ha.set_caches_synced(false);
        assert!(!ha.is_ready(), "a leader whose caches have not synced");
        ha.set_caches_synced(true);
        assert!(ha.is_ready());
    }

    #[test]
    fn liveness_fails_when_the_heartbeat_stops() {
        let h =
            Health::new(false).with_heartbeat(Duration::from_millis(10), Duration::from_millis(80));
        assert!(h.is_live(), "a fresh state counts as just ticked");
        std::thread::sleep(Duration::from_millis(120));
        assert!(!h.is_live(), "no tick for longer than the timeout");
        h.beat();
        assert!(h.is_live());
    }
}
