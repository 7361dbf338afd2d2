//! Seed files (YAML or JSON): credentials and objects with fixed IDs and timestamps, loaded at
//! start or through the admin API. Seeds bypass API validation (so OAuth connections, which the
//! API cannot create, can exist) but keep referential integrity and name uniqueness.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog;
use crate::config::Credentials;
use crate::store::model::INACTIVE_REASONS;
use crate::store::{ApiKey, CatalogEntry, Connection, Rule, State, Workspace, label_for};

/// A seed: everything optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Machine keys.
    #[serde(default)]
    pub credentials: Vec<SeedCredential>,
    /// Workspaces.
    #[serde(default)]
    pub workspaces: Vec<SeedWorkspace>,
    /// Connections.
    #[serde(default)]
    pub connections: Vec<SeedConnection>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<SeedRule>,
    /// Event types.
    #[serde(default)]
    pub event_types: Vec<SeedCatalogEntry>,
    /// Resource types.
    #[serde(default)]
    pub resources: Vec<SeedCatalogEntry>,
}

/// A machine key in a seed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCredential {
    /// `mk_…`.
    pub access_key: String,
    /// Secret.
    pub secret_key: String,
    /// Org UUID.
    pub org_id: String,
    /// `created_by` of what this key creates (default: a random UUID).
    #[serde(default)]
    pub user_id: Option<String>,
    /// Restrict the key to these workspaces (default: whole org).
    #[serde(default)]
    pub workspaces: Option<Vec<Uuid>>,
}

impl fmt::Debug for SeedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedCredential")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("workspaces", &self.workspaces)
            .finish()
    }
}

impl From<&Credentials> for SeedCredential {
    fn from(c: &Credentials) -> Self {
        Self {
            access_key: c.access_key.clone(),
            secret_key: c.secret_key.clone(),
            org_id: c.org_id.clone(),
            user_id: None,
            workspaces: None,
        }
    }
}

/// A workspace in a seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedWorkspace {
    /// Fixed id (default: random).
    #[serde(default)]
    pub id: Option<Uuid>,
    /// Org (default: the org of the first credential).
    #[serde(default)]
    pub org_id: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Fixed publishable key (default: generated).
    #[serde(default)]
    pub publishable_key: Option<String>,
    /// `publishable_key.name` (default `Default`).
    #[serde(default)]
    pub publishable_key_name: Option<String>,
    /// Creator.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Creation time (default now).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change (default = created_at).
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A connection in a seed (any type, including OAuth ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConnection {
    /// Fixed id.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// Workspace id (must be seeded or existing).
    pub workspace: Uuid,
    /// Integration type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Name.
    pub name: String,
    /// Stored metadata, secrets included (defaults are added).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Cached action data.
    #[serde(default)]
    pub action_data: Option<Value>,
    /// Health (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// Reason when inactive.
    #[serde(default)]
    pub inactive_reason: Option<String>,
    /// Hidden (default false).
    #[serde(default)]
    pub hidden: Option<bool>,
    /// Creator.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A rule in a seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRule {
    /// Fixed id.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// Workspace id.
    pub workspace: Uuid,
    /// Connection id (must be in that workspace).
    pub connection: Uuid,
    /// Event key.
    pub event: String,
    /// Resource filter.
    #[serde(default)]
    pub resource: Option<String>,
    /// Resource id filter.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// `{action, …}`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
    /// Default false.
    #[serde(default)]
    pub hidden: Option<bool>,
    /// Creator.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// An event type or resource type in a seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCatalogEntry {
    /// Fixed id.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// Workspace id.
    pub workspace: Uuid,
    /// Key.
    pub key: String,
    /// Label (default derived from the key).
    #[serde(default)]
    pub label: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
    /// Creator.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Seed {
    /// Reads a YAML or JSON seed file.
    pub fn from_path(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading seed {}: {e}", path.display()))?;
        Self::from_text(&text).map_err(|e| anyhow::anyhow!("seed {}: {e}", path.display()))
    }

    /// Parses YAML or JSON text (JSON is valid YAML).
    pub fn from_text(text: &str) -> Result<Self, String> {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    /// Loads the seed into `state`; fails without partial effect on the first problem.
    pub fn apply(&self, state: &mut State) -> Result<(), String> {
        let mut next = state.clone();
        self.apply_inner(&mut next)?;
        *state = next;
        Ok(())
    }

    fn apply_inner(&self, s: &mut State) -> Result<(), String> {
        for c in &self.credentials {
            let creds = Credentials {
                access_key: c.access_key.clone(),
                secret_key: c.secret_key.clone(),
                org_id: c.org_id.clone(),
            };
            creds.validate()?;
            s.add_key(ApiKey {
                access_key: c.access_key.clone(),
                secret_key: c.secret_key.clone(),
                org_id: c.org_id.clone(),
                user_id: c
                    .user_id
                    .clone()
                    .unwrap_or_else(|| Uuid::new_v4().to_string()),
                workspaces: c.workspaces.clone(),
                revoked: false,
            });
        }
        let default_org = self
            .credentials
            .first()
            .map(|c| c.org_id.clone())
            .or_else(|| s.keys.values().next().map(|k| k.org_id.clone()));
        let user_of = |s: &State, org: &str| {
            s.keys
                .values()
                .find(|k| k.org_id == org)
                .map(|k| k.user_id.clone())
                .unwrap_or_else(|| "seed".into())
        };
        let now = Utc::now();

        for w in &self.workspaces {
            let org = w
                .org_id
                .clone()
                .or_else(|| default_org.clone())
                .ok_or("workspace without org_id and no credential to take it from")?;
            let id = w.id.unwrap_or_else(Uuid::new_v4);
            if s.workspaces.get(&id).is_some_and(|e| e.org_id != org) {
                return Err(format!("workspace {id} exists in another org"));
            }
            if s.workspace_name_taken(&org, &w.name, Some(id)) {
                return Err(format!("workspace name {:?} is taken in org {org}", w.name));
            }
            let key = match &w.publishable_key {
                Some(k) if valid_publishable_key(k) => k.clone(),
                Some(k) => {
                    return Err(format!("publishable key {k:?} is not mesh_pub_<a>_<b>_<c>"));
                }
                None => crate::store::new_publishable_key(&id),
            };
            s.ensure_org(&org);
            let created_at = w.created_at.unwrap_or(now);
            let seq = s.next_seq();
            let created_by = w.created_by.clone().unwrap_or_else(|| user_of(s, &org));
            s.workspaces.insert(
                id,
                Workspace {
                    id,
                    seq,
                    org_id: org,
                    name: w.name.clone(),
                    description: w.description.clone(),
                    publishable_key: key,
                    publishable_key_name: w
                        .publishable_key_name
                        .clone()
                        .unwrap_or_else(|| "Default".into()),
                    created_by,
                    created_at,
                    updated_at: w.updated_at.unwrap_or(created_at),
                },
            );
        }

        for c in &self.connections {
            let ws = s
                .workspaces
                .get(&c.workspace)
                .ok_or_else(|| {
                    format!("connection {:?}: unknown workspace {}", c.name, c.workspace)
                })?
                .clone();
            if !catalog::is_type(&c.kind) {
                return Err(format!(
                    "connection {:?}: unknown type {:?}",
                    c.name, c.kind
                ));
            }
            if let Some(r) = &c.inactive_reason
                && !INACTIVE_REASONS.contains(&r.as_str())
            {
                return Err(format!(
                    "connection {:?}: unknown inactive_reason {r:?}",
                    c.name
                ));
            }
            let id = c.id.unwrap_or_else(Uuid::new_v4);
            if s.connection_name_taken(ws.id, &c.name, Some(id)) {
                return Err(format!(
                    "connection name {:?} is taken in workspace {}",
                    c.name, ws.id
                ));
            }
            let mut metadata = c.metadata.clone();
            catalog::apply_defaults(&c.kind, &mut metadata);
            let created_at = c.created_at.unwrap_or(now);
            let seq = s.next_seq();
            let created_by = c
                .created_by
                .clone()
                .unwrap_or_else(|| user_of(s, &ws.org_id));
            s.connections.insert(
                id,
                Connection {
                    id,
                    seq,
                    org_id: ws.org_id.clone(),
                    workspace: ws.id,
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                    metadata,
                    action_data: c.action_data.clone(),
                    active: c.active.unwrap_or(true),
                    inactive_reason: c.inactive_reason.clone(),
                    hidden: c.hidden.unwrap_or(false),
                    created_by,
                    created_at,
                    updated_at: c.updated_at.unwrap_or(created_at),
                },
            );
        }

        for r in &self.rules {
            let conn = s
                .connections
                .get(&r.connection)
                .ok_or_else(|| format!("rule: unknown connection {}", r.connection))?
                .clone();
            if conn.workspace != r.workspace {
                return Err(format!(
                    "rule: connection {} is not in workspace {}",
                    r.connection, r.workspace
                ));
            }
            if !r.metadata.get("action").is_some_and(Value::is_string) {
                return Err(format!(
                    "rule on {}: metadata.action is required",
                    r.connection
                ));
            }
            let id = r.id.unwrap_or_else(Uuid::new_v4);
            let created_at = r.created_at.unwrap_or(now);
            let seq = s.next_seq();
            let created_by = r
                .created_by
                .clone()
                .unwrap_or_else(|| user_of(s, &conn.org_id));
            s.rules.insert(
                id,
                Rule {
                    id,
                    seq,
                    org_id: conn.org_id.clone(),
                    workspace: conn.workspace,
                    connection: conn.id,
                    kind: conn.kind.clone(),
                    event: r.event.clone(),
                    resource: r.resource.clone(),
                    resource_id: r.resource_id.clone(),
                    metadata: r.metadata.clone(),
                    active: r.active.unwrap_or(true),
                    hidden: r.hidden.unwrap_or(false),
                    created_by,
                    created_at,
                    updated_at: r.updated_at.unwrap_or(created_at),
                },
            );
        }

        for (entries, is_event) in [(&self.event_types, true), (&self.resources, false)] {
            for e in entries {
                if !s.workspaces.contains_key(&e.workspace) {
                    return Err(format!(
                        "catalog entry {:?}: unknown workspace {}",
                        e.key, e.workspace
                    ));
                }
                let created_at = e.created_at.unwrap_or(now);
                let entry = CatalogEntry {
                    id: e.id.unwrap_or_else(Uuid::new_v4),
                    seq: s.next_seq(),
                    workspace: e.workspace,
                    key: e.key.clone(),
                    label: e.label.clone().unwrap_or_else(|| label_for(&e.key)),
                    description: e.description.clone(),
                    active: e.active.unwrap_or(true),
                    created_by: e.created_by.clone(),
                    created_at,
                    updated_at: e.updated_at.unwrap_or(created_at),
                };
                let map = if is_event {
                    &mut s.event_types
                } else {
                    &mut s.resources
                };
                map.retain(|_, x| !(x.workspace == entry.workspace && x.key == entry.key));
                map.insert(entry.id, entry);
            }
        }
        Ok(())
    }
}

/// `^mesh_pub_([A-Za-z0-9\-.]+)_([A-Za-z0-9\-.]+)_([^_]+)$`
pub fn valid_publishable_key(k: &str) -> bool {
    let Some(rest) = k.strip_prefix("mesh_pub_") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('_').collect();
    let seg = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    parts.len() == 3 && seg(parts[0]) && seg(parts[1]) && !parts[2].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_seed_loads_and_bad_seed_leaves_state_untouched() {
        let text = include_str!("../golden/seed.json");
        let seed = Seed::from_text(text).unwrap_or_else(|e| unreachable!("{e}"));
        let mut s = State::default();
        assert_eq!(seed.apply(&mut s), Ok(()));
        assert_eq!(s.workspaces.len(), 2);
        assert_eq!(s.rules.len(), 2);
        let bad = Seed::from_text("workspaces: [{name: dup}, {name: DUP}]\ncredentials: []\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let before = s.workspaces.len();
        assert!(bad.apply(&mut s).is_err());
        assert_eq!(s.workspaces.len(), before);
    }

    #[test]
    fn publishable_key_shape() {
        assert!(valid_publishable_key("mesh_pub_abc.def_ghi-jkl_asdf123"));
        assert!(!valid_publishable_key("pub_live_xxxx"));
        assert!(!valid_publishable_key("mesh_pub_a_b"));
    }
}
