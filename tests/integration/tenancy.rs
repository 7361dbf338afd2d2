//! Hostile input from a namespace owner, against the operator process (the real binary, real
//! apiserver, emulator): values that used to panic the whole operator, and annotations that used
//! to reach another tenant's workspace through the shared default credentials. Each test ends by
//! showing a well-behaved tenant is still served.

use std::process::{Child, Command, Stdio};

use meshes_testenv::TestEnv;
use serde_json::json;

use crate::support::{SOON, World, eventually};

/// An operator process killed when dropped, so a failing test never leaves one running.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The operator binary watching `w`'s namespace; `extra` flags appended. Logs go to `log`.
async fn operator(w: &World, extra: &[&str], log: &std::path::Path) -> Operator {
    let env = TestEnv::shared().await;
    let mut args = vec![
        "run".to_string(),
        "--api-url".into(),
        w.emu.base_url(),
        "--watch-namespace".into(),
        w.ns.clone(),
        "--secret-grace=3s".into(),
        "--min-resync-interval=1s".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
        .args(&args)
        .args(crate::support::FREE_PORTS)
        .env("KUBECONFIG", env.admin_kubeconfig())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Operator(child)
}

fn alive(op: &mut Operator, log: &std::path::Path) {
    assert!(
        op.0.try_wait().unwrap().is_none(),
        "the operator exited: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A resync interval of 18000000000000000000s overflowed the operator's arithmetic at c9d9682:
/// a panic the controller runtime re-raised, so the process crash-looped for every tenant.
#[tokio::test]
async fn an_absurd_resync_interval_is_reported_and_the_operator_keeps_serving() {
    let w = World::new("absurd").await;
    let log = std::env::temp_dir().join(format!("meshes-absurd-{}.log", w.ns));
    let mut op = operator(&w, &[], &log).await;
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "absurd", "annotations": {"meshes.io/resync-interval": "18000000000000000000s"}},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}}))
        .await;
    // Not applied, reported on the object; the workspace itself is served with the default.
    w.wait_ready_kind("MeshesWorkspace", "absurd").await;
    let events = eventually(
        "a Warning naming the annotation",
        SOON,
        || async { Some(w.events().await) },
        |e| e.iter().any(|l| l.contains("meshes.io/resync-interval")),
    )
    .await;
    assert!(
        events.iter().any(|l| l.starts_with("InvalidSpec")),
        "{events:?}"
    );
    // A forced pass of the absurd object, then a well-behaved tenant.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "absurd", "annotations": {"meshes.io/resync-interval": "18000000000000000000s",
            "meshes.io/reconcile-requested-at": "again"}},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}}))
        .await;
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "polite", "annotations": {"meshes.io/resync-interval": "30s"}},
        "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
    )
    .await;
    w.wait_ready_kind("MeshesWorkspace", "polite").await;
    alive(&mut op, &log);
    drop(op);
    let _ = std::fs::remove_file(&log);
}

/// With the operator's default credentials, `meshes.io/external-id` bound any workspace those
/// credentials could see at c9d9682 — another tenant's, whose publishable key was then written
/// into the intruder's Secret. Messages never name the other tenant's object either.
#[tokio::test]
async fn default_credentials_never_bind_another_tenants_workspace() {
    let w = World::new("intruder").await;
    let victim = w.dashboard_workspace("victim-ws").await;
    let victim_key = w.emu.admin().publishable_key(&victim.id).unwrap();
    let log = std::env::temp_dir().join(format!("meshes-intruder-{}.log", w.ns));
    let default = format!("{}/meshes-credentials", w.ns);
    let allowed = format!("--default-credentials-namespaces={}", w.ns);
    let mut op = operator(&w, &["--default-credentials", &default, &allowed], &log).await;
    // By annotation: ignored on shared credentials; the intruder gets a workspace of its own.
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "intruder", "annotations": {"meshes.io/external-id": victim.id}},
        "spec": {}}),
    )
    .await;
    let ws = w.wait_ready_kind("MeshesWorkspace", "intruder").await;
    assert_ne!(ws["status"]["workspaceId"], victim.id.as_str());
    let secret = w.secrets().get("intruder-publishable-key").await.unwrap();
    let data = serde_json::to_string(&secret.data).unwrap();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&victim_key);
    assert!(
        !data.contains(&encoded),
        "the victim's publishable key leaked"
    );
    // By name: a conflict that does not name the victim's workspace.
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "squatter"}, "spec": {"name": "victim-ws"}}),
    )
    .await;
    let st = w
        .wait_reason_kind("MeshesWorkspace", "squatter", "NameConflict")
        .await;
    assert!(!st.to_string().contains(&victim.id), "{st}");
    assert!(!w.events().await.join("\n").contains(&victim.id));
    // Positive control: with its own credentials (a Secret of the tenant's, not the operator's
    // default) the same annotation binds: the restore path is alive.
    let c = w.emu.credentials();
    w.put_credentials("own-credentials", &c.access_key, &c.secret_key, &c.org_id)
        .await;
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "restored", "annotations": {"meshes.io/external-id": victim.id}},
        "spec": {"credentialsRef": {"name": "own-credentials"}}}),
    )
    .await;
    let restored = w.wait_ready_kind("MeshesWorkspace", "restored").await;
    assert_eq!(
        restored["status"]["workspaceId"],
        victim.id.as_str(),
        "{restored:#}"
    );
    alive(&mut op, &log);
    drop(op);
    let _ = std::fs::remove_file(&log);
}
