//! `MeshesRule`: routes one event type to one connection action. Meshes cannot update a rule,
//! so a spec change replaces it (create the new rule, then delete the old one).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AdoptSpec, DeletionPolicy, LocalObjectReference, ManagementPolicy, PendingCreate, UUID_PATTERN,
};
use super::conditions::Condition;

/// A Meshes rule: sends one event type (optionally narrowed to a resource) to one connection
/// action. A spec change replaces the rule; delivery across a replace is at-least-once.
// Each printcolumn repeats `type_ = "string"`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "meshes.io",
    version = "v1alpha1",
    kind = "MeshesRule",
    plural = "meshesrules",
    singular = "meshesrule",
    shortname = "mrule",
    category = "meshes",
    category = "meshesio",
    namespaced,
    status = "MeshesRuleStatus",
    derive = "PartialEq",
    doc = "A Meshes rule: routes one event type to one connection action. A spec change replaces the rule (create new, then delete old).",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the rule matches the spec"
    ),
    printcolumn(
        name = "Synced",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Synced")].status"#,
        description = "Whether the last attempt to reach Meshes succeeded (False during an outage, even while Ready)"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        description = "Reason of the Ready condition"
    ),
    printcolumn(
        name = "Meshes ID",
        type_ = "string",
        json_path = ".status.ruleId",
        description = "Meshes rule ID"
    ),
    printcolumn(
        name = "Event",
        type_ = "string",
        json_path = ".spec.event",
        description = "Event type routed by the rule",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.adopt) || has(self.credentialsRef)",
        "message": "spec.adopt.id requires spec.credentialsRef: inherited or default credentials never reach raw Meshes IDs"
    },
    {
        "rule": "has(self.connectionRef) != has(self.connectionId)",
        "message": "exactly one of spec.connectionRef and spec.connectionId must be set"
    },
    {
        "rule": "has(self.connectionRef) == has(oldSelf.connectionRef) && has(self.connectionId) == has(oldSelf.connectionId)",
        "message": "spec.connectionRef and spec.connectionId are immutable"
    },
    {
        "rule": "!has(self.connectionId) || has(self.credentialsRef)",
        "message": "spec.connectionId requires spec.credentialsRef: the operator's default credentials never reach raw Meshes IDs"
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
pub struct MeshesRuleSpec {
    /// The `MeshesConnection` in this namespace the rule sends to. Exactly one of
    /// `connectionRef` and `connectionId`; immutable.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.connectionRef is immutable"}]))]
    pub connection_ref: Option<LocalObjectReference>,

    /// Meshes ID of a connection not managed by a `MeshesConnection` here. Exactly one of
    /// `connectionRef` and `connectionId`; immutable; requires `credentialsRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36), regex(pattern = UUID_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "spec.connectionId is immutable"}]))]
    pub connection_id: Option<String>,

    /// Event type key the rule matches (e.g. `user.signup`).
    #[schemars(length(min = 1, max = 256))]
    pub event: String,

    /// Resource type the rule is narrowed to (e.g. `contacts`). Unset: any resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub resource: Option<String>,

    /// Resource ID the rule is narrowed to (1-64 characters: letters, digits, `.`, `_`, `:`, `-`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), regex(pattern = r"^[A-Za-z0-9._:-]{1,64}$"))]
    pub resource_id: Option<String>,

    /// Action settings: `action` (required, one of the integration's actions, e.g.
    /// `send_webhook`, `add_to_list`) plus the string members the action uses (`id`, `value`,
    /// `template`, `title`, `subject`, `from`, `body`, …).
    pub metadata: RuleMetadata,

    /// Whether the rule delivers events. Unset: Meshes' default (active).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,

    /// Hide the rule in the Meshes dashboard. Unset: Meshes' default (visible).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,

    /// Manage an existing Meshes rule instead of creating one. Immutable once set; requires
    /// `credentialsRef`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptSpec>,

    /// Secret in this namespace with Meshes credentials. Unset: the credentials of the referenced
    /// `MeshesConnection`. Required with `connectionId` or `adopt` (raw Meshes IDs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_ref: Option<LocalObjectReference>,

    /// `Delete` removes the rule from Meshes when this object is deleted; `Orphan` leaves it.
    /// Unset: the operator's default (shown in `status.effectiveDeletionPolicy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// `Manage` (default) writes to Meshes; `Observe` only reports drift, requires `adopt` and
    /// implies `deletionPolicy: Orphan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

/// Rule action settings: the required `action` plus free-form string members.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RuleMetadata {
    /// The integration action (e.g. `send_webhook`).
    pub action: String,
    /// Every other member (`id`, `value`, `template`, …), passed to Meshes as it is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, String>,
}

impl JsonSchema for RuleMetadata {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RuleMetadata".into()
    }

    // A structural schema cannot combine `properties` with `additionalProperties`, so `action`
    // is enforced by `required` and a CEL rule on a string map.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "required": ["action"],
            "maxProperties": 32,
            "additionalProperties": {"type": "string", "maxLength": 32768},
            "x-kubernetes-validations": [{
                "rule": "self.action != ''",
                "message": "spec.metadata.action must not be empty"
            }]
        })
    }
}

/// Observed state of a `MeshesRule`, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshesRuleStatus {
    /// The `metadata.generation` the status was last computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling`, `Stalled`, `Synced`, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Meshes ID of the bound rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,

    /// Meshes ID of the rule being replaced, kept until it is deleted (a replace creates the
    /// new rule first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_rule_id: Option<String>,

    /// Hash of the rule tuple last applied; a different spec means the rule is replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,

    /// Meshes ID of the connection the rule sends to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,

    /// Meshes ID of the workspace the rule belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,

    /// Meshes org of the rule; credentials of another org stall the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,

    /// Deletion policy in effect (the spec's, or the operator default; `Orphan` under `Observe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_deletion_policy: Option<DeletionPolicy>,

    /// Set while a create call is in flight, so a lost response is claimed rather than duplicated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingCreate>,
}
