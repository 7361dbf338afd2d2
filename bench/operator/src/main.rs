//! `meshes-bench`: the operator's costs measured against the targets of issue 16 on a private
//! testenv control plane and an in-process emulator (R requests/s per key, added latency),
//! with the `--release` operator binary as a child process. Prints a table, writes
//! `bench/results/<scenario>.json` and the convergence plot. See `bench/README.md`.

mod audit;
mod cluster;
mod emu;
mod operator;
mod plot;
mod ready;
mod report;
mod scenarios;
mod session;
mod tenants;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::json;

use report::{Row, row};
use session::{Options, Session};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Convergence,
    Steady,
    Reaction,
    Memory,
    Compare,
    Restart,
    All,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Measure the operator's costs (issue 16)")]
struct Args {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "convergence")]
    scenario: Scenario,
    /// Tenants per org (4 custom resources each).
    #[arg(long, default_value_t = 100)]
    tenants: usize,
    /// Orgs, one access key and namespace each.
    #[arg(long, default_value_t = 1)]
    orgs: usize,
    /// Convergence: every object exists before the operator starts.
    #[arg(long)]
    backlog: bool,
    /// Emulator rate limit R per key (the operator's budget is 0.95·R).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Added latency of every Meshes call, milliseconds.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// The shortened resync interval of the steady-state scenario, seconds.
    #[arg(long, default_value_t = 30)]
    steady_interval: u64,
    /// Spec changes of the reaction scenario.
    #[arg(long, default_value_t = 100)]
    changes: usize,
    /// Unrelated Secrets (1 KiB) of the memory scenario.
    #[arg(long, default_value_t = 10_000)]
    unrelated_secrets: usize,
    /// Unrelated ConfigMaps of the memory scenario.
    #[arg(long, default_value_t = 2_000)]
    unrelated_configmaps: usize,
    /// The operator's Kubernetes client rate, requests/s (default: the operator's, 500).
    #[arg(long)]
    kube_qps: Option<f64>,
    /// The operator binary (default: `meshes-operator` next to this binary).
    #[arg(long)]
    operator_bin: Option<PathBuf>,
    /// Directory of the JSON results.
    #[arg(long)]
    results: Option<PathBuf>,
    /// Where the convergence plot goes.
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Collected output of one invocation.
#[derive(Debug, Default)]
struct Output {
    rows: Vec<Row>,
    series: Vec<plot::Series>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = repo_root();
    let results = args
        .results
        .clone()
        .unwrap_or_else(|| root.join("bench/results"));
    let plot_path = args
        .plot
        .clone()
        .unwrap_or_else(|| root.join("docs/performance/convergence.svg"));
    let work = std::env::temp_dir().join(format!("meshes-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let opts = Options {
        orgs: args.orgs,
        per_org: args.tenants,
        rate: args.rate,
        latency: Duration::from_millis(args.latency_ms),
        bin: args
            .operator_bin
            .clone()
            .unwrap_or_else(operator::default_bin),
        crds: root.join("crds"),
        work: work.clone(),
        kube_qps: args.kube_qps,
    };
    let mut out = Output::default();
    let scenarios = match args.scenario {
        Scenario::All => vec![
            (Scenario::Convergence, true),
            (Scenario::Steady, false),
            (Scenario::Memory, false),
            (Scenario::Compare, false),
        ],
        one => vec![(one, args.backlog)],
    };
    for (scenario, backlog) in scenarios {
        run(scenario, backlog, &args, &opts, &results, &mut out).await?;
    }
    if !out.series.is_empty() {
        if let Some(dir) = plot_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(
            &plot_path,
            plot::svg(
                &format!(
                    "Ready custom resources over time (R = {}/s per key, {} ms latency)",
                    args.rate, args.latency_ms
                ),
                &out.series,
            ),
        )?;
    }
    report::print("meshes-bench summary", &out.rows);
    if std::env::var_os("MESHES_BENCH_OPERATOR_LOG").is_some() {
        eprintln!("operator logs kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    // Not waiting for the runtime to wind down watches of a control plane that is gone.
    std::process::exit(0)
}

async fn run(
    scenario: Scenario,
    backlog: bool,
    args: &Args,
    opts: &Options,
    results: &std::path::Path,
    out: &mut Output,
) -> anyhow::Result<()> {
    let default_resync = "10m";
    let steady = Duration::from_secs(args.steady_interval);
    let steady_resync = format!("{}s", args.steady_interval);
    let tag = format!("{}x{}", opts.orgs, opts.per_org);
    match scenario {
        Scenario::Convergence => {
            let mut s = Session::start(opts.clone()).await?;
            let c = scenarios::convergence::run(&mut s, backlog, default_resync).await?;
            s.stop_operator().await;
            let mode = if backlog { "backlog" } else { "parallel" };
            report::print(&format!("convergence {mode} {tag}"), &c.rows);
            report::write_json(results, &format!("convergence-{mode}-{tag}"), &c.json)?;
            out.rows.extend(c.rows);
            out.series.push(c.series);
        }
        Scenario::Steady | Scenario::Reaction | Scenario::Restart => {
            // One converged world measured in turn: reaction while idle, a restart (into the
            // shortened resync interval), then steady state over two of those intervals.
            let mut s = Session::start(opts.clone()).await?;
            let c = scenarios::convergence::run(&mut s, false, default_resync).await?;
            report::print(&format!("convergence parallel {tag}"), &c.rows);
            out.rows.extend(c.rows);
            out.series.push(c.series);
            let (rows, reaction) = scenarios::reaction::run(&s, args.changes).await?;
            report::print("reaction", &rows);
            out.rows.extend(rows);
            let (rows, restart) = scenarios::restart::run(&mut s, default_resync).await?;
            report::print("restart", &rows);
            out.rows.extend(rows);
            // Steady state under the shortened resync interval: a fresh start with it, past
            // the start's own passes (as long as the restart took to go idle) and half an
            // interval.
            s.stop_operator().await;
            s.start_operator(&steady_resync)?;
            let settle = restart["idle_after_s"].as_f64().unwrap_or(0.0) + 10.0;
            tokio::time::sleep(Duration::from_secs_f64(settle) + steady / 2).await;
            let (rows, steady_json) = scenarios::steady::run(&mut s, steady).await?;
            report::print("steady", &rows);
            out.rows.extend(rows);
            s.stop_operator().await;
            report::write_json(
                results,
                &format!("session-{tag}"),
                &json!({"convergence": c.json, "reaction": reaction, "restart": restart,
                    "steady": steady_json}),
            )?;
        }
        Scenario::Memory => {
            let mut s = Session::start(opts.clone()).await?;
            tenants::create_unrelated(
                &s.cluster.client,
                "unrelated",
                "Secret",
                args.unrelated_secrets,
            )
            .await?;
            tenants::create_unrelated(
                &s.cluster.client,
                "unrelated",
                "ConfigMap",
                args.unrelated_configmaps,
            )
            .await?;
            let c = scenarios::convergence::run(&mut s, false, default_resync).await?;
            let usage = s.stop_operator().await;
            let rows = vec![row(
                format!(
                    "memory: peak RSS, {} CRs + {} Secrets + {} ConfigMaps (MiB)",
                    s.crs(),
                    args.unrelated_secrets,
                    args.unrelated_configmaps
                ),
                format!("{:.1}", usage.peak_rss_mib),
                "≤ 64 MiB",
            )];
            report::print("memory", &rows);
            out.rows.extend(rows);
            report::write_json(
                results,
                &format!("memory-{tag}"),
                &json!({"peak_rss_mib": usage.peak_rss_mib, "rss_mib": usage.rss_mib,
                    "cpu_s": usage.cpu_s, "convergence": c.json,
                    "unrelated_secrets": args.unrelated_secrets,
                    "unrelated_configmaps": args.unrelated_configmaps}),
            )?;
        }
        Scenario::Compare => {
            let mut o = opts.clone();
            o.latency = Duration::from_millis(100);
            let mut s = Session::start(o).await?;
            let c = scenarios::convergence::run(&mut s, false, default_resync).await?;
            s.stop_operator().await;
            let operator_s = c.json["ready_s"].as_f64().unwrap_or(f64::NAN);
            s.emu.admin().reset_counters();
            let script_s = scenarios::compare::sequential(&s).await?;
            let rows = vec![row(
                format!("compare at 100 ms: script / operator (s), {tag}"),
                format!(
                    "{script_s:.1} / {operator_s:.1} ({:.1}× faster)",
                    script_s / operator_s
                ),
                "≥ 5×",
            )];
            report::print("compare", &rows);
            out.rows.extend(rows);
            report::write_json(
                results,
                &format!("compare-{tag}"),
                &json!({"script_s": script_s, "operator_s": operator_s,
                    "speedup": script_s / operator_s, "operator": c.json}),
            )?;
        }
        Scenario::All => {}
    }
    Ok(())
}
