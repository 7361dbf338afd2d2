//! The rate limit on Kubernetes Events: a token bucket per object and reason, so an object that
//! fails over and over (a transient error retried with backoff, a warning repeated on every
//! pass) cannot flood the namespace's Events or the API server.
//!
//! **The numbers** ([`EVENT_BURST`], [`EVENT_INTERVAL`]): each object may publish up to 5
//! Events of one reason at once; after that one more every 60 s. Over any window of `T`
//! seconds an object publishes at most `5 + T/60` Events of one reason (the burst, then the
//! sixth a minute after the burst began, and so on). Different reasons and different objects have buckets of their
//! own, so a limited warning never hides another object's Events or a different reason. A
//! suppressed Event is logged at debug level and counted in
//! `meshes_operator_events_total{result="suppressed"}`; the condition in status always carries
//! the current state, so nothing is lost but the repetition.
//!
//! The kube `Recorder` merges identical repeats into one Event series, but every repeat is
//! still an API write; this limit is what bounds them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Events of one reason an object may publish at once.
pub const EVENT_BURST: u32 = 5;

/// After the burst, one Event of that reason per this interval.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(60);

/// Buckets kept before idle ones (full again, so forgetting them changes nothing) are dropped.
const SWEEP_ABOVE: usize = 4096;

/// A token bucket per key (object and reason).
#[derive(Debug)]
pub struct EventLimiter {
    burst: f64,
    interval: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Default for EventLimiter {
    fn default() -> Self {
        Self::new(EVENT_BURST, EVENT_INTERVAL)
    }
}

impl EventLimiter {
    /// A limiter allowing `burst` Events per key at once, then one per `interval`.
    pub fn new(burst: u32, interval: Duration) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            interval: interval.max(Duration::from_millis(1)),
            buckets: Mutex::default(),
        }
    }

    /// Whether an Event for `key` may be published at `now` (taking a token if so).
    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, b| self.refilled(*b, now) < self.burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            true
        } else {
            *bucket = Bucket { tokens, at: now };
            false
        }
    }

    /// The tokens of `b` at `now`, refilled at one per interval up to the burst.
    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed / self.interval.as_secs_f64()).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(l: &EventLimiter, key: &str, start: Instant, secs: &[u64]) -> usize {
        secs.iter()
            .filter(|s| l.allow(key, start + Duration::from_secs(**s)))
            .count()
    }

    #[test]
    fn a_burst_then_one_per_interval_per_key() {
        let l = EventLimiter::default();
        let t0 = Instant::now();
        // One attempt a second for two minutes: the burst, then one a minute.
        let every_second: Vec<u64> = (0..120).collect();
        let n = allowed(&l, "uid-1/InvalidSpec", t0, &every_second);
        assert_eq!(
            n,
            5 + 1,
            "5 at once, then one at 60 s (the next token comes at 120 s)"
        );
        // Another key is not affected (positive control that the limit is per key).
        assert_eq!(allowed(&l, "uid-2/InvalidSpec", t0, &every_second[..10]), 5);
        assert_eq!(allowed(&l, "uid-1/Orphaned", t0, &[0, 1]), 2);
        // After a quiet period long enough to refill, a full burst again.
        let later: Vec<u64> = (1000..1010).collect();
        assert_eq!(allowed(&l, "uid-1/InvalidSpec", t0, &later), 5);
    }

    #[test]
    fn the_bound_holds_over_any_window() {
        let l = EventLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let times: Vec<u64> = (0..300).map(|i| i / 3).collect(); // 3 attempts a second for 100 s
        let n = allowed(&l, "k", t0, &times);
        assert!(n <= 3 + 100 / 10, "{n}");
        assert!(n >= 3 + 100 / 10 - 1, "{n}");
    }

    #[test]
    fn idle_buckets_are_forgotten() {
        let l = EventLimiter::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            assert!(l.allow(&format!("k{i}"), t0));
        }
        // Every bucket is full again 2 s later: the next call sweeps them.
        assert!(l.allow("new", t0 + Duration::from_secs(2)));
        let kept = l.buckets.lock().unwrap().len();
        assert_eq!(kept, 1, "{kept}");
    }
}
