//! Secrets around the controllers: the `secretMetadata` grace period (review finding 6) and a
//! stable WaitingForSecret message.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use meshes_operator::controllers::metrics::Metrics;
use serde_json::json;

use crate::support::{SOON, World, condition, eventually};

/// Ceiling for the fixes under test ("within 30 s").
const WITHIN: Duration = Duration::from_secs(30);

fn workspace(name: &str, secret: &str) -> serde_json::Value {
    json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": name},
        "spec": {"credentialsRef": {"name": secret}}})
}

/// Finding 6: the credentials check reset the per-object grace timer the `secretMetadata`
/// check reads, so a connection whose `secretMetadata` Secret does not exist waited forever.
#[tokio::test]
async fn a_missing_secret_metadata_secret_stalls_after_the_grace_and_recovers_when_created() {
    let mut w = World::new("sm-missing").await;
    w.start_operator(World::fast_config()).await; // 3 s grace
    w.apply(workspace("sm-ws", "meshes-credentials")).await;
    w.wait_ready_kind("MeshesWorkspace", "sm-ws").await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "signed-hook"},
        "spec": {"workspaceRef": {"name": "sm-ws"}, "type": "webhook", "metadata": {"url": "https://hooks.example/s"},
            "secretMetadata": [{"key": "signing_secret", "secretKeyRef": {"name": "hook-signing", "key": "secret"}}]}}))
    .await;
    // Positive control: it first waits for the Secret.
    let waiting = w
        .wait_reason_kind("MeshesConnection", "signed-hook", "WaitingForSecret")
        .await;
    let (_, _, msg, _) = condition(&waiting["status"], "Ready").unwrap();
    assert!(msg.contains("hook-signing"), "{msg}");

    let stalled = eventually(
        "signed-hook Stalled/InvalidSpec after the grace period",
        WITHIN,
        || w.get_json("MeshesConnection", "signed-hook"),
        |o| {
            condition(&o["status"], "Stalled")
                .is_some_and(|(s, r, _, _)| s == "True" && r == "InvalidSpec")
        },
    )
    .await;
    let (_, reason, msg, _) = condition(&stalled["status"], "Ready").unwrap();
    assert_eq!(reason, "InvalidSpec");
    assert!(
        msg.contains("hook-signing") && msg.contains("signing_secret"),
        "{msg}"
    );
    assert!(
        w.emu.admin().connections().is_empty(),
        "nothing created without its settings"
    );

    // Creating the Secret recovers it.
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": "hook-signing"},
        "stringData": {"secret": "whsec-signing-value"}
    }))
    .unwrap();
    w.secrets()
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
    let ready = w.wait_ready_kind("MeshesConnection", "signed-hook").await;
    assert!(ready["status"]["connectionId"].is_string());
    assert!(
        w.emu
            .admin()
            .listing(true)
            .to_string()
            .contains("whsec-signing-value"),
        "secret setting applied"
    );
}

/// Finding 16 (the part in credentials.rs): the WaitingForSecret message carried a live
/// countdown, so every pass during the wait rewrote status.
#[tokio::test]
async fn waiting_for_credentials_keeps_a_stable_status() {
    let mut w = World::new("wait-stable").await;
    let metrics = Arc::new(Metrics::default());
    w.start_operator_with_metrics(
        meshes_operator::controllers::config::OperatorConfig {
            secret_grace: Duration::from_secs(60),
            ..World::fast_config()
        },
        metrics.clone(),
    )
    .await;
    w.apply(workspace("patient", "not-yet")).await;
    let first = eventually(
        "patient WaitingForSecret",
        SOON,
        || w.get_json("MeshesWorkspace", "patient"),
        |o| condition(&o["status"], "Ready").is_some_and(|(_, r, _, _)| r == "WaitingForSecret"),
    )
    .await;
    let (_, _, msg1, _) = condition(&first["status"], "Ready").unwrap();
    let passes = metrics.reconciles_of("MeshesWorkspace", &w.ns, "patient");
    // Let the clock move by more than a second, then wake the workspace with an unrelated
    // annotation (any change triggers a pass).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let api: Api<meshes_operator::resources::MeshesWorkspace> = w.workspaces();
    api.patch(
        "patient",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&json!({"metadata": {"annotations": {"test/poke": "1"}}})),
    )
    .await
    .unwrap();
    // Positive control: the poke did cause a pass.
    eventually(
        "a pass after the poke",
        SOON,
        || async { Some(metrics.reconciles_of("MeshesWorkspace", &w.ns, "patient")) },
        |n| *n > passes,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = w.get_json("MeshesWorkspace", "patient").await.unwrap();
    let (_, reason, msg2, _) = condition(&after["status"], "Ready").unwrap();
    assert_eq!(reason, "WaitingForSecret");
    assert_eq!(msg1, msg2, "the message does not count down");
    assert_eq!(
        first["status"], after["status"],
        "no status write while waiting"
    );
}
