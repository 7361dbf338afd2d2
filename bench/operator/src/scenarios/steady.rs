//! Steady state: over two resync intervals with nothing changing, upstream writes, reads per
//! workspace per interval, the operator's Kubernetes writes (Leases apart) and Secret GETs.

use std::time::Duration;

use serde_json::{Value, json};

use crate::report::{Row, row};
use crate::session::Session;

/// Measures two intervals of `interval` on an idle, converged session whose operator runs
/// with that resync interval.
pub async fn run(s: &mut Session, interval: Duration) -> anyhow::Result<(Vec<Row>, Value)> {
    s.begin_window();
    tokio::time::sleep(interval * 2).await;
    let w = s.window()?;
    let reads_per_ws = w.calls.reads as f64 / s.tenants().max(1) as f64 / 2.0;
    let rows = vec![
        row(
            format!("steady ({}s ×2): upstream writes", interval.as_secs()),
            w.calls.writes.to_string(),
            "0",
        ),
        row(
            "steady: upstream reads per workspace per interval",
            format!("{reads_per_ws:.2}"),
            "≤ 3 (and > 0: the resync ran)",
        ),
        row(
            "steady: Kubernetes writes (Leases apart)",
            w.kube.write_total.to_string(),
            "0",
        ),
        row("steady: Secret GETs", w.kube.secret_gets.to_string(), "0"),
    ];
    let json = json!({"interval_s": interval.as_secs_f64(), "reads_per_workspace_per_interval": reads_per_ws,
        "window": w});
    Ok((rows, json))
}
