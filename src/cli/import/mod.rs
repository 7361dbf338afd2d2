//! `meshes-operator import`: reads an existing Meshes account (every workspace or the chosen
//! ones, with their connections and rules) through the API client and writes a directory of
//! manifests that adopt it without a single write upstream ([`render`]), or with `--diff`
//! reports how the account changed since an earlier import.

mod naming;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use k8s_openapi::api::core::v1::Secret;

use crate::api::{ClientConfig, Credentials, MeshesApi, MeshesClient};
use crate::controllers::config::SecretRef;
use render::{Imported, Options};

/// `meshes-operator import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Directory to write the manifests into (created if missing; files an earlier import wrote
    /// there and that no longer exist upstream are removed).
    #[arg(long, short = 'o', required_unless_present = "diff")]
    pub out: Option<PathBuf>,
    /// Compare with the import in this directory instead of writing: list added, removed and
    /// changed files; exit 2 when there is a difference (1 is an error).
    #[arg(long, conflicts_with = "out")]
    pub diff: Option<PathBuf>,
    /// Meshes management API base URL.
    #[arg(long, env = "MESHES_API_URL", default_value = "https://api.meshes.io")]
    pub api_url: String,
    /// Credentials from this Secret in the cluster (`NAMESPACE/NAME`), read with your kubeconfig.
    #[arg(long, conflicts_with = "credentials_file")]
    pub credentials_secret: Option<SecretRef>,
    /// Credentials from this file (`MESHES_ACCESS_KEY=…` lines, like an env file).
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Only these workspaces (name or Meshes ID; repeatable). Default: every workspace.
    #[arg(long = "workspace")]
    pub workspaces: Vec<String>,
    /// `managementPolicy: Manage` instead of `Observe`.
    #[arg(long)]
    pub manage: bool,
    /// Put every workspace in this namespace (default: one namespace per workspace).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Name of the credentials Secret the manifests reference in each namespace.
    #[arg(long, default_value = "meshes-credentials")]
    pub credentials_ref: String,
}

/// The marker every file the import writes starts with (only such files are ever removed).
const MARKER: &str = "Imported from Meshes by `meshes-operator import`";

/// Runs the command; `Ok(false)` when `--diff` found differences.
pub async fn command(args: ImportArgs) -> anyhow::Result<bool> {
    let creds = credentials(&args).await?;
    let client = MeshesClient::new(ClientConfig {
        base_url: args.api_url.clone(),
        ..ClientConfig::default()
    })?;
    let (account, catalog) = fetch(&client, &creds, &args.workspaces).await?;
    let opts = Options {
        manage: args.manage,
        namespace: args.namespace.clone(),
        credentials_ref: args.credentials_ref.clone(),
    };
    let files = render::render(&account, &catalog, &opts);
    if let Some(dir) = &args.diff {
        let changes = diff(&files, &read_dir(dir)?);
        report(&changes);
        return Ok(changes.is_empty());
    }
    let Some(dir) = &args.out else {
        anyhow::bail!("--out or --diff is required");
    };
    write(dir, &files)?;
    let (ws, conns, rules) = account.iter().fold((0, 0, 0), |(w, c, r), i| {
        (w + 1, c + i.connections.len(), r + i.rules.len())
    });
    eprintln!(
        "imported {ws} workspaces, {conns} connections and {rules} rules into {} (see its README.md)",
        dir.display()
    );
    Ok(true)
}

/// Reads the chosen workspaces (all when `wanted` is empty), their connections and rules,
/// and the integration catalog.
pub async fn fetch(
    api: &dyn MeshesApi,
    creds: &Credentials,
    wanted: &[String],
) -> anyhow::Result<(Vec<Imported>, Vec<crate::api::Integration>)> {
    let workspaces = api.list_workspaces(creds).await?;
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !workspaces.iter().any(|ws| &ws.name == *w || &ws.id == *w))
        .collect();
    if !missing.is_empty() {
        anyhow::bail!("no such workspace in this account: {missing:?}");
    }
    let mut account = Vec::new();
    for ws in workspaces {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == &ws.name || w == &ws.id) {
            continue;
        }
        let connections = api.list_workspace_connections(creds, &ws.id).await?;
        let rules = api
            .list_workspace_rules(creds, &ws.id, &crate::api::RuleFilter::default())
            .await?;
        account.push(Imported {
            workspace: ws,
            connections,
            rules,
        });
    }
    let catalog = api.list_integrations(creds).await?;
    Ok((account, catalog))
}

async fn credentials(args: &ImportArgs) -> anyhow::Result<Credentials> {
    if let Some(source) = &args.credentials_secret {
        let client = kube::Client::try_default().await?;
        let api: kube::Api<Secret> = kube::Api::namespaced(client, &source.namespace);
        let secret = api
            .get(&source.name)
            .await
            .map_err(|e| anyhow::anyhow!("reading Secret {source}: {e}"))?;
        return crate::controllers::credentials::parse(&secret, source).map_err(anyhow::Error::msg);
    }
    let vars: BTreeMap<String, String> = match &args.credentials_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect(),
        None => std::env::vars().collect(),
    };
    let get = |k: &str| {
        vars.get(k).cloned().ok_or_else(|| {
            anyhow::anyhow!("{k} is missing: pass --credentials-secret, --credentials-file, or set MESHES_ACCESS_KEY, MESHES_SECRET_KEY and MESHES_ORG_ID")
        })
    };
    Credentials::new(
        get("MESHES_ACCESS_KEY")?,
        get("MESHES_SECRET_KEY")?,
        get("MESHES_ORG_ID")?,
    )
    .map_err(|e| anyhow::anyhow!("the credentials are malformed: {e}"))
}

/// The files an earlier import wrote under `dir` (relative path → content).
fn read_dir(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !text.contains(MARKER) {
                continue;
            }
            let rel = path
                .strip_prefix(dir)?
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            out.insert(rel, text);
        }
    }
    Ok(out)
}

/// One difference between two imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file only the new import has.
    Added(String),
    /// A file only the old import has.
    Removed(String),
    /// A file both have, with different content.
    Changed(String),
}

/// The differences from `old` to `new`.
pub fn diff(new: &BTreeMap<String, String>, old: &BTreeMap<String, String>) -> Vec<Change> {
    let mut out = Vec::new();
    for (path, text) in new {
        match old.get(path) {
            None => out.push(Change::Added(path.clone())),
            Some(o) if o != text => out.push(Change::Changed(path.clone())),
            Some(_) => {}
        }
    }
    for path in old.keys().filter(|p| !new.contains_key(*p)) {
        out.push(Change::Removed(path.clone()));
    }
    out
}

#[allow(clippy::print_stdout)]
fn report(changes: &[Change]) {
    if changes.is_empty() {
        println!("no change upstream since that import");
    }
    for c in changes {
        match c {
            Change::Added(p) => println!("added    {p}"),
            Change::Removed(p) => println!("removed  {p}"),
            Change::Changed(p) => println!("changed  {p}"),
        }
    }
}

fn write(dir: &Path, files: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for stale in read_dir(dir)?.keys().filter(|p| !files.contains_key(*p)) {
        std::fs::remove_file(dir.join(stale))?;
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text)?;
        }
    }
    Ok(())
}
