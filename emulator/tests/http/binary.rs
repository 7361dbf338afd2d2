//! The `meshes-emulator` binary: credentials from flags, the printed Secret manifest, a seed
//! file, a `--fault` flag and the rule de-duplication env var, exercised over HTTP; the child is
//! killed at the end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use meshes_emulator::Credentials;

use crate::common::Api;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_a_secret_and_serves_with_flag_credentials_seed_and_faults() {
    let creds = Credentials {
        access_key: "mk_binary0test0key00000000001".into(),
        secret_key: "binary-test-secret-0000000000000000000000000000".into(),
        org_id: "0b0b0b0b-1111-4222-8333-444444444444".into(),
    };
    let dir = std::env::temp_dir().join(format!("meshes-emulator-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed = dir.join("seed.yaml");
    std::fs::write(
        &seed,
        "workspaces:\n  - id: 0b0b0b0b-0000-4000-8000-000000000001\n    name: From Seed File\n",
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_meshes-emulator"))
            .args(["--listen", "127.0.0.1:0", "--seed"])
            .arg(&seed)
            .args(["--fault", "GET /api/v1/rules status=503 next=1"])
            .env("MESHES_EMULATOR_ACCESS_KEY", &creds.access_key)
            .env("MESHES_EMULATOR_SECRET_KEY", &creds.secret_key)
            .env("MESHES_EMULATOR_ORG_ID", &creds.org_id)
            .env("MESHES_EMULATOR_RULE_DEDUP", "none")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("MESHES_ORG_ID:");
            out.push(line);
            if done {
                break;
            }
        }
        out
    });
    let lines = tokio::time::timeout(std::time::Duration::from_secs(60), lines)
        .await
        .unwrap()
        .unwrap();
    let text = lines.join("\n");
    let manifest: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(manifest["kind"], "Secret");
    assert_eq!(
        manifest["stringData"]["MESHES_ACCESS_KEY"].as_str(),
        Some(creds.access_key.as_str())
    );
    assert_eq!(
        manifest["stringData"]["MESHES_SECRET_KEY"].as_str(),
        Some(creds.secret_key.as_str())
    );
    assert_eq!(
        manifest["stringData"]["MESHES_ORG_ID"].as_str(),
        Some(creds.org_id.as_str())
    );
    let base = lines
        .iter()
        .find_map(|l| l.strip_prefix("# Meshes emulator listening on "))
        .unwrap()
        .to_owned();

    let api = Api {
        http: reqwest::Client::new(),
        base,
        creds,
        user_agent: "bin-test".into(),
    };
    let ws = api
        .ok(
            "GET",
            "/api/v1/workspaces/0b0b0b0b-0000-4000-8000-000000000001",
            None,
        )
        .await;
    assert_eq!(ws["name"], "From Seed File");
    assert_eq!(api.call("GET", "/api/v1/rules", None).await.0, 503);
    assert_eq!(api.call("GET", "/api/v1/rules", None).await.0, 200);
    // MESHES_EMULATOR_RULE_DEDUP=none: the mode is reported and identical rules are accepted.
    let mode: serde_json::Value = api
        .http
        .get(format!("{}/_emulator/rule-dedup", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mode["mode"], "none");
    let ws = "0b0b0b0b-0000-4000-8000-000000000001";
    let conn = api.create_webhook(ws, "Bin Hook").await;
    let a = api.create_rule(ws, &conn, "user.signup").await;
    let b = api.create_rule(ws, &conn, "user.signup").await;
    assert_ne!(a, b);
    let _ = std::fs::remove_dir_all(&dir);
}
