//! `--state` across SIGKILL: the real binary as a child process creates objects and events,
//! is killed with SIGKILL (also in the middle of a stream of writes), restarts on the same file,
//! and still has workspaces, connections, rules and event history.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use meshes_emulator::Credentials;
use serde_json::json;

use crate::common::Api;
use crate::delivery::{emit, hook, publishable_key, rule, wait_terminal};
use crate::receiver::Receiver;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Child {
    /// SIGKILL (std's `kill` sends SIGKILL on Unix) and reap.
    fn kill9(mut self) {
        self.0.kill().unwrap();
        let status = self.0.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
}

fn creds() -> Credentials {
    Credentials {
        access_key: "mk_restart0test0key0000000001".into(),
        secret_key: "restart-test-secret-000000000000000000000000000".into(),
        org_id: "0c0c0c0c-1111-4222-8333-444444444444".into(),
    }
}

async fn spawn(state: &Path) -> (Child, Api) {
    let c = creds();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_meshes-emulator"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--allow-insecure-loopback-webhooks",
            ])
            .args([
                "--delivery-backoff-base",
                "20ms",
                "--delivery-backoff-max",
                "100ms",
            ])
            .arg("--state")
            .arg(state)
            .env("MESHES_EMULATOR_ACCESS_KEY", &c.access_key)
            .env("MESHES_EMULATOR_SECRET_KEY", &c.secret_key)
            .env("MESHES_EMULATOR_ORG_ID", &c.org_id)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let base = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(b) = line.strip_prefix("# Meshes emulator listening on ") {
                return b.to_owned();
            }
        }
        panic!("emulator exited before printing its address");
    });
    let base = tokio::time::timeout(Duration::from_secs(60), base)
        .await
        .unwrap()
        .unwrap();
    let api = Api {
        http: reqwest::Client::new(),
        base,
        creds: c,
        user_agent: "restart-test".into(),
    };
    (child, api)
}

#[tokio::test]
async fn state_survives_sigkill_and_restart() {
    let dir = std::env::temp_dir().join(format!("meshes-emulator-state-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let rx = Receiver::start().await;

    let (child, api) = spawn(&state).await;
    let ws = api.create_workspace("Persistent").await;
    let conn = hook(
        &api,
        &ws,
        "kept",
        json!({ "url": rx.url, "signing_secret": "s3cret" }),
    )
    .await;
    let rule_id = rule(&api, &ws, &conn, json!({})).await;
    let key = publishable_key(&api, &ws).await;
    let (s, v) = emit(
        &format!("{}/api/v1", api.base),
        &key,
        json!({ "event": "user.signup", "payload": { "email": "p@example.com" } }),
    )
    .await;
    assert_eq!(s, 201);
    let event_id = v["event"]["id"].as_str().unwrap().to_owned();
    let delivered = wait_terminal(&api, &event_id).await;
    assert_eq!(delivered["status"], "completed");
    let sessions = api
        .ok(
            "POST",
            "/api/v1/sessions",
            Some(json!({ "workspace_id": ws })),
        )
        .await;
    // Snapshots are written within ~200 ms of a change.
    tokio::time::sleep(Duration::from_millis(800)).await;
    child.kill9();

    let (child, api) = spawn(&state).await;
    let w = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    assert_eq!(w["name"], "Persistent");
    assert_eq!(w["publishable_key"]["public_key"], key.as_str());
    let c = api
        .ok("GET", &format!("/api/v1/connections/{conn}"), None)
        .await;
    assert_eq!(c["metadata"]["url"], rx.url.as_str());
    assert!(c["metadata"].get("signing_secret").is_none());
    let r = api
        .ok("GET", &format!("/api/v1/rules/{rule_id}"), None)
        .await;
    assert_eq!(r["connection"], conn.as_str());
    let e = api
        .ok("GET", &format!("/api/v1/events/{event_id}"), None)
        .await;
    assert_eq!(e["status"], "completed");
    assert_eq!(e["rule_events"][0]["attempt_count"], 1);
    let payload = api
        .ok("GET", &format!("/api/v1/events/{event_id}/payload"), None)
        .await;
    assert_eq!(payload["payload"]["email"], "p@example.com");
    let listed = api
        .ok("GET", &format!("/api/v1/sessions?workspace_id={ws}"), None)
        .await;
    assert_eq!(listed["records"][0]["session_id"], sessions["session_id"]);
    // The restored secret still signs deliveries: a new event reaches the receiver.
    let before = rx.count();
    let (s, v) = emit(
        &format!("{}/api/v1", api.base),
        &key,
        json!({ "event": "user.signup", "payload": { "email": "q@example.com" } }),
    )
    .await;
    assert_eq!(s, 201);
    let again = wait_terminal(&api, v["event"]["id"].as_str().unwrap()).await;
    assert_eq!(again["status"], "completed");
    let got = rx.wait_for(before + 1).await;
    assert!(got[before].header("x-meshes-signature").is_some());

    // SIGKILL in the middle of a stream of writes: the file is never torn.
    let writer = {
        let api = api.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let mut accepted = 0usize;
            for i in 0..10_000 {
                let batch: Vec<_> = (0..50)
                    .map(|j| json!({ "event": "bulk.item", "payload": { "i": i, "j": j } }))
                    .collect();
                let resp = reqwest::Client::new()
                    .post(format!("{}/api/v1/events/bulk", api.base))
                    .header("X-Meshes-Publishable-Key", &key)
                    .json(&batch)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().as_u16() == 201 => accepted += 50,
                    _ => break,
                }
            }
            accepted
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill9();
    let accepted = writer.await.unwrap();
    assert!(accepted > 0, "the writer was running when the process died");

    let (_child, api) = spawn(&state).await;
    let w = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    assert_eq!(w["name"], "Persistent");
    let e = api
        .ok("GET", &format!("/api/v1/events/{event_id}"), None)
        .await;
    assert_eq!(e["status"], "completed");
    let bulk = api
        .ok("GET", "/api/v1/events?event=bulk.item&limit=200", None)
        .await;
    assert!(
        bulk["count"].as_u64().unwrap() > 0,
        "some of the stream was persisted"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
