//! The Meshes side: an in-process emulator with a per-key rate limit and an added latency on
//! every call, one machine key per org, and the call counters the bench reports.

use std::time::Duration;

use meshes_emulator::config::{Credentials, RateLimit};
use meshes_emulator::faults::{FaultAction, FaultSpec, Trigger};
use meshes_emulator::{Emulator, EmulatorConfig};
use serde::Serialize;

/// Upstream calls in a window, from the emulator's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Calls {
    /// Every call (4xx included).
    pub total: u64,
    /// Calls answered 429.
    pub throttled: u64,
    /// `GET` calls.
    pub reads: u64,
    /// Calls other than `GET`.
    pub writes: u64,
    /// Calls by `METHOD /route`.
    pub routes: std::collections::BTreeMap<String, u64>,
}

/// Starts an emulator with `orgs` keys, `rate` requests/s per key and `latency` on every call.
pub async fn start(
    orgs: usize,
    rate: f64,
    latency: Duration,
) -> anyhow::Result<(Emulator, Vec<Credentials>)> {
    let keys: Vec<Credentials> = (0..orgs.max(1)).map(|_| Credentials::generate()).collect();
    let config = EmulatorConfig {
        credentials: keys.clone(),
        rate_limit: Some(RateLimit {
            per_second: rate,
            burst: rate.ceil().max(1.0) as u32,
        }),
        faults: vec![latency_fault(latency)],
        ..EmulatorConfig::default()
    };
    Ok((Emulator::start(config).await?, keys))
}

/// The latency fault on every route.
pub fn latency_fault(delay: Duration) -> FaultSpec {
    FaultSpec {
        method: None,
        route: "*".into(),
        action: FaultAction::Latency {
            delay,
            after_commit: false,
        },
        trigger: Trigger::Probability(1.0),
    }
}

/// Calls since the last reset of the counters.
pub fn calls(emu: &Emulator) -> Calls {
    let snap = emu.admin().counters();
    let mut out = Calls {
        total: snap.total,
        throttled: snap.statuses.get(&429).copied().unwrap_or(0),
        ..Calls::default()
    };
    for (route, n) in snap.routes {
        if route.starts_with("GET ") {
            out.reads += n;
        } else {
            out.writes += n;
        }
        out.routes.insert(route, n);
    }
    out
}
