//! The request budget of each key: what one client may send with one set of credentials.
//!
//! **Keyed by the access key and a fingerprint of its secret.** The access key is not secret
//! (it is the JWT `kid` and appears in every trace), so a budget keyed by it alone could be
//! drained or paused by anyone who names it with a junk secret; a rotated secret starts a
//! budget of its own too. The fingerprint is a SHA-256 of a per-registry random salt and the
//! secret, kept in memory only and never printed.
//!
//! **Each key's budget** is a token bucket (governor: `rate_per_second`, `burst`) and a
//! concurrency cap (`max_concurrency` permits in flight), shared by every caller with those
//! credentials, plus the **429 pause**: a 429 stops only that key, for the server's
//! `Retry-After` (capped by `max_rate_limit_backoff`) or, without one, for an exponential
//! backoff that grows **once per burst**: a 429 that arrives while the key is already paused
//! (the other calls that were in flight together) extends nothing and does not step the
//! exponent; the first 429 after the pause ran out does. A success resets the exponent.
//!
//! **Fair shares.** Credentials may carry a share label ([`Credentials::with_share`]), e.g. the
//! namespace of a tenant on shared default credentials. Callers of one key wait in one queue
//! per share, and the key admits them round robin between the shares that have callers
//! waiting (FIFO within a share): each admitted caller's share goes to the back of the round.
//! Only the caller at the head of the round takes a concurrency slot and a token, so while
//! `n` shares wait, each gets at least `1/n` of the key's rate and of its freed slots, however
//! many calls one of them queues; a share alone (or the only one waiting) gets the whole
//! rate, since nothing is reserved for idle shares. Calls without a share form one share. A
//! share's queue exists only while it has callers waiting.
//!
//! **Priorities.** Credentials may carry a priority ([`Credentials::with_priority`], 0 by
//! default, lower first). Callers of one key wait in one class per priority, and the head of
//! the most urgent class with callers waiting is admitted next; the fair shares apply within a
//! class. Strict: a less urgent caller waits as long as more urgent ones do, so priorities are
//! for work that is bounded (an operator ranks a change a user just made above its routine
//! checks, and a parent above its children).
//!
//! **Eviction.** A key's budget unused for `evict_idle_after` (no caller waiting, no permit
//! held, no pause running) is forgotten, so a process that sees many keys over time (rotations,
//! tenants coming and going) does not keep them all. The threshold is never shorter than the
//! bucket's refill time (`burst / rate_per_second`), so a forgotten key's fresh bucket is one
//! it would have had anyway; only a finished 429 backoff's exponent is lost.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::BudgetConfig;
use super::credentials::Credentials;
use super::response::MAX_RETRY_AFTER;

/// Proof that a request may be sent now. Holding it occupies one concurrency slot of the key
/// and keeps the key's budget from being evicted.
pub struct BudgetPermit {
    _slot: OwnedSemaphorePermit,
    budget: Arc<KeyBudget>,
    waited: bool,
}

impl BudgetPermit {
    /// Whether the caller had to wait for this permit (a 429 pause, another share's turn, the
    /// concurrency cap or an empty bucket) rather than being admitted at once.
    pub fn waited(&self) -> bool {
        self.waited
    }
}

impl std::fmt::Debug for BudgetPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetPermit").finish_non_exhaustive()
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.touch();
    }
}

/// What a budget is kept for: the access key and a salted fingerprint of its secret.
#[derive(Clone, PartialEq, Eq, Hash)]
struct BudgetKey {
    access_key: String,
    secret_fingerprint: [u8; 32],
}

/// The budget of one key.
struct KeyBudget {
    bucket: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
    pause: Mutex<PauseState>,
    queue: Mutex<FairQueue>,
    last_used: Mutex<Instant>,
}

#[derive(Debug, Default)]
struct PauseState {
    until: Option<Instant>,
    consecutive_429: u32,
}

/// Callers waiting for a key: by priority class (lowest number first), and within a class one
/// FIFO per share, served round robin between shares.
#[derive(Default)]
struct FairQueue {
    next_ticket: u64,
    /// Classes with callers waiting; an empty class is removed.
    classes: BTreeMap<u8, Class>,
}

/// The callers of one priority class.
#[derive(Default)]
struct Class {
    waiting: HashMap<String, VecDeque<Waiter>>,
    /// Shares with callers waiting; the front one's first caller is the class's head.
    round: VecDeque<String>,
}

struct Waiter {
    ticket: u64,
    wake: Arc<Notify>,
}

impl Class {
    fn head(&self) -> Option<&Waiter> {
        self.round
            .front()
            .and_then(|share| self.waiting.get(share))
            .and_then(VecDeque::front)
    }
}

impl FairQueue {
    fn join(&mut self, share: &str, priority: u8) -> (u64, Arc<Notify>) {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let wake = Arc::new(Notify::new());
        let class = self.classes.entry(priority).or_default();
        let queue = class.waiting.entry(share.to_owned()).or_default();
        if queue.is_empty() {
            class.round.push_back(share.to_owned());
        }
        queue.push_back(Waiter {
            ticket,
            wake: wake.clone(),
        });
        (ticket, wake)
    }

    /// The caller admitted next: the head of the most urgent class with callers waiting.
    fn head(&self) -> Option<&Waiter> {
        self.classes.values().next().and_then(Class::head)
    }

    /// Removes a caller (admitted or gone). When it was its class's head, its share moves to
    /// the back of the class's round. Wakes whoever is the head afterwards.
    fn leave(&mut self, share: &str, priority: u8, ticket: u64) {
        if let Some(class) = self.classes.get_mut(&priority) {
            let was_head = class.head().is_some_and(|w| w.ticket == ticket);
            if let Some(queue) = class.waiting.get_mut(share) {
                queue.retain(|w| w.ticket != ticket);
                if queue.is_empty() {
                    class.waiting.remove(share);
                    class.round.retain(|s| s != share);
                } else if was_head {
                    class.round.rotate_left(1);
                }
            }
            if class.round.is_empty() {
                self.classes.remove(&priority);
            }
        }
        if let Some(head) = self.head() {
            head.wake.notify_one();
        }
    }
}

/// A caller's place in the key's queue; leaving it (admitted, or the future dropped) passes
/// the turn on.
struct Turn<'a> {
    budget: &'a KeyBudget,
    share: &'a str,
    priority: u8,
    ticket: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.budget
            .queue()
            .leave(self.share, self.priority, self.ticket);
    }
}

impl KeyBudget {
    fn paused_until(&self) -> Option<Instant> {
        let state = self.pause.lock().unwrap_or_else(PoisonError::into_inner);
        state.until.filter(|u| *u > Instant::now())
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, FairQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_since(&self) -> Instant {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The tracked budgets and when they were last swept for idle ones.
struct Keys {
    budgets: HashMap<BudgetKey, Arc<KeyBudget>>,
    last_sweep: Instant,
}

/// All budgets of one client (see the module docs). Cheap to share (`Arc` inside the client).
pub struct BudgetRegistry {
    config: BudgetConfig,
    quota: Quota,
    /// Random per registry: fingerprints are useless outside this process.
    salt: [u8; 32],
    /// `evict_idle_after`, raised to the bucket's refill time.
    idle_after: Duration,
    keys: Mutex<Keys>,
}

impl std::fmt::Debug for BudgetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetRegistry")
            .field("config", &self.config)
            .field("keys", &self.tracked_keys())
            .finish()
    }
}

/// Longest bucket period accepted: slower rates are treated as one request a day.
const MAX_PERIOD: Duration = Duration::from_secs(86_400);

impl BudgetRegistry {
    /// A registry applying `config` to each key separately. The config must have been
    /// validated (positive rate, burst and concurrency).
    pub fn new(config: BudgetConfig) -> Self {
        let period = Duration::try_from_secs_f64(1.0 / config.rate_per_second)
            .unwrap_or(MAX_PERIOD)
            .min(MAX_PERIOD);
        let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        let refill = period.saturating_mul(burst.get());
        let idle_after = config.evict_idle_after.max(refill);
        Self {
            config,
            quota,
            salt: rand::rng().random(),
            idle_after,
            keys: Mutex::new(Keys {
                budgets: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    fn budget_key(&self, creds: &Credentials) -> BudgetKey {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        hash.update(creds.secret_key().expose_bytes());
        BudgetKey {
            access_key: creds.access_key().to_owned(),
            secret_fingerprint: hash.finalize().into(),
        }
    }

    fn key(&self, creds: &Credentials) -> Arc<KeyBudget> {
        let id = self.budget_key(creds);
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.saturating_duration_since(keys.last_sweep) >= self.idle_after / 2 {
            keys.last_sweep = now;
            let idle_after = self.idle_after;
            // Only the map holds an unused budget: every waiter and permit holds an `Arc`,
            // and new ones are handed out only under this lock.
            keys.budgets.retain(|_, b| {
                Arc::strong_count(b) > 1
                    || b.paused_until().is_some()
                    || now.saturating_duration_since(b.idle_since()) < idle_after
            });
        }
        let budget = keys
            .budgets
            .entry(id)
            .or_insert_with(|| {
                Arc::new(KeyBudget {
                    bucket: RateLimiter::direct(self.quota),
                    slots: Arc::new(Semaphore::new(self.config.max_concurrency)),
                    pause: Mutex::new(PauseState::default()),
                    queue: Mutex::new(FairQueue::default()),
                    last_used: Mutex::new(now),
                })
            })
            .clone();
        budget.touch();
        budget
    }

    /// Waits until `creds` may send one request: its key not paused by a 429, no caller of a
    /// more urgent priority waiting, its share's turn in its class's round, a concurrency slot free and a token in the key's bucket.
    /// Other keys are never delayed by this key. Cancel-safe: dropping the future gives up
    /// the caller's place.
    pub async fn acquire(&self, creds: &Credentials) -> BudgetPermit {
        let budget = self.key(creds);
        let share = creds.share().unwrap_or("");
        let priority = creds.priority();
        let (ticket, wake) = budget.queue().join(share, priority);
        let turn = Turn {
            budget: &budget,
            share,
            priority,
            ticket,
        };
        // Whether any step below had to wait (reported to the metrics observer); each step
        // first tries without waiting so that an immediate admission is told apart.
        let mut waited = false;
        while budget.queue().head().is_none_or(|w| w.ticket != ticket) {
            waited = true;
            wake.notified().await;
        }
        let slot = loop {
            if let Some(until) = budget.paused_until() {
                waited = true;
                tokio::time::sleep_until(until).await;
                continue;
            }
            let slot = match budget.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    waited = true;
                    let Ok(slot) = budget.slots.clone().acquire_owned().await else {
                        // The semaphore is never closed; treat it as "no cap" rather than panic.
                        continue;
                    };
                    slot
                }
            };
            // `check` takes a token when one is there, as `until_ready` would.
            if budget.bucket.check().is_err() {
                waited = true;
                budget.bucket.until_ready().await;
            }
            // A 429 may have arrived while we queued: re-check so the pause holds for
            // requests that were already waiting.
            if budget.paused_until().is_none() {
                break slot;
            }
        };
        drop(turn);
        BudgetPermit {
            _slot: slot,
            budget,
            waited,
        }
    }

    /// Pauses `creds`' key after a 429: for `retry_after` when the server said (capped by
    /// `max_rate_limit_backoff`), else for an exponential backoff whose exponent steps once
    /// per burst: only when the previous pause has run out. Returns the pause applied.
    pub fn pause(&self, creds: &Credentials, retry_after: Option<Duration>) -> Duration {
        let budget = self.key(creds);
        let mut state = budget.pause.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let in_pause = state.until.is_some_and(|u| u > now);
        if !in_pause {
            state.consecutive_429 = state.consecutive_429.saturating_add(1);
        }
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
        let until = now
            .checked_add(delay)
            .or_else(|| now.checked_add(MAX_RETRY_AFTER))
            .unwrap_or(now);
        // Never shorten a pause that is already longer.
        state.until = Some(state.until.map_or(until, |u| u.max(until)));
        delay
    }

    /// How much longer `creds`' key stays paused by a 429 (zero when it is not paused).
    pub fn pause_left(&self, creds: &Credentials) -> Duration {
        self.key(creds).paused_until().map_or(Duration::ZERO, |u| {
            u.saturating_duration_since(Instant::now())
        })
    }

    /// Records a successful response: the 429 backoff starts from the beginning again.
    pub fn note_success(&self, creds: &Credentials) {
        let budget = self.key(creds);
        let mut state = budget.pause.lock().unwrap_or_else(PoisonError::into_inner);
        state.consecutive_429 = 0;
    }

    /// Whether callers are waiting for `creds`' key (of any priority) or it is paused by a 429:
    /// a call made now would queue. Lets work that can wait stay out of the queue (and free
    /// whatever it holds meanwhile) instead of adding to it.
    pub fn congested(&self, creds: &Credentials) -> bool {
        let id = self.budget_key(creds);
        let budget = {
            let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            keys.budgets.get(&id).cloned()
        };
        budget.is_some_and(|b| b.paused_until().is_some() || b.queue().head().is_some())
    }

    /// Budgets currently tracked (one per access key and secret; idle ones are evicted).
    pub fn tracked_keys(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .budgets
            .len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "budget-secret-abcdefghijklmnopqrstuvwxyz";

    fn registry(rate: f64, burst: u32, conc: usize) -> Arc<BudgetRegistry> {
        Arc::new(BudgetRegistry::new(BudgetConfig {
            rate_per_second: rate,
            burst,
            max_concurrency: conc,
            rate_limit_backoff: Duration::from_millis(100),
            max_rate_limit_backoff: Duration::from_secs(10),
            ..BudgetConfig::default()
        }))
    }

    fn key(access_key: &str) -> Credentials {
        Credentials::new(access_key, SECRET, "org-1").unwrap()
    }

    #[tokio::test]
    async fn bucket_limits_one_key_but_not_another() {
        let reg = registry(10.0, 2, 100);
        let start = std::time::Instant::now();
        for _ in 0..7 {
            drop(reg.acquire(&key("mk_a")).await);
        }
        // 7 permits with burst 2 at 10/s need at least 5 refills = 0.5 s.
        let a = start.elapsed();
        assert!(a >= Duration::from_millis(450), "{a:?}");
        // Positive control the other way: a fresh key has its own full burst.
        let start = std::time::Instant::now();
        drop(reg.acquire(&key("mk_b")).await);
        drop(reg.acquire(&key("mk_b")).await);
        assert!(start.elapsed() < Duration::from_millis(200));
    }

    #[tokio::test]
    async fn concurrency_cap_holds_until_a_permit_drops() {
        let reg = registry(1000.0, 1000, 1);
        let held = reg.acquire(&key("mk_a")).await;
        let waiter = tokio::spawn({
            let reg = reg.clone();
            async move { reg.acquire(&key("mk_a")).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiter.is_finished(),
            "second request got a slot while the first held it"
        );
        // Another key is not capped by mk_a.
        let other = tokio::time::timeout(Duration::from_secs(1), reg.acquire(&key("mk_b"))).await;
        assert!(other.is_ok());
        drop(held);
        let second = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(second, Ok(Ok(_))));
    }

    #[tokio::test]
    async fn pause_delays_only_that_key_and_backoff_grows_without_retry_after() {
        let reg = registry(1000.0, 1000, 10);
        assert_eq!(
            reg.pause(&key("mk_a"), Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        let start = std::time::Instant::now();
        drop(reg.acquire(&key("mk_b")).await);
        assert!(start.elapsed() < Duration::from_millis(100));
        drop(reg.acquire(&key("mk_a")).await);
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );

        // Without Retry-After: 100 ms, then (after that pause) 200 ms, then reset after a
        // success.
        let c = key("mk_c");
        assert_eq!(reg.pause(&c, None), Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(reg.pause(&c, None), Duration::from_millis(200));
        reg.note_success(&c);
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert_eq!(reg.pause(&c, None), Duration::from_millis(100));
        // Server-sent values are capped.
        assert_eq!(
            reg.pause(&key("mk_d"), Some(Duration::from_secs(3600))),
            Duration::from_secs(10)
        );
    }

    /// Review finding 7: eight in-flight requests that all get a 429 without Retry-After are
    /// one burst: the pause grows once for it, not once per response (1 s·2⁷ = 128 s).
    #[tokio::test]
    async fn a_burst_of_429s_grows_the_pause_once_not_once_per_response() {
        let reg = registry(1000.0, 1000, 10);
        let c = key("mk_a");
        let pauses: Vec<Duration> = (0..8).map(|_| reg.pause(&c, None)).collect();
        assert_eq!(pauses, vec![Duration::from_millis(100); 8]);
        let start = std::time::Instant::now();
        drop(reg.acquire(&c).await);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(80) && waited < Duration::from_millis(400),
            "{waited:?}"
        );
        // Positive control: a 429 after the pause ran out is the next burst, one step up.
        assert_eq!(reg.pause(&c, None), Duration::from_millis(200));
    }

    /// The access key is not secret: budgets are keyed by the key *and* its secret, so a
    /// caller with someone's access key and a wrong (or rotated) secret neither shares nor
    /// poisons the budget of the real one.
    #[tokio::test]
    async fn the_same_access_key_with_another_secret_has_its_own_budget() {
        let reg = registry(1.0, 1, 100);
        let real = key("mk_a");
        let junk = Credentials::new("mk_a", "junk-secret", "org-1").unwrap();
        // The junk caller is rate-limited by Meshes (its calls fail) and uses its bucket.
        reg.pause(&junk, Some(Duration::from_secs(5)));
        // The real secret was neither paused nor charged by the junk caller.
        let real_permit = tokio::time::timeout(Duration::from_secs(1), reg.acquire(&real)).await;
        assert!(
            real_permit.is_ok(),
            "the real secret waited on the junk secret's pause"
        );
        // Positive control: the junk secret's own pause holds.
        let again = tokio::time::timeout(Duration::from_millis(300), reg.acquire(&junk)).await;
        assert!(again.is_err(), "the junk secret's pause holds");
        assert_eq!(reg.tracked_keys(), 2);
        let debug = format!("{reg:?}");
        assert!(
            !debug.contains(SECRET) && !debug.contains("junk-secret"),
            "{debug}"
        );
    }

    /// Idle budgets are forgotten; busy or paused ones are kept.
    #[tokio::test]
    async fn idle_budgets_are_evicted_but_busy_and_paused_ones_are_kept() {
        let reg = Arc::new(BudgetRegistry::new(BudgetConfig {
            rate_per_second: 1000.0,
            burst: 10,
            max_concurrency: 10,
            evict_idle_after: Duration::from_millis(100),
            ..BudgetConfig::default()
        }));
        for k in ["mk_a", "mk_b", "mk_c"] {
            drop(reg.acquire(&key(k)).await);
        }
        let held = reg.acquire(&key("mk_held")).await;
        reg.pause(&key("mk_paused"), Some(Duration::from_secs(5)));
        // Positive control: nothing is evicted before the idle threshold.
        drop(reg.acquire(&key("mk_a")).await);
        assert_eq!(reg.tracked_keys(), 5);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(reg.acquire(&key("mk_new")).await);
        assert_eq!(
            reg.tracked_keys(),
            3,
            "only mk_held, mk_paused and mk_new remain"
        );
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(reg.acquire(&key("mk_new")).await);
        assert_eq!(reg.tracked_keys(), 2, "mk_held went idle and was evicted");
    }

    /// Admission order of `n` concurrent acquires per share, all queued at once.
    async fn admission_order(
        reg: &Arc<BudgetRegistry>,
        groups: &[(&'static str, usize, Duration)],
    ) -> Vec<&'static str> {
        let groups: Vec<_> = groups
            .iter()
            .map(|(share, n, after)| (*share, key("mk_shared").with_share(*share), *n, *after))
            .collect();
        admission_order_of(reg, &groups).await
    }

    /// Admission order of `n` concurrent acquires per labelled group of credentials, each group
    /// queued `after` the previous one.
    async fn admission_order_of(
        reg: &Arc<BudgetRegistry>,
        groups: &[(&'static str, Credentials, usize, Duration)],
    ) -> Vec<&'static str> {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (label, creds, n, after) in groups {
            tokio::time::sleep(*after).await;
            for _ in 0..*n {
                let (reg, order, label, creds) =
                    (reg.clone(), order.clone(), *label, creds.clone());
                tasks.push(tokio::spawn(async move {
                    let permit = reg.acquire(&creds).await;
                    order.lock().unwrap().push(label);
                    drop(permit);
                }));
                tokio::task::yield_now().await;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        order.lock().unwrap().clone()
    }

    /// Two shares of one key, one greedy: the other still gets its turn at once (round robin
    /// between shares that wait) instead of queueing behind every greedy call.
    #[tokio::test]
    async fn a_greedy_share_cannot_starve_another_share_of_the_same_key() {
        let reg = registry(50.0, 1, 1000);
        let order = admission_order(
            &reg,
            &[
                ("greedy", 60, Duration::ZERO),
                ("quiet", 10, Duration::from_millis(50)),
            ],
        )
        .await;
        let last_quiet = order.iter().rposition(|s| *s == "quiet").unwrap();
        let greedy_before = order[..last_quiet]
            .iter()
            .filter(|s| **s == "greedy")
            .count();
        // Fair: the quiet share's 10 calls alternate with the greedy ones after it arrives
        // (about 3 greedy calls went before it did). FIFO would put all 60 greedy first.
        assert!(
            greedy_before <= 16,
            "{greedy_before} greedy calls went before the quiet share's last: {order:?}"
        );
    }

    /// Callers of a more urgent priority that arrive while a backlog of routine ones waits
    /// are admitted next, ahead of the whole backlog; the backlog then continues in its order.
    #[tokio::test]
    async fn an_urgent_caller_goes_before_a_routine_backlog() {
        let reg = registry(50.0, 1, 1000);
        let order = admission_order_of(
            &reg,
            &[
                (
                    "routine",
                    key("mk_shared").with_priority(3),
                    30,
                    Duration::ZERO,
                ),
                (
                    "urgent",
                    key("mk_shared").with_priority(0),
                    3,
                    Duration::from_millis(100),
                ),
            ],
        )
        .await;
        let first_urgent = order.iter().position(|s| *s == "urgent").unwrap();
        let last_urgent = order.iter().rposition(|s| *s == "urgent").unwrap();
        // Positive control: routine calls were admitted before the urgent ones arrived (about
        // 5 in 100 ms at 50/s) and after them; FIFO would put all 30 first.
        assert!(first_urgent >= 2, "{order:?}");
        assert!(
            last_urgent <= first_urgent + 3 && last_urgent < 12,
            "the urgent calls waited behind the backlog: {order:?}"
        );
        assert_eq!(order.iter().filter(|s| **s == "routine").count(), 30);
    }

    /// A share alone (or the only one waiting) gets the whole rate of the key.
    #[tokio::test]
    async fn a_share_alone_gets_the_whole_rate() {
        let reg = registry(50.0, 1, 1000);
        // Another share was active before and is now idle: it takes nothing.
        admission_order(&reg, &[("earlier", 2, Duration::ZERO)]).await;
        let start = std::time::Instant::now();
        let order = admission_order(&reg, &[("solo", 40, Duration::ZERO)]).await;
        let took = start.elapsed();
        assert_eq!(order.len(), 40);
        // 40 calls at 50/s: about 0.8 s. Half the rate would take about 1.6 s.
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_millis(1200),
            "{took:?}"
        );
    }
}
