//! One measured world: a fresh control plane, an emulator, the org namespaces, a Readiness
//! watch and the operator process, with the helpers every scenario uses (windows of counts,
//! waiting until the operator is idle).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use meshes_emulator::{Credentials, Emulator};
use serde::Serialize;

use crate::audit::{self, AuditCounts};
use crate::cluster::Cluster;
use crate::emu::{self, Calls};
use crate::operator::{self, Operator, Usage};
use crate::ready::Readiness;
use crate::tenants;

/// What a session is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Orgs (one access key and one namespace each).
    pub orgs: usize,
    /// Tenants per org.
    pub per_org: usize,
    /// Emulator rate limit R, requests/s per key.
    pub rate: f64,
    /// Added latency of every Meshes call.
    pub latency: Duration,
    /// The operator binary.
    pub bin: PathBuf,
    /// The CRD directory.
    pub crds: PathBuf,
    /// Scratch directory (operator logs).
    pub work: PathBuf,
    /// The operator's Kubernetes client rate (`None`: its default, 50/s).
    pub kube_qps: Option<f64>,
}

/// Counts over a window: upstream calls, the operator's Kubernetes requests, its usage.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Seconds.
    pub seconds: f64,
    /// Upstream calls.
    pub calls: Calls,
    /// The operator's Kubernetes requests.
    pub kube: AuditCounts,
    /// Operator usage at the end.
    pub usage: Usage,
}

/// A running session.
#[derive(Debug)]
pub struct Session {
    /// The options.
    pub opts: Options,
    /// The control plane.
    pub cluster: Cluster,
    /// The emulator.
    pub emu: Emulator,
    /// One key per org.
    pub keys: Vec<Credentials>,
    /// Readiness of every custom resource.
    pub ready: Readiness,
    /// The operator, while running.
    pub operator: Option<Operator>,
    window: (Instant, u64),
    starts: usize,
}

impl Session {
    /// Starts the control plane and the emulator and prepares the org namespaces.
    pub async fn start(opts: Options) -> anyhow::Result<Session> {
        let cluster = Cluster::start(&opts.crds).await?;
        let (emu, keys) = emu::start(opts.orgs, opts.rate, opts.latency).await?;
        tenants::prepare_orgs(&cluster.client, &keys).await?;
        let ready = Readiness::start(&cluster.client);
        Ok(Session {
            window: (Instant::now(), audit::mark(cluster.env.audit_log())),
            opts,
            cluster,
            emu,
            keys,
            ready,
            operator: None,
            starts: 0,
        })
    }

    /// Custom resources in the session.
    pub fn crs(&self) -> usize {
        self.opts.orgs * self.opts.per_org * tenants::CRS_PER_TENANT
    }

    /// Tenants in the session.
    pub fn tenants(&self) -> usize {
        self.opts.orgs * self.opts.per_org
    }

    /// The lower bound of convergence: 5 calls per tenant at R per key, keys in parallel.
    pub fn bound_s(&self) -> f64 {
        5.0 * self.opts.per_org as f64 / self.opts.rate
    }

    /// Starts the operator with a budget of 0.95·R and resync interval `resync`.
    pub fn start_operator(&mut self, resync: &str) -> anyhow::Result<()> {
        self.starts += 1;
        let settings = operator::Settings {
            bin: self.opts.bin.clone(),
            kubeconfig: self.cluster.operator_kubeconfig.clone(),
            api_url: self.emu.base_url(),
            api_rate: 0.95 * self.opts.rate,
            resync: resync.to_string(),
            log: self.opts.work.join(format!("operator-{}.log", self.starts)),
            kube_qps: self.opts.kube_qps,
        };
        let log = settings.log.clone();
        let mut op = Operator::start(&settings)?;
        std::thread::sleep(Duration::from_millis(500));
        if !op.running() {
            anyhow::bail!(
                "the operator exited at once: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.operator = Some(op);
        Ok(())
    }

    /// Stops the operator (SIGTERM); its usage just before.
    pub async fn stop_operator(&mut self) -> Usage {
        match self.operator.take() {
            Some(op) => op.stop().await,
            None => Usage::default(),
        }
    }

    /// Starts a window of counts: resets the emulator counters and marks the audit log.
    pub fn begin_window(&mut self) {
        self.emu.admin().reset_counters();
        self.window = (Instant::now(), audit::mark(self.cluster.env.audit_log()));
    }

    /// The counts since [`Self::begin_window`].
    pub fn window(&self) -> anyhow::Result<Window> {
        Ok(Window {
            seconds: self.window.0.elapsed().as_secs_f64(),
            calls: emu::calls(&self.emu),
            kube: audit::count(
                self.cluster.env.audit_log(),
                self.window.1,
                &self.cluster.operator_user(),
            )?,
            usage: self.usage(),
        })
    }

    /// The operator's usage now.
    pub fn usage(&self) -> Usage {
        self.operator
            .as_ref()
            .map(Operator::usage)
            .unwrap_or_default()
    }

    /// Waits until no Meshes call was made for `quiet` (at most `timeout`); how long it took.
    pub async fn wait_idle(&self, quiet: Duration, timeout: Duration) -> Duration {
        let started = Instant::now();
        let mut last = (self.emu.admin().total_requests(), Instant::now());
        while started.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.emu.admin().total_requests();
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() >= quiet {
                return last.1.duration_since(started);
            }
        }
        timeout
    }
}
