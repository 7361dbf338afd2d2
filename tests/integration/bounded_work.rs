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
