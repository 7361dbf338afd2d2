//! Bounded work: `--concurrency` caps the passes of a kind that run at once, which is what
//! paces the startup storm (every object reconciled when the operator starts).

use std::time::Duration;

use meshes_operator::controllers::config::OperatorConfig;
use serde_json::json;

use crate::support::World;

async fn workspaces(w: &World, prefix: &str, n: usize) {
    for i in 0..n {
        w.apply(
            json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": format!("{prefix}-{i}")},
            "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
        )
        .await;
    }
}

/// Eight workspaces waiting when the operator starts, every Meshes call slowed to 300 ms: with
/// a concurrency of 2, never more than 2 calls reach Meshes at once; with 8 (positive control,
/// same objects' kind, same budget), more do.
#[tokio::test]
async fn concurrency_caps_the_passes_of_a_startup_storm() {
    let mut w = World::new("bounded").await;
    let slow = w.emu.admin().add_fault("* latency=300ms".parse().unwrap());
    for (round, concurrency, capped) in [(0, 2u16, true), (1, 8, false)] {
        let prefix = format!("storm{round}");
        workspaces(&w, &prefix, 8).await;
        w.emu.admin().reset_counters();
        w.start_operator(OperatorConfig {
            concurrency,
            debounce: Duration::ZERO,
            ..World::fast_config()
        })
        .await;
        for i in 0..8 {
            w.wait_ready_kind("MeshesWorkspace", &format!("{prefix}-{i}"))
                .await;
        }
        w.stop_operator();
        let max = w.emu.admin().max_in_flight();
        eprintln!("concurrency {concurrency}: at most {max} Meshes calls at once");
        if capped {
            assert!(max >= 1 && max <= u64::from(concurrency), "{max} at once");
        } else {
            assert!(max > 2, "only {max} at once without the cap");
        }
    }
    assert!(w.emu.admin().fault_hits(slow) >= 16, "the slowdown fired");
}

/// A workspace whose create keeps failing (503) is retried on the error backoff, not on the
/// watch events of its own status writes: at c.f. 35458f7 each pass wrote status twice and each
/// write woke the next pass (about 5 passes and POSTs a second with a 200 ms–2 s backoff).
#[tokio::test]
async fn a_failing_object_is_retried_on_its_backoff_not_on_its_own_status_writes() {
    let mut w = World::new("no-hot-loop").await;
    let refuse = w
        .emu
        .admin()
        .add_fault("POST /api/v1/workspaces status=503".parse().unwrap());
    let metrics = std::sync::Arc::new(meshes_operator::controllers::metrics::Metrics::new());
    w.start_operator_with_metrics(World::fast_config(), metrics.clone())
        .await;
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "failing"},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let passes = metrics.reconciles_of("MeshesWorkspace", &w.ns, "failing");
    let posts = w.emu.admin().fault_hits(refuse);
    eprintln!("12 s of a failing create: {passes} passes, {posts} POSTs");
    // Backoff 200 ms doubling to 2 s: about 9 retries in 12 s.
    assert!(
        posts >= 3,
        "retried {posts} times: the object was not retried"
    );
    assert!(
        passes <= 20 && posts <= 15,
        "{passes} passes, {posts} POSTs in 12 s"
    );
    // Positive control: once Meshes recovers, the next retry creates it.
    w.emu.admin().remove_fault(refuse);
    w.wait_ready_kind("MeshesWorkspace", "failing").await;
}
