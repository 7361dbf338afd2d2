//! GitOps health (issue 15, docs/gitops.md): the three kinds brought on the real apiserver into
//! every state the operator produces, then judged as GitOps tools judge them: Argo CD's health
//! check (the chart's `files/argocd-health.lua` run in gopher-lua, as Argo CD runs it) and
//! kstatus (what Flux's health checks and kpt use), both through `gitopscheck`. Each live object
//! is also compared with its committed fixture (`tests/fixtures/gitops/<state>-<kind>.json`;
//! `MESHES_UPDATE_FIXTURES=1` rewrites them), so a change in what the operator writes shows up
//! as a fixture diff to review.

use std::time::Duration;

use meshes_emulator::{FaultAction, FaultSpec, Trigger};
use serde_json::{Value, json};

use crate::gitops_support::{check_fixture, gitopscheck, health_script, normalise};
use crate::support::{SOON, World, condition, eventually};

const WEBHOOK: &str = "https://hooks.example.test/meshes";

/// One state: the workspace, connection and rule in it, and what each tool must say.
struct Case {
    state: &'static str,
    argo: &'static str,
    kstatus: &'static str,
    ns: String,
    objects: Vec<Value>,
}

/// A state's objects with the verdicts both tools must give.
fn case(
    state: &'static str,
    argo: &'static str,
    kstatus: &'static str,
    w: &World,
    objects: Vec<Value>,
) -> Case {
    let ns = w.ns.clone();
    Case {
        state,
        argo,
        kstatus,
        ns,
        objects,
    }
}

/// Waits until `kind/name` satisfies `pred` and its status has settled (unchanged for a
/// second, so the capture is the state, not a write on the way to it); returns it.
async fn wait(
    w: &World,
    kind: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let what = format!("{kind}/{name} {what}");
    let mut seen = eventually(&what, SOON, || w.get_json(kind, name), &pred).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = eventually(&what, SOON, || w.get_json(kind, name), &pred).await;
        if now["status"] == seen["status"] {
            return now;
        }
        seen = now;
    }
}

fn cond_is(o: &Value, type_: &str, status: &str, reason: &str) -> bool {
    condition(&o["status"], type_).is_some_and(|(s, r, _, _)| s == status && r == reason)
}

fn ready_now(o: &Value) -> bool {
    condition(&o["status"], "Ready")
        .is_some_and(|(s, _, _, g)| s == "True" && g == o["metadata"]["generation"].as_i64())
}

const TRIO: [(&str, &str); 3] = [
    ("MeshesWorkspace", "shop"),
    ("MeshesConnection", "shop-hook"),
    ("MeshesRule", "shop-order-paid"),
];

/// Ready, then paused by the annotation.
async fn ready_and_paused() -> Vec<Case> {
    let mut w = World::new("gitops-ready").await;
    w.start_operator(World::fast_config()).await;
    w.tenant("shop", WEBHOOK, &["order.paid"]).await;
    let mut ready = Vec::new();
    for (kind, name) in TRIO {
        ready.push(wait(&w, kind, name, "Ready", ready_now).await);
    }
    let mut paused = Vec::new();
    for (kind, name) in TRIO {
        w.patch_kind(
            kind,
            name,
            json!({"metadata": {"annotations": {"meshes.io/paused": "true"}}}),
        )
        .await;
    }
    for (kind, name) in TRIO {
        paused.push(
            wait(&w, kind, name, "Paused", |o| {
                cond_is(o, "Ready", "False", "Paused")
            })
            .await,
        );
    }
    vec![
        case("ready", "Healthy", "Current", &w, ready),
        case("paused", "Suspended", "InProgress", &w, paused),
    ]
}

/// Ready objects during a Meshes outage (every call answered 503): Synced False, Ready True.
async fn outage() -> Vec<Case> {
    let mut w = World::new("gitops-outage").await;
    w.start_operator(World::fast_config()).await;
    w.tenant("shop", WEBHOOK, &["order.paid"]).await;
    let down = w.emu.admin().add_fault(FaultSpec {
        method: None,
        route: "*".into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Probability(1.0),
    });
    for (kind, name) in TRIO {
        w.patch_kind(
            kind,
            name,
            json!({"metadata": {"annotations": {"meshes.io/reconcile-requested-at": "outage"}}}),
        )
        .await;
    }
    let mut objects = Vec::new();
    for (kind, name) in TRIO {
        objects.push(
            wait(&w, kind, name, "Synced False", |o| {
                cond_is(o, "Synced", "False", "ReconcileError")
            })
            .await,
        );
    }
    assert!(w.emu.admin().fault_hits(down) > 0, "the outage fired");
    for o in &objects {
        assert!(ready_now(o), "Ready stays True through an outage: {o:#}");
    }
    vec![case("outage", "Healthy", "Current", &w, objects)]
}

/// Deleted while Meshes refuses every DELETE: the finalizer holds each object in `Deleting`.
async fn deleting() -> Vec<Case> {
    let mut w = World::new("gitops-deleting").await;
    w.start_operator(World::fast_config()).await;
    w.tenant("shop", WEBHOOK, &["order.paid"]).await;
    let refused = w.emu.admin().add_fault(FaultSpec {
        method: Some("DELETE".into()),
        route: "*".into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Probability(1.0),
    });
    for (kind, name) in TRIO.iter().rev() {
        w.delete(kind, name).await;
    }
    let mut objects = Vec::new();
    for (kind, name) in TRIO {
        objects.push(
            wait(&w, kind, name, "Deleting", |o| {
                o["metadata"]["deletionTimestamp"].is_string()
                    && cond_is(o, "Ready", "False", "Deleting")
            })
            .await,
        );
    }
    eventually(
        "the rule's DELETE refused",
        SOON,
        || async { Some(w.emu.admin().fault_hits(refused)) },
        |n| *n > 0,
    )
    .await;
    vec![case("deleting", "Progressing", "Terminating", &w, objects)]
}

/// A create in flight (Meshes slow to answer the workspace POST): the workspace `Creating`, its
/// connection and rule waiting for it; all `Reconciling`.
async fn reconciling() -> Vec<Case> {
    let mut w = World::new("gitops-reconciling").await;
    let slow = w.emu.admin().add_fault(FaultSpec {
        method: Some("POST".into()),
        route: "/api/v1/workspaces".into(),
        action: FaultAction::Latency {
            delay: Duration::from_secs(15),
            after_commit: false,
        },
        trigger: Trigger::Next(1),
    });
    w.start_operator(World::fast_config()).await;
    apply_trio(&w, "shop", WEBHOOK, "send_webhook").await;
    let mut objects = Vec::new();
    for (kind, name) in TRIO {
        let reason = if kind == "MeshesWorkspace" {
            "Creating"
        } else {
            "WaitingForDependency"
        };
        objects.push(
            wait(&w, kind, name, reason, |o| {
                cond_is(o, "Reconciling", "True", reason) && cond_is(o, "Ready", "False", reason)
            })
            .await,
        );
    }
    assert_eq!(
        w.emu.admin().fault_hits(slow),
        1,
        "the create is the slow one"
    );
    vec![case(
        "reconciling",
        "Progressing",
        "InProgress",
        &w,
        objects,
    )]
}

/// Stalls a human must fix: a workspace whose credentials Secret never appears, a connection
/// Meshes refuses (plain-http webhook), a rule with an action its integration lacks.
async fn stalled() -> Vec<Case> {
    let mut w = World::new("gitops-stalled").await;
    w.start_operator(World::fast_config()).await;
    w.tenant("good", WEBHOOK, &[]).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": "shop"},
        "spec": {"credentialsRef": {"name": "never-created"}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "shop-hook"},
        "spec": {"workspaceRef": {"name": "good"}, "type": "webhook", "metadata": {"url": "http://hooks.example.test/meshes"}}})).await;
    w.wait_ready_kind("MeshesConnection", "good-hook").await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "shop-order-paid"},
        "spec": {"connectionRef": {"name": "good-hook"}, "event": "order.paid", "metadata": {"action": "add_to_list"}}})).await;
    let mut objects = Vec::new();
    for ((kind, name), reason) in
        TRIO.into_iter()
            .zip(["InvalidCredentials", "Rejected", "InvalidSpec"])
    {
        objects.push(
            wait(&w, kind, name, reason, |o| {
                cond_is(o, "Stalled", "True", reason)
            })
            .await,
        );
    }
    vec![case("stalled", "Degraded", "Failed", &w, objects)]
}

/// Just applied, before any status write (no operator runs here): Argo CD waits for the
/// operator; kstatus reads an object without status as current (docs/gitops.md says so).
async fn created() -> Vec<Case> {
    let w = World::new("gitops-created").await;
    apply_trio(&w, "shop", WEBHOOK, "send_webhook").await;
    let mut objects = Vec::new();
    for (kind, name) in TRIO {
        objects.push(w.get_json(kind, name).await.unwrap());
    }
    vec![case("created", "Progressing", "Current", &w, objects)]
}

/// Applies a workspace, a webhook connection and one rule in one go, without waiting.
async fn apply_trio(w: &World, ws: &str, url: &str, action: &str) {
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": ws},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": format!("{ws}-hook")},
        "spec": {"workspaceRef": {"name": ws}, "type": "webhook", "metadata": {"url": url}}})).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": format!("{ws}-order-paid")},
        "spec": {"connectionRef": {"name": format!("{ws}-hook")}, "event": "order.paid", "metadata": {"action": action}}})).await;
}

/// Every state at once (each in its own namespace and emulator), then both tools over all of
/// them in one call each, then the fixtures. Failures are collected and reported together.
#[tokio::test]
async fn every_state_is_judged_by_argo_cd_health_and_kstatus_and_matches_its_fixture() {
    let started = std::time::Instant::now();
    let (a, b, c, d, e, f) = tokio::join!(
        created(),
        ready_and_paused(),
        outage(),
        deleting(),
        reconciling(),
        stalled()
    );
    let cases: Vec<Case> = [a, b, c, d, e, f].into_iter().flatten().collect();
    eprintln!("states reached in {:?}", started.elapsed());
    let objects: Vec<Value> = cases.iter().flat_map(|c| c.objects.clone()).collect();
    let script = health_script();
    let argo = gitopscheck(&["argo-health", script.to_str().unwrap()], &objects).await;
    let kstatus = gitopscheck(&["kstatus"], &objects).await;

    let mut failures = Vec::new();
    let mut verdicts = argo.iter().zip(&kstatus);
    for case in &cases {
        for obj in &case.objects {
            let (a, k) = verdicts.next().unwrap();
            let kind = obj["kind"].as_str().unwrap();
            assert_eq!(
                (a.kind.as_str(), &a.name),
                (kind, &obj["metadata"]["name"].as_str().unwrap().to_string())
            );
            if a.status != case.argo {
                failures.push(format!(
                    "{}: Argo CD health of {kind} is {} ({:?}), expected {}",
                    case.state, a.status, a.message, case.argo
                ));
            }
            if k.status != case.kstatus {
                failures.push(format!(
                    "{}: kstatus of {kind} is {} ({:?}), expected {}",
                    case.state, k.status, k.message, case.kstatus
                ));
            }
            let short = kind.trim_start_matches("Meshes").to_ascii_lowercase();
            if let Some(diff) = check_fixture(
                &format!("{}-{short}", case.state),
                &normalise(obj, &case.ns),
            ) {
                failures.push(diff);
            }
        }
    }
    eprintln!(
        "judged {} live objects in {:?}",
        objects.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
