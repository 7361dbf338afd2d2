//! kube-controller-manager beside the apiserver, running only the controllers the tests need
//! (namespace deletion and ownerReference garbage collection), so a deleted namespace really
//! empties and goes, and dependents of a deleted owner are really collected.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::{bins, spawn};

/// The controllers started: `namespace-controller` finishes namespace deletion,
/// `garbage-collector-controller` collects dependents (and runs foreground deletion).
pub const CONTROLLERS: &str = "namespace-controller,garbage-collector-controller";

/// Starts kube-controller-manager against the apiserver of `kubeconfig`, serving its health
/// endpoint on loopback `port`, logging to `<work_dir>/kube-controller-manager.log`.
pub fn spawn(work_dir: &Path, kubeconfig: &Path, port: u16) -> anyhow::Result<Child> {
    let binary = bins::binary("kube-controller-manager")?;
    let log = std::fs::File::create(work_dir.join("kube-controller-manager.log"))?;
    let cert_dir = work_dir.join("kcm-certs");
    std::fs::create_dir_all(&cert_dir)?;
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        // Delegated authentication and authorization of its own endpoints go to the same
        // apiserver; /healthz is always allowed, so the readiness probe needs no identity.
        .arg(format!(
            "--authentication-kubeconfig={}",
            kubeconfig.display()
        ))
        .arg(format!(
            "--authorization-kubeconfig={}",
            kubeconfig.display()
        ))
        .arg(format!("--controllers={CONTROLLERS}"))
        .arg("--leader-elect=false")
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!("--cert-dir={}", cert_dir.display()))
        // Sync fast: tests wait for namespaces to empty, not for a production cadence.
        .arg("--concurrent-namespace-syncs=4")
        .arg("--concurrent-gc-syncs=10")
        .arg("--profiling=false")
        .arg("-v=1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    spawn::spawn(cmd)
}

/// Waits until kube-controller-manager answers `/healthz` with 200 (which covers its
/// controllers' own health checks), or fails with the tail of its log.
pub async fn wait_healthy(
    child: &mut Child,
    port: u16,
    work_dir: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    // Its serving certificate is self-signed in `--cert-dir`; only loopback is reached.
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    let deadline = Instant::now() + timeout;
    let log = work_dir.join("kube-controller-manager.log");
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "kube-controller-manager exited ({status}) during startup; log {}:\n{}",
                log.display(),
                crate::controlplane::tail(&log, 12)
            );
        }
        let healthy = http
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "kube-controller-manager not healthy after {timeout:?}:\n{}",
                crate::controlplane::tail(&log, 12)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
