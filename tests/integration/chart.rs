//! Tier 4, the chart end to end: the chart rendered by helm, its ServiceAccount and RBAC applied
//! to a real apiserver (audit log on), the operator binary run with that ServiceAccount's token
//! and exactly the flags the chart renders, against the emulator: the quickstart becomes Ready
//! and goes away cleanly. The audit log then proves the RBAC both sufficient (no 403 for the
//! operator) and minimal (every verb granted was used, or is justified in the chart by an
//! `audit-unused:` comment). The operator process helpers are in `chart_process.rs`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use meshes_testenv::{TestEnv, crds_from_yaml};
use serde_json::{Value, json};

use crate::chart_process::{
    free_port, install_identity, probes_answer, render_for, sets, start_operator, stop,
};
use crate::chart_support::{Audited, Rendered, audited, chart_dir, grants, justified_unused};
use crate::support::{SOON, World, eventually, quickstart};

const QUICKSTART: [(&str, &str); 4] = [
    ("MeshesWorkspace", "acme-prod"),
    ("MeshesConnection", "signup-hook"),
    ("MeshesRule", "signup-to-hook"),
    ("MeshesRule", "payment-failed-to-hook"),
];

/// Applies the quickstart into `w`'s namespace and waits until all of it is Ready.
async fn quickstart_ready(w: &World) {
    w.apply_yaml(&quickstart()).await;
    w.put_emulator_credentials().await;
    for (kind, name) in QUICKSTART {
        w.wait_ready_kind(kind, name).await;
    }
    assert!(
        w.secrets()
            .get_opt("acme-prod-publishable-key")
            .await
            .unwrap()
            .is_some()
    );
}

/// Deletes the quickstart (custom resources and Secrets) and waits until all of it is gone:
/// finalizers on the custom resources and the credentials Secret's in-use finalizer released.
async fn quickstart_gone(w: &World) {
    for (kind, name) in QUICKSTART.iter().rev() {
        w.delete(kind, name).await;
    }
    for (kind, name) in QUICKSTART {
        w.wait_gone(kind, name).await;
    }
    for s in ["meshes-credentials", "hook-signing"] {
        w.delete("Secret", s).await;
        w.wait_gone("Secret", s).await;
    }
    w.wait_gone("Secret", "acme-prod-publishable-key").await;
}

fn forbidden<T>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(s)) if s.code == 403)
}

/// The audit check: no 403 for the operator, and every granted verb used or justified.
fn check_audit(rendered: &Rendered, requests: &[Audited]) {
    assert!(
        requests.len() > 20,
        "positive control: the operator's requests are in the audit log ({} found)",
        requests.len()
    );
    let forbidden: Vec<&Audited> = requests.iter().filter(|r| r.code == 403).collect();
    assert!(
        forbidden.is_empty(),
        "403s for the operator: {forbidden:#?}"
    );
    let justified = justified_unused(rendered);
    let mut unused = Vec::new();
    for ((role, group, resource, verb), namespaces) in grants(rendered) {
        let used = requests.iter().any(|r| {
            r.group == group
                && r.resource == resource
                && r.verb == verb
                && (namespaces.is_empty() || namespaces.contains(&r.namespace))
        });
        if !used && !justified.contains(&format!("{resource}/{verb}")) {
            unused.push(format!(
                "{role}: {group}/{resource} {verb} in {namespaces:?}"
            ));
        }
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for r in requests {
        seen.insert(format!(
            "{} {}/{} in {:?}",
            r.verb, r.group, r.resource, r.namespace
        ));
    }
    assert!(
        unused.is_empty(),
        "granted but never used (and not justified by an `audit-unused:` comment): {unused:#?}\nused: {seen:#?}"
    );
}

/// Cluster mode (the chart's defaults) on a private control plane: a cluster-wide operator
/// must not act on the shared control plane's other tests.
#[tokio::test]
async fn the_chart_rbac_is_sufficient_and_minimal_in_cluster_mode() {
    let env = TestEnv::start().await.expect("private control plane");
    let mut crds = Vec::new();
    for f in std::fs::read_dir(chart_dir().join("crds"))
        .unwrap()
        .flatten()
    {
        crds.extend(crds_from_yaml(&std::fs::read_to_string(f.path()).unwrap()).unwrap());
    }
    assert_eq!(crds.len(), 3);
    env.install_crds(&crds).await.unwrap();
    let w = World::on_env(&env, "chart-cluster").await;
    let release_ns = env.namespace("meshes-system").await;
    let ports = (free_port(), free_port());
    let rendered = render_for("meshes", &release_ns, &sets(&w, &ports, &[]));
    assert!(!rendered.of_kind("ClusterRole").is_empty());
    install_identity(&env, &rendered);
    let log = env.control_plane().work_dir.join("chart-operator.log");
    let mut op = start_operator(&env, &rendered, &release_ns, &log).await;

    quickstart_ready(&w).await;
    probes_answer(&ports).await;
    quickstart_gone(&w).await;
    assert!(
        op.0.try_wait().unwrap().is_none(),
        "the operator is still running"
    );
    stop(op, &rendered).await;

    let sa = rendered.one("ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let user = format!("system:serviceaccount:{release_ns}:{sa}");
    let requests = audited(env.audit_log(), &user);
    check_audit(&rendered, &requests);
}

/// Namespaced mode on Roles only: two watched namespaces (one watch each, merged), default
/// credentials in the release namespace allowed in both; everything Ready, then gone (the
/// in-use bookkeeping lists only the watched namespaces), and the ServiceAccount is Forbidden
/// to read Secrets anywhere else.
#[tokio::test]
async fn namespaced_mode_works_on_roles_only() {
    let env = TestEnv::shared().await;
    let w = World::new("chart-ns-a").await;
    let second = env.namespace("chart-ns-b").await;
    let elsewhere = env.namespace("chart-ns-other").await;
    let release_ns = env.namespace("chart-ns-op").await;
    let c = w.emu.credentials();
    let client = w.client.clone();
    let default_secret: Secret = serde_json::from_value(json!({"metadata": {"name": "meshes-default"},
        "stringData": {"MESHES_ACCESS_KEY": c.access_key, "MESHES_SECRET_KEY": c.secret_key, "MESHES_ORG_ID": c.org_id}}))
    .unwrap();
    for ns in [&release_ns, &elsewhere] {
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&Default::default(), &default_secret)
            .await
            .unwrap();
    }
    let watched = format!("{{{},{second}}}", w.ns);
    let ports = (free_port(), free_port());
    let rendered = render_for(
        "meshes",
        &release_ns,
        &sets(
            &w,
            &ports,
            &[
                ("watchNamespaces", &watched),
                ("defaultCredentials.secretName", "meshes-default"),
                ("defaultCredentials.allowedNamespaces", &watched),
            ],
        ),
    );
    assert!(
        rendered.of_kind("ClusterRole").is_empty()
            && rendered.of_kind("ClusterRoleBinding").is_empty()
    );
    install_identity(env, &rendered);
    let log = std::env::temp_dir().join(format!("meshes-chart-ns-{}.log", w.ns));
    let mut op = start_operator(env, &rendered, &release_ns, &log).await;

    quickstart_ready(&w).await;
    probes_answer(&ports).await;
    // A workspace on the default credentials in each watched namespace.
    let defaulted = |ns: &str| {
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &crate::support::api_resource("MeshesWorkspace"),
        );
        api
    };
    for ns in [w.ns.as_str(), second.as_str()] {
        let ws: kube::api::DynamicObject =
            serde_json::from_value(json!({"apiVersion": "meshes.io/v1alpha1",
            "kind": "MeshesWorkspace", "metadata": {"name": "defaulted"}, "spec": {"name": format!("defaulted-{ns}")}}))
            .unwrap();
        defaulted(ns)
            .create(&Default::default(), &ws)
            .await
            .unwrap();
    }
    for ns in [w.ns.as_str(), second.as_str()] {
        let api = defaulted(ns);
        eventually(
            &format!("{ns}/defaulted Ready"),
            SOON,
            || async {
                api.get_opt("defaulted")
                    .await
                    .ok()
                    .flatten()
                    .map(|o| serde_json::to_value(o).unwrap())
            },
            |o: &Value| {
                crate::support::condition(&o["status"], "Ready")
                    .is_some_and(|(s, _, _, _)| s == "True")
            },
        )
        .await;
    }
    let secrets_op = Api::<Secret>::namespaced(client.clone(), &release_ns);
    let held = secrets_op.get("meshes-default").await.unwrap();
    assert!(
        held.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "meshes.io/credentials-in-use"),
        "positive control: the default credentials Secret is marked in use"
    );

    quickstart_gone(&w).await;
    for ns in [w.ns.as_str(), second.as_str()] {
        defaulted(ns)
            .delete("defaulted", &Default::default())
            .await
            .unwrap();
    }
    for ns in [w.ns.as_str(), second.as_str()] {
        let api = defaulted(ns);
        eventually(
            &format!("{ns}/defaulted gone"),
            SOON,
            || async { Some(api.get_opt("defaulted").await.ok().flatten().is_none()) },
            |gone| *gone,
        )
        .await;
    }
    // Nothing uses the default credentials any more: the finalizer goes (listing the watched
    // namespaces only; a cluster-wide list would be refused under these Roles).
    eventually(
        "the default credentials Secret released",
        SOON,
        || async { secrets_op.get("meshes-default").await.ok() },
        |s| {
            !s.metadata
                .finalizers
                .clone()
                .unwrap_or_default()
                .iter()
                .any(|f| f == "meshes.io/credentials-in-use")
        },
    )
    .await;
    assert!(
        op.0.try_wait().unwrap().is_none(),
        "the operator is still running"
    );
    stop(op, &rendered).await;

    let sa = rendered.one("ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let user = format!("system:serviceaccount:{release_ns}:{sa}");
    let requests = audited(env.audit_log(), &user);
    check_audit(&rendered, &requests);
    let cluster_wide: Vec<&Audited> = requests
        .iter()
        .filter(|r| r.namespace.is_empty() && !r.resource.is_empty())
        .collect();
    assert!(
        cluster_wide.is_empty(),
        "cluster-wide requests in namespaced mode: {cluster_wide:#?}"
    );

    // Forbidden elsewhere; the same read in a watched namespace is allowed (positive control).
    let sa_client = env.service_account_client(&release_ns, &sa).await.unwrap();
    assert!(forbidden(
        Api::<Secret>::namespaced(sa_client.clone(), &elsewhere)
            .get("meshes-default")
            .await
    ));
    assert!(forbidden(
        Api::<Secret>::namespaced(sa_client.clone(), &elsewhere)
            .list(&Default::default())
            .await
    ));
    assert!(forbidden(
        Api::<Secret>::all(sa_client.clone())
            .list(&Default::default())
            .await
    ));
    Api::<Secret>::namespaced(sa_client.clone(), &second)
        .list(&Default::default())
        .await
        .expect("a watched namespace's Secrets are readable");
    let _ = std::fs::remove_file(&log);
}
