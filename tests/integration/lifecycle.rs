//! Lifecycles that span kinds (issue 8): rule replace under load, bulk drift per workspace,
//! the deletion-order matrix, invalid references.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use meshes_emulator::{DeliveryConfig, EmulatorConfig, FaultAction, FaultSpec, Trigger};
use meshes_operator::controllers::config::OperatorConfig;
use serde_json::json;

use crate::support::{SOON, World, condition, eventually};

#[tokio::test]
async fn a_rule_replace_under_load_delivers_every_event_at_least_once() {
    let config = EmulatorConfig {
        allow_insecure_loopback_webhooks: true,
        delivery: DeliveryConfig::fast(),
        ..Default::default()
    };
    let mut w = World::with_emulator("replace", config).await;
    w.start_operator(World::fast_config()).await;
    let (url, hits) = crate::support::hook_receiver().await;
    w.tenant("shop", &url, &["order.paid"]).await;
    let before = w.get_json("MeshesRule", "shop-order-paid").await.unwrap();
    let old_id = before["status"]["ruleId"].as_str().unwrap().to_string();
    let ws_id = w.get_json("MeshesWorkspace", "shop").await.unwrap()["status"]["workspaceId"]
        .as_str()
        .unwrap()
        .to_string();
    let key = w.emu.admin().publishable_key(&ws_id).unwrap();
    // The old rule's DELETE is slow: both rules exist for a while.
    let slow_delete = w.emu.admin().add_fault(FaultSpec {
        method: Some("DELETE".into()),
        route: "/api/v1/rules/{rule_id}".into(),
        action: FaultAction::Latency {
            delay: Duration::from_secs(3),
            after_commit: false,
        },
        trigger: Trigger::Next(1),
    });

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let events_url = w.emu.events_url();
    let streamer = {
        let (stop, sent) = (stop.clone(), sent.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let n = sent.load(Ordering::Relaxed);
                let r = http
                    .post(format!("{events_url}/events"))
                    .header("X-Meshes-Publishable-Key", &key)
                    .json(&json!({"event": "order.paid", "payload": {"n": n}}))
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(r.status(), 201, "ingestion refused");
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "shop-order-paid"},
        "spec": {"connectionRef": {"name": "shop-hook"}, "event": "order.paid", "metadata": {"action": "send_webhook", "template": "v2"}}})).await;
    let after = eventually(
        "replaced",
        SOON,
        || w.get_json("MeshesRule", "shop-order-paid"),
        |r| {
            r["status"]["ruleId"]
                .as_str()
                .is_some_and(|id| id != old_id)
                && r["status"]["previousRuleId"].is_null()
                && condition(&r["status"], "Ready").is_some_and(|(s, _, _, g)| {
                    s == "True" && g == r["metadata"]["generation"].as_i64()
                })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    streamer.await.unwrap();
    assert_eq!(
        w.emu.admin().fault_hits(slow_delete),
        1,
        "the slow DELETE happened"
    );

    // Every event delivered at least once.
    let total = sent.load(Ordering::Relaxed);
    let admin = w.emu.admin();
    let deliveries = eventually(
        "deliveries settle",
        SOON,
        || async { Some(admin.deliveries()) },
        |d| {
            let ok: std::collections::HashSet<_> =
                d.iter().filter(|x| x.success).map(|x| x.event_id).collect();
            ok.len() as u64 >= total
        },
    )
    .await;
    let mut per_event = std::collections::HashMap::new();
    for d in deliveries.iter().filter(|d| d.success) {
        *per_event.entry(d.event_id).or_insert(0u32) += 1;
    }
    let duplicates = per_event.values().filter(|n| **n > 1).count();
    eprintln!(
        "[figure] replace under load: {total} events, {} delivered, {duplicates} delivered twice",
        per_event.len()
    );
    assert_eq!(
        per_event.len() as u64,
        total,
        "every event delivered at least once"
    );
    assert!(hits.load(Ordering::Relaxed) >= total);
    let rules = admin.rules();
    assert_eq!(rules.len(), 1, "exactly one rule upstream: {rules:#?}");
    assert_eq!(rules[0]["id"], after["status"]["ruleId"]);
    assert_eq!(rules[0]["metadata"]["template"], "v2");
    assert!(w.events().await.iter().any(|e| e.starts_with("Replaced:")));
}

#[tokio::test]
async fn each_resync_lists_rules_once_per_workspace_and_recreates_a_deleted_rule() {
    let mut w = World::new("bulk").await;
    w.start_operator(World::fast_config()).await;
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "bulk", "annotations": {"meshes.io/resync-interval": "2s"}},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
    )
    .await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "hook"},
        "spec": {"workspaceRef": {"name": "bulk"}, "type": "webhook", "metadata": {"url": "https://hooks.example/bulk"}}})).await;
    for batch in 0..5 {
        for i in 0..10 {
            let n = batch * 10 + i;
            w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": format!("r{n}")},
                "spec": {"connectionRef": {"name": "hook"}, "event": format!("event.{n}"), "metadata": {"action": "send_webhook"}}})).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await; // created over time
    }
    for n in 0..50 {
        w.wait_ready_kind("MeshesRule", &format!("r{n}")).await;
    }
    let admin = w.emu.admin();
    let ws_gets = || admin.request_count("GET", "/api/v1/workspaces/{workspace_id}");
    let rule_lists = || admin.request_count("GET", "/api/v1/workspaces/{workspace_id}/rules");
    let rule_gets = || admin.request_count("GET", "/api/v1/rules/{rule_id}");
    let (g0, l0, r0) = (ws_gets(), rule_lists(), rule_gets());
    eventually(
        "three resync ticks",
        SOON,
        || async { Some(ws_gets()) },
        |g| *g >= g0 + 3,
    )
    .await;
    let (g1, l1) = (ws_gets(), rule_lists());
    let (ticks, lists) = (g1 - g0, l1 - l0);
    eprintln!(
        "[figure] 50 rules: {ticks} resync ticks cost {lists} rules lists and {} rule GETs",
        rule_gets() - r0
    );
    assert!(
        lists.abs_diff(ticks) <= 1,
        "one rules list per tick: {ticks} ticks, {lists} lists"
    );
    assert_eq!(rule_gets(), r0, "no per-rule GETs");

    let victim = w.get_json("MeshesRule", "r17").await.unwrap()["status"]["ruleId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(admin.delete_rule(&victim));
    let back = eventually(
        "r17 recreated",
        SOON,
        || w.get_json("MeshesRule", "r17"),
        |r| {
            r["status"]["ruleId"]
                .as_str()
                .is_some_and(|id| id != victim)
        },
    )
    .await;
    assert_eq!(admin.rules().len(), 50);
    assert!(
        admin
            .rules()
            .iter()
            .any(|r| r["id"] == back["status"]["ruleId"])
    );
}

/// One deletion order: the objects to delete, in order (`*` = all at once).
async fn deletion_case(name: &str, order: &[&str]) {
    let mut w = World::new(&format!("del-{name}")).await;
    w.start_operator(OperatorConfig {
        deletion_release_timeout: Duration::from_secs(8),
        ..World::fast_config()
    })
    .await;
    w.tenant("tenant", "https://hooks.example/t", &["a.b", "c.d"])
        .await;
    let ws_id = w.get_json("MeshesWorkspace", "tenant").await.unwrap()["status"]["workspaceId"]
        .as_str()
        .unwrap()
        .to_string();
    let conn_id =
        w.get_json("MeshesConnection", "tenant-hook").await.unwrap()["status"]["connectionId"]
            .as_str()
            .unwrap()
            .to_string();
    let objects = [
        ("MeshesWorkspace", "tenant"),
        ("MeshesConnection", "tenant-hook"),
        ("MeshesRule", "tenant-a-b"),
        ("MeshesRule", "tenant-c-d"),
        ("Secret", "meshes-credentials"),
    ];
    let started = std::time::Instant::now();
    if order == ["namespace"] {
        // The real namespace controller (kube-controller-manager in testenv) empties it.
        let ns_api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(w.client.clone());
        ns_api.delete(&w.ns, &Default::default()).await.unwrap();
        eventually(
            &format!("namespace {} gone", w.ns),
            SOON,
            || async { Some(ns_api.get_opt(&w.ns).await.ok().flatten().is_none()) },
            |gone| *gone,
        )
        .await;
    } else if order == ["*"] {
        for (kind, n) in objects {
            w.delete(kind, n).await;
        }
    } else {
        for first in order {
            for (kind, n) in objects.iter().filter(|(k, _)| k == first) {
                w.delete(kind, n).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for (kind, n) in objects {
            w.delete(kind, n).await;
        }
    }
    for (kind, n) in objects {
        w.wait_gone(kind, n).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{name}: took {:?}",
        started.elapsed()
    );
    let admin = w.emu.admin();
    if std::env::var("DEBUG_DELETION").is_ok() {
        eprintln!(
            "DEBUG {name} events {:#?}\ncounters {:#?}",
            w.events().await,
            admin.counters()
        );
    }
    assert!(
        admin.workspaces().iter().any(|x| x["id"] == ws_id.as_str()),
        "{name}: workspace released, not deleted"
    );
    assert!(
        admin.connections().is_empty(),
        "{name}: connection {conn_id} deleted per policy"
    );
    assert!(admin.rules().is_empty(), "{name}: rules deleted per policy");
}

#[tokio::test]
async fn deleting_the_workspace_first_cleans_up() {
    deletion_case("workspace-first", &["MeshesWorkspace"]).await;
}

#[tokio::test]
async fn deleting_the_connection_first_cleans_up() {
    deletion_case("connection-first", &["MeshesConnection"]).await;
}

#[tokio::test]
async fn deleting_the_rules_first_cleans_up() {
    deletion_case("rules-first", &["MeshesRule"]).await;
}

#[tokio::test]
async fn deleting_the_credentials_first_cleans_up() {
    deletion_case("secret-first", &["Secret"]).await;
}

#[tokio::test]
async fn deleting_everything_at_once_cleans_up() {
    deletion_case("all", &["*"]).await;
}

#[tokio::test]
async fn deleting_the_namespace_cleans_up() {
    deletion_case("namespace", &["namespace"]).await;
}

#[tokio::test]
async fn a_connection_with_unmanaged_rules_is_released_with_a_warning_naming_them() {
    let mut w = World::new("orphans").await;
    w.start_operator(OperatorConfig {
        deletion_release_timeout: Duration::from_secs(5),
        ..World::fast_config()
    })
    .await;
    w.tenant("tenant", "https://hooks.example/t", &[]).await;
    let conn = w.wait_ready_kind("MeshesConnection", "tenant-hook").await;
    let conn_id = conn["status"]["connectionId"].as_str().unwrap().to_string();
    let ws_id = conn["status"]["workspaceId"].as_str().unwrap().to_string();
    // A rule made in the dashboard, unknown to the cluster.
    let foreign = w.dashboard_rule(&ws_id, &conn_id, "x.y").await;
    w.delete("MeshesConnection", "tenant-hook").await;
    // While it waits, the object says why.
    let waiting = w
        .wait_reason_kind("MeshesConnection", "tenant-hook", "Deleting")
        .await;
    let (_, _, msg, _) = condition(&waiting["status"], "Ready").unwrap();
    assert!(msg.contains("rules remain"), "{msg}");
    w.wait_gone("MeshesConnection", "tenant-hook").await;
    let events = w.events().await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Orphaned:") && e.contains(&foreign.id)),
        "{events:#?}"
    );
    // Never force-deleted: the foreign rule and the connection are still there.
    assert_eq!(w.emu.admin().rules().len(), 1);
    assert_eq!(w.emu.admin().connections().len(), 1);
}

#[tokio::test]
async fn invalid_references_are_refused_or_stall_with_a_clear_reason() {
    let mut w = World::new("refs").await;
    w.start_operator(World::fast_config()).await;
    let conns = w.dynamic("MeshesConnection");
    let strict = PatchParams::apply("test").force().validation_strict();
    let both = json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "both"},
        "spec": {"workspaceRef": {"name": "x"}, "workspaceId": "5f0c8a36-8a8e-4c57-9d55-3d4f2b7c1e21", "type": "webhook", "credentialsRef": {"name": "c"}}});
    let err = conns
        .patch("both", &strict, &Patch::Apply(&both))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one"), "{err}");
    let raw = json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "raw"},
        "spec": {"workspaceId": "5f0c8a36-8a8e-4c57-9d55-3d4f2b7c1e21", "type": "webhook"}});
    let err = conns
        .patch("raw", &strict, &Patch::Apply(&raw))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("credentialsRef"), "{err}");
    let other_ns = json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "elsewhere"},
        "spec": {"workspaceRef": {"name": "x", "namespace": "other"}, "type": "webhook"}});
    let err = conns
        .patch("elsewhere", &strict, &Patch::Apply(&other_ns))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("namespace"), "{err}");
    // Unknown workspace: accepted, waits with a message naming it.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "orphan"},
        "spec": {"workspaceRef": {"name": "no-such-workspace"}, "type": "webhook", "metadata": {"url": "https://x.example"}}})).await;
    let o = w
        .wait_reason_kind("MeshesConnection", "orphan", "WaitingForDependency")
        .await;
    let (_, _, msg, _) = condition(&o["status"], "Ready").unwrap();
    assert!(
        msg.contains("no-such-workspace") && msg.contains("not found"),
        "{msg}"
    );
}

/// Disaster recovery: a cluster rebuilt from Git finds its objects already in Meshes. With the
/// opt-in annotation each CR binds the existing object by identity instead of stalling.
#[tokio::test]
async fn rebind_by_identity_binds_existing_objects_after_a_rebuild() {
    let mut w = World::new("dr").await;
    let ws = w.dashboard_workspace("dr-tenant").await;
    let conn = w
        .dashboard_webhook(&ws.id, "dr-tenant-hook", "https://hooks.example/t")
        .await;
    let rule = w.dashboard_rule(&ws.id, &conn.id, "a.b").await;
    w.start_operator(World::fast_config()).await;
    let rebind = json!({"meshes.io/rebind-by-identity": "true"});
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "dr-tenant", "annotations": rebind},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "dr-tenant-hook", "annotations": rebind},
        "spec": {"workspaceRef": {"name": "dr-tenant"}, "type": "webhook", "metadata": {"url": "https://hooks.example/t"}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "dr-rule", "annotations": rebind},
        "spec": {"connectionRef": {"name": "dr-tenant-hook"}, "event": "a.b", "metadata": {"action": "send_webhook"}}})).await;
    let r = w.wait_ready_kind("MeshesRule", "dr-rule").await;
    assert_eq!(r["status"]["ruleId"], rule.id.as_str());
    assert_eq!(
        w.get_json("MeshesConnection", "dr-tenant-hook")
            .await
            .unwrap()["status"]["connectionId"],
        conn.id.as_str()
    );
    assert_eq!(
        w.get_json("MeshesWorkspace", "dr-tenant").await.unwrap()["status"]["workspaceId"],
        ws.id.as_str()
    );
    let admin = w.emu.admin();
    assert_eq!(
        (
            admin.workspaces().len(),
            admin.connections().len(),
            admin.rules().len()
        ),
        (1, 1, 1),
        "nothing duplicated"
    );
    assert_eq!(
        admin.request_count("POST", "/api/v1/rules"),
        1,
        "only the setup's rule create"
    );
    // Positive control: without the opt-in, the same situation is a NameConflict.
    w.dashboard_workspace("dr-other").await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "dr-other"},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.wait_reason_kind("MeshesWorkspace", "dr-other", "NameConflict")
        .await;
}

/// `forceDeleteRules: true` asks Meshes to delete the connection with its rules, managed or not.
#[tokio::test]
async fn force_delete_rules_removes_the_connection_with_unmanaged_rules() {
    let mut w = World::new("force").await;
    w.start_operator(OperatorConfig {
        deletion_release_timeout: Duration::from_secs(30),
        ..World::fast_config()
    })
    .await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "force-ws"},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "forced"},
        "spec": {"workspaceRef": {"name": "force-ws"}, "type": "webhook", "metadata": {"url": "https://hooks.example/f"}, "forceDeleteRules": true}})).await;
    let conn = w.wait_ready_kind("MeshesConnection", "forced").await;
    w.dashboard_rule(
        conn["status"]["workspaceId"].as_str().unwrap(),
        conn["status"]["connectionId"].as_str().unwrap(),
        "x.y",
    )
    .await;
    let started = std::time::Instant::now();
    w.delete("MeshesConnection", "forced").await;
    w.wait_gone("MeshesConnection", "forced").await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no wait for the release timeout"
    );
    assert!(w.emu.admin().connections().is_empty() && w.emu.admin().rules().is_empty());
}
