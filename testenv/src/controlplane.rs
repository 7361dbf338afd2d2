//! Starting and stopping etcd + kube-apiserver (+ kube-controller-manager for namespace deletion
//! and garbage collection) on free loopback ports, the way envtest does, with RBAC on,
//! ServiceAccount token signing and an audit log.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::certs::{self, Pki};
use crate::kubeconfig::{self, UserAuth};
use crate::runrecord::{ChildRecord, RunRecord};
use crate::{bins, controller_manager, procfs, spawn, sys};

/// Options for [`ControlPlane::start`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Scratch directory for certificates, etcd data, logs and kubeconfigs. Created if missing.
    pub work_dir: PathBuf,
    /// Fixed apiserver port; `None` picks a free one.
    pub apiserver_port: Option<u16>,
    /// How long to wait for `/readyz` (generous: noisy 2-core machines need tens of seconds).
    pub ready_timeout: Duration,
    /// Start kube-controller-manager (namespace and garbage-collector controllers) too.
    pub controller_manager: bool,
}

impl Options {
    /// Defaults with a fresh scratch directory under the system temp dir.
    pub fn new() -> anyhow::Result<Self> {
        let work_dir = std::env::temp_dir().join(format!(
            "meshes-testenv-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ u128::from(rand_u32())
        ));
        Ok(Self {
            work_dir,
            apiserver_port: None,
            ready_timeout: Duration::from_secs(90),
            controller_manager: true,
        })
    }
}

fn rand_u32() -> u32 {
    // Enough entropy for a unique directory name without a rand dependency.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}

/// A running control plane. Dropping it stops its processes.
#[derive(Debug)]
pub struct ControlPlane {
    /// Scratch directory.
    pub work_dir: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// Generated certificates.
    pub pki: Pki,
    /// Kubeconfig for the admin identity (system:masters).
    pub admin_kubeconfig: PathBuf,
    /// The apiserver audit log (JSON lines, Metadata level).
    pub audit_log: PathBuf,
    /// `gitVersion` reported by `/version`.
    pub version: String,
    run_dir: PathBuf,
    record: RunRecord,
    etcd: Child,
    apiserver: Child,
    controller_manager: Option<Child>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<(File, File)> {
    let f = File::create(dir.join(name)).with_context(|| format!("creating log {name}"))?;
    Ok((f.try_clone()?, f))
}

const AUDIT_POLICY: &str = r#"{"apiVersion":"audit.k8s.io/v1","kind":"Policy","omitStages":["RequestReceived"],"rules":[{"level":"Metadata"}]}"#;

impl ControlPlane {
    /// Reaps leftovers of dead earlier runs, then starts etcd and kube-apiserver and waits until
    /// the apiserver is ready and the `default` namespace exists.
    pub async fn start(opts: Options) -> anyhow::Result<Self> {
        let etcd_bin = bins::binary("etcd")?;
        let apiserver_bin = bins::binary("kube-apiserver")?;
        let run_dir = bins::run_dir()?;
        let reaped = crate::runrecord::reap_stale(&run_dir);
        if reaped.records_reaped > 0 {
            tracing::info!(?reaped, "reaped leftovers of earlier runs");
        }

        let dir = &opts.work_dir;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut record = RunRecord::for_current_process(dir.clone())?;
        record.save(&run_dir)?;
        let pki = certs::generate(dir)?;

        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let (out, err) = log_file(dir, "etcd.log")?;
        let mut cmd = Command::new(&etcd_bin);
        cmd.arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_port}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
            ))
            .arg(format!(
                "--initial-cluster=default=http://127.0.0.1:{peer_port}"
            ))
            .arg("--unsafe-no-fsync=true")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let etcd = spawn::spawn(cmd)?;
        push_child(&mut record, &run_dir, &etcd, "etcd")?;

        let port = match opts.apiserver_port {
            Some(p) => p,
            None => free_port()?,
        };
        let server = format!("https://127.0.0.1:{port}");
        let audit_log = dir.join("audit.log");
        let policy = dir.join("audit-policy.json");
        fs::write(&policy, AUDIT_POLICY)?;
        let (out, err) = log_file(dir, "kube-apiserver.log")?;
        let mut cmd = Command::new(&apiserver_bin);
        cmd.arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            // No kubelets or Services to reach the apiserver; the endpoint reconciler would refuse
            // a loopback advertise address (a sandbox may have no other).
            .arg("--endpoint-reconciler-type=none")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", dir.display()))
            .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
            .arg(format!(
                "--tls-private-key-file={}",
                pki.serving_key.display()
            ))
            .arg(format!("--client-ca-file={}", pki.client_ca.display()))
            .arg(format!("--service-account-issuer={server}"))
            .arg(format!(
                "--service-account-key-file={}",
                pki.sa_pub.display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                pki.sa_key.display()
            ))
            .arg("--authorization-mode=RBAC")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--allow-privileged=true")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--profiling=false")
            .arg(format!("--audit-policy-file={}", policy.display()))
            .arg(format!("--audit-log-path={}", audit_log.display()))
            .arg("--audit-log-format=json")
            .arg("--audit-log-mode=blocking")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Ok(extra) = std::env::var("MESHES_TESTENV_APISERVER_FLAGS") {
            // Diagnostics only (e.g. proving a test fails under --authorization-mode=AlwaysAllow).
            cmd.args(extra.split_whitespace());
        }
        let apiserver = spawn::spawn(cmd)?;
        push_child(&mut record, &run_dir, &apiserver, "kube-apiserver")?;

        let admin_kubeconfig = kubeconfig::write(
            &dir.join("admin.kubeconfig"),
            &server,
            &pki.serving_ca,
            UserAuth::ClientCert {
                cert: &pki.admin_cert,
                key: &pki.admin_key,
            },
            "default",
        )?;

        let mut cp = Self {
            work_dir: dir.clone(),
            server,
            pki,
            admin_kubeconfig,
            audit_log,
            version: String::new(),
            run_dir,
            record,
            etcd,
            apiserver,
            controller_manager: None,
        };
        cp.wait_ready(opts.ready_timeout).await?;
        if opts.controller_manager {
            let port = free_port()?;
            let mut kcm = controller_manager::spawn(&cp.work_dir, &cp.admin_kubeconfig, port)?;
            push_child(&mut cp.record, &cp.run_dir, &kcm, "kube-controller-manager")?;
            let healthy =
                controller_manager::wait_healthy(&mut kcm, port, &cp.work_dir, opts.ready_timeout)
                    .await;
            cp.controller_manager = Some(kcm);
            healthy?;
        }
        Ok(cp)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let ca = reqwest::Certificate::from_pem(&fs::read(&self.pki.serving_ca)?)?;
        // Authenticate as admin: anonymous access to /readyz is off under some authorizers
        // (e.g. AlwaysAllow, used once to prove the RBAC test can fail).
        let mut identity = fs::read(&self.pki.admin_cert)?;
        identity.extend(fs::read(&self.pki.admin_key)?);
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .identity(reqwest::Identity::from_pem(&identity)?)
            .timeout(Duration::from_secs(5))
            .build()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.apiserver.try_wait()? {
                bail!(
                    "kube-apiserver exited ({status}) during startup; log: {}\n{}",
                    self.work_dir.join("kube-apiserver.log").display(),
                    tail(&self.work_dir.join("kube-apiserver.log"), 8)
                );
            }
            if let Some(status) = self.etcd.try_wait()? {
                bail!(
                    "etcd exited ({status}) during startup:\n{}",
                    tail(&self.work_dir.join("etcd.log"), 30)
                );
            }
            let ready = http
                .get(format!("{}/readyz", self.server))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver not ready after {timeout:?}:\n{}",
                    tail(&self.work_dir.join("kube-apiserver.log"), 8)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let version: serde_json::Value = http
            .get(format!("{}/version", self.server))
            .send()
            .await?
            .json()
            .await?;
        self.version = version["gitVersion"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();

        let client = kubeconfig::client_for(&self.admin_kubeconfig).await?;
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
        while namespaces.get_opt("default").await.ok().flatten().is_none() {
            if Instant::now() > deadline {
                bail!("namespace `default` did not appear within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Stops every process (SIGTERM, then SIGKILL after a grace period; the controller manager
    /// first, etcd last) and removes the run record and scratch directory.
    pub fn stop(&mut self) {
        let children = self
            .controller_manager
            .iter_mut()
            .chain([&mut self.apiserver, &mut self.etcd]);
        for child in children {
            sys::signal(child.id(), sys::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.record.remove(&self.run_dir);
        let _ = fs::remove_dir_all(&self.work_dir);
    }

    /// The pid of the apiserver (for tests of the harness itself).
    pub fn apiserver_pid(&self) -> u32 {
        self.apiserver.id()
    }

    /// The pid of etcd.
    pub fn etcd_pid(&self) -> u32 {
        self.etcd.id()
    }

    /// The pid of kube-controller-manager, when it runs.
    pub fn controller_manager_pid(&self) -> Option<u32> {
        self.controller_manager.as_ref().map(Child::id)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

fn push_child(
    record: &mut RunRecord,
    run_dir: &Path,
    child: &Child,
    name: &str,
) -> anyhow::Result<()> {
    let start = procfs::start_time(child.id()).context("reading child start time")?;
    record.children.push(ChildRecord {
        pid: child.id(),
        start,
        name: name.to_string(),
    });
    record.save(run_dir)
}

/// The last `lines` lines of a log file (for startup errors).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
