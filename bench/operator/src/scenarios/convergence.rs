//! Convergence: N tenants created in parallel while the operator runs (arrival time reported
//! apart), or all present before it starts (backlog); time until every custom resource is
//! Ready against the lower bound 5·N/R, calls against 5·N, 429s, Kubernetes writes per CR.

use std::time::Duration;

use serde_json::{Value, json};

use crate::plot::Series;
use crate::report::{Row, row};
use crate::session::Session;
use crate::tenants;

/// The measured convergence.
#[derive(Debug)]
pub struct Converged {
    /// Table rows.
    pub rows: Vec<Row>,
    /// JSON result.
    pub json: Value,
    /// The Ready timeline.
    pub series: Series,
}

/// Converges the session's tenants (the operator is started here with `resync`).
pub async fn run(s: &mut Session, backlog: bool, resync: &str) -> anyhow::Result<Converged> {
    let (orgs, per_org) = (s.opts.orgs, s.opts.per_org);
    let crs = s.crs();
    let arrival = if backlog {
        let arrival = tenants::create_all(&s.cluster.client, orgs, per_org).await?;
        s.begin_window();
        s.ready.reset();
        s.start_operator(resync)?;
        arrival
    } else {
        s.start_operator(resync)?;
        // The operator has listed (empty) caches before the objects arrive.
        tokio::time::sleep(Duration::from_secs(3)).await;
        s.begin_window();
        s.ready.reset();
        tenants::create_all(&s.cluster.client, orgs, per_org).await?
    };
    let bound = s.bound_s();
    let timeout = Duration::from_secs_f64(bound * 20.0 + 300.0);
    let ready_s = s
        .ready
        .wait_for(crs, timeout)
        .await
        .map(|d| d.as_secs_f64());
    let window = s.window()?;
    let n = s.tenants() as f64;
    let ready = ready_s.unwrap_or(f64::NAN);
    let label = format!(
        "{} {}×{} tenants",
        if backlog { "backlog" } else { "parallel" },
        orgs,
        per_org
    );
    let arrival_s = arrival.as_secs_f64();
    let writes_per_cr = window.kube.write_total as f64 / crs as f64;
    let rows = vec![
        row(
            format!("{label}: Ready after (s)"),
            format!("{ready:.1} ({:.2}× bound {bound:.1})", ready / bound),
            "≤ 1.10 × bound",
        ),
        row(
            format!("{label}: arrival (s)"),
            format!("{arrival_s:.1}"),
            "",
        ),
        row(
            format!("{label}: Meshes calls"),
            format!(
                "{} ({:.3}× 5N)",
                window.calls.total,
                window.calls.total as f64 / (5.0 * n)
            ),
            "≤ 1.02 × 5N",
        ),
        row(
            format!("{label}: 429s"),
            window.calls.throttled.to_string(),
            "0",
        ),
        row(
            format!("{label}: Kubernetes writes per CR"),
            format!("{writes_per_cr:.2}"),
            "≤ 3",
        ),
        row(
            format!("{label}: refused (4xx) writes"),
            window.kube.refused_writes.to_string(),
            "0",
        ),
        row(
            format!("{label}: operator CPU (s)"),
            format!("{:.1}", window.usage.cpu_s),
            "",
        ),
        row(
            format!("{label}: peak RSS (MiB)"),
            format!("{:.1}", window.usage.peak_rss_mib),
            "",
        ),
    ];
    let json = json!({
        "backlog": backlog, "orgs": orgs, "tenants_per_org": per_org, "crs": crs,
        "rate_per_key": s.opts.rate, "latency_ms": s.opts.latency.as_millis() as u64,
        "bound_s": bound, "ready_s": ready_s, "ratio_to_bound": ready / bound,
        "arrival_s": arrival_s, "kube_qps": s.opts.kube_qps, "calls_per_5n": window.calls.total as f64 / (5.0 * n),
        "kube_writes_per_cr": writes_per_cr, "window": window,
    });
    let series = Series {
        label,
        points: s.ready.timeline(),
        total: crs,
        bound_s: bound,
    };
    Ok(Converged { rows, json, series })
}
