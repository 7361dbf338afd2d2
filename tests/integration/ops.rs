//! Operating the operator (issue 14): `/metrics` after the quickstart agrees with the
//! emulator's own request counters, `/readyz` waits for the caches while `/livez` does not,
//! and a permanently failing object publishes Events at a bounded rate.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use meshes_emulator::{FaultAction, FaultSpec, Trigger};
use meshes_operator::controllers::event_limit::{EVENT_BURST, EVENT_INTERVAL};
use meshes_operator::controllers::metrics::Metrics;
use meshes_testenv::TestEnv;
use serde_json::json;

use crate::support::{FREE_PORTS, SOON, World, eventually, http_get, logged_addr};

/// Kills the operator process when the test ends, however it ends.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One sample of an OpenMetrics text: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once("=\"")?;
                    Some((k.to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect();
            Some((name.to_string(), labels, value.parse().ok()?))
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include every pair of `with`.
fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name && with.iter().all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn has(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|(n, _, _)| n == name)
}

/// The emulator's requests by `"METHOD /route"` and by status class, as the operator labels them.
fn emulator_counts(w: &World) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let c = w.emu.admin().counters();
    let routes = c
        .routes
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let mut classes = BTreeMap::new();
    for (status, n) in c.statuses {
        let class = meshes_operator::api::StatusClass::of(status)
            .as_str()
            .to_string();
        *classes.entry(class).or_insert(0.0) += n as f64;
    }
    (routes, classes)
}

/// The operator's request counters grouped the same way.
fn operator_counts(samples: &[Sample]) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (mut routes, mut classes) = (BTreeMap::new(), BTreeMap::new());
    for (name, l, v) in samples {
        if name == "meshes_api_requests_total" {
            *routes
                .entry(format!("{} {}", l["method"], l["route"]))
                .or_insert(0.0) += v;
            *classes.entry(l["status_class"].clone()).or_insert(0.0) += v;
        }
    }
    (routes, classes)
}

/// Acceptance: after the quickstart, `/metrics` has every series of `docs/operations.md` and
/// its Meshes request counters equal the emulator's own, route by route and class by class,
/// including a 429 (per credential, by the short hash of the access key, never the key).
#[tokio::test]
async fn metrics_after_the_quickstart_match_the_emulator_counters() {
    let w = World::new("ops-metrics").await;
    let env = TestEnv::shared().await;
    // One 429 on the catalog, and a tight budget (burst 2 at 5/s) so that calls wait for it.
    let limited = w.emu.admin().add_fault(FaultSpec {
        method: Some("GET".into()),
        route: "/api/v1/integrations".into(),
        action: FaultAction::RateLimited {
            retry_after_secs: 1,
        },
        trigger: Trigger::Next(1),
    });
    let log = std::env::temp_dir().join(format!("meshes-ops-metrics-{}.log", w.ns));
    let _op = Operator(
        Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
            .args([
                "run",
                "--api-url",
                &w.emu.base_url(),
                "--watch-namespace",
                &w.ns,
            ])
            .args(["--api-rate", "5", "--api-burst", "2"])
            .args(FREE_PORTS)
            .env("KUBECONFIG", env.admin_kubeconfig())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let metrics = logged_addr(&log, "metrics server listening").await;
    w.apply_yaml(&crate::support::quickstart()).await;
    let c = w.emu.credentials();
    w.put_credentials(
        "meshes-credentials",
        &c.access_key,
        &c.secret_key,
        &c.org_id,
    )
    .await;
    for rule in ["signup-to-hook", "payment-failed-to-hook"] {
        w.wait_ready_kind("MeshesRule", rule).await;
    }
    assert_eq!(w.emu.admin().fault_hits(limited), 1, "the 429 fault fired");

    // Counters settle once the last answer has been read; then they must agree exactly.
    // (Polled as (operator's, emulator's, samples) so a failure shows both counts first.)
    let (ours, _, samples) = eventually(
        "the operator's request counters to equal the emulator's",
        SOON,
        || async {
            let (code, text) = http_get(metrics, "/metrics").await?;
            let samples = (code == 200).then(|| parse(&text))?;
            Some((operator_counts(&samples), emulator_counts(&w), samples))
        },
        |(ours, theirs, _)| ours == theirs,
    )
    .await;
    let (routes, classes) = ours;
    assert!(
        routes.len() >= 4 && classes["2xx"] >= 6.0,
        "{routes:?} {classes:?}"
    );
    assert_eq!(classes.get("4xx"), Some(&1.0), "the one 429: {classes:?}");

    let label = meshes_operator::api::credential_label(&c.access_key);
    let credential = [("credential", label.as_str())];
    assert_eq!(
        sum(&samples, "meshes_api_rate_limited_total", &credential),
        1.0
    );
    assert!(sum(&samples, "meshes_api_budget_waits_total", &credential) >= 1.0);
    assert!(
        sum(
            &samples,
            "meshes_api_budget_wait_seconds_total",
            &credential
        ) > 0.0
    );
    let requests = sum(&samples, "meshes_api_requests_total", &[]);
    assert_eq!(
        sum(&samples, "meshes_api_request_duration_seconds_count", &[]),
        requests
    );

    for kind in ["MeshesWorkspace", "MeshesConnection", "MeshesRule"] {
        let k = [("kind", kind)];
        let passes = sum(&samples, "meshes_operator_reconciles_total", &k);
        assert!(
            sum(
                &samples,
                "meshes_operator_reconciles_total",
                &[("kind", kind), ("result", "success")]
            ) >= 1.0,
            "{kind}"
        );
        // Every finished pass is timed (none may be running at the scrape: +1 at most each).
        let timed = sum(
            &samples,
            "meshes_operator_reconcile_duration_seconds_count",
            &k,
        );
        let running = sum(&samples, "meshes_operator_reconciles_in_flight", &k);
        assert_eq!(timed, passes, "{kind}");
        assert!(running <= 16.0, "{kind}");
        assert!(has(&samples, "meshes_operator_requeues_pending"));
    }
    let rules_ready = [
        ("kind", "MeshesRule"),
        ("condition", "Ready"),
        ("status", "True"),
    ];
    assert_eq!(
        sum(&samples, "meshes_operator_object_conditions", &rules_ready),
        2.0
    );
    assert_eq!(
        sum(
            &samples,
            "meshes_operator_objects",
            &[("kind", "MeshesConnection")]
        ),
        1.0
    );
    assert_eq!(sum(&samples, "meshes_operator_leader", &[]), 1.0);
    assert_eq!(sum(&samples, "meshes_operator_caches_synced", &[]), 1.0);

    // Neither key reaches the metrics.
    let (_, text) = http_get(metrics, "/metrics").await.unwrap();
    assert!(!text.contains(&c.access_key) && !text.contains(&c.secret_key));
    let _ = std::fs::remove_file(&log);
}

/// Acceptance: `/readyz` answers 503 while the operator cannot list its kinds (a ServiceAccount
/// without the rights) and `/livez` answers 200 all along; once the rights are granted,
/// `/readyz` answers 200.
#[tokio::test]
async fn readyz_waits_for_the_caches_while_livez_stays_up() {
    let env = TestEnv::shared().await;
    env.install_crds(&meshes_operator::resources::crdgen::all_crds())
        .await
        .unwrap();
    let ns = env.namespace("ops-readyz").await;
    let kubeconfig = env
        .service_account_kubeconfig(&ns, "operator")
        .await
        .unwrap();
    let log = std::env::temp_dir().join(format!("meshes-ops-readyz-{ns}.log"));
    let _op = Operator(
        Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
            .args([
                "run",
                "--api-url",
                "http://127.0.0.1:9",
                "--watch-namespace",
                &ns,
            ])
            .args(FREE_PORTS)
            .env("KUBECONFIG", &kubeconfig)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let probes = logged_addr(&log, "health probe server listening").await;
    // Past the CRD wait (discovery is open to every account), the watches are refused.
    eventually(
        "the controllers to start",
        SOON,
        || async { std::fs::read_to_string(&log).ok() },
        |t| t.contains("controllers started"),
    )
    .await;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let (code, body) = http_get(probes, "/readyz").await.unwrap();
        assert_eq!(code, 503, "ready without list rights: {body}");
        assert!(body.contains("have not synced"), "{body}");
        assert_eq!(http_get(probes, "/livez").await.unwrap().0, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let refused = std::fs::read_to_string(&log).unwrap();
    assert!(
        refused.contains("403"),
        "the watches were refused: {refused}"
    );

    // Grant what the operator needs in its namespace: the watches recover and the caches sync.
    let admin = env.client().await;
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "meshes-operator"},
        "rules": [
            {"apiGroups": ["meshes.io"], "resources": ["*"], "verbs": ["get", "list", "watch", "patch", "update"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "patch", "create", "update"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}
        ]
    }))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "meshes-operator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "meshes-operator"},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns}]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    eventually(
        "readyz 200 once the rights are granted",
        SOON,
        || async { http_get(probes, "/readyz").await },
        |(code, _)| *code == 200,
    )
    .await;
    assert_eq!(http_get(probes, "/livez").await.unwrap().0, 200);
    let _ = std::fs::remove_file(&log);
}

/// Publications of Event `reason` about `name` (a series counts each repeat).
async fn published(w: &World, name: &str, reason: &str) -> i32 {
    let events: Api<Event> = Api::namespaced(w.client.clone(), &w.ns);
    let list = events.list(&Default::default()).await.unwrap();
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

/// A workspace that fails on every pass (Meshes answers 503 to its create, retried with a
/// 200 ms–2 s backoff) and warns on every pass (an out-of-range resync annotation) publishes
/// its Warning at most `burst + window / interval` times, while it keeps being reconciled.
#[tokio::test]
async fn a_failing_object_publishes_events_at_a_bounded_rate() {
    let mut w = World::new("ops-events").await;
    let down = w.emu.admin().add_fault(FaultSpec {
        method: Some("POST".into()),
        route: "/api/v1/workspaces".into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Probability(1.0),
    });
    let metrics = Arc::new(Metrics::default());
    w.start_operator_with_metrics(World::fast_config(), metrics.clone())
        .await;
    // The issue asks for a count over a minute.
    let window = Duration::from_secs(60);
    let started = Instant::now();
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "failing", "annotations": {"meshes.io/resync-interval": "1ms"}},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
    )
    .await;
    tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
    let passes = metrics.reconciles_of("MeshesWorkspace", &w.ns, "failing");
    let events = published(&w, "failing", "InvalidSpec").await;
    w.stop_operator();

    eprintln!("{passes} passes and {events} InvalidSpec Events in {window:?}");
    let bound = EVENT_BURST as i32 + window.as_secs().div_ceil(EVENT_INTERVAL.as_secs()) as i32;
    // Positive controls: the object kept failing and warning, and the Warning was published.
    assert!(
        w.emu.admin().fault_hits(down) >= 10,
        "the create kept failing"
    );
    assert!(passes >= 10, "only {passes} passes in {window:?}");
    assert!(events >= 1, "no InvalidSpec Event was published at all");
    assert!(
        events <= bound,
        "{events} InvalidSpec Events in {window:?} from {passes} passes; the bound is {bound}"
    );
}
