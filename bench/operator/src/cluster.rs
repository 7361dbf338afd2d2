//! The bench's Kubernetes side: a private testenv control plane, the CRDs, the operator's own
//! ServiceAccount identity (so the audit log tells its requests apart from the bench's) and
//! namespaces.

use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use meshes_testenv::TestEnv;
use serde_json::json;

/// Namespace holding the operator's ServiceAccount.
pub const OPERATOR_NS: &str = "meshes-system";
/// The operator's ServiceAccount name.
pub const OPERATOR_SA: &str = "meshes-operator";

/// The running control plane and what the bench needs from it.
pub struct Cluster {
    /// The control plane.
    pub env: TestEnv,
    /// Admin client (the bench's own identity, never counted as the operator's).
    pub client: kube::Client,
    /// A kubeconfig authenticating as the operator's ServiceAccount.
    pub operator_kubeconfig: PathBuf,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.env.server())
            .finish()
    }
}

impl Cluster {
    /// Starts a private control plane, installs the CRDs from `crds_dir` and creates the
    /// operator's identity (bound to cluster-admin: RBAC is not what is measured here).
    pub async fn start(crds_dir: &Path) -> anyhow::Result<Cluster> {
        let env = TestEnv::start().await?;
        let client = env.client().await;
        let mut crds = Vec::new();
        for entry in std::fs::read_dir(crds_dir).context("reading the CRD directory")? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                crds.extend(meshes_testenv::crds_from_yaml(&std::fs::read_to_string(
                    &path,
                )?)?);
            }
        }
        env.install_crds(&crds).await?;
        ensure_namespace(&client, OPERATOR_NS).await?;
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "meshes-bench-operator"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_NS}],
        });
        let api: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
        api.patch(
            "meshes-bench-operator",
            &PatchParams::apply("meshes-bench").force(),
            &Patch::Apply(&binding),
        )
        .await
        .context("binding the operator's ServiceAccount")?;
        let operator_kubeconfig = env
            .service_account_kubeconfig(OPERATOR_NS, OPERATOR_SA)
            .await?;
        Ok(Cluster {
            env,
            client,
            operator_kubeconfig,
        })
    }

    /// The audit-log user name of the operator.
    pub fn operator_user(&self) -> String {
        format!("system:serviceaccount:{OPERATOR_NS}:{OPERATOR_SA}")
    }
}

/// Creates namespace `name` if it does not exist.
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.patch(
        name,
        &PatchParams::apply("meshes-bench").force(),
        &Patch::Apply(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        ),
    )
    .await
    .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}
