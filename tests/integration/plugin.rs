//! `kubectl meshes` (issue 18) against the real apiserver, the operator and the emulator: tree
//! goldens (plain and JSON) on the quickstart in four states, `--watch`, `send` / `deliveries`
//! / `retry` with a receiver that answers, fails and goes down, a user who cannot read the
//! credentials Secret, and no secret in any output.

use kube::api::{Patch, PatchParams};
use meshes_emulator::{FaultAction, FaultSpec, Trigger};
use meshes_testenv::TestEnv;
use serde_json::json;
use std::sync::atomic::Ordering;

use crate::plugin_support::{
    OBJECTS, Receiver, Run, golden, ingest, normalize, plugin, plugin_on, quickstart_world,
};
use crate::support::{SOON, World, condition, eventually};

/// Runs `tree` plain and `-o json` and compares both with their goldens.
async fn tree_goldens(w: &World, state: &str) -> (Run, Run) {
    let plain = plugin(w, None, &["tree"]).await;
    assert_eq!(plain.code, 0, "{plain:?}");
    let text = normalize(&format!("{}{}", plain.out, plain.err), &w.ns);
    golden(&format!("tree-{state}.txt"), &text);
    let as_json = plugin(w, None, &["tree", "-o", "json"]).await;
    assert_eq!(as_json.code, 0, "{as_json:?}");
    let doc: serde_json::Value = serde_json::from_str(&as_json.out).unwrap();
    golden(
        &format!("tree-{state}.json"),
        &normalize(&serde_json::to_string_pretty(&doc).unwrap(), &w.ns),
    );
    (plain, as_json)
}

async fn request_reconcile(w: &World, kind: &str, name: &str, stamp: &str) {
    w.dynamic(kind)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"annotations": {"meshes.io/reconcile-requested-at": stamp}}}),
            ),
        )
        .await
        .unwrap();
}

async fn wait_synced(w: &World, kind: &str, name: &str, want: &str) {
    eventually(
        &format!("{kind}/{name} Synced={want}"),
        SOON,
        || w.get_json(kind, name),
        |o| condition(&o["status"], "Synced").is_some_and(|(s, ..)| s == want),
    )
    .await;
}

#[tokio::test]
async fn tree_goldens_ready_failing_receiver_outage_and_stalled() {
    let receiver = Receiver::start().await;
    let w = quickstart_world("plugin-tree", &receiver).await;

    // 1. Everything Ready, no event yet.
    let (plain, json_run) = tree_goldens(&w, "ready").await;
    assert!(plain.out.contains("MeshesRule/signup-to-hook") && plain.out.contains("none recent"));
    assert!(
        plain.err.is_empty(),
        "no note when everything is readable: {}",
        plain.err
    );
    assert!(
        !plain.out.contains("\x1b["),
        "no colour when not a terminal"
    );
    let doc: serde_json::Value = serde_json::from_str(&json_run.out).unwrap();
    assert_eq!(
        doc["items"][0]["children"][0]["children"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // On a terminal the same table is coloured, and --no-color turns it off again.
    let tty = plugin_on(&w, None, true, &["tree"]).await;
    assert!(tty.out.contains("\x1b[32mTrue\x1b[0m"), "{:?}", tty.out);
    // The same instant for both, so that the AGE column cannot differ between the two runs.
    let now = ["--now", "2030-01-01T00:00:00Z"];
    let no_color = plugin_on(&w, None, true, &["tree", "--no-color", now[0], now[1]]).await;
    let piped = plugin_on(&w, None, false, &["tree", now[0], now[1]]).await;
    assert!(piped.out.contains("MeshesRule/signup-to-hook"));
    assert_eq!(no_color.out, piped.out);

    // 2. One event delivered, then the receiver fails (HTTP 500): the failure, its outcome
    //    code and the destination's status are shown, newest first.
    ingest(&w, "user.signup").await;
    receiver.status.store(500, Ordering::SeqCst);
    ingest(&w, "user.signup").await;
    let (plain, _) = tree_goldens(&w, "failing-receiver").await;
    assert!(
        plain
            .out
            .contains("failed:rejected_server_error(500), delivered"),
        "{}",
        plain.out
    );
    receiver.status.store(200, Ordering::SeqCst);

    // 3. An outage: every Meshes call answers 503. Each object is asked to reconcile, so all
    //    report Synced=False (Ready stays True), and deliveries cannot be read: a note says so.
    let fault = w.emu.admin().add_fault(FaultSpec {
        method: None,
        route: "*".into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Probability(1.0),
    });
    for (kind, name) in OBJECTS {
        request_reconcile(&w, kind, name, "outage").await;
    }
    for (kind, name) in OBJECTS {
        wait_synced(&w, kind, name, "False").await;
    }
    let (plain, _) = tree_goldens(&w, "outage").await;
    assert!(w.emu.admin().fault_hits(fault) > 0);
    assert!(
        plain.err.lines().count() == 1 && plain.err.contains("503"),
        "{}",
        plain.err
    );
    w.emu.admin().clear_faults();
    for (kind, name) in OBJECTS {
        request_reconcile(&w, kind, name, "recovered").await;
    }
    for (kind, name) in OBJECTS {
        wait_synced(&w, kind, name, "True").await;
    }

    // 4. A rule whose action the webhook does not offer: Stalled/InvalidSpec, with the
    //    operator's message under it; the other rules keep their deliveries.
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "bad-action"},
        "spec": {"connectionRef": {"name": "signup-hook"}, "event": "user.signup", "metadata": {"action": "add_to_list"}}}))
        .await;
    w.wait_reason_kind("MeshesRule", "bad-action", "InvalidSpec")
        .await;
    let (plain, _) = tree_goldens(&w, "stalled").await;
    assert!(plain.out.contains("InvalidSpec") && plain.out.contains("add_to_list"));
}

#[tokio::test]
async fn tree_watch_redraws_when_a_resource_changes() {
    let receiver = Receiver::start().await;
    let w = quickstart_world("plugin-watch", &receiver).await;
    let env = TestEnv::shared().await;
    let kc = env.admin_kubeconfig().display().to_string();
    let (ns, api) = (w.ns.clone(), w.emu.base_url());
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let watch = {
        let buf = buf.clone();
        tokio::spawn(async move {
            let mut out = SharedBuf(buf);
            let mut err = Vec::new();
            let mut io = kubectl_meshes::Io {
                out: &mut out,
                err: &mut err,
                terminal: false,
            };
            let argv = [
                "kubectl-meshes",
                "--kubeconfig",
                &kc,
                "-n",
                &ns,
                "--api-url",
                &api,
                "tree",
                "--watch",
                "--interval",
                "1h",
                "--max-frames",
                "2",
            ];
            kubectl_meshes::run(argv, &mut io).await
        })
    };
    let text = || String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    eventually(
        "first frame",
        SOON,
        || async { Some(text()) },
        |t| t.contains("payment-failed-to-hook"),
    )
    .await;
    // Positive control for the redraw: the new rule is absent from the first frame.
    assert!(!text().contains("MeshesRule/late-rule"));
    w.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": "late-rule"},
        "spec": {"connectionRef": {"name": "signup-hook"}, "event": "order.paid", "metadata": {"action": "send_webhook"}}}))
        .await;
    // The interval is an hour: only the watch on the cluster can bring the second frame.
    let code = tokio::time::timeout(SOON, watch)
        .await
        .expect("second frame")
        .unwrap();
    assert_eq!(code, 0);
    let frames = text();
    let second = frames.split("\n\n").nth(1).unwrap_or_default();
    assert!(second.contains("MeshesRule/late-rule"), "{frames}");
}

struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn send_deliveries_and_retry_follow_real_deliveries_and_print_no_secret() {
    let mut receiver = Receiver::start().await;
    let w = quickstart_world("plugin-send", &receiver).await;
    let mut outputs = Vec::new();

    // Delivered: the receiver got the payload, `send` says delivered and exits 0.
    let ok = plugin(
        &w,
        None,
        &[
            "send",
            "acme-prod",
            "user.signup",
            "--payload",
            r#"{"email":"ada@example.com","plan":"pro"}"#,
        ],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.out
            .contains("MeshesRule/signup-to-hook  delivered  1 attempt"),
        "{}",
        ok.out
    );
    assert!(ok.out.contains("#1  delivered  HTTP 200"), "{}", ok.out);
    let bodies = receiver.bodies.lock().unwrap().clone();
    assert!(
        bodies.iter().any(|b| b.contains("\"plan\":\"pro\"")),
        "{bodies:?}"
    );
    outputs.push(ok.clone());

    // Receiver down: every attempt fails with network_error; `send` prints them and exits 1.
    receiver.down().await;
    let down = plugin(
        &w,
        None,
        &["send", "acme-prod", "user.signup", "-o", "text"],
    )
    .await;
    assert_eq!(down.code, 1, "{down:?}");
    assert!(
        down.out.contains("failed:network_error  4 attempts"),
        "{}",
        down.out
    );
    for n in 1..=4 {
        assert!(
            down.out
                .contains(&format!("#{n:<2} network_error  no response")),
            "{}",
            down.out
        );
    }
    outputs.push(down.clone());
    let failed_id = down.out.split_whitespace().nth(1).unwrap().to_owned();

    // `deliveries` lists both, newest first, with the attempts; JSON carries the same.
    let list = plugin(
        &w,
        None,
        &["deliveries", "rule/signup-to-hook", "--since", "10m"],
    )
    .await;
    assert_eq!(list.code, 0, "{list:?}");
    let failed_at = list.out.find("failed:network_error").unwrap();
    let delivered_at = list.out.find("delivered  1 attempt").unwrap();
    assert!(failed_at < delivered_at, "newest first:\n{}", list.out);
    let as_json = plugin(
        &w,
        None,
        &[
            "deliveries",
            "connection/signup-hook",
            "--limit",
            "1",
            "-o",
            "json",
        ],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&as_json.out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "--limit 1");
    assert_eq!(v[0]["eventId"], failed_id.as_str());
    assert_eq!(v[0]["attempts"][0]["outcomeCode"], "network_error");
    outputs.extend([list, as_json]);

    // Back up: `retry` delivers the failed event.
    receiver.up().await;
    let retried = plugin(&w, None, &["retry", &failed_id, "signup-to-hook"]).await;
    assert_eq!(retried.code, 0, "{retried:?}");
    assert!(
        retried
            .out
            .contains("MeshesRule/signup-to-hook  delivered  5 attempts"),
        "{}",
        retried.out
    );
    outputs.push(retried);
    outputs.push(plugin(&w, None, &["tree"]).await);
    outputs.push(plugin(&w, None, &["tree", "-o", "yaml"]).await);

    // No secret in any output. Positive control: the values exist and are non-trivial.
    let c = w.emu.credentials();
    let ws = w.get_json("MeshesWorkspace", "acme-prod").await.unwrap();
    let key = w
        .emu
        .admin()
        .publishable_key(ws["status"]["workspaceId"].as_str().unwrap())
        .unwrap();
    let secrets = [
        c.secret_key.as_str(),
        key.as_str(),
        "change-me-to-a-long-random-signing-secret",
    ];
    assert!(secrets.iter().all(|s| s.len() > 20));
    let all: String = outputs
        .iter()
        .map(|r| format!("{}{}", r.out, r.err))
        .collect();
    assert!(all.contains(&failed_id) && all.len() > 1000);
    for s in secrets {
        assert!(!all.contains(s), "a secret was printed");
    }
}

#[tokio::test]
async fn a_user_who_cannot_read_the_credentials_secret_still_gets_the_tree() {
    let receiver = Receiver::start().await;
    let w = quickstart_world("plugin-rbac", &receiver).await;
    ingest(&w, "user.signup").await;
    let env = TestEnv::shared().await;
    // A viewer of the custom resources, without Secrets.
    w.apply_rbac("meshes-viewer", json!([
        {"apiGroups": ["meshes.io"], "resources": ["meshesworkspaces", "meshesconnections", "meshesrules"], "verbs": ["get", "list", "watch"]}
    ])).await;
    let viewer = env
        .service_account_kubeconfig(&w.ns, "meshes-viewer")
        .await
        .unwrap();
    let run = plugin(&w, Some(&viewer), &["tree"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    for (kind, name) in OBJECTS {
        assert!(run.out.contains(&format!("{kind}/{name}")), "{}", run.out);
    }
    assert!(run.out.contains("Available"));
    assert_eq!(run.err.lines().count(), 1, "exactly one note: {}", run.err);
    assert!(
        run.err
            .contains(&format!("Secret {}/meshes-credentials", w.ns))
            && run
                .err
                .contains("deliveries need read access to that Secret"),
        "{}",
        run.err
    );
    assert!(!run.out.contains("delivered"));

    // Positive control: the same user with read access to Secrets sees the deliveries.
    w.apply_rbac("meshes-operator-user", json!([
        {"apiGroups": ["meshes.io"], "resources": ["meshesworkspaces", "meshesconnections", "meshesrules"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    ])).await;
    let reader = env
        .service_account_kubeconfig(&w.ns, "meshes-operator-user")
        .await
        .unwrap();
    let run = plugin(&w, Some(&reader), &["tree"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.err.is_empty(), "{}", run.err);
    assert!(run.out.contains("delivered"), "{}", run.out);

    // A user who cannot even list the resources gets one clear line, not a stack of errors.
    let nobody = env
        .service_account_kubeconfig(&w.ns, "nobody")
        .await
        .unwrap();
    let run = plugin(&w, Some(&nobody), &["tree"]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        run.err.trim(),
        format!(
            "error: forbidden: you cannot list meshesworkspaces in namespace {}",
            w.ns
        )
    );
}

impl World {
    /// A Role with `rules` bound to ServiceAccount `sa` (same name) in this namespace.
    async fn apply_rbac(&self, sa: &str, rules: serde_json::Value) {
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
        let pp = PatchParams::apply("test").force();
        let roles: kube::Api<Role> = kube::Api::namespaced(self.client.clone(), &self.ns);
        roles
            .patch(
                sa,
                &pp,
                &Patch::Apply(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": sa}, "rules": rules}),
                ),
            )
            .await
            .unwrap();
        let bindings: kube::Api<RoleBinding> = kube::Api::namespaced(self.client.clone(), &self.ns);
        bindings
            .patch(
                sa,
                &pp,
                &Patch::Apply(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": sa},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": self.ns}]}),
                ),
            )
            .await
            .unwrap();
    }
}
