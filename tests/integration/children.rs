//! MeshesConnection and MeshesRule controllers against the real apiserver and the emulator
//! (issue 8): the quickstart, call counts, dependency watches, secret settings, drift in bulk.

use std::sync::Arc;
use std::time::Duration;

use meshes_operator::controllers::metrics::Metrics;
use serde_json::json;

use crate::support::{SOON, World, condition, eventually, quickstart};

/// The quickstart with this world's credentials applied over the placeholder Secret.
pub(crate) async fn apply_quickstart(w: &World) {
    let text = quickstart();
    w.apply_yaml(&text).await;
    w.put_emulator_credentials().await;
}

#[tokio::test]
async fn the_quickstart_becomes_ready_and_the_emulator_holds_exactly_those_objects() {
    let mut w = World::new("qs").await;
    w.start_operator(World::fast_config()).await;
    apply_quickstart(&w).await;
    w.wait_ready_kind("MeshesWorkspace", "acme-prod").await;
    let conn = w.wait_ready_kind("MeshesConnection", "signup-hook").await;
    let r1 = w.wait_ready_kind("MeshesRule", "signup-to-hook").await;
    let r2 = w
        .wait_ready_kind("MeshesRule", "payment-failed-to-hook")
        .await;

    let admin = w.emu.admin();
    assert_eq!(admin.workspaces().len(), 1);
    let conns = admin.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0]["id"], conn["status"]["connectionId"]);
    assert_eq!(conns[0]["name"], "signup-hook");
    let rules = admin.rules();
    assert_eq!(rules.len(), 2);
    let ids: Vec<_> = rules.iter().map(|r| r["id"].clone()).collect();
    assert!(ids.contains(&r1["status"]["ruleId"]) && ids.contains(&r2["status"]["ruleId"]));
    // The signing secret reached Meshes, and appears nowhere in the cluster's status.
    let listing = admin.listing(true).to_string();
    assert!(
        listing.contains("change-me-to-a-long-random-signing-secret"),
        "secret setting sent upstream"
    );
    assert!(
        !conn["status"].to_string().contains("change-me"),
        "secret value in status"
    );
    assert!(
        conn["status"]["appliedHash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    // kubectl get meshes lists the three kinds with Ready and IDs.
    let env = meshes_testenv::TestEnv::shared().await;
    let out = env
        .kubectl()
        .args(["get", "meshes", "-n", &w.ns])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let ready = table
        .lines()
        .filter(|l| l.starts_with("meshes") && l.split_whitespace().nth(1) == Some("True"))
        .count();
    assert_eq!(ready, 4, "{table}");
}

#[tokio::test]
async fn twenty_tenants_converge_with_five_calls_each_plus_a_constant() {
    let mut w = World::new("calls").await;
    w.start_operator(World::fast_config()).await;
    let tenants = 20;
    for i in 0..tenants {
        w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": format!("tenant-{i}")},
            "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
        w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": format!("t{i}-hook")},
            "spec": {"workspaceRef": {"name": format!("tenant-{i}")}, "type": "webhook", "metadata": {"url": format!("https://hooks.example/t{i}")}}})).await;
        for ev in ["user.signup", "user.deleted"] {
            w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": format!("t{i}-{}", ev.replace('.', "-"))},
                "spec": {"connectionRef": {"name": format!("t{i}-hook")}, "event": ev, "metadata": {"action": "send_webhook"}}})).await;
        }
    }
    for i in 0..tenants {
        w.wait_ready_kind("MeshesRule", &format!("t{i}-user-signup"))
            .await;
        w.wait_ready_kind("MeshesRule", &format!("t{i}-user-deleted"))
            .await;
    }
    // Settle: reconciles triggered by our own status writes must not call Meshes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c = w.emu.admin().counters();
    let total = c.total;
    eprintln!(
        "[figure] {tenants} tenants converged with {total} Meshes calls: {:?}",
        c.routes
    );
    let per_route = |r: &str| c.routes.get(r).copied().unwrap_or(0);
    assert_eq!(per_route("POST /api/v1/workspaces"), tenants);
    assert_eq!(per_route("GET /api/v1/workspaces/{workspace_id}"), tenants);
    assert_eq!(per_route("POST /api/v1/connections"), tenants);
    assert_eq!(per_route("POST /api/v1/rules"), 2 * tenants);
    assert!(
        total <= 5 * tenants + 3,
        "at most a small constant of shared calls: {total}"
    );
}

#[tokio::test]
async fn a_rule_becomes_ready_right_after_its_connection_without_polling() {
    let mut w = World::new("deps").await;
    let metrics = Arc::new(Metrics::default());
    let config = meshes_operator::controllers::config::OperatorConfig {
        dependency_requeue: Duration::from_secs(3600),
        ..World::fast_config()
    };
    w.start_operator_with_metrics(config, metrics.clone()).await;
    // The rule first, its parents later: it waits, and only watches can wake it.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "early"},
        "spec": {"connectionRef": {"name": "hook"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}})).await;
    w.wait_reason_kind("MeshesRule", "early", "WaitingForDependency")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "tenant-ws"},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "hook"},
        "spec": {"workspaceRef": {"name": "tenant-ws"}, "type": "webhook", "metadata": {"url": "https://hooks.example/x"}}})).await;
    let started = std::time::Instant::now();
    w.wait_ready_kind("MeshesRule", "early").await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "woken by watches, not the 1 h requeue"
    );
    let count = metrics.reconciles_of("MeshesRule", &w.ns, "early");
    eprintln!("[figure] rule reconciles until Ready: {count}");
    // Every event on the rule, its connection and workspace counts (finalizer, status writes),
    // about a dozen in all; polling would add one per requeue period.
    assert!(count <= 20, "reconcile count stays small: {count}");
}

#[tokio::test]
async fn a_signing_secret_change_puts_once_and_resyncs_then_only_list() {
    let mut w = World::new("sigsecret").await;
    w.start_operator(World::fast_config()).await;
    apply_quickstart(&w).await;
    let conn = w.wait_ready_kind("MeshesConnection", "signup-hook").await;
    let id = conn["status"]["connectionId"].as_str().unwrap().to_string();
    let hash_before = conn["status"]["appliedHash"].clone();
    let admin = w.emu.admin();
    let puts = || admin.request_count("PUT", "/api/v1/connections/{connection_id}");
    let lists = || admin.request_count("GET", "/api/v1/workspaces/{workspace_id}/connections");
    assert_eq!(puts(), 0);
    w.apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook-signing"}, "stringData": {"secret": "rotated-signing-secret"}})).await;
    eventually("one PUT", SOON, || async { Some(puts()) }, |n| *n == 1).await;
    eventually(
        "new hash",
        SOON,
        || w.get_json("MeshesConnection", "signup-hook"),
        |c| c["status"]["appliedHash"] != hash_before,
    )
    .await;
    assert!(
        admin
            .listing(true)
            .to_string()
            .contains("rotated-signing-secret")
    );
    // Two resyncs of the workspace: each lists the connections; none PUTs.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "acme-prod",
        "annotations": {"meshes.io/resync-interval": "2s"}}, "spec": {"description": "Production tenant", "credentialsRef": {"name": "meshes-credentials"}}})).await;
    let l0 = lists();
    eventually(
        "two resync lists",
        SOON,
        || async { Some(lists()) },
        |n| *n >= l0 + 2,
    )
    .await;
    assert_eq!(puts(), 1, "no PUT across resyncs (connection {id})");
}

#[tokio::test]
async fn an_unknown_action_stalls_listing_the_valid_ones() {
    let mut w = World::new("action").await;
    w.start_operator(World::fast_config()).await;
    apply_quickstart(&w).await;
    w.wait_ready_kind("MeshesConnection", "signup-hook").await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "bad-action"},
        "spec": {"connectionRef": {"name": "signup-hook"}, "event": "x", "metadata": {"action": "add_to_list"}}})).await;
    let r = w
        .wait_reason_kind("MeshesRule", "bad-action", "InvalidSpec")
        .await;
    let (_, _, msg, _) = condition(&r["status"], "Stalled").unwrap();
    assert!(
        msg.contains("add_to_list") && msg.contains("send_webhook"),
        "{msg}"
    );
}

/// Raw IDs with their own credentials: adopt an existing connection by `workspaceId` + `adopt`,
/// hang a rule on it by `connectionId`; adopted objects are released (not deleted) by default.
#[tokio::test]
async fn raw_ids_adopt_and_release_without_deleting() {
    let mut w = World::new("rawids").await;
    let ws = w.dashboard_workspace("dashboard-made").await;
    let conn = w
        .dashboard_webhook(&ws.id, "made-in-dashboard", "https://hooks.example/dash")
        .await;
    let metrics = Arc::new(Metrics::default());
    w.start_operator_with_metrics(World::fast_config(), metrics.clone())
        .await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "adopted"},
        "spec": {"workspaceId": ws.id, "type": "webhook", "adopt": {"id": conn.id}, "credentialsRef": {"name": "meshes-credentials"}}})).await;
    let adopted = w.wait_ready_kind("MeshesConnection", "adopted").await;
    assert_eq!(adopted["status"]["connectionId"], conn.id.as_str());
    assert_eq!(adopted["status"]["effectiveDeletionPolicy"], "Orphan");
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "raw-rule"},
        "spec": {"connectionId": conn.id, "event": "user.signup", "metadata": {"action": "send_webhook"}, "credentialsRef": {"name": "meshes-credentials"}}})).await;
    let rule = w.wait_ready_kind("MeshesRule", "raw-rule").await;
    assert_eq!(rule["status"]["workspaceId"], ws.id.as_str());
    // Several more passes (annotation bumps) cost no further connection lookups.
    let gets = w
        .emu
        .admin()
        .request_count("GET", "/api/v1/connections/{connection_id}");
    let passes = metrics.reconciles_of("MeshesRule", &w.ns, "raw-rule");
    for i in 0..3 {
        w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "raw-rule", "labels": {"poke": format!("p{i}")}},
            "spec": {"connectionId": conn.id, "event": "user.signup", "metadata": {"action": "send_webhook"}, "credentialsRef": {"name": "meshes-credentials"}}})).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        metrics.reconciles_of("MeshesRule", &w.ns, "raw-rule") >= passes + 3,
        "positive control: the rule was reconciled again"
    );
    assert_eq!(
        w.emu
            .admin()
            .request_count("GET", "/api/v1/connections/{connection_id}"),
        gets,
        "connection facts are cached"
    );
    // Deleting: the rule (created by the operator) is deleted; the adopted connection stays.
    w.delete("MeshesRule", "raw-rule").await;
    w.delete("MeshesConnection", "adopted").await;
    w.wait_gone("MeshesRule", "raw-rule").await;
    w.wait_gone("MeshesConnection", "adopted").await;
    assert!(
        w.emu.admin().rules().is_empty(),
        "operator-created rule deleted"
    );
    assert_eq!(
        w.emu.admin().connections().len(),
        1,
        "adopted connection released, not deleted"
    );
    assert!(
        w.events()
            .await
            .iter()
            .any(|e| e.starts_with("Orphaned:") && e.contains(&conn.id))
    );
}

/// Adopting a connection whose spec carries secret settings applies them once (Meshes never
/// echoes secrets, so no drift check could); later passes do not PUT again.
#[tokio::test]
async fn adopting_with_secret_settings_applies_them_once() {
    let mut w = World::new("adopt-secret").await;
    let ws = w.dashboard_workspace("adopt-secret").await;
    let conn = w
        .dashboard_webhook(&ws.id, "existing-hook", "https://hooks.example/a")
        .await;
    w.start_operator(World::fast_config()).await;
    w.apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sig"}, "stringData": {"secret": "adopted-signing-secret-value"}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "adopted-hook"},
        "spec": {"workspaceId": ws.id, "type": "webhook", "adopt": {"id": conn.id}, "credentialsRef": {"name": "meshes-credentials"},
            "metadata": {"url": "https://hooks.example/a"},
            "secretMetadata": [{"key": "signing_secret", "secretKeyRef": {"name": "sig", "key": "secret"}}]}})).await;
    w.wait_ready_kind("MeshesConnection", "adopted-hook").await;
    let admin = w.emu.admin();
    assert!(
        admin
            .listing(true)
            .to_string()
            .contains("adopted-signing-secret-value"),
        "secret settings applied"
    );
    assert_eq!(
        admin.request_count("PUT", "/api/v1/connections/{connection_id}"),
        1
    );
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "adopted-hook", "labels": {"poke": "1"}},
        "spec": {"workspaceId": ws.id, "type": "webhook", "adopt": {"id": conn.id}, "credentialsRef": {"name": "meshes-credentials"},
            "metadata": {"url": "https://hooks.example/a"},
            "secretMetadata": [{"key": "signing_secret", "secretKeyRef": {"name": "sig", "key": "secret"}}]}})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        admin.request_count("PUT", "/api/v1/connections/{connection_id}"),
        1,
        "applied once"
    );
}
