//! Embed sessions and connection default mappings as stored (`emulator/README.md`, "Embed
//! sessions and mappings"), with their wire shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::ts;

/// An embed session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// `sess_<uuid>`.
    pub session_id: String,
    /// Insertion order.
    pub seq: u64,
    /// Owning organization.
    pub org_id: String,
    /// Target workspace.
    pub workspace_id: Uuid,
    /// `member` | `admin` | `owner`.
    pub role: String,
    /// `workspace` | `resource` | `dashboard`.
    pub session_type: String,
    /// Caller's user id.
    #[serde(default)]
    pub external_user_id: Option<String>,
    /// Resource of a `resource` session.
    #[serde(default)]
    pub resource: Option<String>,
    /// Resource id of a `resource` session.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Launch page.
    pub launch_page: String,
    /// Origins allowed to frame the embed.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Extra scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Access token lifetime.
    pub ttl_seconds: i64,
    /// Revoked sessions cannot be refreshed.
    pub revoked: bool,
    /// Creator (machine key user).
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry of the current access token.
    pub expires_at: DateTime<Utc>,
}

impl Session {
    /// `active` or `revoked`.
    pub fn status(&self) -> &'static str {
        if self.revoked { "revoked" } else { "active" }
    }

    /// Whether the current access token has expired.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// `GET /sessions` record.
    pub fn to_list_wire(&self, now: DateTime<Utc>) -> Value {
        let mut v = json!({
            "session_id": self.session_id, "workspace_id": self.workspace_id, "role": self.role,
            "status": self.status(), "created_at": ts(&self.created_at),
            "expires_at": ts(&self.expires_at), "is_expired": self.is_expired(now),
            "session_type": self.session_type,
        });
        if let Some(u) = &self.external_user_id {
            v["external_user_id"] = json!(u);
        }
        self.add_resource(&mut v);
        v
    }

    /// Members shared by the create and refresh answers.
    pub fn token_wire(&self, access_token: &str, now: DateTime<Utc>) -> Value {
        let mut v = json!({
            "session_id": self.session_id, "access_token": access_token,
            "expires_in": (self.expires_at - now).num_seconds().max(0),
            "expires_at": ts(&self.expires_at), "workspace_id": self.workspace_id,
            "role": self.role, "session_type": self.session_type,
        });
        self.add_resource(&mut v);
        v
    }

    fn add_resource(&self, v: &mut Value) {
        if let Some(r) = &self.resource {
            v["resource"] = json!(r);
        }
        if let Some(r) = &self.resource_id {
            v["resource_id"] = json!(r);
        }
    }
}

/// A stored default mapping of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// Record id (changes never).
    pub id: Uuid,
    /// Logical mapping id.
    pub mapping_id: Uuid,
    /// Bumped on every PUT; 0 = never stored (generated).
    pub version: u64,
    /// Workspace.
    pub workspace_id: Uuid,
    /// Connection.
    pub connection_id: Uuid,
    /// Integration type.
    pub integration_type: String,
    /// 1–64 chars.
    pub name: String,
    /// The MappingSchema.
    pub schema: Value,
    /// Field catalog version it was written against.
    #[serde(default)]
    pub catalog_version: Option<String>,
    /// Writer.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last PUT.
    pub updated_at: DateTime<Utc>,
}

impl Mapping {
    /// `{status, mapping}` answer.
    pub fn to_wire(&self) -> Value {
        let status = if self.version == 0 {
            "generated"
        } else {
            "stored"
        };
        let mut m = json!({
            "id": self.id, "mapping_id": self.mapping_id, "version": self.version,
            "workspace_id": self.workspace_id, "connection_id": self.connection_id,
            "integration_type": self.integration_type, "name": self.name, "schema": self.schema,
            "created_at": ts(&self.created_at), "updated_at": ts(&self.updated_at),
        });
        if let Some(c) = &self.catalog_version {
            m["catalog_version"] = json!(c);
        }
        if let Some(c) = &self.created_by {
            m["created_by"] = json!(c);
        }
        json!({ "status": status, "mapping": m })
    }
}
