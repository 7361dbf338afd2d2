//! The operator binary as child processes (tokio::process), with a ledger of every exit: the
//! suite's own kills are expected, anything else is a crash (issue 17 item 7). Logs are kept
//! per start and scanned for panics.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use meshes_testenv::{TestEnv, sys};
use tokio::process::{Child, Command};

/// How one operator process ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// Replica name and start number.
    pub who: String,
    /// Exit status text.
    pub status: String,
    /// Whether the suite caused it (SIGKILL or SIGTERM it sent).
    pub by_suite: bool,
}

/// Every operator process of one scenario: the running ones, their logs, and how each ended.
pub struct Fleet {
    /// Scenario name (log file prefix).
    scenario: String,
    /// Arguments every replica gets (before its own).
    base_args: Vec<String>,
    running: Vec<Replica>,
    /// Every log file written.
    pub logs: Vec<PathBuf>,
    /// Every exit seen.
    pub exits: Vec<Exit>,
    starts: usize,
}

/// One running operator process.
pub struct Replica {
    /// Replica name (`--instance-id`, ServiceAccount name under leader election).
    pub name: String,
    child: Child,
    who: String,
    /// Its log (stderr).
    pub log: PathBuf,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let by = if self.by_suite {
            "by the suite"
        } else {
            "on its own"
        };
        write!(f, "{}: {} ({by})", self.who, self.status)
    }
}

impl Fleet {
    /// A fleet whose replicas all get `base_args` (after `run`).
    pub fn new(scenario: &str, base_args: Vec<String>) -> Fleet {
        Fleet {
            scenario: scenario.into(),
            base_args,
            running: Vec::new(),
            logs: Vec::new(),
            exits: Vec::new(),
            starts: 0,
        }
    }

    /// Starts replica `name` with `kubeconfig` (and `POD_NAME=name`).
    pub fn start(&mut self, name: &str, kubeconfig: &std::path::Path) -> &Replica {
        self.starts += 1;
        let who = format!("{name}#{}", self.starts);
        let log = std::env::temp_dir().join(format!(
            "meshes-reliability-{}-{}-{}.log",
            self.scenario,
            std::process::id(),
            who.replace('#', "-")
        ));
        // Diagnostics: `MESHES_RELIABILITY_LOG_LEVEL` sets the level where a scenario does not.
        let level = std::env::var("MESHES_RELIABILITY_LOG_LEVEL")
            .ok()
            .filter(|_| !self.base_args.iter().any(|a| a.starts_with("--log-level")))
            .map(|l| format!("--log-level={l}"));
        let child = Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
            .arg("run")
            .args(&self.base_args)
            .args(level)
            .args(["--instance-id", name])
            .args(crate::support::FREE_PORTS)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log.with_extension("stdout")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.logs.push(log.clone());
        self.logs.push(log.with_extension("stdout"));
        self.running.push(Replica {
            name: name.into(),
            child,
            who,
            log,
        });
        self.running.last().unwrap()
    }

    /// The running replica `name`.
    pub fn replica(&self, name: &str) -> Option<&Replica> {
        self.running.iter().find(|r| r.name == name)
    }

    /// Sends `signal` to replica `name` and waits for it to exit (recorded as the suite's).
    pub async fn signal(&mut self, name: &str, signal: i32, within: Duration) {
        let i = self
            .running
            .iter()
            .position(|r| r.name == name)
            .unwrap_or_else(|| panic!("no running replica {name}"));
        let mut r = self.running.remove(i);
        let pid = r.child.id().expect("running child has a pid");
        assert!(sys::signal(pid, signal), "signal {signal} to {}", r.who);
        let status = tokio::time::timeout(within, r.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} did not exit within {within:?} of signal {signal}",
                    r.who
                )
            })
            .unwrap();
        self.exits.push(Exit {
            who: r.who,
            status: format!("{status}"),
            by_suite: true,
        });
    }

    /// Records replicas that exited on their own (a crash) since the last look.
    pub fn poll(&mut self) {
        let mut i = 0;
        while i < self.running.len() {
            if let Ok(Some(status)) = self.running[i].child.try_wait() {
                let r = self.running.remove(i);
                self.exits.push(Exit {
                    who: r.who,
                    status: format!("{status}"),
                    by_suite: false,
                });
            } else {
                i += 1;
            }
        }
    }

    /// Stops every running replica with SIGTERM (a clean stop), then returns the exits that were
    /// not the suite's and the number of panic lines in all logs.
    pub async fn finish(&mut self) -> (Vec<String>, usize) {
        self.poll();
        let names: Vec<String> = self.running.iter().map(|r| r.name.clone()).collect();
        for name in names {
            self.signal(&name, sys::SIGTERM, Duration::from_secs(60))
                .await;
        }
        let crashes: Vec<String> = self
            .exits
            .iter()
            .filter(|e| !e.by_suite)
            .map(Exit::to_string)
            .collect();
        // A SIGTERM stop must be a clean exit too.
        let unclean_stops: Vec<String> = self
            .exits
            .iter()
            .filter(|e| {
                e.by_suite && e.status.contains("exit status") && e.status != "exit status: 0"
            })
            .map(Exit::to_string)
            .collect();
        assert!(unclean_stops.is_empty(), "unclean stops: {unclean_stops:?}");
        (crashes, self.panics())
    }

    /// Lines mentioning a panic in every log of this fleet.
    pub fn panics(&self) -> usize {
        self.logs
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("panicked") || l.contains("RUST_BACKTRACE"))
                    .count()
            })
            .sum()
    }

    /// Every log's text (for the leak scan).
    pub fn log_texts(&self) -> Vec<(String, String)> {
        self.logs
            .iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(p).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Removes the log files (call after a passing scenario; failing ones keep them, and so
    /// does any with `MESHES_RELIABILITY_KEEP_LOGS` set).
    pub fn remove_logs(&self) {
        if std::env::var_os("MESHES_RELIABILITY_KEEP_LOGS").is_some() {
            return;
        }
        for p in &self.logs {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A kubeconfig for ServiceAccount `name` in `ns`, bound to cluster-admin (RBAC is not what the
/// reliability scenarios are about), so replicas tell apart in the audit log.
pub async fn replica_kubeconfig(client: &kube::Client, ns: &str, name: &str) -> PathBuf {
    use kube::api::{Api, PostParams};
    let env = TestEnv::shared().await;
    let kubeconfig = env.service_account_kubeconfig(ns, name).await.unwrap();
    let api: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    let binding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{ns}-{name}")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]
    }))
    .unwrap();
    match api.create(&PostParams::default(), &binding).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("binding: {e}"),
    }
    kubeconfig
}
