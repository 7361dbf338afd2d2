//! The per-process test environment: one control plane shared by every test in a test binary,
//! handing out clients, fresh namespaces, ServiceAccount identities and CRD installation.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use tokio::sync::{Mutex, OnceCell};

use crate::bins;
use crate::controlplane::{ControlPlane, Options};
use crate::kubeconfig::{self, UserAuth};

/// A running control plane plus helpers. Obtain the shared one with [`TestEnv::shared`].
#[derive(Debug)]
pub struct TestEnv {
    cp: ControlPlane,
    installed_crds: Mutex<BTreeSet<String>>,
}

static SHARED: OnceCell<TestEnv> = OnceCell::const_new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestEnv {
    /// The control plane of this process, started on first use. Fails loudly (panics with the
    /// reason) when it cannot start: tests that need Kubernetes never silently skip.
    pub async fn shared() -> &'static TestEnv {
        match SHARED.get_or_try_init(Self::start).await {
            Ok(env) => env,
            Err(e) => panic!("the test control plane could not start: {e:#}"),
        }
    }

    /// Starts a new, private control plane (most tests want [`TestEnv::shared`]).
    pub async fn start() -> anyhow::Result<TestEnv> {
        let cp = ControlPlane::start(Options::new()?).await?;
        eprintln!(
            "[testenv] kube-apiserver {} ready at {} (work dir {})",
            cp.version,
            cp.server,
            cp.work_dir.display()
        );
        Ok(TestEnv {
            cp,
            installed_crds: Mutex::new(BTreeSet::new()),
        })
    }

    /// The control plane itself (version, audit log, work dir, pids).
    pub fn control_plane(&self) -> &ControlPlane {
        &self.cp
    }

    /// `gitVersion` of the running apiserver.
    pub fn server_version(&self) -> &str {
        &self.cp.version
    }

    /// The apiserver URL.
    pub fn server(&self) -> &str {
        &self.cp.server
    }

    /// The admin kubeconfig file (system:masters).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.cp.admin_kubeconfig
    }

    /// The apiserver audit log (JSON lines).
    pub fn audit_log(&self) -> &Path {
        &self.cp.audit_log
    }

    /// An admin client bound to the current tokio runtime. Clients must not be shared across
    /// runtimes (each `#[tokio::test]` has its own), so every test asks for its own.
    pub async fn client(&self) -> kube::Client {
        kubeconfig::client_for(&self.cp.admin_kubeconfig)
            .await
            .expect("admin client for the test control plane")
    }

    /// Creates a fresh namespace named `<prefix>-<n>-<random>` and returns its name. Every test
    /// gets its own (a deleted one is really emptied and removed by the namespace controller).
    pub async fn namespace(&self, prefix: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() % 100_000)
            .unwrap_or(0);
        let mut prefix: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        prefix.truncate(40);
        let name = format!("{}-{n}-{salt}", prefix.trim_matches('-'));
        let api: Api<Namespace> = Api::all(self.client().await);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"meshes-testenv/test": "true"}}
        }))
        .expect("namespace manifest");
        api.create(&PostParams::default(), &ns)
            .await
            .expect("creating test namespace");
        name
    }

    /// Installs CRDs by server-side apply and waits until each is Established and served in
    /// discovery. Idempotent per CRD name within this process.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> anyhow::Result<()> {
        let mut installed = self.installed_crds.lock().await;
        let fresh: Vec<CustomResourceDefinition> = crds
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_ref()
                    .is_some_and(|n| !installed.contains(n))
            })
            .cloned()
            .collect();
        install_crds(&self.client().await, &fresh).await?;
        installed.extend(fresh.into_iter().filter_map(|c| c.metadata.name));
        Ok(())
    }

    /// Creates (if needed) ServiceAccount `name` in `namespace` and returns a short-lived token
    /// for it from the TokenRequest API.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<String> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client().await, namespace);
        let sa: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e).context("creating ServiceAccount"),
        }
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600 * 4),
                ..Default::default()
            }),
            ..Default::default()
        };
        let token = api
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .context("TokenRequest")?;
        token
            .status
            .and_then(|s| s.token)
            .context("TokenRequest returned no token")
    }

    /// Writes a kubeconfig file that authenticates as ServiceAccount `namespace/name`, so a
    /// child process (such as the operator binary) runs with exactly that identity.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<PathBuf> {
        let token = self.service_account_token(namespace, name).await?;
        kubeconfig::write(
            &self
                .cp
                .work_dir
                .join(format!("sa-{namespace}-{name}.kubeconfig")),
            &self.cp.server,
            &self.cp.pki.serving_ca,
            UserAuth::Token(&token),
            namespace,
        )
    }

    /// A client authenticating as ServiceAccount `namespace/name`.
    pub async fn service_account_client(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<kube::Client> {
        let path = self.service_account_kubeconfig(namespace, name).await?;
        kubeconfig::client_for(&path).await
    }

    /// The pinned kubectl, already pointed at the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(bins::bin_dir().join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.cp.admin_kubeconfig);
        cmd
    }

    /// The pinned helm, already pointed at the admin kubeconfig.
    pub fn helm(&self) -> Command {
        let mut cmd = Command::new(bins::bin_dir().join("helm"));
        cmd.env("KUBECONFIG", &self.cp.admin_kubeconfig);
        cmd
    }
}

/// Applies CRDs (server-side apply, forced) and waits until each is Established and served.
pub async fn install_crds(
    client: &kube::Client,
    crds: &[CustomResourceDefinition],
) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("meshes-testenv").force();
    for crd in crds {
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        let mut crd = crd.clone();
        crd.metadata.managed_fields = None;
        crd.metadata.resource_version = None;
        api.patch(&name, &pp, &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        tokio::time::timeout(
            Duration::from_secs(60),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not Established within 60 s"))??;
        wait_served(client, crd).await?;
    }
    Ok(())
}

/// Polls discovery (a fresh request each time, no cache) until the CRD's plural is served.
async fn wait_served(client: &kube::Client, crd: &CustomResourceDefinition) -> anyhow::Result<()> {
    let group = &crd.spec.group;
    let plural = &crd.spec.names.plural;
    let deadline = Instant::now() + Duration::from_secs(30);
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        loop {
            let served = client
                .list_api_group_resources(&format!("{group}/{}", version.name))
                .await
                .map(|list| list.resources.iter().any(|r| &r.name == plural))
                .unwrap_or(false);
            if served {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{plural}.{group}/{} not served in discovery within 30 s",
                    version.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Parses every CustomResourceDefinition in a multi-document YAML file (e.g. `crds/*.yaml`).
pub fn crds_from_yaml(text: &str) -> anyhow::Result<Vec<CustomResourceDefinition>> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde_yaml_ng::Value::deserialize(doc)?;
        if value.is_null() {
            continue;
        }
        out.push(serde_yaml_ng::from_value(value)?);
    }
    Ok(out)
}
