//! `MeshesWorkspace`: one Meshes workspace (a tenant or environment) and its publishable key.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AdoptSpec, DeletionPolicy, LocalObjectReference, MESHES_NAME_PATTERN, ManagementPolicy,
    PendingCreate,
};
use super::conditions::Condition;

/// A Meshes workspace: one tenant or environment, with its publishable key written to a Secret
/// for browser-safe event ingestion. Meshes has no workspace delete: deleting this object
/// releases the workspace and leaves it in Meshes.
// Each printcolumn repeats `type_ = "string"`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "meshes.io",
    version = "v1alpha1",
    kind = "MeshesWorkspace",
    plural = "meshesworkspaces",
    singular = "meshesworkspace",
    shortname = "mws",
    category = "meshes",
    category = "meshesio",
    namespaced,
    status = "MeshesWorkspaceStatus",
    derive = "PartialEq",
    doc = "A Meshes workspace (one tenant or environment) and its publishable key. Deleting it releases the workspace; Meshes has no workspace delete.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#, description = "Whether the workspace matches the spec"),
    printcolumn(name = "Synced", type_ = "string", json_path = r#".status.conditions[?(@.type=="Synced")].status"#, description = "Whether the last attempt to reach Meshes succeeded (False during an outage, even while Ready)"),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#, description = "Reason of the Ready condition"),
    printcolumn(name = "Meshes ID", type_ = "string", json_path = ".status.workspaceId", description = "Meshes workspace ID"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new(
        "has(self.spec.name) || has(self.spec.adopt) || self.metadata.name.matches('^[a-z0-9-]{3,50}$')"
    ).message(
        "spec.name is required when metadata.name is not a valid Meshes workspace name (3-50 characters of letters, digits, space, '_' or '-'; no '.')"
    )
    .field_path(".spec.name")
    .reason(kube::core::Reason::FieldValueRequired),
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.managementPolicy) || self.managementPolicy != 'Observe' || has(self.adopt)",
        "message": "managementPolicy Observe requires spec.adopt.id"
    },
    {
        "rule": "!has(self.adopt) || has(self.credentialsRef)",
        "message": "spec.adopt.id requires spec.credentialsRef: the operator's default credentials never reach raw Meshes IDs"
    },
    {
        "rule": "!has(oldSelf.adopt) || has(self.adopt)",
        "message": "spec.adopt cannot be removed once set"
    }
]))]
pub struct MeshesWorkspaceSpec {
    /// Workspace name in Meshes (3-50 characters: letters, digits, space, `_`, `-`). Unset:
    /// `metadata.name` for a workspace the operator creates; an adopted workspace keeps its
    /// upstream name. Required when `metadata.name` is not a valid Meshes name (e.g. contains `.`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 50), regex(pattern = MESHES_NAME_PATTERN))]
    pub name: Option<String>,

    /// Workspace description (at most 1024 characters). Unset: not managed, the upstream value is
    /// left alone; `""` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// Secret in this namespace holding `MESHES_ACCESS_KEY`, `MESHES_SECRET_KEY` and
    /// `MESHES_ORG_ID`. Unset: the operator's default credentials, if this namespace is allowed
    /// to use them. Required with `adopt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<LocalObjectReference>,

    /// Manage an existing Meshes workspace instead of creating one. Immutable once set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptSpec>,

    /// Output Secret receiving `MESHES_PUBLISHABLE_KEY`, `MESHES_WORKSPACE_ID` and
    /// `MESHES_EVENTS_URL`. Unset: `<metadata.name>-publishable-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_key_secret: Option<LocalObjectReference>,

    /// `Manage` (default) writes to Meshes; `Observe` only reports drift and requires `adopt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

/// Observed state of a `MeshesWorkspace`, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshesWorkspaceStatus {
    /// The `metadata.generation` the status was last computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling`, `Stalled`, `Synced`, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Meshes ID of the bound workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,

    /// Meshes org the workspace belongs to; credentials of another org stall the object with
    /// `CredentialsOrgChanged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,

    /// Name of the Secret holding the publishable key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_key_secret_name: Option<String>,

    /// Deletion policy in effect; always `Orphan` for a workspace (Meshes has no workspace delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_deletion_policy: Option<DeletionPolicy>,

    /// Set while a create call is in flight, so a lost response is claimed rather than duplicated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,
}
