//! The emulator's whole mutable world: one serde-serializable [`State`] of collections behind
//! one lock ([`Store`]), plus the invariant-keeping operations shared by the HTTP handlers,
//! the seed loader and the admin surface. Later parts (events, sessions, persistence) add
//! collections here.

pub mod model;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use model::{
    ApiKey, CatalogEntry, Connection, FieldCatalog, Org, Rule, Workspace, label_for, ts,
};

/// Everything the emulator stores.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Last insertion sequence number handed out.
    pub seq: u64,
    /// Organizations by id.
    pub orgs: BTreeMap<String, Org>,
    /// Machine keys by access key.
    pub keys: BTreeMap<String, ApiKey>,
    /// Workspaces by id.
    pub workspaces: BTreeMap<Uuid, Workspace>,
    /// Connections by id.
    pub connections: BTreeMap<Uuid, Connection>,
    /// Rules by id.
    pub rules: BTreeMap<Uuid, Rule>,
    /// Event types by id.
    pub event_types: BTreeMap<Uuid, CatalogEntry>,
    /// Resource types by id.
    pub resources: BTreeMap<Uuid, CatalogEntry>,
    /// Destination field catalogs by connection id.
    pub field_catalogs: BTreeMap<Uuid, FieldCatalog>,
}

/// Shared handle to the state.
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<RwLock<State>>);

impl Store {
    /// Read access; a poisoned lock is recovered because every mutation keeps the state valid
    /// at each step.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access.
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn random_segment(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A publishable key `mesh_pub_<workspace-prefix>_<random>_<random>`.
pub fn new_publishable_key(workspace: &Uuid) -> String {
    let simple = workspace.simple().to_string();
    format!(
        "mesh_pub_{}_{}_{}",
        &simple[..8],
        random_segment(16),
        random_segment(24)
    )
}

/// Why a connection cannot be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteConnectionError {
    /// No such connection.
    NotFound,
    /// It still has rules and `force_delete` was not set.
    HasRules,
}

impl State {
    /// Next insertion sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Registers an org if unknown.
    pub fn ensure_org(&mut self, org_id: &str) {
        if !self.orgs.contains_key(org_id) {
            self.orgs.insert(
                org_id.to_owned(),
                Org {
                    id: org_id.to_owned(),
                    created_at: Utc::now(),
                },
            );
        }
    }

    /// Adds (or replaces) a key; its org is created if unknown.
    pub fn add_key(&mut self, key: ApiKey) {
        self.ensure_org(&key.org_id);
        self.keys.insert(key.access_key.clone(), key);
    }

    /// Whether another workspace of `org` already has `name` (case-insensitive).
    pub fn workspace_name_taken(&self, org: &str, name: &str, except: Option<Uuid>) -> bool {
        self.workspaces
            .values()
            .any(|w| w.org_id == org && Some(w.id) != except && w.name.eq_ignore_ascii_case(name))
    }

    /// Creates a workspace with a fresh publishable key and the default `contact.created`
    /// event type. The caller checks name uniqueness.
    pub fn create_workspace(
        &mut self,
        org: &str,
        name: &str,
        description: Option<String>,
        created_by: &str,
    ) -> Workspace {
        self.ensure_org(org);
        let id = Uuid::new_v4();
        let now = Utc::now();
        let ws = Workspace {
            id,
            seq: self.next_seq(),
            org_id: org.to_owned(),
            name: name.to_owned(),
            description,
            publishable_key: new_publishable_key(&id),
            publishable_key_name: "Default".into(),
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
        };
        self.workspaces.insert(id, ws.clone());
        self.ensure_event_type(id, "contact.created", Some(created_by));
        ws
    }

    /// Whether another connection of `workspace` already has `name` (case-insensitive).
    pub fn connection_name_taken(&self, workspace: Uuid, name: &str, except: Option<Uuid>) -> bool {
        self.connections.values().any(|c| {
            c.workspace == workspace && Some(c.id) != except && c.name.eq_ignore_ascii_case(name)
        })
    }

    /// Deletes a connection; with `force` its rules go too.
    pub fn delete_connection(
        &mut self,
        id: Uuid,
        force: bool,
    ) -> Result<Connection, DeleteConnectionError> {
        if !self.connections.contains_key(&id) {
            return Err(DeleteConnectionError::NotFound);
        }
        let has_rules = self.rules.values().any(|r| r.connection == id);
        if has_rules && !force {
            return Err(DeleteConnectionError::HasRules);
        }
        self.rules.retain(|_, r| r.connection != id);
        self.field_catalogs.remove(&id);
        self.connections
            .remove(&id)
            .ok_or(DeleteConnectionError::NotFound)
    }

    /// Adds event type `key` to a workspace unless present.
    pub fn ensure_event_type(&mut self, workspace: Uuid, key: &str, created_by: Option<&str>) {
        if self
            .event_types
            .values()
            .any(|e| e.workspace == workspace && e.key == key)
        {
            return;
        }
        let entry = self.new_entry(workspace, key, created_by);
        self.event_types.insert(entry.id, entry);
    }

    /// Adds resource type `key` to a workspace unless present.
    pub fn ensure_resource(&mut self, workspace: Uuid, key: &str, created_by: Option<&str>) {
        if self
            .resources
            .values()
            .any(|e| e.workspace == workspace && e.key == key)
        {
            return;
        }
        let entry = self.new_entry(workspace, key, created_by);
        self.resources.insert(entry.id, entry);
    }

    fn new_entry(&mut self, workspace: Uuid, key: &str, created_by: Option<&str>) -> CatalogEntry {
        let now = Utc::now();
        CatalogEntry {
            id: Uuid::new_v4(),
            seq: self.next_seq(),
            workspace,
            key: key.to_owned(),
            label: label_for(key),
            description: None,
            active: true,
            created_by: created_by.map(str::to_owned),
            created_at: now,
            updated_at: now,
        }
    }

    /// Removes every object but keeps keys and orgs.
    pub fn clear_objects(&mut self) {
        self.workspaces.clear();
        self.connections.clear();
        self.rules.clear();
        self.event_types.clear();
        self.resources.clear();
        self.field_catalogs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishable_key_has_three_segments() {
        let k = new_publishable_key(&Uuid::new_v4());
        let rest = k.strip_prefix("mesh_pub_").unwrap_or_default();
        let parts: Vec<_> = rest.split('_').collect();
        assert_eq!(parts.len(), 3, "{k}");
        assert!(parts.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn force_delete_removes_rules_and_plain_delete_refuses() {
        let mut s = State::default();
        let ws = s.create_workspace("org", "W1", None, "u");
        let now = Utc::now();
        let cid = Uuid::new_v4();
        let seq = s.next_seq();
        s.connections.insert(
            cid,
            Connection {
                id: cid,
                seq,
                org_id: "org".into(),
                workspace: ws.id,
                kind: "webhook".into(),
                name: "c".into(),
                metadata: Default::default(),
                action_data: None,
                active: true,
                inactive_reason: None,
                hidden: false,
                created_by: "u".into(),
                created_at: now,
                updated_at: now,
            },
        );
        let rid = Uuid::new_v4();
        let seq = s.next_seq();
        s.rules.insert(
            rid,
            Rule {
                id: rid,
                seq,
                org_id: "org".into(),
                workspace: ws.id,
                connection: cid,
                kind: "webhook".into(),
                event: "e".into(),
                resource: None,
                resource_id: None,
                metadata: Default::default(),
                active: true,
                hidden: false,
                created_by: "u".into(),
                created_at: now,
                updated_at: now,
            },
        );
        assert_eq!(
            s.delete_connection(cid, false).map(|c| c.id),
            Err(DeleteConnectionError::HasRules)
        );
        assert_eq!(s.rules.len(), 1);
        assert_eq!(s.delete_connection(cid, true).map(|c| c.id), Ok(cid));
        assert!(s.rules.is_empty());
    }
}
