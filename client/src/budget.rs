//! The request budget per access key: a token bucket (governor) and a concurrency cap
//! (tokio semaphore), shared by every caller using the same key, plus the 429 pause that
//! stops only that key.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::BudgetConfig;

/// Proof that a request may be sent now. Holding it occupies one concurrency slot of the key.
#[derive(Debug)]
pub struct BudgetPermit {
    _slot: OwnedSemaphorePermit,
}

/// The budget of one access key.
struct KeyBudget {
    bucket: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
    pause: Mutex<PauseState>,
}

#[derive(Debug, Default)]
struct PauseState {
    until: Option<Instant>,
    consecutive_429: u32,
}

impl KeyBudget {
    fn paused_until(&self) -> Option<Instant> {
        let state = self.pause.lock().unwrap_or_else(PoisonError::into_inner);
        state.until.filter(|u| *u > Instant::now())
    }
}

/// All per-key budgets of one client. Cheap to share (`Arc` inside the client).
pub struct BudgetRegistry {
    config: BudgetConfig,
    quota: Quota,
    keys: Mutex<HashMap<String, Arc<KeyBudget>>>,
}

impl std::fmt::Debug for BudgetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("BudgetRegistry")
            .field("config", &self.config)
            .field("keys", &keys)
            .finish()
    }
}

impl BudgetRegistry {
    /// A registry applying `config` to each access key separately. The config must have been
    /// validated (positive rate, burst and concurrency).
    pub fn new(config: BudgetConfig) -> Self {
        let period = Duration::from_secs_f64(1.0 / config.rate_per_second);
        let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Self {
            config,
            quota,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, access_key: &str) -> Arc<KeyBudget> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.entry(access_key.to_owned())
            .or_insert_with(|| {
                Arc::new(KeyBudget {
                    bucket: RateLimiter::direct(self.quota),
                    slots: Arc::new(Semaphore::new(self.config.max_concurrency)),
                    pause: Mutex::new(PauseState::default()),
                })
            })
            .clone()
    }

    /// Waits until `access_key` may send one request: not paused by a 429, a concurrency slot
    /// free and a token in its bucket. Other keys are never delayed by this key.
    pub async fn acquire(&self, access_key: &str) -> BudgetPermit {
        let budget = self.key(access_key);
        loop {
            if let Some(until) = budget.paused_until() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let Ok(slot) = budget.slots.clone().acquire_owned().await else {
                // The semaphore is never closed; treat it as "no cap" rather than panic.
                continue;
            };
            budget.bucket.until_ready().await;
            // A 429 may have arrived while we queued: re-check so the pause holds for
            // requests that were already waiting.
            if budget.paused_until().is_none() {
                return BudgetPermit { _slot: slot };
            }
        }
    }

    /// Pauses `access_key` after a 429: for `retry_after` when the server said (capped), else
    /// for an exponential backoff that grows with consecutive 429s. Returns the pause applied.
    pub fn pause(&self, access_key: &str, retry_after: Option<Duration>) -> Duration {
        let budget = self.key(access_key);
        let mut state = budget.pause.lock().unwrap_or_else(PoisonError::into_inner);
        state.consecutive_429 = state.consecutive_429.saturating_add(1);
        let max = self.config.max_rate_limit_backoff;
        let delay = match retry_after {
            Some(d) => d.min(max),
            None => {
                let exp = state.consecutive_429.saturating_sub(1).min(16);
                self.config
                    .rate_limit_backoff
                    .saturating_mul(1u32 << exp)
                    .min(max)
            }
        };
        let until = Instant::now() + delay;
        // Never shorten a pause that is already longer.
        state.until = Some(state.until.map_or(until, |u| u.max(until)));
        delay
    }

    /// Records a successful response: the 429 backoff starts from the beginning again.
    pub fn note_success(&self, access_key: &str) {
        let budget = self.key(access_key);
        let mut state = budget.pause.lock().unwrap_or_else(PoisonError::into_inner);
        state.consecutive_429 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(rate: f64, burst: u32, conc: usize) -> Arc<BudgetRegistry> {
        Arc::new(BudgetRegistry::new(BudgetConfig {
            rate_per_second: rate,
            burst,
            max_concurrency: conc,
            rate_limit_backoff: Duration::from_millis(100),
            max_rate_limit_backoff: Duration::from_secs(10),
        }))
    }

    #[tokio::test]
    async fn bucket_limits_one_key_but_not_another() {
        let reg = registry(10.0, 2, 100);
        let start = std::time::Instant::now();
        for _ in 0..7 {
            drop(reg.acquire("mk_a").await);
        }
        // 7 permits with burst 2 at 10/s need at least 5 refills = 0.5 s.
        let a = start.elapsed();
        assert!(a >= Duration::from_millis(450), "{a:?}");
        // Positive control the other way: a fresh key has its own full burst.
        let start = std::time::Instant::now();
        drop(reg.acquire("mk_b").await);
        drop(reg.acquire("mk_b").await);
        assert!(start.elapsed() < Duration::from_millis(200));
    }

    #[tokio::test]
    async fn concurrency_cap_holds_until_a_permit_drops() {
        let reg = registry(1000.0, 1000, 1);
        let held = reg.acquire("mk_a").await;
        let waiter = tokio::spawn({
            let reg = reg.clone();
            async move { reg.acquire("mk_a").await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiter.is_finished(),
            "second request got a slot while the first held it"
        );
        // Another key is not capped by mk_a.
        let other = tokio::time::timeout(Duration::from_secs(1), reg.acquire("mk_b")).await;
        assert!(other.is_ok());
        drop(held);
        let second = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(second, Ok(Ok(_))));
    }

    #[tokio::test]
    async fn pause_delays_only_that_key_and_backoff_grows_without_retry_after() {
        let reg = registry(1000.0, 1000, 10);
        assert_eq!(
            reg.pause("mk_a", Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        let start = std::time::Instant::now();
        drop(reg.acquire("mk_b").await);
        assert!(start.elapsed() < Duration::from_millis(100));
        drop(reg.acquire("mk_a").await);
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );

        // Without Retry-After: 100 ms, then 200 ms, then reset after a success.
        assert_eq!(reg.pause("mk_c", None), Duration::from_millis(100));
        assert_eq!(reg.pause("mk_c", None), Duration::from_millis(200));
        reg.note_success("mk_c");
        assert_eq!(reg.pause("mk_c", None), Duration::from_millis(100));
        // Server-sent values are capped.
        assert_eq!(
            reg.pause("mk_d", Some(Duration::from_secs(3600))),
            Duration::from_secs(10)
        );
    }
}
