//! Helpers for the GitOps tests (docs/gitops.md): the `gitopscheck` tool (Argo CD health in
//! gopher-lua, kstatus), the pinned kubectl run without blocking the test's runtime, committed
//! fixtures of live objects, and the list of what the operator writes on objects users apply.

use std::path::PathBuf;
use std::process::Stdio;

use meshes_operator::resources::finalizers;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

/// The argocd-cm keys of the three kinds' health checks.
pub const ARGOCD_HEALTH_KEYS: [&str; 3] = [
    "resource.customizations.health.meshes.io_MeshesConnection",
    "resource.customizations.health.meshes.io_MeshesRule",
    "resource.customizations.health.meshes.io_MeshesWorkspace",
];

/// Annotations the operator writes on the custom resources users apply: none since issue 16
/// (the Meshes ID is recorded in status only; `meshes.io/external-id` is the user's to set).
pub const OPERATOR_ANNOTATIONS: [&str; 0] = [];
/// Finalizers the operator adds to the custom resources.
pub const OPERATOR_FINALIZERS: [&str; 1] = [finalizers::FINALIZER];
/// Finalizers the operator adds to credential Secrets.
pub const SECRET_FINALIZERS: [&str; 1] = [finalizers::CREDENTIALS_IN_USE];

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Argo CD health script shipped in the chart.
pub fn health_script() -> PathBuf {
    repo().join("charts/meshes-operator/files/argocd-health.lua")
}

/// One object's verdict from `gitopscheck`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: String,
    pub name: String,
    pub status: String,
    pub message: String,
}

/// Runs `gitopscheck <args>` (built by testenv/scripts/build.sh into `$MESHES_TESTENV_BIN`) on
/// `objects`; one verdict per object, in order. Panics when the tool is missing: CI must run it.
pub async fn gitopscheck(args: &[&str], objects: &[Value]) -> Vec<Verdict> {
    let bin = meshes_testenv::bins::binary("gitopscheck").unwrap_or_else(|e| panic!("{e:#}"));
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args);
    let out = run(
        cmd,
        &serde_json::to_vec(&json!({"kind": "List", "items": objects})).unwrap(),
    )
    .await;
    assert!(out.0, "gitopscheck {args:?} failed: {}", out.2);
    let verdicts: Vec<Verdict> = out
        .1
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            Verdict {
                kind: s("kind"),
                name: s("name"),
                status: s("status"),
                message: s("message"),
            }
        })
        .collect();
    assert_eq!(verdicts.len(), objects.len(), "{}", out.1);
    verdicts
}

/// Runs `cmd` with `stdin`: (success, stdout, stderr).
pub async fn run(mut cmd: tokio::process::Command, stdin: &[u8]) -> (bool, String, String) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the pinned kubectl (admin kubeconfig) with `args` and `stdin`: (exit code, stdout,
/// stderr). Async, so the in-process operator and emulator keep running meanwhile.
pub async fn kubectl(args: &[&str], stdin: &str) -> (i32, String, String) {
    let env = meshes_testenv::TestEnv::shared().await;
    let mut cmd = tokio::process::Command::from(env.kubectl());
    cmd.args(args)
        .env("KUBECTL_EXTERNAL_DIFF", "diff -u")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A live object made comparable across runs: server-generated metadata dropped, times and
/// IDs replaced by placeholders, the test namespace and emulator port masked. What is left is
/// what the operator decides: conditions (type, status, reason, message, observedGeneration),
/// status fields, its annotations and finalizers, and the presence of a deletionTimestamp.
pub fn normalise(obj: &Value, ns: &str) -> Value {
    let mut v = obj.clone();
    let meta = v["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "namespace",
    ] {
        meta.remove(k);
    }
    if meta.contains_key("deletionTimestamp") {
        meta.insert("deletionTimestamp".into(), json!("<time>"));
    }
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    if let Some(conds) = v
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds.iter_mut() {
            c["lastTransitionTime"] = json!("<time>");
        }
        conds.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
    }
    mask(&mut v, ns);
    v
}

/// Replaces timestamps with `<time>` and, in every string, UUIDs with `<uuid>`, 64-hex hashes
/// with `<hash>`, loopback ports with `<port>` and the namespace with `<ns>`.
fn mask(v: &mut Value, ns: &str) {
    match v {
        Value::String(s) if is_time(s) => *s = "<time>".into(),
        Value::String(s) => *s = mask_str(s, ns),
        Value::Array(a) => a.iter_mut().for_each(|x| mask(x, ns)),
        Value::Object(m) => m.values_mut().for_each(|x| mask(x, ns)),
        _ => {}
    }
}

fn mask_str(s: &str, ns: &str) -> String {
    let s = s.replace(ns, "<ns>");
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let hex_run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() || **c == '-')
            .count();
        let run: String = chars[i..i + hex_run].iter().collect();
        let boundary = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if boundary && is_uuid(&run[..run.len().min(36)]) {
            out.push_str("<uuid>");
            i += 36;
        } else if boundary && hex_run >= 64 && run[..64].chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str("<hash>");
            i += 64;
        } else if s[byte(&chars, i)..].starts_with("127.0.0.1:") {
            out.push_str("127.0.0.1:<port>");
            i += "127.0.0.1:".len();
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// An RFC 3339 time as Kubernetes writes it (`2026-12-01T08:02:51Z`, maybe with fractions).
fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b.ends_with(b"Z")
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 if b.len() > 20 => *c == b'.',
            _ => c.is_ascii_digit() || (i == b.len() - 1),
        })
}

fn byte(chars: &[char], i: usize) -> usize {
    chars[..i].iter().map(|c| c.len_utf8()).sum()
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The committed fixture `tests/fixtures/gitops/<name>.json`.
pub fn fixture_path(name: &str) -> PathBuf {
    repo()
        .join("tests/fixtures/gitops")
        .join(format!("{name}.json"))
}

/// Compares `actual` with its committed fixture; with `MESHES_UPDATE_FIXTURES=1` rewrites it
/// instead. Returns a readable difference, or `None` when they match.
pub fn check_fixture(name: &str, actual: &Value) -> Option<String> {
    let path = fixture_path(name);
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var("MESHES_UPDATE_FIXTURES").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return None;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    (committed != text).then(|| {
        format!(
            "{} differs from the live object (regenerate: MESHES_UPDATE_FIXTURES=1 cargo test -p \
             meshes-operator --test integration gitops::):\n{}",
            path.display(),
            line_diff(&committed, &text)
        )
    })
}

/// A minimal line diff: the lines only in `old` (`-`) and only in `new` (`+`), in order.
pub fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // Longest common subsequence table, fine for fixtures of a few dozen lines.
    let mut l = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] {
                l[i + 1][j + 1] + 1
            } else {
                l[i + 1][j].max(l[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// The quickstart's Secrets and Meshes objects (not the app), as a GitOps repository would hold
/// them: in namespace `ns`, with the emulator's `credentials` in place of the placeholders.
pub fn quickstart_manifests(ns: &str, creds: &meshes_emulator::Credentials) -> Vec<Value> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for file in [
        "00-credentials.yaml",
        "01-workspace.yaml",
        "02-webhook.yaml",
        "03-rules.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join("examples/quickstart").join(file)).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let mut v =
                serde_json::to_value(serde_yaml_ng::Value::deserialize(doc).unwrap()).unwrap();
            if v.is_null() {
                continue;
            }
            v["metadata"]["namespace"] = json!(ns);
            if v["metadata"]["name"] == "meshes-credentials" {
                v["stringData"] = json!({
                    "MESHES_ACCESS_KEY": creds.access_key,
                    "MESHES_SECRET_KEY": creds.secret_key,
                    "MESHES_ORG_ID": creds.org_id,
                });
            }
            out.push(v);
        }
    }
    out
}

/// The live object as Argo CD compares it with the manifest: status, server-set metadata,
/// kubectl's last-applied annotation, and the operator's documented annotations and finalizers
/// removed (empty maps and lists left behind removed too).
pub fn argo_comparable(live: &Value) -> Value {
    let mut v = live.clone();
    let obj = v.as_object_mut().unwrap();
    obj.remove("status");
    let meta = obj["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
    ] {
        meta.remove(k);
    }
    let drop_empty = |meta: &mut Map<String, Value>, key: &str| {
        if meta.get(key).is_some_and(|x| {
            x.as_object().is_some_and(Map::is_empty) || x.as_array().is_some_and(Vec::is_empty)
        }) {
            meta.remove(key);
        }
    };
    if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        for k in OPERATOR_ANNOTATIONS {
            a.remove(k);
        }
    }
    drop_empty(meta, "annotations");
    if let Some(f) = meta.get_mut("finalizers").and_then(Value::as_array_mut) {
        f.retain(|x| {
            !x.as_str()
                .is_some_and(|x| OPERATOR_FINALIZERS.contains(&x) || SECRET_FINALIZERS.contains(&x))
        });
    }
    drop_empty(meta, "finalizers");
    v
}
