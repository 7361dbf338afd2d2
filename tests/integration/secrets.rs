//! Secrets around the controllers: the credentials-in-use finalizer when users go away or switch
//! (review finding 3), the `secretMetadata` grace period (finding 6), a stable WaitingForSecret
//! message, and an `OwnershipConflict` on the output Secret that clears when the foreign Secret
//! is deleted (finding 9).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use meshes_operator::controllers::metrics::Metrics;
use serde_json::json;

use crate::support::{SOON, World, condition, eventually};

const IN_USE: &str = "meshes.io/credentials-in-use";

/// Ceiling for the fixes under test ("within 30 s").
const WITHIN: Duration = Duration::from_secs(30);

/// The finalizers of Secret `name`; `None` when it does not exist.
async fn secret_finalizers(w: &World, name: &str) -> Option<Vec<String>> {
    w.secrets()
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .map(|s| s.metadata.finalizers.unwrap_or_default())
}

fn has_in_use(finalizers: &Option<Vec<String>>) -> bool {
    finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == IN_USE))
}

fn workspace(name: &str, secret: &str) -> serde_json::Value {
    json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": name},
        "spec": {"credentialsRef": {"name": secret}}})
}

/// Deletes the namespace (the real namespace controller then deletes Secret `secret` and the
/// workspaces together, in the background) after deleting workspaces `names` with `params`
/// (foreground: each outlives its own cleanup until the real garbage collector removes
/// `foregroundDeletion`, so the cleanups always see each other). Waits until the namespace is
/// gone.
async fn delete_namespace_with(w: &World, names: &[&str], params: &kube::api::DeleteParams) {
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(w.client.clone());
    for name in names {
        w.workspaces().delete(name, params).await.unwrap();
    }
    ns_api.delete(&w.ns, &Default::default()).await.unwrap();
    eventually(
        &format!(
            "namespace {} gone (workspaces and the shared Secret released)",
            w.ns
        ),
        WITHIN,
        || async { Some(ns_api.get_opt(&w.ns).await.unwrap().map(|n| n.status)) },
        Option::is_none,
    )
    .await;
}

/// Finding 3: two workspaces sharing one credentials Secret, deleted together with the Secret
/// (a namespace deletion). Each cleanup saw the other workspace as a user and kept the
/// Secret's finalizer; nothing looked at the Secret again once both were gone, so it (and the
/// namespace) hung. Deleted with foreground propagation, each workspace outlives its own
/// cleanup until the garbage collector removes `foregroundDeletion`, so the cleanups always see
/// each other. The namespace and garbage-collector controllers are the real ones.
#[tokio::test]
async fn workspaces_sharing_a_secret_deleted_together_release_it() {
    let mut w = World::new("shared-del").await;
    w.start_operator(World::fast_config()).await;
    w.apply(workspace("staging", "meshes-credentials")).await;
    w.apply(workspace("prod", "meshes-credentials")).await;
    w.wait_ready_kind("MeshesWorkspace", "staging").await;
    w.wait_ready_kind("MeshesWorkspace", "prod").await;
    // Positive control: the Secret is protected while the workspaces use it.
    let before = secret_finalizers(&w, "meshes-credentials").await;
    assert!(has_in_use(&before), "in-use finalizer present: {before:?}");

    delete_namespace_with(
        &w,
        &["staging", "prod"],
        &kube::api::DeleteParams::foreground(),
    )
    .await;
    // Positive control: the operator released both workspaces (Meshes has no workspace delete).
    assert_eq!(w.emu.admin().workspaces().len(), 2);
}

/// The same through the namespace controller alone (background propagation): whether the two
/// cleanups overlap is a matter of timing here, so this one may pass without the fix.
#[tokio::test]
async fn workspaces_sharing_a_secret_deleted_in_the_background_release_it() {
    let mut w = World::new("shared-bg").await;
    w.start_operator(World::fast_config()).await;
    w.apply(workspace("staging", "meshes-credentials")).await;
    w.apply(workspace("prod", "meshes-credentials")).await;
    w.wait_ready_kind("MeshesWorkspace", "staging").await;
    w.wait_ready_kind("MeshesWorkspace", "prod").await;
    let before = secret_finalizers(&w, "meshes-credentials").await;
    assert!(has_in_use(&before), "in-use finalizer present: {before:?}");

    // Only the namespace: its controller deletes everything at once, in the background.
    delete_namespace_with(&w, &[], &Default::default()).await;
}

/// Finding 3, second half: a workspace that switches `credentialsRef` to another Secret (same
/// org) releases the old one; nothing else touches the old Secret to wake the janitor.
#[tokio::test]
async fn switching_credentials_ref_releases_the_old_secret() {
    let mut w = World::new("switch").await;
    let c = w.emu.credentials();
    w.put_credentials("creds-a", &c.access_key, &c.secret_key, &c.org_id)
        .await;
    w.put_credentials("creds-b", &c.access_key, &c.secret_key, &c.org_id)
        .await;
    w.start_operator(World::fast_config()).await;
    w.apply(workspace("switcher", "creds-a")).await;
    w.wait_ready_kind("MeshesWorkspace", "switcher").await;
    // Positive control: A is protected while used; B is not used yet.
    let a = secret_finalizers(&w, "creds-a").await;
    let b = secret_finalizers(&w, "creds-b").await;
    assert!(has_in_use(&a), "A carries the in-use finalizer: {a:?}");
    assert!(!has_in_use(&b), "B is not in use yet: {b:?}");

    w.apply(workspace("switcher", "creds-b")).await;
    w.wait_ready_kind("MeshesWorkspace", "switcher").await;
    eventually(
        "creds-a released and creds-b protected",
        WITHIN,
        || async {
            Some((
                secret_finalizers(&w, "creds-a").await,
                secret_finalizers(&w, "creds-b").await,
            ))
        },
        |(a, b)| a.is_some() && !has_in_use(a) && has_in_use(b),
    )
    .await;
    let ws = w.get_json("MeshesWorkspace", "switcher").await.unwrap();
    assert_eq!(
        ws["status"]["orgId"],
        c.org_id.as_str(),
        "still bound in the same org"
    );
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

/// Finding 9: an output Secret name taken by a foreign Secret stalls with OwnershipConflict,
/// whose message says to delete it; deleting it must clear the stall.
#[tokio::test]
async fn deleting_the_foreign_secret_clears_an_ownership_conflict() {
    let mut w = World::new("own-conflict").await;
    let foreign: Secret = serde_json::from_value(json!({
        "metadata": {"name": "app-publishable-key"},
        "stringData": {"unrelated": "value"}
    }))
    .unwrap();
    w.secrets()
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    w.start_operator(World::fast_config()).await;
    w.apply(workspace("app", "meshes-credentials")).await;
    let stalled = w
        .wait_reason_kind("MeshesWorkspace", "app", "OwnershipConflict")
        .await;
    let (_, _, msg, _) = condition(&stalled["status"], "Ready").unwrap();
    assert!(
        msg.contains("app-publishable-key") && msg.contains("delete it"),
        "{msg}"
    );
    // Positive control: the foreign Secret was left alone.
    let kept = w.secrets().get("app-publishable-key").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );

    w.delete("Secret", "app-publishable-key").await;
    let ready = eventually(
        "app Ready after the foreign Secret was deleted",
        WITHIN,
        || w.get_json("MeshesWorkspace", "app"),
        |o| {
            condition(&o["status"], "Ready").is_some_and(|(s, _, _, g)| {
                s == "True" && g == o["metadata"]["generation"].as_i64()
            })
        },
    )
    .await;
    let uid = ready["metadata"]["uid"].as_str().unwrap().to_string();
    let id = ready["status"]["workspaceId"].as_str().unwrap().to_string();
    let out = w.secrets().get("app-publishable-key").await.unwrap();
    assert!(
        out.metadata
            .owner_references
            .unwrap_or_default()
            .iter()
            .any(|o| o.uid == uid),
        "the output Secret is owned by the workspace"
    );
    let data = out.data.unwrap();
    assert_eq!(
        String::from_utf8(data["MESHES_WORKSPACE_ID"].0.clone()).unwrap(),
        id
    );
    assert!(data.contains_key("MESHES_PUBLISHABLE_KEY"));
    assert_eq!(
        w.emu.admin().workspaces().len(),
        1,
        "one workspace upstream"
    );
}
