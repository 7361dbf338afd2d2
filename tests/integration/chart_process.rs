//! The operator binary run the way the chart deploys it, for the chart's end-to-end tests
//! (`chart.rs`, `namespaced.rs`): the chart rendered for a test (the emulator, free ports),
//! its ServiceAccount and RBAC applied, the binary started with that ServiceAccount's token and
//! the rendered arguments, and stopped as the kubelet would.
//!
//! `MESHES_CHART_DROP_RULE=<resource>/<verb>` (e.g. `secrets/create`) removes that verb from
//! the rendered rules before they are applied: the tests must then fail (docs/testing.md,
//! "Proving the chart RBAC test can fail").

use std::process::{Child, Command, Stdio};

use meshes_testenv::TestEnv;
use serde_json::Value;

use crate::chart_support::{Rendered, render};
use crate::support::{SOON, World, eventually};

/// The operator process, killed when dropped so a failing test never leaves one running.
pub(crate) struct Operator(pub(crate) Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stops the operator as the kubelet would, with SIGTERM, and waits until it exits by itself
/// (successfully) within the chart's `terminationGracePeriodSeconds`: its drain and the
/// release of its Lease (an `update`) belong to what the audit log must show.
pub(crate) async fn stop(op: Operator, rendered: &Rendered) {
    let grace =
        rendered.one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("terminationGracePeriodSeconds");
    let mut op = op;
    let status = Command::new("kill")
        .args(["-TERM", &op.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(grace);
    loop {
        if let Some(exit) = op.0.try_wait().unwrap() {
            assert!(exit.success(), "the operator exited with {exit} on SIGTERM");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the operator did not stop within terminationGracePeriodSeconds ({grace}s)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A free loopback port (bound and released; good enough for one test's listeners).
pub(crate) fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port().to_string()
}

/// The chart's rules with `MESHES_CHART_DROP_RULE` applied (the control that shows this test
/// fails without a needed rule).
pub(crate) fn drop_rule(mut rendered: Rendered) -> Rendered {
    let Ok(spec) = std::env::var("MESHES_CHART_DROP_RULE") else {
        return rendered;
    };
    let (resource, verb) = spec
        .split_once('/')
        .expect("MESHES_CHART_DROP_RULE=<resource>/<verb>");
    eprintln!("[chart] dropping {verb} on {resource} from the chart's rules");
    for doc in rendered.docs.iter_mut() {
        // `get_mut`, not indexing: indexing a Value mutably inserts the key.
        let rules = doc.get_mut("rules").and_then(Value::as_array_mut);
        for rule in rules.into_iter().flatten() {
            if rule["resources"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == resource))
                && let Some(verbs) = rule["verbs"].as_array_mut()
            {
                verbs.retain(|v| v != verb);
            }
        }
    }
    rendered
}

/// Applies the chart's ServiceAccount and RBAC objects (as admin), as `helm install` would.
pub(crate) fn install_identity(env: &TestEnv, rendered: &Rendered) {
    let kinds = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    let docs: Vec<String> = rendered
        .docs
        .iter()
        .filter(|d| kinds.iter().any(|k| d["kind"] == *k))
        .map(|d| serde_json::to_string(d).unwrap())
        .collect();
    assert!(docs.len() >= 3, "the chart renders its identity");
    let file =
        std::env::temp_dir().join(format!("meshes-chart-rbac-{}.yaml", rand::random::<u32>()));
    std::fs::write(&file, docs.join("\n---\n")).unwrap();
    let out = env
        .kubectl()
        .args(["apply", "--server-side", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The chart's arguments, checked to be flags this binary knows (so a rendered flag the
/// binary lacks fails here with its name, not as an exit status).
pub(crate) fn runnable(args: Vec<String>) -> Vec<String> {
    let known = crate::chart_render::run_flags();
    for a in &args {
        let flag = a.split('=').next().unwrap_or_default();
        assert!(
            !flag.starts_with("--") || known.contains(flag),
            "the chart renders {flag}, unknown to meshes-operator run"
        );
    }
    args
}

/// The chart's probes and metrics answer on the ports it renders: `/livez` and `/readyz` on
/// the health port, `/metrics` on the metrics port.
pub(crate) async fn probes_answer(ports: &(String, String)) {
    let http = reqwest::Client::new();
    for (port, path) in [
        (&ports.1, "/livez"),
        (&ports.1, "/readyz"),
        (&ports.0, "/metrics"),
    ] {
        let url = format!("http://127.0.0.1:{port}{path}");
        eventually(
            &format!("200 from {url}"),
            SOON,
            || async {
                http.get(&url)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16())
            },
            |code| *code == 200,
        )
        .await;
    }
}

/// Starts the operator binary as the chart's ServiceAccount with the chart's arguments.
pub(crate) async fn start_operator(
    env: &TestEnv,
    rendered: &Rendered,
    release_ns: &str,
    log: &std::path::Path,
) -> Operator {
    let sa = rendered.one("ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let kubeconfig = env
        .service_account_kubeconfig(release_ns, &sa)
        .await
        .unwrap();
    let args = runnable(rendered.args());
    assert_eq!(args[0], "run");
    let child = Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
        .args(&args)
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAMESPACE", release_ns)
        .env("POD_NAME", format!("{sa}-test-0"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Operator(child)
}

/// The chart's values for a test run: the emulator, free ports, text logs.
pub(crate) fn sets<'a>(
    w: &'a World,
    ports: &'a (String, String),
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, String)> {
    let mut out = vec![
        ("meshes.apiUrl", w.emu.base_url()),
        ("meshes.eventsUrl", "http://127.0.0.1:9/api/v1".to_string()),
        ("metrics.port", ports.0.clone()),
        ("health.port", ports.1.clone()),
        ("logging.format", "text".to_string()),
        ("reconcile.secretGrace", "5s".to_string()),
    ];
    out.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    out
}

pub(crate) fn render_for(release: &str, ns: &str, sets: &[(&str, String)]) -> Rendered {
    let pairs: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    drop_rule(render(release, ns, &[], &pairs).expect("helm template"))
}
