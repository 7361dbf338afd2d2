//! Kubeconfig files for the admin identity and for ServiceAccounts, written as YAML-compatible
//! JSON so any kubectl, helm or kube-rs client (including a child process) can use them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

/// How the user in a kubeconfig authenticates.
#[derive(Clone)]
pub enum UserAuth<'a> {
    /// A client certificate and key on disk.
    ClientCert {
        /// Certificate path.
        cert: &'a Path,
        /// Key path.
        key: &'a Path,
    },
    /// A bearer token (ServiceAccount tokens from the TokenRequest API).
    Token(&'a str),
}

impl std::fmt::Debug for UserAuth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientCert { cert, .. } => write!(f, "ClientCert({})", cert.display()),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// Writes a single-context kubeconfig to `path`.
pub fn write(
    path: &Path,
    server: &str,
    ca: &Path,
    user: UserAuth<'_>,
    namespace: &str,
) -> anyhow::Result<PathBuf> {
    let user = match user {
        UserAuth::ClientCert { cert, key } => json!({
            "client-certificate": cert,
            "client-key": key,
        }),
        UserAuth::Token(token) => json!({ "token": token }),
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": "user", "namespace": namespace}}],
        "current-context": "testenv",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
        .with_context(|| format!("writing kubeconfig {}", path.display()))?;
    Ok(path.to_path_buf())
}

/// A kube-rs client for a kubeconfig file.
pub async fn client_for(path: &Path) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .context("building client config")?;
    kube::Client::try_from(config).context("building client")
}
