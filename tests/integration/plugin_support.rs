//! Fixtures for the `kubectl meshes` tests: the quickstart pointed at an in-test webhook
//! receiver (switchable status, can go down and come back on the same port), the plugin run
//! in-process with its output captured, output normalisation for goldens (UUIDs, times, ages,
//! ports, the test namespace) and the golden files under `plugin/tests/golden/`
//! (`UPDATE_GOLDEN=1` rewrites them; otherwise any drift fails the test).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshes_emulator::{DeliveryConfig, EmulatorConfig};
use meshes_operator::controllers::config::OperatorConfig;
use meshes_testenv::TestEnv;
use serde_json::json;

use crate::support::{World, quickstart};

/// A webhook receiver on loopback: answers `status` and records every body it got.
pub struct Receiver {
    pub url: String,
    pub status: Arc<AtomicU16>,
    pub bodies: Arc<Mutex<Vec<String>>>,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Starts on a free port.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut r = Receiver {
            url: format!("http://{addr}/meshes"),
            status: Arc::new(AtomicU16::new(200)),
            bodies: Arc::new(Mutex::new(Vec::new())),
            addr,
            stop: None,
            task: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (status, bodies) = (self.status.clone(), self.bodies.clone());
        let app = axum::Router::new().route(
            "/meshes",
            axum::routing::any(move |body: String| {
                let (status, bodies) = (status.clone(), bodies.clone());
                async move {
                    bodies.lock().unwrap().push(body);
                    let code = status.load(Ordering::SeqCst);
                    (axum::http::StatusCode::from_u16(code).unwrap(), "ok")
                }
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    rx.await.ok();
                })
                .await
                .ok();
        }));
    }

    /// Stops listening: deliveries now fail with `network_error`.
    pub async fn down(&mut self) {
        if let Some(tx) = self.stop.take() {
            tx.send(()).ok();
        }
        if let Some(t) = self.task.take() {
            t.abort();
            t.await.ok();
        }
        // Positive check that it is really down.
        assert!(tokio::net::TcpStream::connect(self.addr).await.is_err());
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

/// A world running the quickstart (its webhook pointed at `receiver`), every object Ready.
pub async fn quickstart_world(prefix: &str, receiver: &Receiver) -> World {
    let config = EmulatorConfig {
        allow_insecure_loopback_webhooks: true,
        delivery: DeliveryConfig::fast(),
        ..Default::default()
    };
    let mut w = World::with_emulator(prefix, config).await;
    let operator = OperatorConfig {
        events_url: w.emu.events_url(),
        ..World::fast_config()
    };
    w.start_operator(operator).await;
    let text = quickstart().replace("https://hooks.acme.example/meshes", &receiver.url);
    assert!(
        text.contains(&receiver.url),
        "the quickstart's webhook URL changed"
    );
    w.apply_yaml(&text).await;
    w.put_emulator_credentials().await;
    for (kind, name) in OBJECTS {
        w.wait_ready_kind(kind, name).await;
    }
    w
}

/// The quickstart's custom resources.
pub const OBJECTS: [(&str, &str); 4] = [
    ("MeshesWorkspace", "acme-prod"),
    ("MeshesConnection", "signup-hook"),
    ("MeshesRule", "signup-to-hook"),
    ("MeshesRule", "payment-failed-to-hook"),
];

/// What one plugin run printed.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Runs `kubectl meshes ARGS` in-process as the admin (or with `kubeconfig`), against this
/// world's namespace and emulator, with stdout not a terminal (as when piped).
pub async fn plugin(w: &World, kubeconfig: Option<&std::path::Path>, args: &[&str]) -> Run {
    plugin_on(w, kubeconfig, false, args).await
}

/// Like [`plugin`], saying whether stdout is a terminal. With `PLUGIN_TRANSCRIPT=FILE` every
/// run is appended to FILE as a shell session (how the README's captured session was made).
pub async fn plugin_on(
    w: &World,
    kubeconfig: Option<&std::path::Path>,
    terminal: bool,
    args: &[&str],
) -> Run {
    let env = TestEnv::shared().await;
    let kc = kubeconfig
        .unwrap_or(env.admin_kubeconfig())
        .display()
        .to_string();
    let api = w.emu.base_url();
    let mut argv = vec![
        "kubectl-meshes",
        "--kubeconfig",
        &kc,
        "-n",
        &w.ns,
        "--api-url",
        &api,
    ];
    argv.extend(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = {
        let mut io = kubectl_meshes::Io {
            out: &mut out,
            err: &mut err,
            terminal,
        };
        kubectl_meshes::run(argv, &mut io).await
    };
    let run = Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    };
    if let Ok(path) = std::env::var("PLUGIN_TRANSCRIPT") {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') || a.contains('"') {
                    format!("'{a}'")
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        writeln!(
            f,
            "$ kubectl meshes {} -n {}\n{}{}",
            shown.join(" "),
            w.ns,
            run.out,
            run.err
        )
        .unwrap();
        if run.code != 0 {
            writeln!(f, "(exit status {})", run.code).unwrap();
        }
    }
    run
}

/// Sends `event` with the workspace's publishable key (as an app would) and waits until
/// Meshes has finished with it.
pub async fn ingest(w: &World, event: &str) -> String {
    let ws = w.get_json("MeshesWorkspace", "acme-prod").await.unwrap();
    let ws_id = ws["status"]["workspaceId"].as_str().unwrap();
    let key = w.emu.admin().publishable_key(ws_id).unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/events", w.emu.events_url()))
        .header("X-Meshes-Publishable-Key", key)
        .json(&json!({"event": event, "payload": {"email": "ada@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["event"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = w
        .emu
        .admin()
        .wait_for_event(&id, Duration::from_secs(30))
        .await;
    assert!(done.is_some(), "event {id} did not finish");
    id
}

fn is_uuid_at(s: &str, i: usize) -> bool {
    s.get(i..i + 36)
        .is_some_and(|c| uuid::Uuid::try_parse(c).is_ok())
}

/// Makes output comparable across runs: the n-th distinct UUID becomes
/// `00000000-0000-4000-8000-0000000000nn` (same width, so columns stay aligned), RFC 3339
/// times `<time>`, loopback ports `<port>`, the namespace `<ns>`, and the AGE column (the last
/// word of a table row) `<age>`.
pub fn normalize(text: &str, ns: &str) -> String {
    let text = text.replace(ns, "<ns>");
    let mut ids: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        if text.is_char_boundary(i) && is_uuid_at(&text, i) {
            let id = &text[i..i + 36];
            let n = match ids.iter().position(|x| x == id) {
                Some(n) => n + 1,
                None => {
                    ids.push(id.to_owned());
                    ids.len()
                }
            };
            out.push_str(&format!("00000000-0000-4000-8000-{n:012}"));
            i += 36;
            continue;
        }
        let rest = &text[i..];
        if let Some(after) = rest.strip_prefix("127.0.0.1:") {
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            out.push_str("127.0.0.1:<port>");
            i += "127.0.0.1:".len() + digits;
            continue;
        }
        if rest.len() >= 20
            && rest.as_bytes()[4] == b'-'
            && rest.as_bytes()[10] == b'T'
            && rest[..4].chars().all(|c| c.is_ascii_digit())
        {
            let end = rest
                .find(|c: char| c == '"' || c.is_whitespace())
                .unwrap_or(rest.len());
            if chrono::DateTime::parse_from_rfc3339(&rest[..end]).is_ok() {
                out.push_str("<time>");
                i += end;
                continue;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out.lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((head, last)) if is_age(last) && l.contains("Meshes") => {
                format!("{head} <age>")
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn is_age(s: &str) -> bool {
    let mut rest = s;
    let mut units = 0;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let unit = rest[digits..].chars().next();
        if digits == 0 || !matches!(unit, Some('s' | 'm' | 'h' | 'd')) {
            return false;
        }
        rest = &rest[digits + 1..];
        units += 1;
    }
    units > 0
}

/// Compares `actual` with `plugin/tests/golden/NAME` (or writes it when `UPDATE_GOLDEN=1`).
pub fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plugin/tests/golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "golden {name} drifted (UPDATE_GOLDEN=1 rewrites it after review)\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

#[test]
fn normalisation_is_stable_and_keeps_widths() {
    let a = "MeshesRule/x   True   2f9ff4cd-f4f1-4bbe-9999-ba3924179317   3m20s\nid 2f9ff4cd-f4f1-4bbe-9999-ba3924179317 at 2026-05-01T10:00:00.123Z on http://127.0.0.1:4242 in ns-1";
    let n = normalize(a, "ns-1");
    assert_eq!(
        n,
        "MeshesRule/x   True   00000000-0000-4000-8000-000000000001   <age>\nid 00000000-0000-4000-8000-000000000001 at <time> on http://127.0.0.1:<port> in <ns>\n"
    );
    assert!(is_age("45s") && is_age("2h5m") && !is_age("True") && !is_age("5x"));
}
