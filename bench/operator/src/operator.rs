//! The operator under test: the `--release` binary run as a child process with its own
//! ServiceAccount identity, sampled from `/proc` (RSS, peak RSS, CPU time).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::process::{Child, Command};

/// How to run the operator.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The binary.
    pub bin: PathBuf,
    /// Kubeconfig of its identity.
    pub kubeconfig: PathBuf,
    /// The emulator's base URL.
    pub api_url: String,
    /// Calls per second per access key (the budget, 0.95·R).
    pub api_rate: f64,
    /// The resync interval (shortened for the steady-state scenario).
    pub resync: String,
    /// Where its log goes.
    pub log: PathBuf,
    /// `--kube-qps` (and twice that as `--kube-burst`); `None`: the operator's default.
    pub kube_qps: Option<f64>,
}

/// A running operator.
#[derive(Debug)]
pub struct Operator {
    child: Child,
    pid: u32,
}

/// Resource usage read from `/proc/<pid>`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// Resident set size now, MiB.
    pub rss_mib: f64,
    /// Peak resident set size (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
}

impl Operator {
    /// Starts the operator.
    pub fn start(s: &Settings) -> anyhow::Result<Operator> {
        if !s.bin.exists() {
            bail!(
                "operator binary {} not found: build it first with `cargo build --release -p meshes-operator`",
                s.bin.display()
            );
        }
        let log = std::fs::File::create(&s.log)
            .with_context(|| format!("creating {}", s.log.display()))?;
        let mut cmd = Command::new(&s.bin);
        if let Some(qps) = s.kube_qps {
            cmd.env("MESHES_KUBE_QPS", qps.to_string())
                .env("MESHES_KUBE_BURST", ((qps * 2.0) as u32).to_string());
        }
        let child = cmd
            .env("KUBECONFIG", &s.kubeconfig)
            // `MESHES_BENCH_OPERATOR_LOG` (e.g. `meshes_operator=debug`) to see where a run's
            // time goes; debug logging costs CPU, so the figures are taken at `warn`.
            .env(
                "MESHES_LOG",
                std::env::var("MESHES_BENCH_OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .arg("run")
            .args(["--api-url", &s.api_url])
            .args(["--api-rate", &s.api_rate.to_string()])
            .args(["--resync-interval", &s.resync])
            .args(["--min-resync-interval", "10s"])
            .args(["--metrics-bind-address", "127.0.0.1:0"])
            .args(["--health-probe-bind-address", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("spawning the operator")?;
        let pid = child.id().context("operator pid")?;
        Ok(Operator { child, pid })
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its resource usage now.
    pub fn usage(&self) -> Usage {
        usage(self.pid)
    }

    /// SIGTERM, then waits for it to exit (SIGKILL after 30 s).
    pub async fn stop(mut self) -> Usage {
        let last = self.usage();
        meshes_testenv::sys::signal(self.pid, meshes_testenv::sys::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        last
    }
}

fn status_kib(text: &str, field: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Resource usage of `pid` (zeros when it is gone).
pub fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: utime and stime are the 12th and 13th.
    let ticks: f64 = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .map(|rest| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0);
    Usage {
        rss_mib: status_kib(&status, "VmRSS:") / 1024.0,
        peak_rss_mib: status_kib(&status, "VmHWM:") / 1024.0,
        cpu_s: ticks / 100.0,
    }
}

/// The operator binary next to this one (both built with `--release` into one target dir).
pub fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
        .join("meshes-operator")
}
