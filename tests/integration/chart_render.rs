//! The Helm chart rendered by the pinned helm: `helm lint --strict` and `helm template` of the
//! default values and every documented variant (`charts/meshes-operator/ci/*-values.yaml`),
//! what each variant must contain, a server-side dry run of every rendered object against the
//! real apiserver, every `meshes-operator run` flag exposed, and the controls that prove a
//! broken chart fails here.

use std::collections::BTreeSet;

use clap::Args;
use meshes_operator::cli::RunArgs;
use meshes_testenv::TestEnv;
use serde_json::Value;

use crate::chart_support::{Rendered, chart_dir, kube_version, render, run_helm};

/// The documented variants (docs/install.md) and their values files.
const VARIANTS: [&str; 6] = [
    "ci/argocd-values.yaml",
    "ci/namespaced-values.yaml",
    "ci/default-credentials-values.yaml",
    "ci/metrics-values.yaml",
    "ci/networkpolicy-values.yaml",
    "ci/production-values.yaml",
];

fn lint(dir: &std::path::Path, files: &[&str]) -> Result<String, String> {
    let mut args: Vec<String> = vec![
        "lint".into(),
        "--strict".into(),
        "--kube-version".into(),
        kube_version(),
        dir.display().to_string(),
    ];
    for f in files {
        args.push("--values".into());
        args.push(dir.join(f).display().to_string());
    }
    run_helm(&args)
}

fn container(r: &Rendered) -> &Value {
    &r.one("Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn helm_lint_and_template_pass_for_the_defaults_and_every_variant() {
    let dir = chart_dir();
    let mut listed: Vec<String> = std::fs::read_dir(dir.join("ci"))
        .unwrap()
        .flatten()
        .map(|e| format!("ci/{}", e.file_name().to_string_lossy()))
        .collect();
    listed.sort();
    let mut documented: Vec<String> = VARIANTS.iter().map(|s| s.to_string()).collect();
    documented.sort();
    assert_eq!(
        listed, documented,
        "every ci/ values file is a tested variant"
    );
    lint(&dir, &[]).unwrap();
    for v in VARIANTS {
        lint(&dir, &[v]).unwrap_or_else(|e| panic!("{v}: {e}"));
        render("rel", "ops", &[v], &[]).unwrap_or_else(|e| panic!("{v}: {e}"));
    }

    // Defaults: cluster-wide RBAC, hardened pod, two replicas with leader election.
    let d = render("rel", "ops", &[], &[]).unwrap();
    assert_eq!(d.of_kind("ClusterRole").len(), 1);
    assert_eq!(d.one("Deployment")["spec"]["replicas"], 2);
    assert!(d.args().iter().any(|a| a == "--leader-elect"));
    assert_eq!(
        d.flag("--leader-election-namespace").as_deref(),
        Some("ops")
    );
    assert_eq!(d.flag("--shutdown-timeout").as_deref(), Some("25s"));
    let pod = &d.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = container(&d);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "health");
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, ["POD_NAMESPACE", "POD_NAME"]);
    assert_eq!(d.of_kind("PodDisruptionBudget").len(), 1);
    assert!(d.of_kind("NetworkPolicy").is_empty() && d.of_kind("ServiceMonitor").is_empty());
    let lease = d
        .of_kind("Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "rel-meshes-operator-leader-election")
        .expect("the Lease Role");
    assert_eq!(lease["metadata"]["namespace"], "ops");

    // Namespaced: Roles in the watched namespaces only, nothing cluster-wide.
    let n = render("rel", "ops", &["ci/namespaced-values.yaml"], &[]).unwrap();
    assert!(n.of_kind("ClusterRole").is_empty() && n.of_kind("ClusterRoleBinding").is_empty());
    let role_ns: BTreeSet<&str> = n
        .of_kind("Role")
        .iter()
        .filter_map(|r| r["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(role_ns, BTreeSet::from(["ops", "team-a", "team-b"]));
    assert_eq!(
        n.flag("--watch-namespace").as_deref(),
        Some("team-a,team-b")
    );

    // Default credentials: the flags, and a Role for that one Secret in its namespace.
    let dc = render("rel", "ops", &["ci/default-credentials-values.yaml"], &[]).unwrap();
    assert_eq!(
        dc.flag("--default-credentials").as_deref(),
        Some("ops/meshes-default-credentials")
    );
    assert_eq!(
        dc.flag("--default-credentials-namespaces").as_deref(),
        Some("team-a,team-b")
    );
    let cred_role = dc
        .of_kind("Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "rel-meshes-operator-default-credentials")
        .expect("the default credentials Role");
    assert_eq!(
        cred_role["rules"][0]["resourceNames"],
        serde_json::json!(["meshes-default-credentials"])
    );

    // Metrics: a Service selecting the pods and a ServiceMonitor selecting the Service.
    let m = render("rel", "ops", &["ci/metrics-values.yaml"], &[]).unwrap();
    let svc = m.one("Service");
    let monitor = m.one("ServiceMonitor");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &svc["metadata"]["labels"][k], v,
            "ServiceMonitor selects the Service"
        );
    }
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");

    // Network policy: DNS, the API server and Meshes (here a proxy) only.
    let p = render("rel", "ops", &["ci/networkpolicy-values.yaml"], &[]).unwrap();
    let np = p.one("NetworkPolicy");
    let egress = np["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 3, "{egress:#?}");
    assert_eq!(egress[0]["ports"][0]["port"], 53);
    assert_eq!(egress[1]["to"][0]["ipBlock"]["cidr"], "10.96.0.1/32");
    assert_eq!(egress[2]["ports"][0]["port"], 3128);

    // Argo CD: one ConfigMap in Argo CD's namespace with the shipped script under each kind's
    // argocd-cm key, byte for byte (docs/gitops.md shows the same keys).
    let a = render("rel", "ops", &["ci/argocd-values.yaml"], &[]).unwrap();
    let cm = a.one("ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "argocd");
    let script = std::fs::read_to_string(dir.join("files/argocd-health.lua")).unwrap();
    let data = cm["data"].as_object().unwrap();
    let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(crate::gitops_support::ARGOCD_HEALTH_KEYS),
        "{cm:#?}"
    );
    for (k, v) in data {
        assert_eq!(v.as_str(), Some(script.as_str()), "{k}");
    }
    assert!(d.of_kind("ConfigMap").is_empty(), "opt-in");
}

/// Every object of every variant is accepted by the real apiserver (server-side dry run, so
/// the API's own validation runs); ServiceMonitor is skipped (no prometheus-operator CRDs).
#[tokio::test]
async fn every_rendered_object_passes_a_server_side_dry_run() {
    let env = TestEnv::shared().await;
    let ns = env.namespace("chart-dry").await;
    let (a, b) = (
        env.namespace("chart-dry-a").await,
        env.namespace("chart-dry-b").await,
    );
    let watch = format!("{{{a},{b}}}");
    for v in std::iter::once("").chain(VARIANTS) {
        let files: Vec<&str> = if v.is_empty() { vec![] } else { vec![v] };
        let mut sets = vec![
            ("defaultCredentials.namespace", ns.as_str()),
            ("argocd.healthChecks.namespace", ns.as_str()),
        ];
        if v.contains("namespaced") || v.contains("default-credentials") {
            sets.push(("watchNamespaces", watch.as_str()));
            sets.push(("defaultCredentials.allowedNamespaces", watch.as_str()));
        }
        let r = render("dry", &ns, &files, &sets).unwrap();
        let docs: Vec<&Value> = r
            .docs
            .iter()
            .filter(|d| d["kind"] != "ServiceMonitor")
            .collect();
        let text = docs
            .iter()
            .map(|d| serde_json::to_string(d).unwrap())
            .collect::<Vec<_>>()
            .join("\n---\n");
        let file = std::env::temp_dir().join(format!("meshes-chart-dry-{ns}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = env
            .kubectl()
            .args(["apply", "--dry-run=server", "--server-side", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "variant {v:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let applied = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            applied.lines().count(),
            docs.len(),
            "variant {v:?}: every object was checked: {applied}"
        );
    }
}

/// A broken chart fails here: a template error, a value the schema refuses, conflicting values.
#[test]
fn a_broken_chart_or_bad_values_fail() {
    // A copy of the chart with a template that dereferences a missing value.
    let copy = std::env::temp_dir().join(format!("meshes-chart-broken-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(chart_dir())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    // Positive control: the copy lints.
    lint(&copy, &[]).expect("the unmodified copy lints");
    let deployment = copy.join("templates/deployment.yaml");
    let text = std::fs::read_to_string(&deployment).unwrap();
    std::fs::write(
        &deployment,
        text.replace(
            "replicas: {{ .Values.replicaCount }}",
            "replicas: {{ .Values.nope.deeper }}",
        ),
    )
    .unwrap();
    let err = lint(&copy, &[]).expect_err("a template error fails lint");
    assert!(err.contains("nil pointer") || err.contains("nope"), "{err}");
    let _ = std::fs::remove_dir_all(&copy);

    for (sets, why) in [
        (vec![("replicaCount", "-1")], "minimum"),
        (
            vec![("reconcile.defaultDeletionPolicy", "sometimes")],
            "defaultDeletionPolicy",
        ),
        (vec![("reconcile.resyncInterval", "soon")], "resyncInterval"),
        (vec![("unknownKey", "1")], "unknownKey"),
        (
            vec![
                ("meshes.proxy", "http://p:3128"),
                ("meshes.noProxy", "true"),
            ],
            "conflict",
        ),
        (
            vec![("replicaCount", "2"), ("leaderElection.enabled", "false")],
            "leaderElection",
        ),
        (vec![("networkPolicy.enabled", "true")], "apiServer.cidrs"),
    ] {
        let err = render("bad", "ops", &[], &sets).expect_err(why);
        assert!(err.contains(why), "{sets:?}: {err}");
    }
}

/// Every flag of `meshes-operator run` is a chart value: rendered by the default values or a
/// documented variant.
#[test]
fn every_run_flag_is_exposed_by_the_chart() {
    let binary = run_flags();
    assert!(binary.contains("--api-url"), "positive control: {binary:?}");
    let mut rendered = BTreeSet::new();
    let variants = std::iter::once(("", vec![]))
        .chain(VARIANTS.iter().map(|v| (*v, vec![])))
        // Disaster recovery only: no documented variant turns it on.
        .chain([("", vec![("meshes.rebindByIdentity", "true")])]);
    for (v, sets) in variants {
        let files: Vec<&str> = if v.is_empty() { vec![] } else { vec![v] };
        let r = render("flags", "ops", &files, &sets).unwrap();
        for a in r.args().iter().filter(|a| a.starts_with("--")) {
            rendered.insert(a.split('=').next().unwrap_or_default().to_string());
        }
    }
    let missing: Vec<&String> = binary.difference(&rendered).collect();
    assert!(
        missing.is_empty(),
        "run flags the chart never renders: {missing:?}"
    );
    // And the chart renders no flag the binary does not know.
    let unknown: Vec<&String> = rendered.difference(&binary).collect();
    assert!(
        unknown.is_empty(),
        "the chart renders flags the binary does not know: {unknown:?}"
    );
}

/// The long flags of `meshes-operator run`.
pub fn run_flags() -> BTreeSet<String> {
    RunArgs::augment_args(clap::Command::new("run"))
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

/// The chart's defaults are the binary's (so the rendered Deployment shows the configuration
/// the operator would run with anyway), except where the chart chooses on purpose.
#[test]
fn the_charts_defaults_are_the_binarys() {
    // On purpose: JSON logs in a cluster; leader election on with two replicas, its Lease named
    // after the release in the release namespace.
    let chosen = [
        "--log-format",
        "--leader-elect",
        "--leader-election-namespace",
        "--leader-election-id",
    ];
    let cmd = RunArgs::augment_args(clap::Command::new("run"));
    let r = render("defaults", "ops", &[], &[]).unwrap();
    let mut compared = 0;
    for arg in r.args().iter().filter(|a| a.starts_with("--")) {
        let (flag, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        if chosen.contains(&flag) {
            continue;
        }
        let long = flag.trim_start_matches("--");
        let def = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .unwrap_or_else(|| panic!("{flag} is not a run flag"));
        let defaults: Vec<String> = def
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            defaults,
            [value.to_string()],
            "{flag}: the chart's default differs from the binary's"
        );
        compared += 1;
    }
    assert!(
        compared >= 15,
        "positive control: {compared} defaults compared"
    );
}

/// `NOTES.txt` (what `helm install` prints) says what to apply next: the CRD upgrade step, a
/// credentials Secret, the default credentials and where they are allowed, the objects.
#[tokio::test]
async fn the_install_notes_say_what_to_apply_next() {
    let env = TestEnv::shared().await;
    let ns = env.namespace("chart-notes").await;
    let dir = chart_dir();
    let out = env
        .helm()
        .args(["install", "notes"])
        .arg(&dir)
        .args(["--namespace", &ns, "--dry-run=server", "--values"])
        .arg(dir.join("ci/default-credentials-values.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let notes = stdout.split("NOTES:").nth(1).expect("helm printed NOTES");
    for expected in [
        "watching only: team-a, team-b",
        "kubectl apply --server-side -f <chart>/crds/",
        "kubectl create secret generic meshes-credentials",
        &format!("{ns}/meshes-default-credentials"),
        "allowed in: team-a, team-b",
        "kubectl get meshes -n <namespace>",
    ] {
        assert!(
            notes.contains(expected),
            "NOTES lack {expected:?}:\n{notes}"
        );
    }
}
