//! The in-use bookkeeping under Role-only RBAC, in-process with the chart's namespaced
//! ServiceAccount: when a list it needs is refused (403), deleting an object still completes,
//! the credentials Secret keeps its in-use finalizer (the safe side) and the object gets a
//! Warning Event `Forbidden`. Provoked here by not telling the bookkeeping the scope
//! (`OperatorConfig::watch_namespaces`, which the CLI always fills) while the default
//! credentials are allowed everywhere, so it lists workspaces cluster-wide.

use std::sync::Arc;
use std::time::Duration;

use meshes_operator::api::MeshesClient;
use meshes_operator::controllers::config::{NamespaceAllowList, OperatorConfig};
use meshes_operator::controllers::run::Scope;
use meshes_testenv::TestEnv;
use serde_json::json;

use crate::chart_support::render;
use crate::support::{SOON, World, eventually};

const IN_USE: &str = "meshes.io/credentials-in-use";

async fn in_use(w: &World) -> bool {
    let s = w.secrets().get("meshes-credentials").await.unwrap();
    s.metadata
        .finalizers
        .unwrap_or_default()
        .iter()
        .any(|f| f == IN_USE)
}

/// Runs the operator in-process as `client`, scoped to `w`'s namespace, with the default
/// credentials `w`'s `meshes-credentials` allowed everywhere; `scope_known` fills
/// `watch_namespaces` as the CLI does.
fn operator(w: &World, client: kube::Client, scope_known: bool) -> tokio::task::JoinHandle<()> {
    let api = MeshesClient::new(w.client_config()).unwrap();
    let config = OperatorConfig {
        default_credentials: Some(format!("{}/meshes-credentials", w.ns).parse().unwrap()),
        default_credentials_namespaces: NamespaceAllowList::All,
        watch_namespaces: if scope_known {
            vec![w.ns.clone()]
        } else {
            vec![]
        },
        ..World::fast_config()
    };
    let scope = Scope {
        namespaces: vec![w.ns.clone()],
        label_selector: None,
    };
    tokio::spawn(async move {
        let _ = meshes_operator::controllers::run::run(client, Arc::new(api), config, scope).await;
    })
}

async fn defaulted_cycle(w: &World, name: &str) {
    w.apply(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": name}, "spec": {"name": format!("{name}-{}", w.ns)}}),
    )
    .await;
    w.wait_ready_kind("MeshesWorkspace", name).await;
    assert!(
        in_use(w).await,
        "the default credentials Secret is marked in use"
    );
    w.delete("MeshesWorkspace", name).await;
    w.wait_gone("MeshesWorkspace", name).await;
}

#[tokio::test]
async fn a_refused_in_use_list_keeps_the_finalizer_with_a_warning() {
    let env = TestEnv::shared().await;
    let w = World::new("forbidden-list").await;
    let release_ns = env.namespace("forbidden-list-op").await;
    let watched = format!("{{{}}}", w.ns);
    let rendered = render("meshes", &release_ns, &[], &[("watchNamespaces", &watched)]).unwrap();
    crate::chart_process::install_identity(env, &rendered);
    let sa = rendered.one("ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let client = env.service_account_client(&release_ns, &sa).await.unwrap();

    // The bookkeeping lists workspaces cluster-wide: refused under these Roles.
    let op = operator(&w, client.clone(), false);
    defaulted_cycle(&w, "refused").await;
    let events = eventually(
        "a Warning Forbidden",
        SOON,
        || async { Some(w.events().await) },
        |e| e.iter().any(|l| l.starts_with("Forbidden:")),
    )
    .await;
    let warning = events.iter().find(|l| l.starts_with("Forbidden:")).unwrap();
    assert!(
        warning.contains(IN_USE) && warning.contains("meshes-credentials"),
        "{warning}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        in_use(&w).await,
        "the finalizer is kept when users cannot be listed"
    );
    op.abort();

    // Positive control: told its scope, the same operator lists the namespace only and
    // releases the Secret.
    let op = operator(&w, client, true);
    defaulted_cycle(&w, "allowed").await;
    eventually(
        "the default credentials Secret released",
        SOON,
        || async { Some(in_use(&w).await) },
        |used| !*used,
    )
    .await;
    op.abort();
}
