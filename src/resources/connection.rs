//! `MeshesConnection`: one configured destination (integration) inside a Meshes workspace.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AdoptSpec, DeletionPolicy, IntegrationType, LocalObjectReference, MESHES_NAME_PATTERN,
    ManagementPolicy, PendingCreate, SecretKeySelector, UUID_PATTERN, bounded_settings,
};
use super::conditions::Condition;

/// A Meshes connection: a configured destination (webhook, Slack, HubSpot, …) inside a workspace.
// Each printcolumn repeats `type_ = "string"`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "meshes.io",
    version = "v1alpha1",
    kind = "MeshesConnection",
    plural = "meshesconnections",
    singular = "meshesconnection",
    shortname = "mconn",
    category = "meshes",
    category = "meshesio",
    namespaced,
    status = "MeshesConnectionStatus",
    derive = "PartialEq",
    doc = "A Meshes connection: a configured destination (webhook, Slack, HubSpot, ...) inside a workspace.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#, description = "Whether the connection matches the spec"),
    printcolumn(name = "Synced", type_ = "string", json_path = r#".status.conditions[?(@.type=="Synced")].status"#, description = "Whether the last attempt to reach Meshes succeeded (False during an outage, even while Ready)"),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#, description = "Reason of the Ready condition"),
    printcolumn(name = "Meshes ID", type_ = "string", json_path = ".status.connectionId", description = "Meshes connection ID"),
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type", description = "Integration type", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new(
        "has(self.spec.name) || has(self.spec.adopt) || self.metadata.name.matches('^[a-z0-9-]{1,128}$')"
    ).message(
        "spec.name is required when metadata.name is not a valid Meshes connection name (1-128 characters of letters, digits, space, '_' or '-'; no '.')"
    )
    .field_path(".spec.name")
    .reason(kube::core::Reason::FieldValueRequired),
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.adopt) || has(self.credentialsRef)",
        "message": "spec.adopt.id requires spec.credentialsRef: inherited or default credentials never reach raw Meshes IDs"
    },
    {
        "rule": "has(self.workspaceRef) != has(self.workspaceId)",
        "message": "exactly one of spec.workspaceRef and spec.workspaceId must be set"
    },
    {
        "rule": "has(self.workspaceRef) == has(oldSelf.workspaceRef) && has(self.workspaceId) == has(oldSelf.workspaceId)",
        "message": "spec.workspaceRef and spec.workspaceId are immutable"
    },
    {
        "rule": "!has(self.workspaceId) || has(self.credentialsRef)",
        "message": "spec.workspaceId requires spec.credentialsRef: the operator's default credentials never reach raw Meshes IDs"
    },
    {
        "rule": "!(self.type in ['aweber', 'discord', 'hubspot', 'intercom', 'pipedrive', 'salesforce', 'slack', 'zoom']) || has(self.adopt)",
        "message": "OAuth connection types (aweber, discord, hubspot, intercom, pipedrive, salesforce, slack, zoom) are created only in the Meshes dashboard: set spec.adopt.id"
    },
    {
        "rule": "!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.adopt)",
        "message": "managementPolicy Observe requires spec.adopt.id"
    },
    {
        "rule": "!has(self.managementPolicy) || self.managementPolicy != 'Observe' || !has(self.deletionPolicy) || self.deletionPolicy != 'Delete'",
        "message": "managementPolicy Observe never writes to Meshes and cannot be combined with deletionPolicy Delete"
    },
    {
        "rule": "!has(oldSelf.adopt) || has(self.adopt)",
        "message": "spec.adopt cannot be removed once set"
    }
]))]
pub struct MeshesConnectionSpec {
    /// The `MeshesWorkspace` in this namespace the connection belongs to. Exactly one of
    /// `workspaceRef` and `workspaceId`; immutable.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.workspaceRef is immutable"}]))]
    pub workspace_ref: Option<LocalObjectReference>,

    /// Meshes ID of a workspace not managed by a `MeshesWorkspace` here. Exactly one of
    /// `workspaceRef` and `workspaceId`; immutable; requires `credentialsRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36), regex(pattern = UUID_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.workspaceId is immutable"}]))]
    pub workspace_id: Option<String>,

    /// Integration type (one of the 15 Meshes integrations). Immutable. OAuth types (aweber,
    /// discord, hubspot, intercom, pipedrive, salesforce, slack, zoom) can only be adopted.
    #[serde(rename = "type")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.type is immutable"}]))]
    pub type_: IntegrationType,

    /// Connection name in Meshes (1-128 characters: letters, digits, space, `_`, `-`). Unset:
    /// `metadata.name` for a connection the operator creates; an adopted connection keeps its
    /// upstream name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = MESHES_NAME_PATTERN))]
    pub name: Option<String>,

    /// Non-secret integration settings, as Meshes expects them in the connection's `metadata`
    /// (e.g. a webhook's `url` and `http_method`). Secret settings go in `secretMetadata`.
    /// Unset: not managed.
    ///
    /// Bounds: at most 64 members; values are strings (at most 8192 bytes), numbers, booleans,
    /// objects (at most 32 members) or lists (at most 32 items), nested at most 4 levels deep:
    /// the members of `metadata` are level 1 (`url`), `custom_headers.X-Team` is level 2, and a
    /// value at level 4 must be a scalar. Deeper nesting is refused at the first level past the
    /// bound with "must have at most 0 items".
    // `default` only tells schemars the field is optional (schema_with hides the Option); the
    // emitted schema default is stripped by crdgen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bounded_settings")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,

    /// Secret settings (API keys, signing secrets), each read from a Secret key in this
    /// namespace and merged into `metadata` at call time. Values never appear in status, Events
    /// or logs. A connection without secret settings is never updated in Meshes, because Meshes
    /// does not echo secrets and an update would erase them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"]))]
    pub secret_metadata: Option<Vec<SecretMetadataEntry>>,

    /// Hide the connection in the Meshes dashboard. Unset: not managed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,

    /// Manage an existing Meshes connection instead of creating one (the only way for OAuth
    /// types). Immutable once set; requires `credentialsRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptSpec>,

    /// Secret in this namespace with Meshes credentials. Unset: the credentials of the referenced
    /// `MeshesWorkspace`. Required with `workspaceId` or `adopt` (raw Meshes IDs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<LocalObjectReference>,

    /// `Delete` removes the connection from Meshes when this object is deleted; `Orphan` leaves
    /// it. Unset: the operator's default (shown in `status.effectiveDeletionPolicy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// With `deletionPolicy: Delete`, also delete the rules Meshes still has on the connection
    /// (`force_delete`), including rules no `MeshesRule` manages. Unset or `false`: such rules
    /// are never deleted; the connection waits for operator-managed rules, then is released
    /// with a Warning Event naming the rules left behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_delete_rules: Option<bool>,

    /// `Manage` (default) writes to Meshes; `Observe` only reports drift, requires `adopt` and
    /// implies `deletionPolicy: Orphan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

/// One secret connection setting read from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretMetadataEntry {
    /// Key in the connection's `metadata` that receives the value (e.g. `api_key`).
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    /// The Secret key holding the value.
    pub secret_key_ref: SecretKeySelector,
}

/// Observed state of a `MeshesConnection`, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshesConnectionStatus {
    /// The `metadata.generation` the status was last computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling`, `Stalled`, `Synced`, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Meshes ID of the bound connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,

    /// Meshes ID of the workspace the connection belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,

    /// Meshes org of the connection; credentials of another org stall the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,

    /// Whether Meshes reports the connection as active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,

    /// Why Meshes marks the connection inactive (e.g. `oauth_authorization_revoked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,

    /// Hash of the last settings applied to Meshes (secret values enter only the hash), so a
    /// rotated secret triggers an update although Meshes does not echo secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,

    /// Deletion policy in effect (the spec's, or the operator default; `Orphan` under `Observe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_deletion_policy: Option<DeletionPolicy>,

    /// Set while a create call is in flight, so a lost response is claimed rather than duplicated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,
}
