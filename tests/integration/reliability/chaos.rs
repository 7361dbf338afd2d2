//! Items 2, 6 and 7 in one run: chaos convergence. Tenants are created while the emulator
//! injects 5xx, commit-then-drop, 429 and jittered latency, and the leader of two operator
//! replicas (leader election) is SIGKILLed three times (restarted each time as the standby).
//! Afterwards every CR is Ready and upstream holds exactly the expected objects; every fault
//! fired; no secret appears in any debug log line, Event, status, error or `/metrics`; and no
//! operator process ended except by the suite's own kills.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use meshes_testenv::sys;
use serde_json::json;

use super::faults::Installed;
use super::process::{Fleet, replica_kubeconfig};
use super::tenants::{self, KINDS, SIGNING_SECRET};
use super::{invariants, leaks};
use crate::support::{World, http_get, logged_addr};

const LEASE: &str = "rel-chaos";
const REPLICAS: [&str; 2] = ["replica-a", "replica-b"];

/// The replica holding the Lease, once a running one does.
async fn leader(w: &World, fleet: &Fleet, within: Duration) -> String {
    let api: Api<Lease> = Api::namespaced(w.client.clone(), &w.ns);
    let deadline = Instant::now() + within;
    loop {
        let holder = api
            .get_opt(LEASE)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .unwrap_or_default();
        if let Some(name) = REPLICAS
            .iter()
            .find(|r| holder.starts_with(&format!("{r}_")) && fleet.replica(r).is_some())
        {
            return name.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no running leader within {within:?} (holder {holder:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn chaos_converges_exactly_with_leader_kills_and_leaks_nothing() {
    let started = Instant::now();
    let first_second = meshes_operator::api::jwt::now_unix() - 1;
    let w = World::new("rel-chaos").await;
    let n = super::tenants();
    let admin = w.emu.admin();
    let signing = format!("reliability-signing-{}", uuid::Uuid::new_v4().simple());
    tenants::apply(
        &w.client,
        &w.ns,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SIGNING_SECRET}, "stringData": {"secret": signing}}),
    )
    .await;
    let faults = Installed::chaos(&admin);
    let mut fleet = Fleet::new(
        "chaos",
        [
            "--api-url",
            &w.emu.base_url(),
            "--watch-namespace",
            &w.ns,
            "--leader-elect",
            "--leader-election-namespace",
            &w.ns,
            "--leader-election-id",
            LEASE,
            "--lease-duration=4s",
            "--renew-deadline=3s",
            "--retry-period=1s",
            "--shutdown-timeout=10s",
            "--secret-grace=3s",
            "--min-resync-interval=1s",
            "--log-level=debug",
            "--log-format=json",
        ]
        .map(String::from)
        .to_vec(),
    );
    let mut kubeconfigs: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for r in REPLICAS {
        kubeconfigs.insert(r, replica_kubeconfig(&w.client, &w.ns, r).await);
        fleet.start(r, &kubeconfigs[r]);
    }
    // Tenants arrive while the leader is killed.
    let (client, ns) = (w.client.clone(), w.ns.clone());
    let creator = tokio::spawn(async move {
        tenants::create(&client, &ns, 0..n, "meshes-credentials", true).await;
    });
    let mut leader_kills = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let victim = leader(&w, &fleet, Duration::from_secs(60)).await;
        fleet
            .signal(&victim, sys::SIGKILL, Duration::from_secs(10))
            .await;
        fleet.start(&victim, &kubeconfigs[victim.as_str()]);
        leader_kills.push(victim);
    }
    creator.await.unwrap();
    let converge = tenants::wait_all_ready(
        &w.client,
        std::slice::from_ref(&w.ns),
        n * 4,
        super::ceiling(240, 4000),
    )
    .await;
    faults.assert_all_fired(&admin);
    let counts = invariants::check(
        &w.client,
        std::slice::from_ref(&w.ns),
        &admin,
        &BTreeSet::new(),
    )
    .await;

    // The leak scan's haystacks: every log line (all starts), Events, CR status (with their
    // error messages), and each running replica's /metrics.
    let mut haystacks: Vec<(String, String)> = Vec::new();
    for r in REPLICAS {
        let log = fleet.replica(r).unwrap().log.clone();
        let addr = logged_addr(&log, "metrics server listening").await;
        let (_, scrape) = http_get(addr, "/metrics").await.expect("metrics answer");
        haystacks.push((format!("/metrics of {r}"), scrape));
    }
    // Positive control: the leader's scrape counts the Meshes calls (the standby made none).
    assert!(
        haystacks
            .iter()
            .any(|(_, s)| s.contains("meshes_api_requests_total")),
        "{haystacks:?}"
    );
    haystacks.push(("events".into(), w.events().await.join("\n")));
    for kind in KINDS {
        let list = w.dynamic(kind).list(&Default::default()).await.unwrap();
        haystacks.push((kind.into(), serde_json::to_string(&list.items).unwrap()));
    }
    let (crashes, panics) = fleet.finish().await;
    let last_second = meshes_operator::api::jwt::now_unix() + 1;
    let logs = fleet.log_texts();
    let log_lines: usize = logs.iter().map(|(_, t)| t.lines().count()).sum();
    // Positive controls: debug output of the API calls and their errors was written.
    let all_logs: String = logs.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        all_logs.contains("\"level\":\"DEBUG\""),
        "debug-level records"
    );
    assert!(
        all_logs.contains("Meshes API response"),
        "debug logs of API calls"
    );
    haystacks.extend(logs);
    let needles = leaks::needles(
        &[w.emu.credentials()],
        &[("signing secret", signing.as_str())],
        first_second,
        last_second,
    );
    let found = leaks::scan(&haystacks, &needles);
    // Positive control: the scan finds the secrets where they are meant to be (the emulator's
    // own listing with secrets).
    let control = leaks::scan(
        &[("emulator listing".into(), admin.listing(true).to_string())],
        &needles,
    );
    assert!(
        control.iter().any(|f| f.starts_with("secret key in")),
        "{control:?}"
    );
    assert!(
        control.iter().any(|f| f.starts_with("signing secret in")),
        "{control:?}"
    );

    let mut fields = vec![("tenants", n.to_string())];
    fields.extend(counts.fields());
    fields.extend([
        ("leader_kills", leader_kills.len().to_string()),
        ("crashes", crashes.len().to_string()),
        ("panics", panics.to_string()),
        ("leaks", found.len().to_string()),
        ("log_lines", log_lines.to_string()),
        ("fault_hits", faults.hits_text(&admin)),
        ("converge_s", format!("{:.1}", converge.as_secs_f64())),
        ("total_s", format!("{:.1}", started.elapsed().as_secs_f64())),
    ]);
    super::report("chaos", &fields);
    counts.assert_clean("chaos");
    assert!(found.is_empty(), "secrets leaked: {found:?}");
    assert_eq!(leader_kills.len(), 3);
    assert!(
        crashes.is_empty(),
        "operator exits not caused by the suite: {crashes:?}"
    );
    assert_eq!(panics, 0, "panics in the operator logs");
    fleet.remove_logs();
}
