//! Stored objects and how each renders on the wire. Stored forms keep everything (secrets,
//! owning org, insertion sequence); `to_wire` produces exactly the documented shapes.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::catalog;

/// RFC 3339 with milliseconds and `Z`, like JavaScript's `toISOString`.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Org {
    /// Organization UUID (string form as configured).
    pub id: String,
    /// When it was first seen.
    pub created_at: DateTime<Utc>,
}

/// A machine key as stored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// `mk_…`.
    pub access_key: String,
    /// HMAC secret.
    pub secret_key: String,
    /// Owning organization.
    pub org_id: String,
    /// The user the key belongs to; written as `created_by`.
    pub user_id: String,
    /// Workspaces the key may touch; `None` = the whole org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<Uuid>>,
    /// Revoked keys are refused with 401.
    #[serde(default)]
    pub revoked: bool,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .field("workspaces", &self.workspaces)
            .field("revoked", &self.revoked)
            .finish()
    }
}

impl ApiKey {
    /// Whether this key may act on `workspace`.
    pub fn may_access(&self, workspace: &Uuid) -> bool {
        self.workspaces
            .as_ref()
            .is_none_or(|w| w.contains(workspace))
    }
}

/// A workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// UUID.
    pub id: Uuid,
    /// Insertion order; pagination cursors point into it.
    pub seq: u64,
    /// Owning organization.
    pub org_id: String,
    /// Unique per org, case-insensitive.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// `mesh_pub_<a>_<b>_<c>`.
    pub publishable_key: String,
    /// `publishable_key.name`.
    pub publishable_key_name: String,
    /// Creator (not on the wire for workspaces).
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Workspace {
    /// List/create/update shape.
    pub fn to_wire(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "description": self.description,
            "created_at": ts(&self.created_at), "updated_at": ts(&self.updated_at),
        })
    }

    /// GET shape: adds `publishable_key`.
    pub fn to_wire_with_key(&self) -> Value {
        let mut v = self.to_wire();
        v["publishable_key"] =
            json!({ "name": self.publishable_key_name, "public_key": self.publishable_key });
        v
    }
}

/// A connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// UUID.
    pub id: Uuid,
    /// Insertion order.
    pub seq: u64,
    /// Owning organization.
    pub org_id: String,
    /// Workspace UUID.
    pub workspace: Uuid,
    /// Integration type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique per workspace, case-insensitive.
    pub name: String,
    /// Stored metadata including secrets and server defaults.
    pub metadata: Map<String, Value>,
    /// Cached action data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_data: Option<Value>,
    /// Health.
    pub active: bool,
    /// Why it is inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
    /// Hidden from the dashboard.
    pub hidden: bool,
    /// Creator.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The `inactive_reason` enum.
pub const INACTIVE_REASONS: [&str; 4] = [
    "authentication_invalid",
    "oauth_authorization_revoked",
    "oauth_reauthorization_required",
    "manually_inactivated",
];

impl Connection {
    /// Metadata without secret (password-type) fields.
    pub fn public_metadata(&self) -> Map<String, Value> {
        let mut m = self.metadata.clone();
        for k in catalog::secret_keys(&self.kind) {
            m.remove(k);
        }
        m
    }

    /// Wire shape (secrets removed).
    pub fn to_wire(&self) -> Value {
        let mut v = json!({
            "id": self.id, "workspace": self.workspace, "type": self.kind, "name": self.name,
            "metadata": self.public_metadata(), "active": self.active, "hidden": self.hidden,
            "created_by": self.created_by,
            "created_at": ts(&self.created_at), "updated_at": ts(&self.updated_at),
        });
        if let Some(a) = &self.action_data {
            v["action_data"] = a.clone();
        }
        if let Some(r) = &self.inactive_reason {
            v["inactive_reason"] = json!(r);
        }
        v
    }
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// UUID.
    pub id: Uuid,
    /// Insertion order.
    pub seq: u64,
    /// Owning organization.
    pub org_id: String,
    /// Workspace UUID.
    pub workspace: Uuid,
    /// Connection UUID.
    pub connection: Uuid,
    /// Integration type, copied from the connection.
    #[serde(rename = "type")]
    pub kind: String,
    /// Event type key.
    pub event: String,
    /// Optional resource filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Optional resource id filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// `{action, …}`.
    pub metadata: Map<String, Value>,
    /// Whether the rule fires.
    pub active: bool,
    /// Hidden from the dashboard.
    pub hidden: bool,
    /// Creator.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Rule {
    /// Wire shape.
    pub fn to_wire(&self) -> Value {
        let mut v = json!({
            "id": self.id, "workspace": self.workspace, "connection": self.connection,
            "type": self.kind, "event": self.event, "metadata": self.metadata,
            "active": self.active, "hidden": self.hidden, "created_by": self.created_by,
            "created_at": ts(&self.created_at), "updated_at": ts(&self.updated_at),
        });
        if let Some(r) = &self.resource {
            v["resource"] = json!(r);
        }
        if let Some(r) = &self.resource_id {
            v["resource_id"] = json!(r);
        }
        v
    }

    /// `DELETE /rules/{id}` answer.
    pub fn to_deleted_wire(&self) -> Value {
        let mut v = json!({ "id": self.id, "connection": self.connection, "type": self.kind, "event": self.event });
        if let Some(r) = &self.resource {
            v["resource"] = json!(r);
        }
        if let Some(r) = &self.resource_id {
            v["resource_id"] = json!(r);
        }
        v
    }

    /// Whether the rule matches the optional `event`/`resource`/`resource_id` filters.
    pub fn matches(
        &self,
        event: Option<&str>,
        resource: Option<&str>,
        resource_id: Option<&str>,
    ) -> bool {
        event.is_none_or(|e| self.event == e)
            && resource.is_none_or(|r| self.resource.as_deref() == Some(r))
            && resource_id.is_none_or(|r| self.resource_id.as_deref() == Some(r))
    }
}

/// An event type or resource type of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// UUID.
    pub id: Uuid,
    /// Insertion order.
    pub seq: u64,
    /// Workspace UUID.
    pub workspace: Uuid,
    /// Key, e.g. `user.signup`.
    pub key: String,
    /// Human label.
    pub label: String,
    /// Optional description.
    pub description: Option<String>,
    /// Active flag.
    pub active: bool,
    /// Creator.
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl CatalogEntry {
    /// Wire shape.
    pub fn to_wire(&self) -> Value {
        json!({
            "id": self.id, "key": self.key, "label": self.label, "description": self.description,
            "active": self.active, "created_by": self.created_by,
            "created_at": ts(&self.created_at), "updated_at": ts(&self.updated_at),
        })
    }
}

/// Label derived from a key: `user.signup` → `User Signup`.
pub fn label_for(key: &str) -> String {
    key.split(['.', '_', '-', ':'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Identity of a connection's destination field catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldCatalog {
    /// UUID.
    pub id: Uuid,
    /// When first served.
    pub created_at: DateTime<Utc>,
    /// Last `refresh=true`.
    pub refreshed_at: DateTime<Utc>,
}
