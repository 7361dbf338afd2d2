//! GitOps behaviour (issue 15, docs/gitops.md): manifests applied as Argo CD and Flux apply
//! them (server-side and client-side `kubectl apply`) show no difference once reconciled, apart
//! from the status, annotations and finalizers documented for `ignoreDifferences`; any apply
//! order converges; and the documentation's snippets are exactly what the chart ships and what
//! the operator writes.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::gitops_support::{
    ARGOCD_HEALTH_KEYS, OPERATOR_ANNOTATIONS, OPERATOR_FINALIZERS, SECRET_FINALIZERS,
    argo_comparable, health_script, kubectl, quickstart_manifests, repo,
};
use crate::support::World;

/// The manifests as one multi-document YAML text, in the given order.
fn yaml(manifests: &[Value]) -> String {
    manifests
        .iter()
        .map(|m| serde_yaml_ng::to_string(m).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A world whose credentials Secret comes from the manifests (not from the fixture), with the
/// operator running.
async fn gitops_world(prefix: &str) -> (World, Vec<Value>) {
    let mut w = World::new(prefix).await;
    w.delete("Secret", "meshes-credentials").await;
    w.wait_gone("Secret", "meshes-credentials").await;
    w.start_operator(World::fast_config()).await;
    let manifests = quickstart_manifests(&w.ns, &w.emu.credentials());
    (w, manifests)
}

async fn wait_all_ready(w: &World, manifests: &[Value]) -> Vec<Value> {
    let names = |m: &Value| {
        (
            m["kind"].as_str().unwrap().to_string(),
            m["metadata"]["name"].as_str().unwrap().to_string(),
        )
    };
    for (kind, name) in manifests.iter().map(names) {
        if kind.starts_with("Meshes") {
            w.wait_ready_kind(&kind, &name).await;
        }
    }
    // Read once everything is Ready, so the Secrets carry what the operator adds to them.
    let mut live = Vec::new();
    for (kind, name) in manifests.iter().map(names) {
        live.push(w.get_json(&kind, &name).await.unwrap());
    }
    live
}

/// A live Secret in manifest form: `data` decoded back into `stringData`, the API's default
/// `type: Opaque` dropped.
fn secret_as_applied(live: &Value) -> Value {
    let mut v = live.clone();
    let data = v
        .as_object_mut()
        .unwrap()
        .remove("data")
        .unwrap_or(json!({}));
    let decoded: serde_json::Map<String, Value> = data
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, b64)| {
            let bytes: k8s_openapi::ByteString = serde_json::from_value(b64.clone()).unwrap();
            (k.clone(), json!(String::from_utf8(bytes.0).unwrap()))
        })
        .collect();
    v["stringData"] = Value::Object(decoded);
    if v["type"] == "Opaque" {
        v.as_object_mut().unwrap().remove("type");
    }
    v
}

/// Applies the quickstart with `apply` (kubectl arguments), waits until everything is Ready,
/// then diffs each manifest with its live object as Argo CD does, and runs `diff` (kubectl
/// arguments) which must report nothing. Returns the failures.
async fn applied_and_diffed(prefix: &str, apply: &[&str], diff: &[&str]) -> Vec<String> {
    let (w, manifests) = gitops_world(prefix).await;
    let text = yaml(&manifests);
    let (code, _, err) = kubectl(&[apply, &["-f", "-"]].concat(), &text).await;
    assert_eq!(code, 0, "{apply:?}: {err}");
    let live = wait_all_ready(&w, &manifests).await;
    let mut failures = Vec::new();
    for (m, l) in manifests.iter().zip(&live) {
        let kind = m["kind"].as_str().unwrap();
        let name = m["metadata"]["name"].as_str().unwrap();
        // Positive control: the operator did write what the comparison leaves out.
        let finalizers = l["metadata"]["finalizers"].to_string();
        if kind.starts_with("Meshes") {
            for a in OPERATOR_ANNOTATIONS {
                assert!(
                    l["metadata"]["annotations"][a].is_string(),
                    "{kind}/{name} lacks {a}"
                );
            }
            for f in OPERATOR_FINALIZERS {
                assert!(finalizers.contains(f), "{kind}/{name} lacks finalizer {f}");
            }
        } else if name == "meshes-credentials" {
            for f in SECRET_FINALIZERS {
                assert!(finalizers.contains(f), "{kind}/{name} lacks finalizer {f}");
            }
        }
        let mut comparable = argo_comparable(l);
        if kind == "Secret" {
            comparable = secret_as_applied(&comparable);
        }
        if &comparable != m {
            failures.push(format!(
                "{prefix}: {kind}/{name} differs from its manifest:\nmanifest {m:#}\nlive {comparable:#}"
            ));
        }
    }
    let (code, out, err) = kubectl(&[diff, &["-f", "-"]].concat(), &text).await;
    if code != 0 {
        failures.push(format!(
            "{prefix}: kubectl {diff:?} exit {code}: {out}{err}"
        ));
    }
    failures
}

#[tokio::test]
async fn applied_manifests_show_no_difference_once_reconciled() {
    let started = std::time::Instant::now();
    let (ssa, csa) = tokio::join!(
        applied_and_diffed(
            "gitops-ssa",
            &[
                "apply",
                "--server-side",
                "--field-manager=argocd-controller"
            ],
            &["diff", "--server-side", "--field-manager=argocd-controller"],
        ),
        applied_and_diffed("gitops-csa", &["apply"], &["diff"]),
    );
    eprintln!("applied, reconciled and diffed in {:?}", started.elapsed());
    let failures: Vec<String> = ssa.into_iter().chain(csa).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The quickstart in the worst order (rules, connection, workspace, credentials last), either
/// in one `kubectl apply` or one object at a time with a pause (longer than the operator's
/// debounce, shorter than its Secret grace) so each object is reconciled before the next
/// arrives: all Ready, and each object exists in Meshes exactly once.
async fn reversed(prefix: &str, paced: bool) {
    let (w, mut manifests) = gitops_world(prefix).await;
    manifests.reverse();
    assert_eq!(
        manifests.last().unwrap()["metadata"]["name"],
        "meshes-credentials"
    );
    let apply = ["apply", "--server-side", "-f", "-"];
    if paced {
        for m in &manifests {
            if m["metadata"]["name"] == "meshes-credentials" {
                // Positive control: the workspace was seen without its credentials.
                w.wait_reason_kind("MeshesWorkspace", "acme-prod", "WaitingForSecret")
                    .await;
            }
            if m["kind"] == "MeshesConnection" {
                w.wait_reason_kind("MeshesRule", "signup-to-hook", "WaitingForDependency")
                    .await;
            }
            let (code, _, err) = kubectl(&apply, &yaml(std::slice::from_ref(m))).await;
            assert_eq!(code, 0, "{err}");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    } else {
        let (code, _, err) = kubectl(&apply, &yaml(&manifests)).await;
        assert_eq!(code, 0, "{err}");
    }
    let live = wait_all_ready(&w, &manifests).await;
    let admin = w.emu.admin();
    let upstream = [
        ("MeshesWorkspace", "workspaceId", admin.workspaces()),
        ("MeshesConnection", "connectionId", admin.connections()),
        ("MeshesRule", "ruleId", admin.rules()),
    ];
    let mut bound = 0;
    for (kind, field, objects) in &upstream {
        let ids: Vec<&Value> = live
            .iter()
            .filter(|o| o["kind"] == *kind)
            .map(|o| &o["status"][field])
            .collect();
        assert_eq!(
            ids.len(),
            objects.len(),
            "{prefix}: {kind}: one upstream object per CR: {objects:#?}"
        );
        for id in ids {
            let n = objects.iter().filter(|o| &o["id"] == id).count();
            assert_eq!(n, 1, "{prefix}: {kind} {id} exists exactly once upstream");
            bound += 1;
        }
    }
    assert_eq!(
        bound, 4,
        "{prefix}: a workspace, a connection and two rules"
    );
}

#[tokio::test]
async fn manifests_applied_in_reverse_order_converge() {
    let started = std::time::Instant::now();
    tokio::join!(
        reversed("gitops-order", false),
        reversed("gitops-paced", true)
    );
    eprintln!("both orders converged in {:?}", started.elapsed());
}

/// The fenced YAML blocks of docs/gitops.md.
fn doc_yaml_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("docs/gitops.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => current = Some(String::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

fn doc_yaml_containing(needle: &str) -> Value {
    let block = doc_yaml_blocks()
        .into_iter()
        .find(|b| b.contains(needle))
        .unwrap_or_else(|| panic!("docs/gitops.md has no yaml block with {needle}"));
    serde_json::to_value(
        serde_yaml_ng::Value::deserialize(serde_yaml_ng::Deserializer::from_str(&block)).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_docs_argocd_cm_snippet_is_the_charts_health_script() {
    let cm = doc_yaml_containing("resource.customizations.health.meshes.io_");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let data = cm["data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    let mut expected = ARGOCD_HEALTH_KEYS.to_vec();
    expected.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected);
    let script = std::fs::read_to_string(health_script()).unwrap();
    for (k, v) in data {
        assert_eq!(
            v.as_str(),
            Some(script.as_str()),
            "docs/gitops.md {k} differs from files/argocd-health.lua"
        );
    }
}

#[test]
fn the_docs_ignore_differences_name_exactly_what_the_operator_writes() {
    let app = doc_yaml_containing("ignoreDifferences");
    let entries = app["spec"]["ignoreDifferences"].as_array().unwrap();
    let paths = |group: &str, kind: &str| -> Vec<String> {
        let e = entries
            .iter()
            .find(|e| e["group"] == group && e["kind"] == kind)
            .unwrap_or_else(|| panic!("no ignoreDifferences entry for {group}/{kind}"));
        let mut p: Vec<String> = e["jqPathExpressions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        p.sort();
        p
    };
    let finalizer = |f: &str| format!(".metadata.finalizers[] | select(. == \"{f}\")");
    let mut cr: Vec<String> = vec![".status".to_string()];
    cr.extend(
        OPERATOR_ANNOTATIONS
            .iter()
            .map(|a| format!(".metadata.annotations[\"{a}\"]")),
    );
    cr.extend(OPERATOR_FINALIZERS.iter().map(|f| finalizer(f)));
    cr.sort();
    for kind in ["MeshesWorkspace", "MeshesConnection", "MeshesRule"] {
        assert_eq!(paths("meshes.io", kind), cr, "{kind}");
    }
    let secret: Vec<String> = SECRET_FINALIZERS.iter().map(|f| finalizer(f)).collect();
    assert_eq!(paths("", "Secret"), secret);
    assert_eq!(entries.len(), 4, "{entries:#?}");
}
