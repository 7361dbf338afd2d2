//! Regressions of the lifecycle rewrite, end to end (operator, real apiserver, emulator): each
//! test failed at c9d9682. Rule toggles under every de-duplication Meshes may have, a forced check
//! of a just-created connection, and a workspace deleted upstream (created again with its
//! children following, or reported when adopted).

use meshes_emulator::{EmulatorConfig, RuleDedup};
use serde_json::{Value, json};

use crate::children::apply_quickstart;
use crate::support::{SOON, World, condition, eventually};

const RULE: &str = "signup-to-hook";

async fn rule_of(w: &World) -> Option<Value> {
    w.get_json("MeshesRule", RULE).await
}

fn ready_true(v: &Value) -> bool {
    condition(&v["status"], "Ready").is_some_and(|c| c.0 == "True")
}

/// Sets `spec.active` and waits until the rule is Ready again on a new Meshes rule; returns it.
async fn toggle_active(w: &World, active: bool, old: &str) -> String {
    w.dynamic("MeshesRule")
        .patch(
            RULE,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"active": active}})),
        )
        .await
        .unwrap();
    let r = eventually(
        "the rule replaced and Ready",
        SOON,
        || rule_of(w),
        |r| {
            ready_true(r)
                && r["status"]["ruleId"].as_str().is_some_and(|id| id != old)
                && r["status"]["observedGeneration"] == r["metadata"]["generation"]
        },
    )
    .await;
    r["status"]["ruleId"].as_str().unwrap().to_string()
}

async fn toggling_a_rule_keeps_exactly_one_rule_in_service(mode: RuleDedup) {
    let config = EmulatorConfig {
        rule_dedup: mode,
        ..Default::default()
    };
    let mut w = World::with_emulator("toggle", config).await;
    w.start_operator(World::fast_config()).await;
    apply_quickstart(&w).await;
    let first = w.wait_ready_kind("MeshesRule", RULE).await["status"]["ruleId"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = w.emu.admin();
    let off = toggle_active(&w, false, &first).await;
    let ours = |id: &str| admin.rules().into_iter().find(|r| r["id"] == id);
    assert!(ours(&first).is_none(), "{mode:?}: the old rule was deleted");
    assert_eq!(ours(&off).unwrap()["active"], false, "{mode:?}");
    assert_eq!(
        admin.rules().len(),
        2,
        "{mode:?}: the quickstart's two rules, no duplicate"
    );
    let on = toggle_active(&w, true, &off).await;
    assert_eq!(ours(&on).unwrap()["active"], true, "{mode:?}");
    assert!(ours(&off).is_none(), "{mode:?}");
    assert_eq!(admin.rules().len(), 2, "{mode:?}");
    let events = w.events().await;
    // Both replaces are one Event series (the recorder aggregates by reason).
    assert!(
        events.iter().any(|e| e.starts_with("Replaced")),
        "{mode:?}: {events:?}"
    );
    assert!(
        !events.iter().any(|e| e.starts_with("NameConflict")),
        "{events:?}"
    );
}

/// Meshes refuses an identical rule whatever `active` and `hidden` say (the emulator default):
/// c9d9682 stalled with NameConflict and later deleted the rule in service.
#[tokio::test]
async fn toggling_active_works_when_meshes_refuses_identical_tuples() {
    toggling_a_rule_keeps_exactly_one_rule_in_service(RuleDedup::Tuple).await;
}

/// Meshes refuses only fully identical rules.
#[tokio::test]
async fn toggling_active_works_when_meshes_refuses_only_exact_duplicates() {
    toggling_a_rule_keeps_exactly_one_rule_in_service(RuleDedup::Exact).await;
}

/// Meshes allows identical rules.
#[tokio::test]
async fn toggling_active_works_when_meshes_allows_duplicates() {
    toggling_a_rule_keeps_exactly_one_rule_in_service(RuleDedup::None).await;
}

/// A workspace snapshot taken before a connection existed is no proof it was deleted: a forced
/// check right after the create must neither warn nor create again.
#[tokio::test]
async fn a_forced_check_of_a_new_connection_does_not_recreate_it() {
    let mut w = World::new("forced").await;
    w.start_operator(World::fast_config()).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "forced-ws"},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.wait_ready_kind("MeshesWorkspace", "forced-ws").await;
    let admin = w.emu.admin();
    let lists = || admin.request_count("GET", "/api/v1/workspaces/{workspace_id}/connections");
    // A resync tick of the workspace: its snapshot now predates the connection.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "forced-ws",
        "annotations": {"meshes.io/reconcile-requested-at": "1"}}, "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    eventually(
        "the workspace snapshot",
        SOON,
        || async { Some(lists()) },
        |n| *n >= 1,
    )
    .await;
    let hook = json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "hook"},
        "spec": {"workspaceRef": {"name": "forced-ws"}, "type": "webhook", "metadata": {"url": "https://hooks.example/a"}}});
    w.apply(hook.clone()).await;
    let id = w.wait_ready_kind("MeshesConnection", "hook").await["status"]["connectionId"].clone();
    let before = lists();
    let mut forced = hook;
    forced["metadata"]["annotations"] = json!({"meshes.io/reconcile-requested-at": "now"});
    w.apply(forced).await;
    // Positive control: the forced check really looked upstream (a fresh list).
    eventually(
        "the forced check's list",
        SOON,
        || async { Some(lists()) },
        |n| *n > before,
    )
    .await;
    let c = w.wait_ready_kind("MeshesConnection", "hook").await;
    assert_eq!(c["status"]["connectionId"], id);
    assert_eq!(admin.request_count("POST", "/api/v1/connections"), 1);
    let events = w.events().await;
    assert!(
        !events.iter().any(|e| e.starts_with("UpstreamDeleted")),
        "{events:?}"
    );
}

/// A workspace the operator created, deleted upstream: created again, and its connection and
/// rules follow it (c9d9682 stalled every child: "a connection cannot move between workspaces").
#[tokio::test]
async fn a_created_workspace_deleted_upstream_comes_back_with_its_children() {
    let mut w = World::new("wsgone").await;
    w.start_operator(World::fast_config()).await;
    apply_quickstart(&w).await;
    for r in [RULE, "payment-failed-to-hook"] {
        w.wait_ready_kind("MeshesRule", r).await;
    }
    let ws = w.wait_ready_kind("MeshesWorkspace", "acme-prod").await;
    let old = ws["status"]["workspaceId"].as_str().unwrap().to_string();
    let admin = w.emu.admin();
    assert!(admin.delete_workspace(&old));
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "acme-prod",
        "annotations": {"meshes.io/reconcile-requested-at": "after-delete"}},
        "spec": {"description": "Production tenant", "credentialsRef": {"name": "meshes-credentials"}}})).await;
    let ws = eventually(
        "a new workspace",
        SOON,
        || w.get_json("MeshesWorkspace", "acme-prod"),
        |v| {
            ready_true(v)
                && v["status"]["workspaceId"]
                    .as_str()
                    .is_some_and(|id| id != old)
        },
    )
    .await;
    let new = ws["status"]["workspaceId"].clone();
    let conn = eventually(
        "the connection in the new workspace",
        SOON,
        || w.get_json("MeshesConnection", "signup-hook"),
        |v| ready_true(v) && v["status"]["workspaceId"] == new,
    )
    .await;
    for r in [RULE, "payment-failed-to-hook"] {
        eventually(
            "the rule on the new connection",
            SOON,
            || w.get_json("MeshesRule", r),
            |v| ready_true(v) && v["status"]["connectionId"] == conn["status"]["connectionId"],
        )
        .await;
    }
    assert_eq!(admin.workspaces().len(), 1);
    assert_eq!(admin.connections().len(), 1);
    assert_eq!(admin.rules().len(), 2);
    let events = w.events().await;
    assert!(
        events.iter().any(|e| e.starts_with("UpstreamDeleted")),
        "{events:?}"
    );
}

/// An adopted workspace deleted upstream is reported (Stalled, Drifted/UpstreamDeleted), never
/// replaced by a new one (c9d9682 silently created a new workspace).
#[tokio::test]
async fn an_adopted_workspace_deleted_upstream_is_reported_not_recreated() {
    let mut w = World::new("adoptgone").await;
    let dash = w.dashboard_workspace("dash-ws").await;
    w.start_operator(World::fast_config()).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "adopted"},
        "spec": {"adopt": {"id": dash.id}, "credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.wait_ready_kind("MeshesWorkspace", "adopted").await;
    let admin = w.emu.admin();
    assert!(admin.delete_workspace(&dash.id));
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "adopted",
        "annotations": {"meshes.io/reconcile-requested-at": "after-delete"}},
        "spec": {"adopt": {"id": dash.id}, "credentialsRef": {"name": "meshes-credentials"}}})).await;
    let v = eventually(
        "reported as deleted upstream",
        SOON,
        || w.get_json("MeshesWorkspace", "adopted"),
        |v| condition(&v["status"], "Drifted").is_some_and(|c| c.1 == "UpstreamDeleted"),
    )
    .await;
    assert_eq!(
        condition(&v["status"], "Stalled").map(|c| c.0),
        Some("True".to_string())
    );
    assert_eq!(
        admin.request_count("POST", "/api/v1/workspaces"),
        1,
        "only the dashboard's"
    );
    assert!(admin.workspaces().is_empty());
}

/// The status write made before a Meshes call (a pending create) carries the resourceVersion the
/// pass acted on: a version changed meanwhile (another writer) is refused with 409, never
/// overwritten.
#[tokio::test]
async fn a_status_write_before_a_meshes_call_refuses_a_changed_object() {
    use std::sync::Arc;

    use kube::api::{Api, Patch, PatchParams};
    use meshes_operator::api::MeshesClient;
    use meshes_operator::controllers::context::{Context, Stores, Triggers};
    use meshes_operator::controllers::lifecycle::host::{Host, KubeHost};
    use meshes_operator::resources::{MeshesRule, MeshesRuleStatus, PendingCreate};

    let w = World::new("precond").await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "r"},
        "spec": {"connectionRef": {"name": "hook"}, "event": "a.b", "metadata": {"action": "send_webhook"}}})).await;
    let rules: Api<MeshesRule> = Api::namespaced(w.client.clone(), &w.ns);
    let stale = rules.get("r").await.unwrap();
    rules
        .patch(
            "r",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
        )
        .await
        .unwrap();
    let api = Arc::new(MeshesClient::new(w.client_config()).unwrap());
    let ctx = Context::new(
        w.client.clone(),
        api,
        World::fast_config(),
        Stores::default(),
        Default::default(),
        Triggers::default(),
    );
    let status = MeshesRuleStatus {
        pending_create: Some(PendingCreate {
            identity: "rule:{}".into(),
            started_at: meshes_operator::controllers::step::now(),
        }),
        ..Default::default()
    };
    let refused = Host::<MeshesRule>::persist(&KubeHost::new(&ctx), &stale, &status).await;
    match refused {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 409, "{e:?}"),
        other => panic!("a stale version was written: {other:?}"),
    }
    assert!(
        rules
            .get("r")
            .await
            .unwrap()
            .status
            .is_none_or(|s| s.pending_create.is_none())
    );
    // Positive control: the current version is written.
    let fresh = rules.get("r").await.unwrap();
    Host::<MeshesRule>::persist(&KubeHost::new(&ctx), &fresh, &status)
        .await
        .unwrap();
    let written = rules.get("r").await.unwrap();
    assert!(written.status.unwrap().pending_create.is_some());
}
