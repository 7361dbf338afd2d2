//! Start-up configuration of an emulator: listen address, machine credentials, rate limit,
//! seed data, initial faults, rule de-duplication, and the credential formats the official
//! clients validate.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

use crate::faults::FaultSpec;
use crate::seed::Seed;

/// Everything needed to start an [`crate::Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address of the management API listener (default `127.0.0.1:0`, a random free port).
    pub listen: SocketAddr,
    /// Machine keys accepted at start. Empty = one freshly generated key in a fresh org.
    pub credentials: Vec<Credentials>,
    /// Per-access-key token bucket; `None` = no rate limiting.
    pub rate_limit: Option<RateLimit>,
    /// Objects (and more credentials) to load at start, with fixed IDs.
    pub seed: Option<Seed>,
    /// Faults active from the start.
    pub faults: Vec<FaultSpec>,
    /// Clock skew tolerated when checking `iat`/`exp`/`nbf` of machine JWTs.
    pub clock_skew: Duration,
    /// Accept `http://` webhook URLs that point at loopback addresses (for local receivers).
    pub allow_insecure_loopback_webhooks: bool,
    /// Second listener standing for the events host (`events.meshes.io`): answers only
    /// `POST /api/v1/events` and `/api/v1/events/bulk`. `None` = ingestion on the main listener
    /// only.
    pub events_listen: Option<SocketAddr>,
    /// Webhook delivery: attempts, backoff, timeout, concurrency.
    pub delivery: DeliveryConfig,
    /// State file: loaded at start when it exists, rewritten (atomically) shortly after every
    /// change. `None` = in memory only.
    pub state_path: Option<PathBuf>,
    /// Most events kept in history; the oldest are dropped beyond it.
    pub max_events: usize,
    /// When `POST /api/v1/rules` refuses a rule identical to an existing one (409); the real
    /// behaviour is unknown, so tests can pick each plausible one. Changeable at run time.
    pub rule_dedup: RuleDedup,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            credentials: Vec::new(),
            rate_limit: None,
            seed: None,
            faults: Vec::new(),
            clock_skew: Duration::from_secs(5),
            allow_insecure_loopback_webhooks: false,
            events_listen: None,
            delivery: DeliveryConfig::default(),
            state_path: None,
            max_events: 100_000,
            rule_dedup: RuleDedup::default(),
        }
    }
}

/// Which existing rule makes `POST /api/v1/rules` answer 409 `rule already exists`.
///
/// Whether Meshes refuses identical rules at all is an open question of the contract, so the
/// emulator can play every plausible behaviour. Text form (flag, env, admin API): `tuple`,
/// `exact`, `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDedup {
    /// 409 when connection, event, resource, resource_id and metadata equal an existing
    /// rule's, whatever `active` and `hidden` (the default).
    #[default]
    Tuple,
    /// 409 only when `active` and `hidden` are equal too.
    Exact,
    /// Identical rules are accepted; never 409 for a duplicate.
    None,
}

impl RuleDedup {
    /// Every mode, in the order of the text forms' documentation.
    pub const ALL: [RuleDedup; 3] = [RuleDedup::Tuple, RuleDedup::Exact, RuleDedup::None];

    /// The text form: `tuple`, `exact` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleDedup::Tuple => "tuple",
            RuleDedup::Exact => "exact",
            RuleDedup::None => "none",
        }
    }

    /// Whether a new rule is refused because of one existing rule, given which of its fields
    /// equal the new rule's: the tuple (connection, event, resource, resource_id, metadata),
    /// `active`, `hidden`.
    pub(crate) fn refuses(self, tuple_equal: bool, active_equal: bool, hidden_equal: bool) -> bool {
        match self {
            RuleDedup::Tuple => tuple_equal,
            RuleDedup::Exact => tuple_equal && active_equal && hidden_equal,
            RuleDedup::None => false,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            RuleDedup::Tuple => 0,
            RuleDedup::Exact => 1,
            RuleDedup::None => 2,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            1 => RuleDedup::Exact,
            2 => RuleDedup::None,
            _ => RuleDedup::Tuple,
        }
    }
}

impl fmt::Display for RuleDedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RuleDedup {
    type Err = String;

    /// Parses `tuple`, `exact` or `none` (case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        RuleDedup::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| format!("bad rule dedup mode {s:?} (expected tuple, exact or none)"))
    }
}

/// How rule events are delivered and retried.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// Automatic attempts per rule event (first try included) before it is `failed`.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further attempt.
    pub backoff_base: Duration,
    /// Upper bound of the delay between attempts.
    pub backoff_max: Duration,
    /// Per-attempt HTTP timeout (connect + response).
    pub timeout: Duration,
    /// Webhook requests in flight at once, across all events.
    pub concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            concurrency: 64,
        }
    }
}

impl DeliveryConfig {
    /// A fast schedule for tests: 4 attempts, 20 ms doubling to at most 200 ms, 5 s timeout.
    pub fn fast() -> Self {
        Self {
            max_attempts: 4,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
            concurrency: 64,
        }
    }

    /// Delay after failed attempt number `attempt` (1-based): base × 2^(attempt−1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

/// A machine key: the three values a Meshes client needs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// `mk_…` access key; also the JWT `kid` and part of `iss`.
    pub access_key: String,
    /// HMAC secret (raw UTF-8 bytes are the key), 43+ characters of `[A-Za-z0-9_-]`.
    pub secret_key: String,
    /// Organization UUID the key belongs to; the JWT `org` claim.
    pub org_id: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("org_id", &self.org_id)
            .finish()
    }
}

impl Credentials {
    /// A new random key in a new random org.
    pub fn generate() -> Self {
        Self::generate_for_org(&uuid::Uuid::new_v4().to_string())
    }

    /// A new random key for `org_id`.
    pub fn generate_for_org(org_id: &str) -> Self {
        Self {
            access_key: format!("mk_{}", random_token(24)),
            secret_key: random_token(48),
            org_id: org_id.to_owned(),
        }
    }

    /// Checks the formats the official Node client enforces (listed in `emulator/README.md`,
    /// "The wire contract", machine JWT).
    pub fn validate(&self) -> Result<(), String> {
        if !valid_access_key(&self.access_key) {
            return Err(format!(
                "access key {:?} does not match ^mk_[A-Za-z0-9_-]{{22,}}$",
                self.access_key
            ));
        }
        if !valid_secret_key(&self.secret_key) {
            return Err(format!(
                "secret key for {} does not match ^[A-Za-z0-9_-]{{43,}}$",
                self.access_key
            ));
        }
        if !valid_org_id(&self.org_id) {
            return Err(format!(
                "org id {:?} is not a version 1-5 UUID",
                self.org_id
            ));
        }
        Ok(())
    }
}

/// Token bucket applied per access key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained rate, requests per second (tokens refilled per second).
    pub per_second: f64,
    /// Bucket size: requests allowed in a burst.
    pub burst: u32,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// Parses `RATE[/s][,BURST]`, e.g. `10`, `10/s`, `5,20`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rate, burst) = match s.split_once(',') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let rate = rate.trim().trim_end_matches("/s");
        let per_second: f64 = rate
            .parse()
            .map_err(|_| format!("bad rate {rate:?} (expected e.g. 10 or 10/s,20)"))?;
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err("rate must be > 0".into());
        }
        let burst = match burst {
            Some(b) => b.trim().parse().map_err(|_| format!("bad burst {b:?}"))?,
            None => per_second.ceil().max(1.0) as u32,
        };
        if burst == 0 {
            return Err("burst must be > 0".into());
        }
        Ok(Self { per_second, burst })
    }
}

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `^mk_[A-Za-z0-9_-]{22,}$`
pub fn valid_access_key(s: &str) -> bool {
    s.strip_prefix("mk_")
        .is_some_and(|rest| rest.len() >= 22 && rest.chars().all(is_key_char))
}

/// `^[A-Za-z0-9_-]{43,}$`
pub fn valid_secret_key(s: &str) -> bool {
    s.len() >= 43 && s.chars().all(is_key_char)
}

/// `^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$` (case-insensitive).
pub fn valid_org_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => (b'1'..=b'5').contains(c),
            19 => matches!(c.to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_match_client_formats() {
        let c = Credentials::generate();
        assert_eq!(c.validate(), Ok(()));
        assert!(!format!("{c:?}").contains(&c.secret_key));
    }

    #[test]
    fn format_checks_refuse_bad_values() {
        assert!(!valid_access_key("mk_short"));
        assert!(!valid_access_key("xx_abcdefghijklmnopqrstuvwxyz"));
        assert!(valid_access_key("mk_abcdefghijklmnopqrstuv"));
        assert!(!valid_secret_key("short"));
        assert!(!valid_org_id("7b0c6a3e-2f0e-0c5e-9a57-3f1c2d4e5f60"));
        assert!(valid_org_id("7b0c6a3e-2f0e-4c5e-9a57-3f1c2d4e5f60"));
    }

    #[test]
    fn rate_limit_parses() {
        assert_eq!(
            "5,20".parse::<RateLimit>(),
            Ok(RateLimit {
                per_second: 5.0,
                burst: 20
            })
        );
        assert_eq!("10/s".parse::<RateLimit>().map(|r| r.burst), Ok(10));
        assert!("0".parse::<RateLimit>().is_err());
        assert!("x".parse::<RateLimit>().is_err());
    }

    #[test]
    fn rule_dedup_parses_prints_and_decides() {
        for m in RuleDedup::ALL {
            assert_eq!(m.to_string().parse::<RuleDedup>(), Ok(m));
            assert_eq!(RuleDedup::from_u8(m.to_u8()), m);
            assert_eq!(
                serde_json::to_value(m).ok(),
                Some(serde_json::Value::from(m.as_str()))
            );
        }
        assert_eq!(" Exact ".parse::<RuleDedup>(), Ok(RuleDedup::Exact));
        assert!("".parse::<RuleDedup>().is_err());
        assert!("off".parse::<RuleDedup>().is_err());
        assert_eq!(RuleDedup::default(), RuleDedup::Tuple);
        assert_eq!(EmulatorConfig::default().rule_dedup, RuleDedup::Tuple);
        // (tuple equal, active equal, hidden equal) → refused?
        assert!(RuleDedup::Tuple.refuses(true, false, false));
        assert!(!RuleDedup::Tuple.refuses(false, true, true));
        assert!(RuleDedup::Exact.refuses(true, true, true));
        assert!(!RuleDedup::Exact.refuses(true, false, true));
        assert!(!RuleDedup::Exact.refuses(true, true, false));
        assert!(!RuleDedup::Exact.refuses(false, true, true));
        assert!(!RuleDedup::None.refuses(true, true, true));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let d = DeliveryConfig {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..DeliveryConfig::default()
        };
        assert_eq!(d.backoff(1), Duration::from_millis(100));
        assert_eq!(d.backoff(2), Duration::from_millis(200));
        assert_eq!(d.backoff(3), Duration::from_millis(400));
        assert_eq!(d.backoff(4), Duration::from_millis(500));
        assert_eq!(d.backoff(60), Duration::from_millis(500));
    }
}
