//! Leader election against the real apiserver, with operator binaries as replicas, each
//! authenticating as its own ServiceAccount so the audit log tells their writes apart, and each
//! with its own User-Agent instance so the emulator counts their Meshes calls apart.
//!
//! Timings are short (lease 4s, renew deadline 3s, retry 1s) so takeovers fit in a test; the
//! bounds asserted are generous ceilings on 2 noisy cores, the measured times are printed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use meshes_testenv::{TestEnv, sys};
use serde_json::{Value, json};

use crate::support::{SOON, World, eventually, http_get, logged_addr};

const FAST: [&str; 6] = [
    "--lease-duration=4s",
    "--renew-deadline=3s",
    "--retry-period=1s",
    "--shutdown-timeout=10s",
    "--secret-grace=3s",
    "--min-resync-interval=1s",
];

/// An operator replica, killed when dropped.
struct Replica {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// Replica `name` of the operator in `w`'s namespace, as ServiceAccount `name` (bound to
    /// cluster-admin: RBAC is not what these tests are about), with `extra` flags.
    async fn start(w: &World, name: &str, extra: &[&str]) -> Replica {
        let env = TestEnv::shared().await;
        let kubeconfig = env
            .service_account_kubeconfig(&w.ns, name)
            .await
            .expect("SA kubeconfig");
        bind_cluster_admin(w, name).await;
        let log = std::env::temp_dir().join(format!("meshes-leader-{}-{name}.log", w.ns));
        let mut args: Vec<String> = vec![
            "run".into(),
            "--api-url".into(),
            w.emu.base_url(),
            "--watch-namespace".into(),
            w.ns.clone(),
            "--leader-elect".into(),
            "--leader-election-namespace".into(),
            w.ns.clone(),
            "--instance-id".into(),
            name.into(),
            "--log-level=info,meshes_operator::leader=debug".into(),
            "--metrics-bind-address=127.0.0.1:0".into(),
            "--health-probe-bind-address=127.0.0.1:0".into(),
        ];
        // The fast timings, unless `extra` sets its own.
        let flag = |s: &str| s.split('=').next().unwrap_or_default().to_owned();
        args.extend(
            FAST.iter()
                .filter(|f| !extra.iter().any(|e| flag(e) == flag(f)))
                .map(|s| s.to_string()),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Replica {
            name: name.into(),
            child,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: i32) {
        assert!(sys::signal(self.child.id(), sig));
    }

    fn user_agent(&self) -> String {
        format!(
            "meshes-operator/{} (instance={})",
            env!("CARGO_PKG_VERSION"),
            self.name
        )
    }

    fn username(&self, w: &World) -> String {
        format!("system:serviceaccount:{}:{}", w.ns, self.name)
    }
}

async fn bind_cluster_admin(w: &World, sa: &str) {
    let api: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(w.client.clone());
    let binding = serde_json::from_value(json!({
        "metadata": {"name": format!("{}-{sa}", w.ns)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": w.ns}]
    }))
    .unwrap();
    match api.create(&PostParams::default(), &binding).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("binding: {e}"),
    }
}

/// The holder of Lease `name` in `w`'s namespace.
async fn holder(w: &World, name: &str) -> Option<String> {
    Api::<Lease>::namespaced(w.client.clone(), &w.ns)
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Waits until replica `who` holds Lease `lease`; returns how long that took.
async fn wait_holder(w: &World, lease: &str, who: &Replica, within: Duration) -> Duration {
    let start = Instant::now();
    let prefix = format!("{}_", who.name);
    eventually(
        &format!("{} holds {lease}", who.name),
        within,
        || async { Some(holder(w, lease).await) },
        |h| h.as_deref().is_some_and(|h| h.starts_with(&prefix)),
    )
    .await;
    start.elapsed()
}

/// One write the apiserver recorded.
#[derive(Debug)]
struct Write {
    at: chrono::DateTime<chrono::Utc>,
    user: String,
    resource: String,
    name: String,
    code: i64,
}

/// Writes (create, update, patch, delete) recorded in the audit log by users of `w`'s
/// namespace's ServiceAccounts, Lease writes left out (the election itself).
fn writes(w: &World) -> Vec<Write> {
    let prefix = format!("system:serviceaccount:{}:", w.ns);
    let text = std::fs::read_to_string(futures::executor::block_on(TestEnv::shared()).audit_log())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete" | "deletecollection")
            )
        })
        .filter(|e| e["objectRef"]["resource"] != "leases")
        .filter_map(|e| {
            let user = e["user"]["username"].as_str()?.to_owned();
            if !user.starts_with(&prefix) {
                return None;
            }
            Some(Write {
                at: e["stageTimestamp"].as_str()?.parse().ok()?,
                user,
                resource: e["objectRef"]["resource"].as_str().unwrap_or("").to_owned(),
                name: e["objectRef"]["name"].as_str().unwrap_or("").to_owned(),
                code: e["responseStatus"]["code"].as_i64().unwrap_or(0),
            })
        })
        .collect()
}

fn writes_by<'a>(all: &'a [Write], user: &str) -> Vec<&'a Write> {
    all.iter().filter(|w| w.user == user).collect()
}

/// Changes the tenant's connection so that its update is committed upstream but answered only
/// `secs` later, and returns once that update is in flight.
async fn update_in_flight(w: &World, secs: u64) {
    let fault = w.emu.admin().add_fault(
        format!("PUT /api/v1/connections/* latency-after-commit={secs}s next=1")
            .parse()
            .unwrap(),
    );
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": "acme-hook"},
        "spec": {"workspaceRef": {"name": "acme"}, "type": "webhook", "metadata": {"url": "https://hooks.example/acme2"}}}))
        .await;
    eventually(
        "the slowed update in flight",
        SOON,
        || async { Some(w.emu.admin().fault_hits(fault)) },
        |h| *h == 1,
    )
    .await;
}

const LEASE: &str = "meshes-leader-test";

/// Two replicas: only the leader calls Meshes and writes; SIGKILL of the leader → the standby
/// takes over within lease duration + retry period (plus scheduling slack) and reconciles.
#[tokio::test]
async fn only_the_leader_works_and_a_killed_leader_is_replaced() {
    let w = World::new("leader-kill").await;
    let id = format!("--leader-election-id={LEASE}");
    let mut a = Replica::start(&w, "op-a", &[&id]).await;
    wait_holder(&w, LEASE, &a, SOON).await;
    let b = Replica::start(&w, "op-b", &[&id]).await;
    w.tenant("acme", "https://hooks.example/acme", &["order.created"])
        .await;

    // Only the leader worked: Meshes calls by User-Agent, Kubernetes writes by identity.
    let admin = w.emu.admin();
    assert!(
        admin.client_count(&a.user_agent()) > 0,
        "the leader called Meshes"
    );
    assert_eq!(
        admin.client_count(&b.user_agent()),
        0,
        "the standby called Meshes"
    );
    let all = writes(&w);
    assert!(
        !writes_by(&all, &a.username(&w)).is_empty(),
        "the leader wrote"
    );
    assert!(
        writes_by(&all, &b.username(&w)).is_empty(),
        "the standby wrote: {:?}",
        writes_by(&all, &b.username(&w))
    );
    assert!(b.log().contains("another replica leads"), "{}", b.log());
    // Probes and the leader gauge: both ready (a leader with synced caches, a healthy
    // standby), exactly one reports itself leader.
    for (r, leader) in [(&a, 1), (&b, 0)] {
        let probes = logged_addr(&r.log, "health probe server listening").await;
        let metrics = logged_addr(&r.log, "metrics server listening").await;
        let ready = eventually(
            &format!("{} ready", r.name),
            SOON,
            || async { http_get(probes, "/readyz").await },
            |(code, _)| *code == 200,
        )
        .await;
        assert_eq!(ready.0, 200);
        let (_, text) = http_get(metrics, "/metrics").await.unwrap();
        assert!(
            text.contains(&format!("meshes_operator_leader {leader}")),
            "{}: {text}",
            r.name
        );
    }

    // SIGKILL: nothing is released, the standby waits out the lease.
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let took = wait_holder(&w, LEASE, &b, SOON).await;
    eprintln!("takeover after SIGKILL: {took:?} (bound from the flags: lease 4s + retry 1s)");
    assert!(took < Duration::from_secs(5 + 10), "takeover took {took:?}");
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "acme-late"},
        "spec": {"connectionRef": {"name": "acme-hook"}, "event": "order.late", "metadata": {"action": "send_webhook"}}}))
        .await;
    w.wait_ready_kind("MeshesRule", "acme-late").await;
    assert!(
        admin.client_count(&b.user_agent()) > 0,
        "the new leader calls Meshes"
    );
}

/// SIGTERM: the leader finishes the pass in flight (a Meshes call slowed to 3 s), releases the
/// Lease, and the standby takes over at its next retry, long before the lease would expire;
/// the old leader's last write comes before the new leader's first.
#[tokio::test]
async fn sigterm_drains_then_hands_over_without_overlap() {
    let w = World::new("leader-term").await;
    // A lease of 20 s: a handover much faster than that proves the release.
    let slow = [
        "--leader-election-id=meshes-leader-term",
        "--lease-duration=20s",
        "--renew-deadline=10s",
    ];
    let mut a = Replica::start(&w, "op-a", &slow).await;
    wait_holder(&w, "meshes-leader-term", &a, SOON).await;
    let b = Replica::start(&w, "op-b", &slow).await;
    w.tenant("acme", "https://hooks.example/acme", &["order.created"])
        .await;

    // A pass in flight: the connection's update is committed upstream, its answer takes 3 s.
    update_in_flight(&w, 3).await;
    let term = Instant::now();
    a.signal(sys::SIGTERM);
    let status = loop {
        if let Some(s) = a.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            term.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM: {}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit {status:?}: {}", a.log());
    let log = a.log();
    assert!(log.contains("released the leader Lease"), "{log}");
    assert!(!log.contains("abandoning"), "the pass was abandoned: {log}");
    wait_holder(&w, "meshes-leader-term", &b, Duration::from_secs(15)).await;
    let took = term.elapsed();
    eprintln!("handover after SIGTERM (drain of a 3 s call included): {took:?}");
    assert!(
        took < Duration::from_secs(15),
        "handover {took:?}: not faster than the 20 s lease, so the Lease was not released"
    );
    // The drained pass finished its work: the status of the new generation was written by
    // the old leader after SIGTERM.
    let conn = w.wait_ready_kind("MeshesConnection", "acme-hook").await;
    assert_eq!(
        conn["status"]["observedGeneration"],
        conn["metadata"]["generation"]
    );

    // The new leader works; writers never overlap.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "acme-late"},
        "spec": {"connectionRef": {"name": "acme-hook"}, "event": "order.late", "metadata": {"action": "send_webhook"}}}))
        .await;
    w.wait_ready_kind("MeshesRule", "acme-late").await;
    let all = writes(&w);
    let (wa, wb) = (
        writes_by(&all, &a.username(&w)),
        writes_by(&all, &b.username(&w)),
    );
    let last_a = wa.iter().map(|x| x.at).max().expect("the old leader wrote");
    let first_b = wb.iter().map(|x| x.at).min().expect("the new leader wrote");
    assert!(
        last_a < first_b,
        "overlap: old leader wrote at {last_a}, new leader at {first_b}"
    );
    assert!(
        wa.iter()
            .any(|x| x.resource == "meshesconnections" && x.name == "acme-hook"),
        "the drained pass wrote its status: {wa:?}"
    );
}

/// SIGSTOP past the renew deadline: the standby takes over; after SIGCONT the old leader
/// writes nothing to Kubernetes and calls Meshes no more, although its watches bring it work.
#[tokio::test]
async fn a_paused_leader_writes_nothing_after_it_resumes() {
    let w = World::new("leader-stop").await;
    let id = "--leader-election-id=meshes-leader-stop";
    let a = Replica::start(&w, "op-a", &[id]).await;
    wait_holder(&w, "meshes-leader-stop", &a, SOON).await;
    let b = Replica::start(&w, "op-b", &[id]).await;
    w.tenant("acme", "https://hooks.example/acme", &["order.created"])
        .await;

    // Stopped in the middle of a pass: the connection's update is committed upstream and its
    // answer comes 6 s later, into the socket of a stopped process. Resumed, that pass goes on
    // at once to write the status: only the fence stops it.
    update_in_flight(&w, 6).await;
    let in_flight = Instant::now();
    a.signal(sys::SIGSTOP);
    let took = wait_holder(&w, "meshes-leader-stop", &b, SOON).await;
    eprintln!("takeover from a stopped leader: {took:?}");
    // More work: the old leader's watches deliver it when it resumes.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "acme-late"},
        "spec": {"connectionRef": {"name": "acme-hook"}, "event": "order.late", "metadata": {"action": "send_webhook"}}}))
        .await;
    w.wait_ready_kind("MeshesRule", "acme-late").await;
    // The slowed answer is waiting in the stopped process's socket.
    if let Some(rest) = Duration::from_secs(7).checked_sub(in_flight.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let calls_a = w.emu.admin().client_count(&a.user_agent());
    let resumed = chrono::Utc::now();
    a.signal(sys::SIGCONT);
    // Let it run: it must notice the lost Lease, and write nothing meanwhile.
    eventually(
        "the resumed replica notices it lost the Lease",
        Duration::from_secs(30),
        || async { Some(a.log()) },
        |l| l.contains("leadership lost"),
    )
    .await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "acme-later"},
        "spec": {"connectionRef": {"name": "acme-hook"}, "event": "order.later", "metadata": {"action": "send_webhook"}}}))
        .await;
    w.wait_ready_kind("MeshesRule", "acme-later").await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let all = writes(&w);
    let after: Vec<_> = writes_by(&all, &a.username(&w))
        .into_iter()
        .filter(|x| x.at >= resumed)
        .collect();
    assert!(after.is_empty(), "the resumed replica wrote: {after:?}");
    assert_eq!(
        w.emu.admin().client_count(&a.user_agent()),
        calls_a,
        "the resumed replica called Meshes"
    );
    // Positive controls: the new leader wrote after the resume, and the old replica is alive
    // and standing by.
    assert!(
        writes_by(&all, &b.username(&w))
            .iter()
            .any(|x| x.at >= resumed && x.code < 300),
        "the new leader wrote after the resume"
    );
    assert_eq!(
        holder(&w, "meshes-leader-stop")
            .await
            .map(|h| h.starts_with("op-b_")),
        Some(true)
    );
    let mut a = a;
    assert!(a.child.try_wait().unwrap().is_none(), "{}", a.log());
}

/// Two shards by label selector, two replicas each: each shard elects its own leader on its own
/// Lease (named from the selector), and each leader touches only its own shard's objects.
#[tokio::test]
async fn shards_elect_their_own_leaders_and_keep_to_their_objects() {
    let w = World::new("leader-shards").await;
    let mut replicas = Vec::new();
    for shard in ["a", "b"] {
        for n in 1..=2 {
            let sel = format!("--selector=meshes.io/shard={shard}");
            replicas.push(Replica::start(&w, &format!("op-{shard}{n}"), &[&sel]).await);
        }
    }
    for shard in ["a", "b"] {
        let labels = json!({"meshes.io/shard": shard});
        w.apply(
            json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": format!("ws-{shard}"), "labels": labels},
            "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
        )
        .await;
        w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": format!("{shard}-hook"), "labels": labels},
            "spec": {"workspaceRef": {"name": format!("ws-{shard}")}, "type": "webhook", "metadata": {"url": format!("https://hooks.example/{shard}")}}})).await;
    }
    for shard in ["a", "b"] {
        w.wait_ready_kind("MeshesConnection", &format!("{shard}-hook"))
            .await;
    }
    let lease_of = |shard: &str| {
        meshes_operator::cli::leader::lease_name(&meshes_operator::controllers::run::Scope {
            namespaces: vec![w.ns.clone()],
            label_selector: Some(format!("meshes.io/shard={shard}")),
        })
    };
    let (la, lb) = (lease_of("a"), lease_of("b"));
    assert_ne!(la, lb);
    let (ha, hb) = (
        holder(&w, &la).await.unwrap(),
        holder(&w, &lb).await.unwrap(),
    );
    assert!(ha.starts_with("op-a"), "{ha}");
    assert!(hb.starts_with("op-b"), "{hb}");

    let all = writes(&w);
    let mut leaders = 0;
    for r in &replicas {
        let mine = writes_by(&all, &r.username(&w));
        let shard = &r.name[3..4];
        if !mine.is_empty() {
            leaders += 1;
        }
        for x in mine.iter().filter(|x| x.resource.starts_with("meshes")) {
            assert!(
                x.name.starts_with(shard) || x.name == format!("ws-{shard}"),
                "{} touched {}/{}",
                r.name,
                x.resource,
                x.name
            );
        }
    }
    assert_eq!(leaders, 2, "exactly one writer per shard");
}
