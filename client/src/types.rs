//! Wire types of the Meshes management API (the contract in brief: `emulator/README.md`, "The
//! wire contract"; request and response shapes pinned by `emulator/golden/*.json`). Owned by
//! the client alone; the emulator has its own, and the golden fixtures keep both honest.
//!
//! Reading is lenient where the operator does not depend on a field (unknown enum values
//! land in a catch-all, unknown members are ignored); writing sends exactly the documented
//! members. Connection `metadata` may hold secret settings on the way in, so every type that
//! carries it prints only its keys in `Debug`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A free-form JSON object (connection or rule metadata).
pub type JsonObject = Map<String, Value>;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this client version does not know yet (kept verbatim).
            Other(String),
        }

        impl $name {
            /// Every value this client version knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $( $wire => $name::$variant, )+
                    _ => $name::Other(s),
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::from(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// Shared with the event types in `events.rs`.
pub(crate) use string_enum;

string_enum! {
    /// Integration (connection and rule) type: the 15 types of the contract; values added by
    /// Meshes later land in the catch-all.
    IntegrationType {
        /// ActiveCampaign.
        ActiveCampaign = "activecampaign",
        /// AWeber.
        Aweber = "aweber",
        /// Customer.io.
        CustomerIo = "customer_io",
        /// Discord.
        Discord = "discord",
        /// HubSpot.
        Hubspot = "hubspot",
        /// Intercom.
        Intercom = "intercom",
        /// Mailchimp.
        Mailchimp = "mailchimp",
        /// MailerLite.
        Mailerlite = "mailerlite",
        /// Pipedrive.
        Pipedrive = "pipedrive",
        /// Resend.
        Resend = "resend",
        /// SendGrid.
        Sendgrid = "sendgrid",
        /// Salesforce.
        Salesforce = "salesforce",
        /// Slack.
        Slack = "slack",
        /// Generic HTTPS webhook.
        Webhook = "webhook",
        /// Zoom.
        Zoom = "zoom",
    }
}

string_enum! {
    /// Why Meshes marked a connection inactive.
    InactiveReason {
        /// Stored credentials were refused by the destination.
        AuthenticationInvalid = "authentication_invalid",
        /// The OAuth grant was revoked.
        OauthAuthorizationRevoked = "oauth_authorization_revoked",
        /// The OAuth grant must be renewed in the dashboard.
        OauthReauthorizationRequired = "oauth_reauthorization_required",
        /// Someone switched it off.
        ManuallyInactivated = "manually_inactivated",
    }
}

string_enum! {
    /// How an integration authenticates (`authentication.type`).
    AuthenticationType {
        /// Credentials in connection metadata.
        ApiKey = "api_key",
        /// Basic auth fields in metadata.
        Basic = "basic",
        /// No credentials (webhook).
        None = "none",
        /// Created only through the dashboard OAuth flow.
        Oauth = "oauth",
    }
}

/// The pagination envelope of every list (`{count, limit, next_cursor, records}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// Records in this page.
    pub count: u64,
    /// Effective page size.
    pub limit: u64,
    /// Cursor of the next page; `None` at the end.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// The items.
    pub records: Vec<T>,
}

/// A workspace as listed, created and updated (`/workspaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Meshes ID (UUID).
    pub id: String,
    /// Name, unique per organization.
    pub name: String,
    /// Description; `None` when unset.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

/// The workspace's browser-safe ingestion key. Public by design, not a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishableKey {
    /// Label of the key.
    pub name: String,
    /// The key itself (`mesh_pub_…`).
    pub public_key: String,
}

/// `GET /workspaces/{id}`: the workspace plus its publishable key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceDetail {
    /// The workspace fields.
    #[serde(flatten)]
    pub workspace: Workspace,
    /// The publishable key.
    pub publishable_key: PublishableKey,
}

/// Body of `POST /workspaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWorkspace {
    /// 3–50 chars of `[a-zA-Z0-9 _-]`.
    pub name: String,
    /// Up to 1024 chars; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Body of `PUT /workspaces/{id}` (a full update: `description: None` clears it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateWorkspace {
    /// New name.
    pub name: String,
    /// New description; always sent, `null` clears.
    pub description: Option<String>,
}

/// `{"workspace": …}` wrapper of the create response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceEnvelope {
    /// The created workspace.
    pub workspace: Workspace,
}

/// A connection: a configured destination inside a workspace (`/connections`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Meshes ID (UUID).
    pub id: String,
    /// Owning workspace ID.
    pub workspace: String,
    /// Integration type.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Name, unique per workspace.
    pub name: String,
    /// Non-secret settings as stored (Meshes adds defaults and never echoes secrets).
    #[serde(default)]
    pub metadata: JsonObject,
    /// Cached live action data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_data: Option<Value>,
    /// Health; `None` when not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Why it is inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<InactiveReason>,
    /// Hidden from the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Creator (user or key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("workspace", &self.workspace)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("metadata_keys", &KeysOnly(&self.metadata))
            .field("active", &self.active)
            .field("inactive_reason", &self.inactive_reason)
            .field("hidden", &self.hidden)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// Body of `POST /connections`. `metadata` may include secret settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateConnection {
    /// Workspace ID.
    pub workspace: String,
    /// Integration type.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// 1–128 chars.
    pub name: String,
    /// Settings, secrets included.
    pub metadata: JsonObject,
    /// Hidden from the dashboard; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
}

impl fmt::Debug for CreateConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateConnection")
            .field("workspace", &self.workspace)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("metadata_keys", &KeysOnly(&self.metadata))
            .field("hidden", &self.hidden)
            .finish()
    }
}

/// Body of `PUT /connections/{id}`. Replaces the settings: secrets must be sent again.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateConnection {
    /// Name.
    pub name: String,
    /// Settings, secrets included.
    pub metadata: JsonObject,
    /// Hidden flag; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
}

impl fmt::Debug for UpdateConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateConnection")
            .field("name", &self.name)
            .field("metadata_keys", &KeysOnly(&self.metadata))
            .field("hidden", &self.hidden)
            .finish()
    }
}

/// `{"connection": …}` wrapper of the create response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEnvelope {
    /// The created connection.
    pub connection: Connection,
}

/// Body of `DELETE /connections/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteConnection {
    /// Delete even though rules still use the connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_delete: bool,
}

/// Response of `DELETE /connections/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedConnection {
    /// The deleted ID.
    pub id: String,
    /// Its integration type.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
}

/// A rule: event type → connection action (`/rules`). Rules cannot be updated, only replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Meshes ID (UUID).
    pub id: String,
    /// Workspace ID.
    pub workspace: String,
    /// Connection ID.
    pub connection: String,
    /// Integration type (copied from the connection).
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Event type key, e.g. `user.signup`.
    pub event: String,
    /// Resource filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Resource ID filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Action settings; `action` is always present.
    #[serde(default)]
    pub metadata: JsonObject,
    /// Whether the rule fires (Meshes default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Hidden from the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl Rule {
    /// `metadata.action`, when it is a string.
    pub fn action(&self) -> Option<&str> {
        self.metadata.get("action").and_then(Value::as_str)
    }
}

/// Body of `POST /rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRule {
    /// Workspace ID.
    pub workspace: String,
    /// Connection ID.
    pub connection: String,
    /// Event type key.
    pub event: String,
    /// Action settings; must contain `action`.
    pub metadata: JsonObject,
    /// Resource filter; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Resource ID filter (`^[A-Za-z0-9._:-]{1,64}$`); omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Omitted when `None` (Meshes default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Omitted when `None` (Meshes default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
}

/// `{"rule": …}` wrapper of the create response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEnvelope {
    /// The created rule.
    pub rule: Rule,
}

/// Response of `DELETE /rules/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedRule {
    /// The deleted ID.
    pub id: String,
    /// Its connection.
    pub connection: String,
    /// Integration type.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Event type key.
    pub event: String,
    /// Resource filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Resource ID filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

/// Query filters of the rule lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFilter {
    /// Only rules for this event type.
    pub event: Option<String>,
    /// Only rules for this resource.
    pub resource: Option<String>,
    /// Only rules for this resource ID.
    pub resource_id: Option<String>,
}

impl RuleFilter {
    pub(crate) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(v) = &self.event {
            q.push(("event", v.clone()));
        }
        if let Some(v) = &self.resource {
            q.push(("resource", v.clone()));
        }
        if let Some(v) = &self.resource_id {
            q.push(("resource_id", v.clone()));
        }
        q
    }
}

/// An entry of the integrations catalog (`GET /integrations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// Display name (empty when the server omits it).
    #[serde(default)]
    pub name: String,
    /// Integration type.
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// How connections of this type authenticate and which metadata keys they take.
    pub authentication: IntegrationAuthentication,
    /// Actions keyed by their `metadata.action` value.
    #[serde(default)]
    pub actions: BTreeMap<String, IntegrationAction>,
}

/// `authentication` of an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationAuthentication {
    /// `api_key`, `basic`, `none` or `oauth`.
    #[serde(rename = "type")]
    pub kind: AuthenticationType,
    /// Connection metadata fields (their `key`s are the metadata keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<AuthenticationField>>,
    /// `{version: 1|2}` for OAuth integrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<Value>,
}

/// One connection setting of an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationField {
    /// Metadata key.
    pub key: String,
    /// UI label.
    #[serde(default)]
    pub label: String,
    /// `text`, `password` (secret: never echoed) or `select`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Required setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Everything else (`helpText`, `validate`, `defaultValue`, `options`, `dependsOn`).
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl AuthenticationField {
    /// True for settings Meshes treats as secrets.
    pub fn is_secret(&self) -> bool {
        self.kind == "password"
    }
}

/// One action of an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationAction {
    /// Value for a rule's `metadata.action`.
    pub key: String,
    /// UI label.
    #[serde(default)]
    pub label: String,
    /// Noun shown in the UI.
    #[serde(default)]
    pub noun: String,
    /// Rule metadata members the action uses (`[]` = action only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Everything else (`display`, `data`).
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Prints only the keys of an object (values may be secrets).
struct KeysOnly<'a>(&'a JsonObject);

impl fmt::Debug for KeysOnly<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_integration_types_land_in_the_catch_all_and_round_trip() {
        let t: IntegrationType = serde_json::from_value(json!("smoke_signals")).unwrap();
        assert_eq!(t, IntegrationType::Other("smoke_signals".into()));
        assert_eq!(serde_json::to_value(&t).unwrap(), json!("smoke_signals"));
        let t: IntegrationType = serde_json::from_value(json!("customer_io")).unwrap();
        assert_eq!(t, IntegrationType::CustomerIo);
        assert_eq!(IntegrationType::KNOWN.len(), 15);
        for known in IntegrationType::KNOWN {
            assert_eq!(&IntegrationType::from(known.as_str()), known);
        }
    }

    #[test]
    fn connection_bodies_never_print_metadata_values() {
        let body = CreateConnection {
            workspace: "w".into(),
            kind: IntegrationType::Webhook,
            name: "hook".into(),
            metadata: json!({"url": "https://x.example", "signing_secret": "TOPSECRET"})
                .as_object()
                .unwrap()
                .clone(),
            hidden: None,
        };
        let debug = format!("{body:?}");
        assert!(!debug.contains("TOPSECRET"), "{debug}");
        assert!(debug.contains("signing_secret"), "keys are shown: {debug}");
        let update = UpdateConnection {
            name: "hook".into(),
            metadata: body.metadata.clone(),
            hidden: Some(true),
        };
        assert!(!format!("{update:#?}").contains("TOPSECRET"));
        // Serialization does carry the secret: it has to reach Meshes.
        assert!(serde_json::to_string(&body).unwrap().contains("TOPSECRET"));
    }

    #[test]
    fn request_bodies_omit_unset_optionals_but_update_workspace_sends_null() {
        let create = CreateWorkspace {
            name: "acme".into(),
            description: None,
        };
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            json!({"name": "acme"})
        );
        let update = UpdateWorkspace {
            name: "acme".into(),
            description: None,
        };
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"name": "acme", "description": null})
        );
        assert_eq!(
            serde_json::to_value(DeleteConnection::default()).unwrap(),
            json!({})
        );
        assert_eq!(
            serde_json::to_value(DeleteConnection { force_delete: true }).unwrap(),
            json!({"force_delete": true})
        );
    }
}
