//! Reaction latency: a spec change (a workspace's description) until the upstream update is
//! made (the emulator counts the `PUT`), changes made one after another while the other
//! tenants are idle.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::report::{Row, quantile, row};
use crate::session::Session;
use crate::tenants::{namespace, resource};

/// The emulator route of a workspace update.
const UPDATE: (&str, &str) = ("PUT", "/api/v1/workspaces/{workspace_id}");

/// Changes tenant `i`'s workspace description (`tag` makes it new) and returns when it was made.
pub async fn change(s: &Session, i: usize, tag: &str) -> anyhow::Result<Instant> {
    let ns = namespace(i / s.opts.per_org.max(1));
    let api: Api<DynamicObject> =
        Api::namespaced_with(s.cluster.client.clone(), &ns, &resource("MeshesWorkspace"));
    let at = Instant::now();
    api.patch(
        &format!("tenant-{i}"),
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"description": format!("tenant {i} {tag}")}})),
    )
    .await?;
    Ok(at)
}

/// Upstream workspace updates so far.
pub fn updates(s: &Session) -> u64 {
    s.emu.admin().request_count(UPDATE.0, UPDATE.1)
}

/// Waits until upstream updates exceed `before`; the latency from `at`, or `None` on timeout.
pub async fn wait_update(s: &Session, before: u64, at: Instant, timeout: Duration) -> Option<f64> {
    while at.elapsed() < timeout {
        if updates(s) > before {
            return Some(at.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// `changes` changes, one at a time, on tenants spread over the session.
pub async fn run(s: &Session, changes: usize) -> anyhow::Result<(Vec<Row>, Value)> {
    let mut latencies = Vec::new();
    let mut missed = 0;
    let n = s.tenants().max(1);
    for c in 0..changes {
        let i = (c * 7919) % n;
        let before = updates(s);
        let at = change(s, i, &format!("reaction-{c}")).await?;
        match wait_update(s, before, at, Duration::from_secs(30)).await {
            Some(l) => latencies.push(l),
            None => missed += 1,
        }
    }
    let (p50, p99) = (quantile(&latencies, 0.5), quantile(&latencies, 0.99));
    let rows = vec![
        row(
            format!("reaction over {changes} changes: p50 / p99 (s)"),
            format!("{p50:.3} / {p99:.3}"),
            "p99 ≤ 2 s",
        ),
        row(
            "reaction: changes not applied within 30 s",
            missed.to_string(),
            "0",
        ),
    ];
    let json = json!({"changes": changes, "p50_s": p50, "p99_s": p99, "missed": missed,
        "latencies_s": latencies});
    Ok((rows, json))
}
