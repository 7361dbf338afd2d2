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
    let (arrival, pace) = if backlog {
        let arrival = tenants::create_all(&s.cluster.client, orgs, per_org).await?;
        s.begin_window();
        s.ready.reset();
        let pace = CallPace::start(s);
        s.start_operator(resync)?;
        (arrival, pace)
    } else {
        s.start_operator(resync)?;
        // The operator has listed (empty) caches before the objects arrive.
        tokio::time::sleep(Duration::from_secs(3)).await;
        s.begin_window();
        s.ready.reset();
        // On the Ready timeline's clock: from the start of the arrival.
        let pace = CallPace::start(s);
        (
            tenants::create_all(&s.cluster.client, orgs, per_org).await?,
            pace,
        )
    };
    let bound = s.bound_s();
    let timeout = Duration::from_secs_f64(bound * 20.0 + 300.0);
    let ready_s = s
        .ready
        .wait_for(crs, timeout)
        .await
        .map(|d| d.as_secs_f64());
    let pace = pace.finish().await;
    let by_kind = s.ready.by_kind();
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
            format!("{label}: first / last Meshes call (s)"),
            format!("{:.2} / {:.2}", pace.first_s, pace.last_s),
            "",
        ),
        row(
            format!("{label}: budget idle between them (s)"),
            format!("{:.2}", pace.idle_s),
            "",
        ),
        row(
            format!("{label}: Ready by kind, 50/90/100 % (s)"),
            by_kind
                .iter()
                .map(|(k, [a, b, c])| format!("{k} {a:.1}/{b:.1}/{c:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            "",
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
        "first_call_s": pace.first_s, "last_call_s": pace.last_s, "budget_idle_s": pace.idle_s,
        "ready_by_kind_50_90_100_s": by_kind.iter().map(|(k, q)| (k.to_string(), json!(q))).collect::<serde_json::Map<_, _>>(),
    });
    let series = Series {
        label,
        points: s.ready.timeline(),
        total: crs,
        bound_s: bound,
    };
    Ok(Converged { rows, json, series })
}

/// When Meshes calls were made during a convergence: the first and the last (on the Ready
/// timeline's clock) and the time in between with no call at all (sampled every 50 ms), which is where a
/// convergence slower than the budget allows lost its time.
#[derive(Debug, Default, Clone, Copy)]
struct Pace {
    first_s: f64,
    last_s: f64,
    idle_s: f64,
}

/// A running sampler of the emulator's request count; [`CallPace::finish`] stops it.
struct CallPace {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Pace>,
}

impl CallPace {
    fn start(s: &Session) -> CallPace {
        let admin = s.emu.admin();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let base = admin.total_requests();
            let (mut last_count, mut pace, mut quiet) = (base, Pace::default(), 0.0);
            let tick = Duration::from_millis(50);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(tick) => {}
                }
                let (now, count) = (started.elapsed().as_secs_f64(), admin.total_requests());
                if count == last_count {
                    quiet += tick.as_secs_f64();
                    continue;
                }
                if last_count == base {
                    pace.first_s = now;
                } else {
                    // Silence between two calls counts; silence after the last one does not.
                    pace.idle_s += quiet;
                }
                quiet = 0.0;
                pace.last_s = now;
                last_count = count;
            }
            pace
        });
        CallPace { stop, task }
    }

    async fn finish(self) -> Pace {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
