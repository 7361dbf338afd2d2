//! Rendering the Helm chart with the pinned helm (built by `testenv/scripts/build.sh`) and
//! reading the apiserver audit log, for the chart tests (`chart_render.rs`, `chart.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// The chart directory.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/meshes-operator")
}

/// The pinned helm binary, with its caches in a scratch directory (never the user's).
pub fn helm() -> Command {
    let bin = meshes_testenv::bins::binary("helm").expect("the pinned helm");
    let home = std::env::temp_dir().join(format!("meshes-helm-home-{}", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG");
    cmd
}

/// The Kubernetes version helm renders for: the test control plane's, as pinned.
pub fn kube_version() -> String {
    meshes_testenv::bins::version("KUBE_VERSION")
        .unwrap_or("v1.37.2")
        .trim_start_matches('v')
        .to_string()
}

/// Runs helm with `args`; `Ok(stdout)` on success, `Err(stderr)` otherwise.
pub fn run_helm(args: &[String]) -> Result<String, String> {
    let out = helm().args(args).output().expect("running helm");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "helm {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A rendered chart: the text (with the templates' comments) and its documents.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `helm template` output.
    pub text: String,
    /// Every non-empty document.
    pub docs: Vec<Value>,
}

impl Rendered {
    /// Documents of `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    /// The one document of `kind` (panics when there is not exactly one).
    pub fn one(&self, kind: &str) -> &Value {
        let all = self.of_kind(kind);
        assert_eq!(all.len(), 1, "expected one {kind}, got {}", all.len());
        all[0]
    }

    /// The operator container's arguments.
    pub fn args(&self) -> Vec<String> {
        self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("container args")
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The value of `--flag=value` in the operator's arguments.
    pub fn flag(&self, flag: &str) -> Option<String> {
        let prefix = format!("{flag}=");
        self.args()
            .iter()
            .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
    }
}

/// `helm template <release> <chart> -n <namespace>` with the values files (relative to the chart)
/// and `--set` pairs.
pub fn render(
    release: &str,
    namespace: &str,
    files: &[&str],
    sets: &[(&str, &str)],
) -> Result<Rendered, String> {
    let dir = chart_dir();
    let mut args: Vec<String> = vec![
        "template".into(),
        release.into(),
        dir.display().to_string(),
        "--namespace".into(),
        namespace.into(),
        "--kube-version".into(),
        kube_version(),
    ];
    for f in files {
        args.push("--values".into());
        args.push(dir.join(f).display().to_string());
    }
    for (k, v) in sets {
        args.push("--set".into());
        args.push(format!("{k}={v}"));
    }
    let text = run_helm(&args)?;
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v: Value = serde_json::to_value(
            serde_yaml_ng::Value::deserialize(doc).map_err(|e| format!("YAML: {e}"))?,
        )
        .map_err(|e| format!("YAML to JSON: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(Rendered { text, docs })
}

/// One request in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Audited {
    /// API group ("" for the core group).
    pub group: String,
    /// Resource, with `/subresource` when there is one.
    pub resource: String,
    /// Namespace ("" for cluster-scoped or all-namespace requests).
    pub namespace: String,
    /// Verb (get, list, watch, create, update, patch, delete, ...).
    pub verb: String,
    /// HTTP status of the answer.
    pub code: i64,
    /// The request URI.
    pub uri: String,
}

/// The requests `username` made, from the audit log at `path` (JSON lines; one entry per
/// request at its last stage).
pub fn audited(path: &Path, username: &str) -> Vec<Audited> {
    let text = std::fs::read_to_string(path).expect("audit log");
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["user"]["username"] != username {
            continue;
        }
        // One entry per request (a watch logs ResponseStarted and ResponseComplete).
        if !seen.insert(v["auditID"].as_str().unwrap_or_default().to_string()) {
            continue;
        }
        let o = &v["objectRef"];
        let mut resource = o["resource"].as_str().unwrap_or_default().to_string();
        if let Some(sub) = o["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        out.push(Audited {
            group: o["apiGroup"].as_str().unwrap_or_default().to_string(),
            resource,
            namespace: o["namespace"].as_str().unwrap_or_default().to_string(),
            verb: v["verb"].as_str().unwrap_or_default().to_string(),
            code: v["responseStatus"]["code"].as_i64().unwrap_or_default(),
            uri: v["requestURI"].as_str().unwrap_or_default().to_string(),
        });
    }
    out
}

/// A granted permission: the role's name, group, resource and verb, with the namespaces of
/// the Roles of that name (empty for a ClusterRole: everywhere). The namespaced mode's Roles
/// are one template stamped into each watched namespace, so a rule counts as used when a
/// request used it in any of them.
pub type Grant = (String, String, String, String);

/// Every permission the rendered ClusterRoles and Roles grant, with where.
pub fn grants(rendered: &Rendered) -> std::collections::BTreeMap<Grant, BTreeSet<String>> {
    let mut out: std::collections::BTreeMap<Grant, BTreeSet<String>> = Default::default();
    for doc in rendered
        .docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = doc["metadata"]["namespace"].as_str().map(str::to_string);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for g in rule["apiGroups"].as_array().into_iter().flatten() {
                for r in rule["resources"].as_array().into_iter().flatten() {
                    for verb in rule["verbs"].as_array().into_iter().flatten() {
                        let entry = out
                            .entry((name.clone(), text(g), text(r), text(verb)))
                            .or_default();
                        entry.extend(ns.clone());
                    }
                }
            }
        }
    }
    out
}

/// The `audit-unused: <resource>/<verb>` justifications written next to rules in the chart.
pub fn justified_unused(rendered: &Rendered) -> BTreeSet<String> {
    rendered
        .text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# audit-unused: "))
        .filter_map(|rest| rest.split(':').next())
        .map(|s| s.trim().to_string())
        .collect()
}
