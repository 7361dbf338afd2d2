//! The reliability suite (DESIGN.md §4 under faults, issue 17): CI-sized scenarios against the
//! operator BINARY, the emulator with probabilistic faults, and the real namespace and
//! garbage-collector controllers. `bench/reliability/run.sh` runs the same tests at full size.
//!
//! Sizes come from the environment: `MESHES_RELIABILITY_TENANTS` (default 30) and
//! `MESHES_RELIABILITY_EDITS` (default 200 in CI, 500 in the bench). Every scenario prints one `RELIABILITY` line with
//! its counts, which the bench runner collects.

pub mod chaos;
pub mod churn;
pub mod deletion;
pub mod faults;
pub mod invariants;
pub mod leaks;
pub mod process;
pub mod restart;
pub mod tenants;

use std::time::Duration;

/// Tenants per scenario (a tenant: a workspace, a webhook connection and two rules).
pub fn tenants() -> usize {
    env_usize("MESHES_RELIABILITY_TENANTS", 30)
}

/// Random edits of the churn scenario: 200 in CI (its checkpoints under faults cost most of
/// the scenario's time; 500, the figure, is the bench size).
pub fn edits() -> usize {
    env_usize("MESHES_RELIABILITY_EDITS", 200)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// A ceiling that grows with the size: `base` plus `per_tenant` for every tenant.
pub fn ceiling(base: u64, per_tenant_ms: u64) -> Duration {
    Duration::from_secs(base) + Duration::from_millis(per_tenant_ms * tenants() as u64)
}

/// Prints a scenario's counts as one line (`RELIABILITY scenario=… key=value …`), the format
/// `bench/reliability/run.sh` collects.
pub fn report(scenario: &str, fields: &[(&str, String)]) {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!("RELIABILITY scenario={scenario} {}", body.join(" "));
}
