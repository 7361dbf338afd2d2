//! Costs of the operator that production notices (issue 16), proven on the quickstart with the
//! audit log of the real apiserver and the emulator's counters: no refused Kubernetes write
//! while it converges, a bounded number of writes per custom resource, and in steady state no
//! Secret read and no write of any kind, while the resync keeps reading Meshes. The figures at
//! scale are in `bench/` (docs/performance.md); these are the mechanisms, with generous bounds.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, PostParams};
use meshes_testenv::TestEnv;
use serde_json::{Value, json};

use meshes_emulator::{FaultAction, FaultSpec, Trigger};

use crate::support::{World, quickstart};

/// The quickstart's custom resources.
const CRS: [(&str, &str); 4] = [
    ("MeshesWorkspace", "acme-prod"),
    ("MeshesConnection", "signup-hook"),
    ("MeshesRule", "signup-to-hook"),
    ("MeshesRule", "payment-failed-to-hook"),
];

/// The operator's requests in the audit log, from byte `from` on.
#[derive(Debug, Default)]
struct Audited {
    /// `verb resource/subresource name code`, in the log's order.
    writes: Vec<String>,
    /// GETs of one object: `resource name`.
    gets: Vec<String>,
    refused: Vec<String>,
    secret_gets: usize,
    requests: usize,
}

fn audited(user: &str, from: u64) -> Audited {
    let path = futures::executor::block_on(TestEnv::shared())
        .audit_log()
        .to_path_buf();
    let text = std::fs::read(&path).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let mut out = Audited::default();
    for e in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if e["stage"] != "ResponseComplete" || e["user"]["username"] != user {
            continue;
        }
        out.requests += 1;
        let verb = e["verb"].as_str().unwrap_or_default();
        let resource = e["objectRef"]["resource"].as_str().unwrap_or_default();
        if verb == "get" && resource == "secrets" {
            out.secret_gets += 1;
        }
        if verb == "get" {
            out.gets.push(format!(
                "{resource} {}",
                e["objectRef"]["name"].as_str().unwrap_or("")
            ));
        }
        if matches!(verb, "create" | "update" | "patch" | "delete") && resource != "leases" {
            let what = format!(
                "{verb} {resource}/{} {} {}",
                e["objectRef"]["subresource"].as_str().unwrap_or(""),
                e["objectRef"]["name"].as_str().unwrap_or(""),
                e["responseStatus"]["code"]
            );
            if (400..500).contains(&e["responseStatus"]["code"].as_i64().unwrap_or(0)) {
                out.refused.push(what.clone());
            }
            out.writes.push(what);
        }
    }
    out
}

fn audit_mark() -> u64 {
    let env = futures::executor::block_on(TestEnv::shared());
    std::fs::metadata(env.audit_log())
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Starts the operator in-process as ServiceAccount `op` of the world's namespace (bound to
/// cluster-admin); returns its audit user name.
async fn start_as_own_user(w: &mut World, resync: Duration) -> String {
    let env = TestEnv::shared().await;
    let api: Api<ClusterRoleBinding> = Api::all(w.client.clone());
    let binding = serde_json::from_value(json!({
        "metadata": {"name": format!("{}-op", w.ns)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": w.ns}]
    }))
    .unwrap();
    match api.create(&PostParams::default(), &binding).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("binding: {e}"),
    }
    let client = env.service_account_client(&w.ns, "op").await.unwrap();
    let config = meshes_operator::controllers::config::OperatorConfig {
        resync_interval: resync,
        ..World::fast_config()
    };
    w.start_operator_with(client, config).await;
    format!("system:serviceaccount:{}:op", w.ns)
}

/// Applies the quickstart (its credentials Secret holds placeholders), then puts the
/// emulator's key into that Secret, as a user would.
async fn quickstart_ready(w: &World) {
    w.apply_yaml(&quickstart()).await;
    w.put_emulator_credentials().await;
    for (kind, name) in CRS {
        w.wait_ready_kind(kind, name).await;
    }
}

/// Converging the quickstart makes no write the apiserver refuses (no finalizer or metadata
/// patch racing the operator's own writes) and a bounded number of writes per custom resource.
#[tokio::test]
async fn convergence_makes_no_refused_write_and_few_writes_per_cr() {
    let mut w = World::new("cost-converge").await;
    let from = audit_mark();
    let user = start_as_own_user(&mut w, Duration::from_secs(3600)).await;
    quickstart_ready(&w).await;
    // Late writes of the convergence (an Event, a last status) land within a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = audited(&user, from);
    assert!(
        a.writes.len() >= CRS.len(),
        "positive control: the operator's writes are in the audit log: {a:#?}"
    );
    assert!(a.refused.is_empty(), "refused writes: {:#?}", a.refused);
    // The output Secret and the credentials in-use finalizer are writes too (2), on top of
    // the custom resources' own: the finalizer patch, the pending create and the Ready status
    // (5.00 before the `Created` Event and the external-id annotation were dropped).
    let per_cr = (a.writes.len() as f64 - 2.0) / CRS.len() as f64;
    assert!(
        per_cr <= 3.0,
        "{per_cr:.2} writes per custom resource: {:#?}",
        a.writes
    );
    // The output Secret is created with one request: not read first (a 404), and its next
    // passes read the copy the create returned from the cache.
    let output = a
        .writes
        .iter()
        .find_map(|w| w.strip_prefix("create secrets/ "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("the output Secret's create: {:#?}", a.writes));
    let reads = a
        .gets
        .iter()
        .filter(|g| **g == format!("secrets {output}"))
        .count();
    assert_eq!(reads, 0, "reads of the output Secret: {:#?}", a.gets);
    eprintln!("[cost] {per_cr:.2} writes per CR: {:#?}", a.writes);
}

/// In steady state (two resync intervals with nothing changing) the operator reads no Secret
/// from the apiserver (the cache answers) and writes nothing, while its resync demonstrably runs
/// (Meshes reads in the same window).
#[tokio::test]
async fn steady_state_reads_no_secret_and_writes_nothing() {
    let mut w = World::new("cost-steady").await;
    let resync = Duration::from_secs(3);
    let user = start_as_own_user(&mut w, resync).await;
    quickstart_ready(&w).await;
    // Past the passes that follow convergence (the first resync included).
    tokio::time::sleep(resync * 2).await;
    let from = audit_mark();
    w.emu.admin().reset_counters();
    tokio::time::sleep(resync * 2 + Duration::from_secs(1)).await;
    let a = audited(&user, from);
    let reads: u64 = w
        .emu
        .admin()
        .counters()
        .routes
        .iter()
        .filter(|(r, _)| r.starts_with("GET "))
        .map(|(_, n)| n)
        .sum();
    assert!(
        reads > 0,
        "positive control: the resync read Meshes in the window"
    );
    assert_eq!(a.secret_gets, 0, "Secret GETs in steady state: {a:#?}");
    assert!(
        a.writes.is_empty(),
        "writes in steady state: {:#?}",
        a.writes
    );
}

/// A new object is created upstream in the pass that adds the operator's finalizer, not in a
/// second pass after that patch's watch event (which cost every object of a mass apply another
/// trip through the controller's queue). With a 3 s debounce, each pass starts 3 s after the
/// event that schedules it: the workspace is Ready after one debounce, not two.
#[tokio::test]
async fn a_new_object_is_created_in_the_pass_that_adds_its_finalizer() {
    let mut w = World::new("cost-first-pass").await;
    let debounce = Duration::from_secs(3);
    w.start_operator(meshes_operator::controllers::config::OperatorConfig {
        debounce,
        ..World::fast_config()
    })
    .await;
    let posts = w.emu.admin().request_count("POST", "/api/v1/workspaces");
    let started = std::time::Instant::now();
    w.create_workspace(
        "first-pass",
        json!({"credentialsRef": {"name": "meshes-credentials"}}),
    )
    .await;
    crate::support::wait_ready(&w, "first-pass").await;
    let took = started.elapsed();
    assert_eq!(
        w.emu.admin().request_count("POST", "/api/v1/workspaces"),
        posts + 1
    );
    assert!(
        took >= debounce,
        "positive control: the debounce delays the first pass: {took:?}"
    );
    assert!(
        took < debounce * 2 - Duration::from_millis(500),
        "Ready after {took:?}: the create waited for a second pass"
    );
}

/// Children applied with a parent that is still creating its Meshes object (a mass apply, a
/// GitOps sync) wait for it without a Kubernetes request of their own: no finalizer patch while
/// the parent is on its way, no read of the parent from the API server (the parent's change
/// wakes them once the cache has it), and no freshness read before their create (the finalizer
/// goes on in the pass that creates, whose answer is the latest version).
#[tokio::test]
async fn children_wait_for_a_creating_parent_without_requests() {
    let mut w = World::new("cost-child-wait").await;
    let slow = w.emu.admin().add_fault(FaultSpec {
        method: Some("POST".into()),
        route: "/api/v1/workspaces".into(),
        action: FaultAction::Latency {
            delay: Duration::from_secs(3),
            after_commit: false,
        },
        trigger: Trigger::Next(1),
    });
    let from = audit_mark();
    let user = start_as_own_user(&mut w, Duration::from_secs(3600)).await;
    w.tenant("shop", "https://hooks.example.test/meshes", &["order.paid"])
        .await;
    for (kind, name) in [
        ("MeshesWorkspace", "shop"),
        ("MeshesConnection", "shop-hook"),
        ("MeshesRule", "shop-order-paid"),
    ] {
        w.wait_ready_kind(kind, name).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        w.emu.admin().fault_hits(slow),
        1,
        "positive control: the workspace's create was the slow one"
    );
    let a = audited(&user, from);
    // Where in the log the first (or the last) write starting with `what` is.
    let at = |what: &str, last: bool| {
        let mut matching = a
            .writes
            .iter()
            .enumerate()
            .filter(|(_, x)| x.starts_with(what));
        let found = if last {
            matching.next_back()
        } else {
            matching.next()
        };
        found
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no write {what:?}: {a:#?}"))
    };
    let ws_ready = at("patch meshesworkspaces/status shop ", true);
    let conn_finalizer = at("patch meshesconnections/ shop-hook ", false);
    let conn_ready = at("patch meshesconnections/status shop-hook ", true);
    let rule_finalizer = at("patch meshesrules/ shop-order-paid ", false);
    assert!(
        conn_finalizer > ws_ready && rule_finalizer > conn_ready,
        "the children's finalizers went on before their parents were Ready: {:#?}",
        a.writes
    );
    let children_reads: Vec<_> = a.gets.iter().filter(|g| g.starts_with("meshes")).collect();
    assert!(
        children_reads.is_empty(),
        "reads of the custom resources: {children_reads:#?}"
    );
    assert!(a.refused.is_empty(), "refused writes: {:#?}", a.refused);
}
