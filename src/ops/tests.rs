//! Unit tests of the registry: every series the operations docs name, with the values recorded,
//! and labels that stay within the fixed vocabulary.

use std::time::Duration;

use crate::controllers::cache::Feed;
use kube::runtime::watcher;
use serde_json::json;

use super::health::Health;
use super::metrics::{Metrics, PassResult, reason_label};
use crate::api::{CallObserver, Endpoint, Method, StatusClass, routes};
use crate::controllers::context::Stores;
use crate::resources::{MeshesRule, MeshesWorkspace};

/// The value of the sample `series` (name with labels, exactly as encoded), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn rule(name: &str, ready: Option<(&str, &str)>) -> MeshesRule {
    let conditions = ready
        .map(|(status, reason)| {
            json!([{"type": "Ready", "status": status, "reason": reason, "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"},
                   {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z"}])
        })
        .unwrap_or(json!([]));
    serde_json::from_value(json!({
        "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule",
        "metadata": {"name": name, "namespace": "acme"},
        "spec": {"connectionRef": {"name": "hook"}, "event": "user.signup",
                 "metadata": {"action": "send_webhook"}},
        "status": {"conditions": conditions}
    }))
    .unwrap()
}

#[test]
fn passes_requests_waits_and_events_are_exported_with_their_values() {
    let m = Metrics::new();
    m.pass_started("MeshesRule", "acme", "r1");
    let text = m.encode(None).unwrap();
    assert_eq!(
        sample(
            &text,
            "meshes_operator_reconciles_in_flight{kind=\"MeshesRule\"}"
        ),
        Some(1.0),
        "{text}"
    );
    m.pass_finished(
        "MeshesRule",
        "acme",
        "r1",
        PassResult::Success,
        Duration::from_millis(30),
        false,
    );
    m.pass_started("MeshesRule", "acme", "r1");
    m.pass_finished(
        "MeshesRule",
        "acme",
        "r1",
        PassResult::Error,
        Duration::from_millis(30),
        true,
    );
    let get = Endpoint {
        method: Method::Get,
        route: routes::WORKSPACE,
    };
    m.request_finished(get, StatusClass::Success, Duration::from_millis(12));
    m.request_finished(get, StatusClass::Success, Duration::from_millis(12));
    m.request_finished(get, StatusClass::ServerError, Duration::from_millis(12));
    m.budget_waited("ba7816bf", Duration::from_millis(500));
    m.rate_limited("ba7816bf");
    m.event("MeshesWorkspace", "InvalidSpec", true);
    m.event("MeshesWorkspace", "InvalidSpec", false);
    m.event("MeshesWorkspace", "made-up", false);

    let text = m.encode(None).unwrap();
    for (series, value) in [
        (
            "meshes_operator_reconciles_in_flight{kind=\"MeshesRule\"}",
            0.0,
        ),
        (
            "meshes_operator_reconciles_total{kind=\"MeshesRule\",result=\"success\"}",
            1.0,
        ),
        (
            "meshes_operator_reconciles_total{kind=\"MeshesRule\",result=\"error\"}",
            1.0,
        ),
        (
            "meshes_operator_reconcile_duration_seconds_count{kind=\"MeshesRule\"}",
            2.0,
        ),
        (
            "meshes_api_requests_total{method=\"GET\",route=\"/api/v1/workspaces/{workspace_id}\",status_class=\"2xx\"}",
            2.0,
        ),
        (
            "meshes_api_requests_total{method=\"GET\",route=\"/api/v1/workspaces/{workspace_id}\",status_class=\"5xx\"}",
            1.0,
        ),
        (
            "meshes_api_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/workspaces/{workspace_id}\"}",
            3.0,
        ),
        (
            "meshes_api_budget_waits_total{credential=\"ba7816bf\"}",
            1.0,
        ),
        (
            "meshes_api_budget_wait_seconds_total{credential=\"ba7816bf\"}",
            0.5,
        ),
        (
            "meshes_api_rate_limited_total{credential=\"ba7816bf\"}",
            1.0,
        ),
        (
            "meshes_operator_events_total{kind=\"MeshesWorkspace\",reason=\"InvalidSpec\",result=\"published\"}",
            1.0,
        ),
        (
            "meshes_operator_events_total{kind=\"MeshesWorkspace\",reason=\"InvalidSpec\",result=\"suppressed\"}",
            1.0,
        ),
        (
            "meshes_operator_events_total{kind=\"MeshesWorkspace\",reason=\"Other\",result=\"suppressed\"}",
            1.0,
        ),
        // Without a Health, the leader and cache gauges stay 0.
        ("meshes_operator_leader", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    assert!(
        text.contains("# TYPE meshes_operator_reconcile_duration_seconds histogram"),
        "{text}"
    );
    // The per-object counters (tests only) are not exported.
    assert!(!text.contains("r1"), "{text}");
    assert_eq!(reason_label("NameConflict"), "NameConflict");
    assert_eq!(reason_label("<script>"), "Other");
}

#[test]
fn objects_by_condition_and_requeues_come_from_the_caches_and_health() {
    let m = Metrics::new();
    let (rules, mut writer) = Feed::<MeshesRule>::new();
    let (workspaces, mut ws_writer) = Feed::<MeshesWorkspace>::new();
    for ev in [
        watcher::Event::Init,
        watcher::Event::InitApply(rule("ready", Some(("True", "Available")))),
        watcher::Event::InitApply(rule("stalled", Some(("False", "NameConflict")))),
        watcher::Event::InitApply(rule("odd", Some(("False", "SomethingElse")))),
        watcher::Event::InitApply(rule("new", None)),
        watcher::Event::InitDone,
    ] {
        writer.apply(ev);
    }
    ws_writer.apply(watcher::Event::Init);
    ws_writer.apply(watcher::Event::InitDone);
    m.watch_stores(Stores {
        workspaces: Some(workspaces),
        connections: None,
        rules: Some(rules),
        complete: false,
    });
    // A requeue of an object that is cached, and of one that is gone.
    for name in ["stalled", "deleted"] {
        m.pass_started("MeshesRule", "acme", name);
        m.pass_finished(
            "MeshesRule",
            "acme",
            name,
            PassResult::Success,
            Duration::ZERO,
            true,
        );
    }
    let health = Health::new(false);
    health.set_caches_synced(true);
    let text = m.encode(Some(&health)).unwrap();
    for (series, value) in [
        ("meshes_operator_objects{kind=\"MeshesRule\"}", 4.0),
        ("meshes_operator_objects{kind=\"MeshesWorkspace\"}", 0.0),
        (
            "meshes_operator_object_conditions{kind=\"MeshesRule\",condition=\"Ready\",status=\"True\"}",
            1.0,
        ),
        (
            "meshes_operator_object_conditions{kind=\"MeshesRule\",condition=\"Ready\",status=\"False\"}",
            2.0,
        ),
        (
            "meshes_operator_object_conditions{kind=\"MeshesRule\",condition=\"Ready\",status=\"Unknown\"}",
            1.0,
        ),
        (
            "meshes_operator_object_conditions{kind=\"MeshesRule\",condition=\"Synced\",status=\"True\"}",
            3.0,
        ),
        (
            "meshes_operator_objects_not_ready{kind=\"MeshesRule\",reason=\"NameConflict\"}",
            1.0,
        ),
        (
            "meshes_operator_objects_not_ready{kind=\"MeshesRule\",reason=\"Other\"}",
            1.0,
        ),
        (
            "meshes_operator_objects_not_ready{kind=\"MeshesRule\",reason=\"None\"}",
            1.0,
        ),
        ("meshes_operator_requeues_pending{kind=\"MeshesRule\"}", 1.0),
        ("meshes_operator_leader", 1.0),
        ("meshes_operator_caches_synced", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    // A pass that starts clears the object's pending requeue.
    m.pass_started("MeshesRule", "acme", "stalled");
    let text = m.encode(Some(&health)).unwrap();
    assert_eq!(
        sample(
            &text,
            "meshes_operator_requeues_pending{kind=\"MeshesRule\"}"
        ),
        Some(0.0),
        "{text}"
    );
}
