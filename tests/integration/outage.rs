//! Recovery from an outage (`controllers::outage`): an object that backed off during a long
//! Meshes outage is retried as soon as Meshes answers again, not when its backoff (which grew
//! during the outage) ends. Found by the full-size deletion scenario of the reliability suite:
//! objects whose backoff had grown to minutes held namespaces Terminating long after a storm.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meshes_emulator::{FaultAction, FaultSpec, Trigger};
use meshes_operator::controllers::metrics::Metrics;
use serde_json::json;

use crate::support::{World, is_ready, wait_ready};

#[tokio::test]
async fn an_object_backed_off_during_an_outage_is_retried_when_meshes_answers_again() {
    let mut w = World::new("outage").await;
    let metrics = Arc::new(Metrics::new());
    let config = meshes_operator::controllers::config::OperatorConfig {
        // Long enough that the backoff after a few failures clearly outlives the outage.
        error_backoff_min: Duration::from_secs(4),
        error_backoff_max: Duration::from_secs(300),
        ..World::fast_config()
    };
    w.start_operator_with_metrics(config, metrics.clone()).await;
    let admin = w.emu.admin();
    let outage = admin.add_fault(FaultSpec {
        method: None,
        route: "/api/v1/*".into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Probability(1.0),
    });
    let creds = json!({"credentialsRef": {"name": "meshes-credentials"}});
    w.create_workspace("during", creds.clone()).await;
    // Five passes: at least four failed against the outage (the first may only add the
    // finalizer), so the backoff after the last is at least 4 s * 2^3 / 2 = 16 s.
    let passes = || metrics.reconciles_of("MeshesWorkspace", &w.ns, "during");
    let deadline = Instant::now() + Duration::from_secs(90);
    let waiting = || metrics.waiting_for_requeue("MeshesWorkspace", &w.ns, "during");
    while passes() < 5 || !waiting() {
        assert!(Instant::now() < deadline, "only {} passes", passes());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backed_off_at = Instant::now();
    let hits = admin.fault_hits(outage);
    assert!(hits >= 4, "the outage answered {hits} requests");
    let recoveries = metrics.outages().recoveries();
    assert_eq!(recoveries, 0, "no recovery during the outage");

    assert!(
        waiting(),
        "the fifth pass is over and its requeue not due after {:?}",
        backed_off_at.elapsed()
    );
    admin.remove_fault(outage);
    let recovered_at = Instant::now();
    // Positive control and the first success on the key: a workspace created now is served.
    w.create_workspace("after", creds).await;
    wait_ready(&w, "after").await;
    let deadline = recovered_at + Duration::from_secs(10);
    loop {
        let during = w.workspaces().get("during").await.unwrap();
        if is_ready(&during) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the workspace that backed off during the outage is not Ready {:?} after Meshes \
             answered again (its backoff was still running); passes: {}, recoveries seen: {}",
            recovered_at.elapsed(),
            passes(),
            metrics.outages().recoveries(),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metrics.outages().recoveries(), 1, "one recovery");
    eprintln!(
        "Ready {:?} after the outage ended (passes {}, outage hits {hits})",
        recovered_at.elapsed(),
        passes()
    );
}
