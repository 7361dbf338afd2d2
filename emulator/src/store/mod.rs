//! The emulator's whole mutable world: one serde-serializable [`State`] of collections behind
//! one lock ([`Store`]), plus the invariant-keeping operations shared by the HTTP handlers,
//! the seed loader and the admin surface. Every write lock bumps a generation counter so the
//! persistence snapshotter knows when the state changed.

pub mod embed;
pub mod history;
pub mod model;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use embed::{Mapping, Session};
pub use history::{Attempt, Event, RuleEvent, Status};
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
    /// Event history by insertion sequence (oldest first).
    #[serde(default)]
    pub events: BTreeMap<u64, Event>,
    /// Event id → sequence; rebuilt by [`State::rebuild_indexes`] after loading.
    #[serde(skip)]
    pub event_index: HashMap<Uuid, u64>,
    /// Embed sessions by `session_id`.
    #[serde(default)]
    pub sessions: BTreeMap<String, Session>,
    /// Stored default mappings by connection id.
    #[serde(default)]
    pub mappings: BTreeMap<Uuid, Mapping>,
    /// HMAC key of embed session access tokens.
    #[serde(default)]
    pub session_secret: String,
    /// Access key printed at start; reused after a restart from a state file when no
    /// credentials are configured.
    #[serde(default)]
    pub primary_access_key: Option<String>,
}

/// Shared handle to the state.
#[derive(Debug, Clone, Default)]
pub struct Store {
    inner: Arc<RwLock<State>>,
    generation: Arc<AtomicU64>,
}

impl Store {
    /// Read access; a poisoned lock is recovered because every mutation keeps the state valid
    /// at each step.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access; counts as a change for persistence.
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        let guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        // Bumped while the write lock is held, so a reader holding the read lock sees a
        // generation that matches the state it reads.
        self.generation.fetch_add(1, Ordering::SeqCst);
        guard
    }

    /// Number of write locks taken so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
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
    /// Rebuilds the derived indexes (after deserializing).
    pub fn rebuild_indexes(&mut self) {
        self.event_index = self.events.values().map(|e| (e.id, e.seq)).collect();
    }

    /// An event by id.
    pub fn event(&self, id: &Uuid) -> Option<&Event> {
        self.event_index.get(id).and_then(|s| self.events.get(s))
    }

    /// An event by id, mutable.
    pub fn event_mut(&mut self, id: &Uuid) -> Option<&mut Event> {
        let seq = *self.event_index.get(id)?;
        self.events.get_mut(&seq)
    }

    /// Stores an event and drops the oldest ones beyond `max_events`.
    pub fn insert_event(&mut self, event: Event, max_events: usize) {
        self.event_index.insert(event.id, event.seq);
        self.events.insert(event.seq, event);
        while self.events.len() > max_events.max(1) {
            match self.events.pop_first() {
                Some((_, old)) => {
                    self.event_index.remove(&old.id);
                }
                None => break,
            }
        }
    }

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
        self.mappings.remove(&id);
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
        self.events.clear();
        self.event_index.clear();
        self.sessions.clear();
        self.mappings.clear();
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
