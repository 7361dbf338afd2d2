//! Manifests from an account read from Meshes, kept pure (no I/O) so the same account always
//! renders to the same bytes: one folder per workspace with a `kustomization.yaml`, one file per
//! object, every object adopted by `adopt.id` and wired by `workspaceRef` / `connectionRef`.
//!
//! Secret connection settings are never read back from Meshes, so the import cannot fill them.
//! Their `secretMetadata` entries are written commented out, with a Secret stub beside them
//! (`secrets.example.yaml`, not applied): a connection with `secretMetadata` is updated once to
//! push the values, and the import must not cause a single write. Filling the stub and
//! uncommenting the entries is the user's decision, listed in the README.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::naming::{Names, slug};
use crate::api::{Connection, Integration, Rule, Workspace};
use crate::controllers::catalog::secret_keys_of;
use crate::resources::{
    AdoptSpec, DeletionPolicy, IntegrationType, LocalObjectReference, ManagementPolicy,
    MeshesConnection, MeshesConnectionSpec, MeshesRule, MeshesRuleSpec, MeshesWorkspace,
    MeshesWorkspaceSpec, RuleMetadata,
};

/// One workspace read from Meshes with its connections and rules.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The workspace.
    pub workspace: Workspace,
    /// Its connections.
    pub connections: Vec<Connection>,
    /// Its rules.
    pub rules: Vec<Rule>,
}

/// How to render.
#[derive(Debug, Clone)]
pub struct Options {
    /// `Manage` instead of `Observe`.
    pub manage: bool,
    /// Put every workspace in this namespace (names then carry the workspace's slug); unset:
    /// one namespace per workspace, named after it.
    pub namespace: Option<String>,
    /// The credentials Secret each object references (it must exist in each namespace).
    pub credentials_ref: String,
}

const HEADER: &str = "# Imported from Meshes by `meshes-operator import`. Re-run it to refresh; edits here are yours.\n";

/// Renders `account` into files (path relative to the output directory → content).
pub fn render(
    account: &[Imported],
    catalog: &[Integration],
    opts: &Options,
) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut folders = Names::default();
    let mut shared_names = Names::default();
    let mut notes: Vec<String> = Vec::new();
    let mut stubs: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let mut summary = Vec::new();
    let mut account: Vec<&Imported> = account.iter().collect();
    account.sort_by(|a, b| {
        (a.workspace.created_at, &a.workspace.id).cmp(&(b.workspace.created_at, &b.workspace.id))
    });
    for imported in account {
        let ws = &imported.workspace;
        let folder = folders.unique(&slug(&ws.name, "workspace"));
        let (namespace, prefix) = match &opts.namespace {
            Some(ns) => (ns.clone(), format!("{folder}-")),
            None => (folder.clone(), String::new()),
        };
        let mut own_names = Names::default();
        let names = if opts.namespace.is_some() {
            &mut shared_names
        } else {
            &mut own_names
        };
        let mut resources = Vec::new();
        if opts.namespace.is_none() {
            files.insert(
                format!("{folder}/namespace.yaml"),
                format!(
                    "{HEADER}apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
                ),
            );
            resources.push("namespace.yaml".to_owned());
        }
        let ws_name = names.unique(&folder);
        let workspace = workspace_manifest(ws, &ws_name, &namespace, opts);
        files.insert(format!("{folder}/workspace.yaml"), yaml(&workspace));
        resources.push("workspace.yaml".to_owned());

        let mut connections: Vec<&Connection> = imported.connections.iter().collect();
        connections.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut conn_names: BTreeMap<&str, String> = BTreeMap::new();
        let mut stub_entries: Vec<(String, Vec<String>)> = Vec::new();
        for c in connections {
            let Some(type_) = IntegrationType::ALL
                .iter()
                .copied()
                .find(|t| t.as_str() == c.kind.as_str())
            else {
                notes.push(format!(
                    "connection {:?} ({}) skipped: type {:?} is unknown to this operator version",
                    c.name,
                    c.id,
                    c.kind.as_str()
                ));
                continue;
            };
            let name = names.unique(&format!("{prefix}{}", slug(&c.name, "connection")));
            let secret_keys = secret_keys_of(catalog, type_.as_str());
            let manifest =
                connection_manifest(c, type_, &name, &ws_name, &namespace, &secret_keys, opts);
            let mut text = yaml(&manifest);
            if !secret_keys.is_empty() {
                text.push_str(&commented_secret_metadata(&name, &secret_keys));
                stub_entries.push((name.clone(), secret_keys.clone()));
                stubs.push((folder.clone(), namespace.clone(), name.clone(), secret_keys));
            }
            let file = format!("connection-{name}.yaml");
            files.insert(format!("{folder}/{file}"), text);
            resources.push(file);
            conn_names.insert(c.id.as_str(), name);
        }

        let mut rules: Vec<&Rule> = imported.rules.iter().collect();
        rules.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut rule_count = 0;
        for r in rules {
            let Some(conn_name) = conn_names.get(r.connection.as_str()) else {
                notes.push(format!(
                    "rule {} ({}) skipped: its connection {} was not imported",
                    r.event, r.id, r.connection
                ));
                continue;
            };
            let (metadata, converted) = match rule_metadata(&r.metadata) {
                Some(m) => m,
                None => {
                    notes.push(format!(
                        "rule {} ({}) skipped: no metadata.action",
                        r.event, r.id
                    ));
                    continue;
                }
            };
            let mut base = format!("{conn_name}-{}", slug(&r.event, "event"));
            for part in [&r.resource, &r.resource_id].into_iter().flatten() {
                base = format!("{base}-{}", slug(part, "x"));
            }
            let name = names.unique(&slug(&base, "rule"));
            for key in converted {
                notes.push(format!(
                    "rule {name}: metadata.{key} was not a string in Meshes; written as its JSON text (it will show as Drifted)"
                ));
            }
            let manifest = rule_manifest(r, metadata, &name, conn_name, &namespace, opts);
            let file = format!("rule-{name}.yaml");
            files.insert(format!("{folder}/{file}"), yaml(&manifest));
            resources.push(file);
            rule_count += 1;
        }

        if !stub_entries.is_empty() {
            files.insert(
                format!("{folder}/secrets.example.yaml"),
                secret_stubs(&namespace, &stub_entries),
            );
        }
        let mut kustomization = format!(
            "{HEADER}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        );
        for r in &resources {
            let _ = writeln!(kustomization, "  - {r}");
        }
        files.insert(format!("{folder}/kustomization.yaml"), kustomization);
        summary.push((
            folder,
            namespace,
            ws.name.clone(),
            ws.id.clone(),
            conn_names.len(),
            rule_count,
        ));
    }

    let mut top = format!(
        "{HEADER}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
    );
    for (folder, ..) in &summary {
        let _ = writeln!(top, "  - {folder}");
    }
    files.insert("kustomization.yaml".to_owned(), top);
    files.insert(
        "README.md".to_owned(),
        readme(&summary, &stubs, &notes, opts),
    );
    files
}

fn workspace_manifest(ws: &Workspace, name: &str, ns: &str, opts: &Options) -> MeshesWorkspace {
    let mut obj = MeshesWorkspace::new(
        name,
        MeshesWorkspaceSpec {
            name: Some(ws.name.clone()),
            description: ws.description.clone(),
            credentials_ref: Some(reference(&opts.credentials_ref)),
            adopt: Some(AdoptSpec { id: ws.id.clone() }),
            publishable_key_secret: None,
            management_policy: Some(policy(opts)),
        },
    );
    obj.metadata.namespace = Some(ns.to_owned());
    obj
}

fn connection_manifest(
    c: &Connection,
    type_: IntegrationType,
    name: &str,
    workspace: &str,
    ns: &str,
    secret_keys: &[String],
    opts: &Options,
) -> MeshesConnection {
    let metadata: serde_json::Map<String, Value> = c
        .metadata
        .iter()
        .filter(|(k, _)| !secret_keys.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut obj = MeshesConnection::new(
        name,
        MeshesConnectionSpec {
            workspace_ref: Some(reference(workspace)),
            workspace_id: None,
            type_,
            name: Some(c.name.clone()),
            metadata: (!metadata.is_empty()).then_some(metadata),
            secret_metadata: None,
            hidden: c.hidden,
            adopt: Some(AdoptSpec { id: c.id.clone() }),
            credentials_ref: Some(reference(&opts.credentials_ref)),
            deletion_policy: Some(DeletionPolicy::Orphan),
            force_delete_rules: None,
            management_policy: Some(policy(opts)),
        },
    );
    obj.metadata.namespace = Some(ns.to_owned());
    obj
}

fn rule_manifest(
    r: &Rule,
    metadata: RuleMetadata,
    name: &str,
    connection: &str,
    ns: &str,
    opts: &Options,
) -> MeshesRule {
    let mut obj = MeshesRule::new(
        name,
        MeshesRuleSpec {
            connection_ref: Some(reference(connection)),
            connection_id: None,
            event: r.event.clone(),
            resource: r.resource.clone(),
            resource_id: r.resource_id.clone(),
            metadata,
            active: r.active,
            hidden: r.hidden,
            adopt: Some(AdoptSpec { id: r.id.clone() }),
            credentials_ref: Some(reference(&opts.credentials_ref)),
            deletion_policy: Some(DeletionPolicy::Orphan),
            management_policy: Some(policy(opts)),
        },
    );
    obj.metadata.namespace = Some(ns.to_owned());
    obj
}

/// The rule's action settings as the CRD holds them (strings), and the keys that were not
/// strings upstream. `None` without an `action`.
fn rule_metadata(m: &serde_json::Map<String, Value>) -> Option<(RuleMetadata, Vec<String>)> {
    let action = m.get("action")?.as_str()?.to_owned();
    let mut converted = Vec::new();
    let extra = m
        .iter()
        .filter(|(k, _)| k.as_str() != "action")
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => {
                    converted.push(k.clone());
                    other.to_string()
                }
            };
            (k.clone(), text)
        })
        .collect();
    Some((RuleMetadata { action, extra }, converted))
}

fn reference(name: &str) -> LocalObjectReference {
    LocalObjectReference {
        name: name.to_owned(),
    }
}

fn policy(opts: &Options) -> ManagementPolicy {
    if opts.manage {
        ManagementPolicy::Manage
    } else {
        ManagementPolicy::Observe
    }
}

fn yaml<T: Serialize>(obj: &T) -> String {
    // Serializing these typed manifests cannot fail (string keys, no non-finite floats from
    // JSON); an empty document would show the error in review rather than abort the import.
    let body = serde_yaml_ng::to_string(obj).unwrap_or_default();
    format!("{HEADER}{body}")
}

/// The Secret holding a connection's secret settings.
fn settings_secret(connection: &str) -> String {
    format!("{connection}-settings")
}

fn commented_secret_metadata(connection: &str, keys: &[String]) -> String {
    let secret = settings_secret(connection);
    let mut out = String::from(
        "# Secret settings are never returned by Meshes. To manage them, create the Secret in\n\
         # secrets.example.yaml, then move these lines under spec (the next apply updates the\n\
         # connection once with those values):\n#  secretMetadata:\n",
    );
    for key in keys {
        let _ = writeln!(
            out,
            "#    - key: {key}\n#      secretKeyRef: {{name: {secret}, key: {key}}}"
        );
    }
    out
}

fn secret_stubs(ns: &str, entries: &[(String, Vec<String>)]) -> String {
    let mut out = format!(
        "{HEADER}# Not applied by the kustomization: fill the values, then apply it yourself (or\n# create the Secrets another way) before enabling secretMetadata.\n"
    );
    for (connection, keys) in entries {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n  namespace: {ns}\nstringData:\n",
            settings_secret(connection)
        );
        for key in keys {
            let _ = writeln!(out, "  {key}: \"\"");
        }
    }
    out
}

fn readme(
    summary: &[(String, String, String, String, usize, usize)],
    stubs: &[(String, String, String, Vec<String>)],
    notes: &[String],
    opts: &Options,
) -> String {
    let policy = if opts.manage { "Manage" } else { "Observe" };
    let mut out = format!(
        "<!-- Imported from Meshes by `meshes-operator import`. -->\n# Meshes account, imported\n\nWritten by `meshes-operator import`; running it again on an unchanged account\nwrites the same bytes, and `--diff DIR` lists what changed upstream since.\n\nEvery object adopts its Meshes object by `adopt.id`, with `managementPolicy: {policy}` and\n`deletionPolicy: Orphan` (deleting a CR never deletes anything in Meshes).\n\n| folder | namespace | workspace | Meshes ID | connections | rules |\n| --- | --- | --- | --- | --- | --- |\n"
    );
    for (folder, ns, name, id, c, r) in summary {
        let _ = writeln!(
            out,
            "| `{folder}/` | `{ns}` | {name} | `{id}` | {c} | {r} |"
        );
    }
    let _ = write!(
        out,
        "\n## Next steps\n\n1. In each namespace, create the credentials Secret `{}` (`MESHES_ACCESS_KEY`,\n   `MESHES_SECRET_KEY`, `MESHES_ORG_ID`).\n2. `kubectl apply -k .` (or one folder at a time), then wait for every object to be Ready:\n   `kubectl get meshesworkspaces,meshesconnections,meshesrules -A`.\n3. With `Observe`, differences show in the `Drifted` condition and nothing is written to\n   Meshes. Run the import again with `--manage` (or edit `managementPolicy`) to let the\n   operator correct them.\n",
        opts.credentials_ref
    );
    if !stubs.is_empty() {
        out.push_str("\n## Secret settings to provide\n\nMeshes never returns secret settings. These connections have some; each connection file\ncarries its `secretMetadata` entries commented out, and `secrets.example.yaml` in its folder\nholds a stub of the Secret:\n\n| folder | namespace | connection | Secret | keys |\n| --- | --- | --- | --- | --- |\n");
        for (folder, ns, conn, keys) in stubs {
            let _ = writeln!(
                out,
                "| `{folder}/` | `{ns}` | `{conn}` | `{}` | {} |",
                settings_secret(conn),
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if !notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}
