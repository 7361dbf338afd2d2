//! Reading the cluster with the user's kubeconfig and rights: the three custom resources as
//! dynamic objects, and Secrets (credentials and the workspace's output Secret), with the
//! failures a user can act on told apart (forbidden, missing, incomplete).

use std::collections::BTreeMap;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::Global;

/// The API group and version of the custom resources.
pub const GROUP: &str = "meshes.io";
/// The served version.
pub const VERSION: &str = "v1alpha1";

/// The three kinds, in tree order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Kind {
    /// `MeshesWorkspace`
    MeshesWorkspace,
    /// `MeshesConnection`
    MeshesConnection,
    /// `MeshesRule`
    MeshesRule,
}

impl Kind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MeshesWorkspace => "MeshesWorkspace",
            Kind::MeshesConnection => "MeshesConnection",
            Kind::MeshesRule => "MeshesRule",
        }
    }

    /// Plural resource name.
    fn plural(self) -> &'static str {
        match self {
            Kind::MeshesWorkspace => "meshesworkspaces",
            Kind::MeshesConnection => "meshesconnections",
            Kind::MeshesRule => "meshesrules",
        }
    }

    /// The discovery-free API resource (the plugin knows its CRDs).
    pub fn resource(self) -> ApiResource {
        ApiResource {
            group: GROUP.into(),
            version: VERSION.into(),
            api_version: format!("{GROUP}/{VERSION}"),
            kind: self.as_str().into(),
            plural: self.plural().into(),
        }
    }

    /// Parses `rule/NAME`-style prefixes the way kubectl accepts them.
    pub fn from_prefix(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "workspace" | "meshesworkspace" | "meshesworkspaces" | "mws" => {
                Some(Kind::MeshesWorkspace)
            }
            "connection" | "meshesconnection" | "meshesconnections" | "mconn" => {
                Some(Kind::MeshesConnection)
            }
            "rule" | "meshesrule" | "meshesrules" | "mrule" => Some(Kind::MeshesRule),
            _ => None,
        }
    }
}

/// A kube client and the namespace to use.
#[derive(Clone)]
pub struct Cluster {
    /// The client (the user's identity).
    pub client: kube::Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects the way kubectl does: `--kubeconfig`, else `$KUBECONFIG`, else
    /// `~/.kube/config` (else in-cluster), with `--context`.
    pub async fn connect(global: &Global) -> anyhow::Result<Cluster> {
        let options = KubeConfigOptions {
            context: global.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &global.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .with_context(|| format!("kubeconfig {} is not usable", path.display()))?
            }
            None if global.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .context("the kubeconfig is not usable")?,
            None => kube::Config::infer()
                .await
                .context("no usable kubeconfig (set --kubeconfig or KUBECONFIG)")?,
        };
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config).context("cannot build a Kubernetes client")?;
        Ok(Cluster { client, namespace })
    }

    /// The dynamic API of `kind` in `ns` (`None`: every namespace).
    pub fn api(&self, kind: Kind, ns: Option<&str>) -> Api<DynamicObject> {
        let ar = kind.resource();
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }

    /// Every object of `kind` in `ns` (or all namespaces).
    pub async fn list(&self, kind: Kind, ns: Option<&str>) -> anyhow::Result<Vec<DynamicObject>> {
        let list = self
            .api(kind, ns)
            .list(&ListParams::default())
            .await
            .map_err(|e| explain(e, &format!("list {}", kind.plural()), ns))?;
        Ok(list.items)
    }

    /// One object, or `None` when it does not exist.
    pub async fn get(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
    ) -> anyhow::Result<Option<DynamicObject>> {
        self.api(kind, Some(ns))
            .get_opt(name)
            .await
            .map_err(|e| explain(e, &format!("get {}/{name}", kind.plural()), Some(ns)))
    }

    /// Reads Secret `ns/name` with the user's rights: its data as UTF-8 strings.
    pub async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<BTreeMap<String, String>, SecretError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret = match api.get(name).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(SecretError::Forbidden {
                    namespace: ns.into(),
                    name: name.into(),
                });
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(SecretError::Missing {
                    namespace: ns.into(),
                    name: name.into(),
                });
            }
            // kube's error text names the request, never the Secret's data.
            Err(e) => {
                return Err(SecretError::Other(format!(
                    "reading Secret {ns}/{name}: {e}"
                )));
            }
        };
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| String::from_utf8(v.0).ok().map(|v| (k, v)))
            .collect())
    }
}

/// Why a Secret could not be read. `Display` names the Secret, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The user may not `get` it.
    Forbidden {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// It does not exist.
    Missing {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Anything else (network, apiserver error).
    Other(String),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::Forbidden { namespace, name } => {
                write!(f, "you cannot read Secret {namespace}/{name} (forbidden)")
            }
            SecretError::Missing { namespace, name } => {
                write!(f, "Secret {namespace}/{name} does not exist")
            }
            SecretError::Other(m) => f.write_str(m),
        }
    }
}

/// Turns a kube error into one line a user can act on (a 403 says which right is missing, a
/// 404 on a list says the CRDs are not installed).
fn explain(e: kube::Error, what: &str, ns: Option<&str>) -> anyhow::Error {
    let scope = ns.map_or_else(
        || "in every namespace".to_owned(),
        |n| format!("in namespace {n}"),
    );
    match &e {
        kube::Error::Api(s) if s.code == 403 => {
            anyhow::anyhow!("forbidden: you cannot {what} {scope}")
        }
        kube::Error::Api(s) if s.code == 404 && what.starts_with("list") => {
            anyhow::anyhow!("the meshes.io CRDs are not installed in this cluster (cannot {what})")
        }
        _ => anyhow::anyhow!("cannot {what} {scope}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_style_prefixes_parse() {
        assert_eq!(Kind::from_prefix("rule"), Some(Kind::MeshesRule));
        assert_eq!(
            Kind::from_prefix("MeshesConnection"),
            Some(Kind::MeshesConnection)
        );
        assert_eq!(Kind::from_prefix("pod"), None);
        assert_eq!(
            Kind::MeshesRule.resource().api_version,
            "meshes.io/v1alpha1"
        );
    }

    #[test]
    fn secret_errors_name_the_secret_only() {
        let e = SecretError::Forbidden {
            namespace: "acme".into(),
            name: "creds".into(),
        };
        assert_eq!(
            e.to_string(),
            "you cannot read Secret acme/creds (forbidden)"
        );
    }
}
