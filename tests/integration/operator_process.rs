//! The operator binary as a process: started before its CRDs exist, it waits for them (logging
//! why) instead of crashing, then reconciles as soon as they appear.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use meshes_emulator::{Emulator, EmulatorConfig};
use meshes_operator::resources::{MeshesWorkspace, crdgen};
use meshes_testenv::TestEnv;
use serde_json::json;

use crate::support::{SOON, eventually, is_ready};

#[tokio::test]
async fn the_operator_waits_for_its_crds_instead_of_crashing() {
    // A private control plane: the shared one already has the CRDs.
    let env = TestEnv::start().await.expect("private control plane");
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let log = env.control_plane().work_dir.join("operator.log");
    let mut op = std::process::Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
        .args(["run", "--api-url", &emu.base_url()])
        .args(crate::support::FREE_PORTS)
        .env("KUBECONFIG", env.admin_kubeconfig())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        op.try_wait().unwrap().is_none(),
        "the operator exited without CRDs"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("waiting for the meshes.io CRDs"), "{text}");
    // The probes answer during the wait: alive, not ready.
    let probes = crate::support::logged_addr(&log, "health probe server listening").await;
    let get = |path| crate::support::http_get(probes, path);
    assert_eq!(get("/livez").await.map(|r| r.0), Some(200));
    assert_eq!(get("/readyz").await.map(|r| r.0), Some(503));

    // Positive control: once the CRDs exist, it reconciles (and is ready).
    env.install_crds(&crdgen::all_crds()).await.unwrap();
    let client = env.client().await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "late-crds"}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let c = emu.credentials();
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "creds"}, "stringData": {
        "MESHES_ACCESS_KEY": c.access_key, "MESHES_SECRET_KEY": c.secret_key, "MESHES_ORG_ID": c.org_id}}))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "late-crds")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let ws: MeshesWorkspace = serde_json::from_value(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "after-crds"}, "spec": {"credentialsRef": {"name": "creds"}}}),
    )
    .unwrap();
    let api: Api<MeshesWorkspace> = Api::namespaced(client, "late-crds");
    api.create(&PostParams::default(), &ws).await.unwrap();
    eventually(
        "Ready after CRDs appeared",
        SOON,
        || async { api.get_opt("after-crds").await.ok().flatten() },
        is_ready,
    )
    .await;
    assert_eq!(get("/readyz").await.map(|r| r.0), Some(200));
    op.kill().unwrap();
    op.wait().unwrap();
}

/// Secrets (the secret key, JWTs and each of their segments, connection secret settings, and
/// the base64 forms of each) never reach logs, Events, status or metrics, even at trace level
/// (every crate's trace output included, in the JSON format that carries span fields too).
#[tokio::test]
async fn secrets_never_reach_logs_events_status_or_metrics() {
    let w = crate::support::World::new("leaks").await;
    let env = TestEnv::shared().await;
    let log = std::env::temp_dir().join(format!("meshes-leaks-{}.log", w.ns));
    let first_second = meshes_operator::api::jwt::now_unix() - 1;
    let mut op = std::process::Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
        .args([
            "run",
            "--api-url",
            &w.emu.base_url(),
            "--watch-namespace",
            &w.ns,
            "--log-level",
            "trace",
            "--log-format",
            "json",
        ])
        .args(crate::support::FREE_PORTS)
        .env("KUBECONFIG", env.admin_kubeconfig())
        .stdout(std::fs::File::create(log.with_extension("stdout")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let metrics = crate::support::logged_addr(&log, "metrics server listening").await;
    w.apply_yaml(&crate::support::quickstart()).await;
    let c = w.emu.credentials();
    w.put_credentials(
        "meshes-credentials",
        &c.access_key,
        &c.secret_key,
        &c.org_id,
    )
    .await;
    w.wait_ready_kind("MeshesRule", "signup-to-hook").await;
    w.wait_ready_kind("MeshesRule", "payment-failed-to-hook")
        .await;
    // A rejected call too: errors must not carry secrets either.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "bad"},
        "spec": {"connectionRef": {"name": "signup-hook"}, "event": "x", "metadata": {"action": "nope"}}})).await;
    w.wait_reason_kind("MeshesRule", "bad", "InvalidSpec").await;
    let (_, scrape) = crate::support::http_get(metrics, "/metrics").await.unwrap();
    let last_second = meshes_operator::api::jwt::now_unix() + 1;
    op.kill().unwrap();
    op.wait().unwrap();

    let logs = std::fs::read_to_string(&log).unwrap();
    let stdout = std::fs::read_to_string(log.with_extension("stdout")).unwrap();
    // Positive controls: trace output of our code, of the HTTP stack and of the kube client
    // was written, with the reconcile span's fields.
    assert!(
        logs.contains("Meshes API response"),
        "debug logs of API calls"
    );
    assert!(logs.contains("\"level\":\"TRACE\""), "trace-level records");
    assert!(logs.contains("\"meshes_id\""), "reconcile spans");
    for target in ["kube_client", "hyper_util", "rustls"] {
        assert!(
            logs.contains(&format!("\"target\":\"{target}")),
            "trace output of {target}"
        );
    }
    assert!(scrape.contains("meshes_api_requests_total"), "{scrape}");
    let signing = "change-me-to-a-long-random-signing-secret";
    let needles = crate::reliability::leaks::needles(
        std::slice::from_ref(&c),
        &[("signing secret", signing)],
        first_second,
        last_second,
    );
    let mut haystacks: Vec<(String, String)> = vec![
        ("logs".into(), logs),
        ("stdout".into(), stdout),
        ("metrics".into(), scrape),
    ];
    haystacks.push(("events".into(), w.events().await.join("\n")));
    for kind in ["MeshesWorkspace", "MeshesConnection", "MeshesRule"] {
        let list = w.dynamic(kind).list(&Default::default()).await.unwrap();
        haystacks.push((kind.into(), serde_json::to_string(&list.items).unwrap()));
    }
    let leaks = crate::reliability::leaks::scan(&haystacks, &needles);
    assert!(leaks.is_empty(), "{leaks:?}");
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(log.with_extension("stdout"));
}

/// `--watch-namespace a,b`: objects in both are reconciled, a third namespace is not touched.
#[tokio::test]
async fn several_watched_namespaces_and_only_those() {
    use meshes_operator::controllers::run::Scope;
    let env = TestEnv::shared().await;
    let w = crate::support::World::new("multi-a").await;
    let b = env.namespace("multi-b").await;
    let c = env.namespace("multi-c").await;
    let creds = w.emu.credentials();
    let client = w.client.clone();
    for ns in [&b, &c] {
        let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "meshes-credentials"}, "stringData": {
            "MESHES_ACCESS_KEY": creds.access_key, "MESHES_SECRET_KEY": creds.secret_key, "MESHES_ORG_ID": creds.org_id}}))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let api = meshes_operator::api::MeshesClient::new(w.client_config()).unwrap();
    let scope = Scope {
        namespaces: vec![w.ns.clone(), b.clone()],
        label_selector: None,
    };
    let op_client = client.clone();
    let op = tokio::spawn(async move {
        let _ = meshes_operator::controllers::run::run(
            op_client,
            std::sync::Arc::new(api),
            crate::support::World::fast_config(),
            scope,
        )
        .await;
    });
    for (ns, name) in [(&w.ns, "in-a"), (&b, "in-b"), (&c, "in-c")] {
        let ws: MeshesWorkspace = serde_json::from_value(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": name}, "spec": {"credentialsRef": {"name": "meshes-credentials"}}}))
        .unwrap();
        Api::<MeshesWorkspace>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &ws)
            .await
            .unwrap();
    }
    for (ns, name) in [(&w.ns, "in-a"), (&b, "in-b")] {
        let api: Api<MeshesWorkspace> = Api::namespaced(client.clone(), ns);
        eventually(
            &format!("{name} Ready"),
            SOON,
            || async { api.get_opt(name).await.ok().flatten() },
            is_ready,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outside = Api::<MeshesWorkspace>::namespaced(client.clone(), &c)
        .get("in-c")
        .await
        .unwrap();
    assert!(
        outside.status.is_none() && outside.metadata.finalizers.is_none(),
        "namespace {c} is not watched"
    );
    assert_eq!(w.emu.admin().workspaces().len(), 2);
    op.abort();
}
