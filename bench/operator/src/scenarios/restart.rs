//! Restart: the operator restarted after convergence; Meshes calls and Kubernetes writes until
//! it is idle again, and the latency of spec changes made while its restart resync runs.

use std::time::Duration;

use serde_json::{Value, json};

use super::reaction::{change, updates, wait_update};
use crate::report::{Row, quantile, row};
use crate::session::Session;

/// Restarts the operator (with resync interval `resync`) and measures until it is idle.
pub async fn run(s: &mut Session, resync: &str) -> anyhow::Result<(Vec<Row>, Value)> {
    s.stop_operator().await;
    s.begin_window();
    let started = std::time::Instant::now();
    s.start_operator(resync)?;
    // Changes at once and every 5 s of the restart's resync, one at a time.
    let mut latencies = Vec::new();
    let n = s.tenants().max(1);
    for c in 0..6 {
        let i = (c * 104_729 + 13) % n;
        let before = updates(s);
        let at = change(s, i, &format!("restart-{c}")).await?;
        latencies.push(
            wait_update(s, before, at, Duration::from_secs(120))
                .await
                .unwrap_or(f64::INFINITY),
        );
        let wait = Duration::from_secs(5).saturating_sub(at.elapsed());
        tokio::time::sleep(wait).await;
    }
    let waiting_from = started.elapsed();
    let idle_after = waiting_from
        + s.wait_idle(Duration::from_secs(10), Duration::from_secs(1800))
            .await;
    let window = s.window()?;
    let changed = latencies.len() as u64;
    let rows = vec![
        row(
            "restart: Meshes calls until idle (reads / writes)",
            format!(
                "{} / {} ({:.2} per tenant; {} writes are the {changed} spec changes)",
                window.calls.reads,
                window.calls.writes,
                window.calls.total as f64 / n as f64,
                changed
            ),
            "0 writes beyond the changes",
        ),
        row(
            "restart: Kubernetes writes until idle",
            window.kube.write_total.to_string(),
            "0 beyond the changes' status",
        ),
        row(
            "restart: idle after (s)",
            format!("{:.1}", idle_after.as_secs_f64()),
            "",
        ),
        row(
            "restart: spec change latency during the resync, max (s)",
            format!("{:.2}", quantile(&latencies, 1.0)),
            "≤ 2 s",
        ),
    ];
    let json = json!({"idle_after_s": idle_after.as_secs_f64(), "window": window,
        "change_latencies_s": latencies});
    Ok((rows, json))
}
