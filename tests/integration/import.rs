//! `meshes-operator import` round trip: an account made "in the dashboard" (the emulator seeded
//! from `examples/import/seed.json`: 3 workspaces, webhook, API-key and OAuth connections, 20
//! rules, some inactive or hidden) → manifests → `kubectl apply -k` → every CR Ready with zero
//! writes upstream, under Observe and then Manage; an upstream edit is reported (Observe) or
//! corrected (Manage).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::process::Command;

use meshes_emulator::Seed;
use meshes_testenv::TestEnv;
use serde_json::{Value, json};

use crate::support::{SOON, World, condition, eventually};

const KINDS: [&str; 3] = ["MeshesWorkspace", "MeshesConnection", "MeshesRule"];

/// Runs the import binary against `w`'s emulator (asynchronously: the emulator answers from
/// this test's runtime); returns whether it found the account unchanged, and its output.
async fn import(w: &World, creds_file: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
        .args([
            "import",
            "--api-url",
            &w.emu.base_url(),
            "--namespace",
            &w.ns,
        ])
        .arg("--credentials-file")
        .arg(creds_file)
        .args(args)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "import failed ({:?}): {stderr}",
        out.status
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &stderr,
    )
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

async fn apply_k(dir: &Path) {
    let env = TestEnv::shared().await;
    let out = env
        .kubectl()
        .arg("apply")
        .arg("-k")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply -k: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Upstream writes so far (every method but GET).
fn writes(w: &World) -> u64 {
    w.emu
        .admin()
        .counters()
        .routes
        .iter()
        .filter(|(k, _)| !k.starts_with("GET "))
        .map(|(_, n)| n)
        .sum()
}

async fn all(w: &World) -> Vec<Value> {
    let mut out = Vec::new();
    for kind in KINDS {
        let list = w.dynamic(kind).list(&Default::default()).await.unwrap();
        out.extend(
            list.items
                .into_iter()
                .map(|o| serde_json::to_value(o).unwrap()),
        );
    }
    out
}

/// Waits until all `n` imported objects are Ready for their current generation.
async fn wait_all_ready(w: &World, n: usize) -> Vec<Value> {
    eventually(
        "every imported object Ready",
        SOON,
        || async { Some(all(w).await) },
        |objs| {
            objs.len() == n
                && objs.iter().all(|o| {
                    condition(&o["status"], "Ready").is_some_and(|(s, _, _, g)| {
                        s == "True" && g == o["metadata"]["generation"].as_i64()
                    })
                })
        },
    )
    .await
}

fn drifted(o: &Value) -> bool {
    condition(&o["status"], "Drifted").is_some_and(|(s, ..)| s == "True")
}

#[tokio::test]
async fn an_imported_account_is_adopted_without_a_single_write() {
    let mut w = World::new("import").await;
    let org = w.emu.credentials().org_id;
    let mut seed: Seed = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/import/seed.json"),
        )
        .unwrap(),
    )
    .unwrap();
    seed.credentials.clear();
    for ws in &mut seed.workspaces {
        ws.org_id = Some(org.clone());
    }
    w.emu.admin().seed(&seed).unwrap();
    let c = w.emu.credentials();
    let tmp = std::env::temp_dir().join(format!("meshes-import-{}", w.ns));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let creds = tmp.join("creds.env");
    std::fs::write(
        &creds,
        format!(
            "MESHES_ACCESS_KEY={}\nMESHES_SECRET_KEY={}\nMESHES_ORG_ID={}\n",
            c.access_key, c.secret_key, c.org_id
        ),
    )
    .unwrap();

    // Import twice: byte-identical; --diff against it: no change (exit 0).
    let (one, two) = (tmp.join("one"), tmp.join("two"));
    assert!(
        import(&w, &creds, &["--out", one.to_str().unwrap()])
            .await
            .0
    );
    assert!(
        import(&w, &creds, &["--out", two.to_str().unwrap()])
            .await
            .0
    );
    let written = files(&one);
    assert_eq!(written, files(&two), "a second import differs");
    let (same, report) = import(&w, &creds, &["--diff", one.to_str().unwrap()]).await;
    assert!(same, "{report}");
    // 3 folders with a kustomization, 3 workspaces, 7 connections, 20 rules.
    let count = |prefix: &str| {
        written
            .keys()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .count()
    };
    assert_eq!(
        (count("workspace"), count("connection-"), count("rule-")),
        (3, 7, 20)
    );
    let readme = String::from_utf8(written[Path::new("README.md")].clone()).unwrap();
    assert!(readme.contains("newsletter-settings"), "{readme}");
    assert!(!readme.contains("sk-not-echoed"), "a secret setting leaked");
    let acme_rule = String::from_utf8(
        written[Path::new("acme-prod/rule-acme-prod-orders-hook-user-deleted-users-u-1.yaml")]
            .clone(),
    )
    .unwrap();
    assert!(
        acme_rule.contains("connectionRef:") && acme_rule.contains("hidden: true"),
        "{acme_rule}"
    );

    // Observe: everything Ready, nothing written upstream, nothing Drifted.
    w.emu.admin().reset_counters();
    w.start_operator(World::fast_config()).await;
    apply_k(&one).await;
    let objs = wait_all_ready(&w, 30).await;
    assert_eq!(writes(&w), 0, "{:?}", w.emu.admin().counters().routes);
    assert!(
        w.emu.admin().counters().total > 0,
        "the operator read Meshes"
    );
    assert!(!objs.iter().any(drifted), "an object reports drift");

    // Every upstream object is bound by exactly one CR.
    let mut bound: BTreeMap<String, usize> = BTreeMap::new();
    for o in &objs {
        let id = ["workspaceId", "connectionId", "ruleId"]
            .iter()
            .zip(KINDS)
            .find(|(_, k)| o["kind"] == *k)
            .map(|(f, _)| o["status"][f].as_str().unwrap().to_owned())
            .unwrap();
        *bound.entry(id).or_default() += 1;
    }
    let upstream: Vec<String> = [
        w.emu.admin().workspaces(),
        w.emu.admin().connections(),
        w.emu.admin().rules(),
    ]
    .concat()
    .iter()
    .map(|v| v["id"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(upstream.len(), 30);
    for id in &upstream {
        assert_eq!(
            bound.get(id),
            Some(&1),
            "{id} bound {:?} times",
            bound.get(id)
        );
    }

    // Manage: still Ready, still no write.
    assert!(
        import(&w, &creds, &["--manage", "--out", one.to_str().unwrap()])
            .await
            .0
    );
    apply_k(&one).await;
    let objs = wait_all_ready(&w, 30).await;
    assert!(
        objs.iter()
            .all(|o| o["spec"]["managementPolicy"] == "Manage")
    );
    assert_eq!(writes(&w), 0, "{:?}", w.emu.admin().counters().routes);

    // One upstream edit under Manage: corrected (the only write).
    let beta = "0a11ce00-0000-4000-8000-000000000002";
    assert!(w.emu.admin().rename_workspace(beta, "Beta Renamed"));
    let nudge =
        |v: &str| json!({"metadata": {"annotations": {"meshes.io/reconcile-requested-at": v}}});
    w.patch_kind("MeshesWorkspace", "beta-shop", nudge("1"))
        .await;
    eventually(
        "the rename corrected upstream",
        SOON,
        || async { Some(w.emu.admin().workspaces()) },
        |ws| {
            ws.iter()
                .any(|x| x["id"] == beta && x["name"] == "Beta Shop")
        },
    )
    .await;
    assert_eq!(writes(&w), 1, "{:?}", w.emu.admin().counters().routes);

    // Under Observe the same edit is reported, not corrected.
    w.patch_kind(
        "MeshesWorkspace",
        "beta-shop",
        json!({"spec": {"managementPolicy": "Observe"}}),
    )
    .await;
    w.wait_ready_kind("MeshesWorkspace", "beta-shop").await;
    assert!(w.emu.admin().rename_workspace(beta, "Beta Renamed"));
    w.patch_kind("MeshesWorkspace", "beta-shop", nudge("2"))
        .await;
    let ws = eventually(
        "Drifted reported",
        SOON,
        || w.get_json("MeshesWorkspace", "beta-shop"),
        drifted,
    )
    .await;
    let (_, _, message, _) = condition(&ws["status"], "Drifted").unwrap();
    assert!(message.contains("name"), "{message}");
    assert_eq!(writes(&w), 1, "Observe wrote upstream");
    assert!(
        w.emu
            .admin()
            .workspaces()
            .iter()
            .any(|x| x["id"] == beta && x["name"] == "Beta Renamed")
    );
    // --diff now names the changed workspace file.
    let (same, report) = import(&w, &creds, &["--manage", "--diff", one.to_str().unwrap()]).await;
    assert!(
        !same && report.contains("beta-shop/workspace.yaml"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
