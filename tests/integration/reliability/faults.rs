//! The fault mixes the scenarios install in the emulator, and the proof that each fired.

use std::time::Duration;

use meshes_emulator::{Admin, FaultAction, FaultId, FaultSpec, Trigger};

/// Installed faults with a name each, so hit counts can be reported and asserted.
pub struct Installed {
    faults: Vec<(&'static str, FaultId)>,
}

fn spec(method: Option<&str>, action: FaultAction, p: f64) -> FaultSpec {
    FaultSpec {
        method: method.map(str::to_owned),
        route: "/api/v1/*".into(),
        action,
        trigger: Trigger::Probability(p),
    }
}

impl Installed {
    /// The chaos mix of the issue: 10 % 5xx, 5 % commit-then-drop on every write method, 5 %
    /// 429, and jittered latency (a short delay often, a long one sometimes, before or after
    /// the write). The emulator fires the first matching fault that triggers, so the shares are
    /// of the requests the faults before it let through (close to the nominal ones).
    pub fn chaos(admin: &Admin) -> Installed {
        let mut faults = vec![
            (
                "5xx",
                admin.add_fault(spec(None, FaultAction::Status(503), 0.05)),
            ),
            (
                "5xx",
                admin.add_fault(spec(None, FaultAction::Status(500), 0.05)),
            ),
        ];
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            faults.push((
                "commit-then-drop",
                admin.add_fault(spec(Some(method), FaultAction::CommitThenDrop, 0.05)),
            ));
        }
        faults.push((
            "429",
            admin.add_fault(spec(
                None,
                FaultAction::RateLimited {
                    retry_after_secs: 1,
                },
                0.05,
            )),
        ));
        for (delay_ms, after_commit, p) in
            [(40, false, 0.25), (400, false, 0.05), (250, true, 0.05)]
        {
            faults.push((
                "latency",
                admin.add_fault(spec(
                    None,
                    FaultAction::Latency {
                        delay: Duration::from_millis(delay_ms),
                        after_commit,
                    },
                    p,
                )),
            ));
        }
        Installed { faults }
    }

    /// A storm: `p5xx` of the requests answer 503 and `p429` answer 429.
    pub fn storm(admin: &Admin, p5xx: f64, p429: f64) -> Installed {
        Installed {
            faults: vec![
                (
                    "5xx",
                    admin.add_fault(spec(None, FaultAction::Status(503), p5xx)),
                ),
                (
                    "429",
                    admin.add_fault(spec(
                        None,
                        FaultAction::RateLimited {
                            retry_after_secs: 1,
                        },
                        p429,
                    )),
                ),
            ],
        }
    }

    /// Hits per fault kind, e.g. `5xx:120,429:31`.
    pub fn hits(&self, admin: &Admin) -> Vec<(&'static str, u64)> {
        let mut out: Vec<(&'static str, u64)> = Vec::new();
        for (name, id) in &self.faults {
            let hits = admin.fault_hits(*id);
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, n)) => *n += hits,
                None => out.push((name, hits)),
            }
        }
        out
    }

    /// `5xx:120,429:31` for the report line.
    pub fn hits_text(&self, admin: &Admin) -> String {
        self.hits(admin)
            .iter()
            .map(|(n, h)| format!("{n}:{h}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Panics unless every fault kind fired at least once (faults that prove recovery must be
    /// shown to have fired).
    pub fn assert_all_fired(&self, admin: &Admin) {
        for (name, hits) in self.hits(admin) {
            assert!(hits > 0, "fault {name} never fired: {:?}", self.hits(admin));
        }
    }

    /// Removes these faults (Meshes recovers); hit counts stay readable.
    pub fn remove(&self, admin: &Admin) {
        for (_, id) in &self.faults {
            admin.remove_fault(*id);
        }
    }
}
