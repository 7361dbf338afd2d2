//! Per-access-key token bucket; an empty bucket answers 429 with `Retry-After` = whole seconds
//! until the next token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::RateLimit;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets by access key, with a limit that can be changed at run time.
#[derive(Debug, Default)]
pub struct RateLimiter {
    inner: Mutex<(Option<RateLimit>, HashMap<String, Bucket>)>,
}

impl RateLimiter {
    /// A limiter with `limit` (or none).
    pub fn new(limit: Option<RateLimit>) -> Self {
        Self {
            inner: Mutex::new((limit, HashMap::new())),
        }
    }

    /// Replaces the limit and refills every bucket.
    pub fn set(&self, limit: Option<RateLimit>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g = (limit, HashMap::new());
    }

    /// Current limit.
    pub fn get(&self) -> Option<RateLimit> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// Takes a token for `key`; `Err(retry_after_secs)` when none is left.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(limit) = g.0 else {
            return Ok(());
        };
        let now = Instant::now();
        let burst = f64::from(limit.burst);
        let b = g.1.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / limit.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_per_key() {
        let l = RateLimiter::new(Some(RateLimit {
            per_second: 0.5,
            burst: 2,
        }));
        assert_eq!(l.take("a"), Ok(()));
        assert_eq!(l.take("a"), Ok(()));
        assert_eq!(l.take("a"), Err(2));
        assert_eq!(l.take("b"), Ok(()));
        l.set(None);
        assert_eq!(l.take("a"), Ok(()));
    }
}
