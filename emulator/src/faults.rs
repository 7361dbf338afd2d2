//! Fault injection: rules keyed by method + route template that fire with a probability or
//! for the next N matching requests, answering a status, adding latency, answering 429 with
//! `Retry-After`, or applying the write and then dropping the connection. Each fault counts
//! its hits so tests can prove it fired; hit counts survive [`Faults::clear`].

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Identity of an installed fault.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct FaultId(pub u64);

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer this status (with the standard error body) without running the handler.
    Status(u16),
    /// Sleep `delay`; before the handler, or (`after_commit`) after it ran and before answering.
    Latency {
        /// How long.
        delay: Duration,
        /// Sleep after the write happened instead of before.
        after_commit: bool,
    },
    /// Answer 429 with `Retry-After: retry_after_secs`.
    RateLimited {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// Run the handler (the write is applied), then reset the connection without answering.
    CommitThenDrop,
}

/// When a fault fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// For the next N matching requests, then never.
    Next(u64),
    /// Independently for each matching request with this probability (0.0–1.0).
    Probability(f64),
}

/// A fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// HTTP method, `None` = any.
    pub method: Option<String>,
    /// Route template (`/api/v1/workspaces/{workspace_id}`), `*` for every route, or a prefix
    /// ending in `*`.
    pub route: String,
    /// Effect.
    pub action: FaultAction,
    /// Firing rule.
    pub trigger: Trigger,
}

impl FaultSpec {
    /// Whether the spec applies to a request.
    pub fn matches(&self, method: &str, route: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method));
        let route_ok = self.route == "*"
            || self.route == route
            || self
                .route
                .strip_suffix('*')
                .is_some_and(|p| route.starts_with(p));
        method_ok && route_ok
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?} (use e.g. 250ms or 2s)");
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().map(Duration::from_millis).map_err(|_| bad());
    }
    if let Some(secs) = s.strip_suffix('s') {
        return secs
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 86_400.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(bad);
    }
    s.parse().map(Duration::from_millis).map_err(|_| bad())
}

impl FromStr for FaultSpec {
    type Err = String;

    /// `[METHOD] ROUTE ACTION [TRIGGER]`, e.g. `POST /api/v1/workspaces drop next=1`,
    /// `* status=503 p=0.1`, `GET /api/v1/workspaces/* latency=2s`. Actions: `status=CODE`,
    /// `latency=DUR`, `latency-after-commit=DUR`, `rate-limited[=SECS]`, `drop`. Triggers:
    /// `next=N`, `p=PROB`, `always` (default).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut tokens: Vec<&str> = s.split_whitespace().collect();
        if tokens.is_empty() {
            return Err("empty fault spec".into());
        }
        let method = if !tokens[0].starts_with('/')
            && tokens[0] != "*"
            && tokens[0].chars().all(|c| c.is_ascii_alphabetic())
        {
            let m = tokens.remove(0).to_ascii_uppercase();
            (m != "ANY").then_some(m)
        } else {
            None
        };
        let mut it = tokens.into_iter();
        let route = it.next().ok_or("missing route")?.to_owned();
        if route != "*" && !route.starts_with('/') {
            return Err(format!("route {route:?} must start with / or be *"));
        }
        let action_raw = it.next().ok_or("missing action")?;
        let (name, arg) = match action_raw.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (action_raw, None),
        };
        let action = match (name, arg) {
            ("status", Some(code)) => {
                let code: u16 = code.parse().map_err(|_| format!("bad status {code:?}"))?;
                if !(400..=599).contains(&code) {
                    return Err("status must be 400-599".into());
                }
                FaultAction::Status(code)
            }
            ("latency", Some(d)) => FaultAction::Latency {
                delay: parse_duration(d)?,
                after_commit: false,
            },
            ("latency-after-commit", Some(d)) => FaultAction::Latency {
                delay: parse_duration(d)?,
                after_commit: true,
            },
            ("rate-limited", a) => FaultAction::RateLimited {
                retry_after_secs: a
                    .map(|a| a.parse().map_err(|_| format!("bad retry-after {a:?}")))
                    .transpose()?
                    .unwrap_or(1),
            },
            ("drop" | "commit-then-drop", None) => FaultAction::CommitThenDrop,
            _ => return Err(format!("unknown action {action_raw:?}")),
        };
        let trigger = match it.next() {
            None | Some("always") => Trigger::Probability(1.0),
            Some(t) => match t.split_once('=') {
                Some(("next", n)) => {
                    Trigger::Next(n.parse().map_err(|_| format!("bad next {n:?}"))?)
                }
                Some(("p", p)) => {
                    let p: f64 = p.parse().map_err(|_| format!("bad probability {p:?}"))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err("probability must be within 0..=1".into());
                    }
                    Trigger::Probability(p)
                }
                _ => return Err(format!("unknown trigger {t:?}")),
            },
        };
        if let Some(extra) = it.next() {
            return Err(format!("unexpected {extra:?}"));
        }
        Ok(Self {
            method,
            route,
            action,
            trigger,
        })
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ",
            self.method.as_deref().unwrap_or("ANY"),
            self.route
        )?;
        match &self.action {
            FaultAction::Status(c) => write!(f, "status={c}")?,
            FaultAction::Latency {
                delay,
                after_commit: false,
            } => write!(f, "latency={}ms", delay.as_millis())?,
            FaultAction::Latency { delay, .. } => {
                write!(f, "latency-after-commit={}ms", delay.as_millis())?
            }
            FaultAction::RateLimited { retry_after_secs } => {
                write!(f, "rate-limited={retry_after_secs}")?
            }
            FaultAction::CommitThenDrop => write!(f, "drop")?,
        }
        match self.trigger {
            Trigger::Next(n) => write!(f, " next={n}"),
            Trigger::Probability(p) => write!(f, " p={p}"),
        }
    }
}

/// JSON form of a fault used by the admin API: flat and explicit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpecJson {
    /// Method or null for any.
    #[serde(default)]
    pub method: Option<String>,
    /// Route template, `*`, or prefix ending in `*`.
    pub route: String,
    /// `status`, `latency`, `rate_limited` or `commit_then_drop`.
    pub action: String,
    /// For `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// For `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_commit: Option<bool>,
    /// For `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// Fire for the next N requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
    /// Fire with this probability (default 1.0 when `next` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl From<&FaultSpec> for FaultSpecJson {
    fn from(s: &FaultSpec) -> Self {
        let mut j = FaultSpecJson {
            method: s.method.clone(),
            route: s.route.clone(),
            action: String::new(),
            status: None,
            delay_ms: None,
            after_commit: None,
            retry_after_secs: None,
            next: None,
            probability: None,
        };
        match &s.action {
            FaultAction::Status(c) => {
                j.action = "status".into();
                j.status = Some(*c);
            }
            FaultAction::Latency {
                delay,
                after_commit,
            } => {
                j.action = "latency".into();
                j.delay_ms = Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                j.after_commit = Some(*after_commit);
            }
            FaultAction::RateLimited { retry_after_secs } => {
                j.action = "rate_limited".into();
                j.retry_after_secs = Some(*retry_after_secs);
            }
            FaultAction::CommitThenDrop => j.action = "commit_then_drop".into(),
        }
        match s.trigger {
            Trigger::Next(n) => j.next = Some(n),
            Trigger::Probability(p) => j.probability = Some(p),
        }
        j
    }
}

impl TryFrom<FaultSpecJson> for FaultSpec {
    type Error = String;

    fn try_from(j: FaultSpecJson) -> Result<Self, String> {
        let action = match j.action.as_str() {
            "status" => {
                let c = j.status.ok_or("status action needs `status`")?;
                if !(400..=599).contains(&c) {
                    return Err("status must be 400-599".into());
                }
                FaultAction::Status(c)
            }
            "latency" => FaultAction::Latency {
                delay: Duration::from_millis(j.delay_ms.ok_or("latency action needs `delay_ms`")?),
                after_commit: j.after_commit.unwrap_or(false),
            },
            "rate_limited" => FaultAction::RateLimited {
                retry_after_secs: j.retry_after_secs.unwrap_or(1),
            },
            "commit_then_drop" => FaultAction::CommitThenDrop,
            other => return Err(format!("unknown action {other:?}")),
        };
        let trigger = match (j.next, j.probability) {
            (Some(_), Some(_)) => return Err("give either `next` or `probability`".into()),
            (Some(n), None) => Trigger::Next(n),
            (None, Some(p)) if (0.0..=1.0).contains(&p) => Trigger::Probability(p),
            (None, Some(_)) => return Err("probability must be within 0..=1".into()),
            (None, None) => Trigger::Probability(1.0),
        };
        if j.route != "*" && !j.route.starts_with('/') {
            return Err("route must start with / or be *".into());
        }
        Ok(FaultSpec {
            method: j
                .method
                .filter(|m| m != "*" && !m.eq_ignore_ascii_case("any")),
            route: j.route,
            action,
            trigger,
        })
    }
}

/// An installed fault with its state, as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultStatus {
    /// Id.
    pub id: FaultId,
    /// The rule.
    pub spec: FaultSpecJson,
    /// Times it fired.
    pub hits: u64,
    /// For `next=N` faults: firings left.
    pub remaining: Option<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    active: Vec<(FaultId, FaultSpec, Option<u64>)>,
    hits: HashMap<FaultId, u64>,
}

/// The installed faults.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Inner>);

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs a fault.
    pub fn add(&self, spec: FaultSpec) -> FaultId {
        let mut g = self.lock();
        g.next_id += 1;
        let id = FaultId(g.next_id);
        let remaining = match spec.trigger {
            Trigger::Next(n) => Some(n),
            Trigger::Probability(_) => None,
        };
        g.active.push((id, spec, remaining));
        g.hits.insert(id, 0);
        id
    }

    /// Removes one fault (its hit count stays readable).
    pub fn remove(&self, id: FaultId) -> bool {
        let mut g = self.lock();
        let before = g.active.len();
        g.active.retain(|(i, _, _)| *i != id);
        g.active.len() != before
    }

    /// Removes every fault (hit counts stay readable).
    pub fn clear(&self) {
        self.lock().active.clear();
    }

    /// Removes every fault and forgets hit counts.
    pub fn reset(&self) {
        let mut g = self.lock();
        g.active.clear();
        g.hits.clear();
    }

    /// Times a fault fired.
    pub fn hits(&self, id: FaultId) -> u64 {
        self.lock().hits.get(&id).copied().unwrap_or(0)
    }

    /// Installed faults.
    pub fn list(&self) -> Vec<FaultStatus> {
        let g = self.lock();
        g.active
            .iter()
            .map(|(id, spec, remaining)| FaultStatus {
                id: *id,
                spec: spec.into(),
                hits: g.hits.get(id).copied().unwrap_or(0),
                remaining: *remaining,
            })
            .collect()
    }

    /// The first matching fault that fires for this request (its hit is counted).
    pub fn pick(&self, method: &str, route: &str) -> Option<(FaultId, FaultAction)> {
        let mut g = self.lock();
        let mut fired = None;
        for (id, spec, remaining) in g.active.iter_mut() {
            if !spec.matches(method, route) {
                continue;
            }
            let fires = match (spec.trigger, remaining.as_mut()) {
                (Trigger::Next(_), Some(left)) if *left > 0 => {
                    *left -= 1;
                    true
                }
                (Trigger::Next(_), _) => false,
                (Trigger::Probability(p), _) => p >= 1.0 || rand::rng().random::<f64>() < p,
            };
            if fires {
                fired = Some((*id, spec.action.clone()));
                break;
            }
        }
        if let Some((id, _)) = &fired {
            *g.hits.entry(*id).or_default() += 1;
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let s: FaultSpec = "POST /api/v1/workspaces drop next=1"
            .parse()
            .unwrap_or_else(|e| {
                unreachable!("{e}");
            });
        assert_eq!(s.method.as_deref(), Some("POST"));
        assert_eq!(s.action, FaultAction::CommitThenDrop);
        assert_eq!(s.trigger, Trigger::Next(1));
        assert_eq!(s.to_string().parse::<FaultSpec>(), Ok(s));
        let any: Result<FaultSpec, _> = "* status=503 p=0.5".parse();
        assert!(any.is_ok_and(|a| a.method.is_none() && a.trigger == Trigger::Probability(0.5)));
        assert!("POST".parse::<FaultSpec>().is_err());
        assert!("/x status=200".parse::<FaultSpec>().is_err());
        assert!("/x wobble".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn next_n_fires_exactly_n_times_and_counts_hits() {
        let f = Faults::default();
        let id = f.add(FaultSpec {
            method: Some("GET".into()),
            route: "/a".into(),
            action: FaultAction::Status(503),
            trigger: Trigger::Next(2),
        });
        assert!(f.pick("POST", "/a").is_none());
        assert!(f.pick("GET", "/a").is_some());
        assert!(f.pick("GET", "/a").is_some());
        assert!(f.pick("GET", "/a").is_none());
        assert_eq!(f.hits(id), 2);
        f.clear();
        assert_eq!(f.hits(id), 2);
    }
}
