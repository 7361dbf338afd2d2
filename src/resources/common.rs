//! Spec and status building blocks shared by the three kinds: references, adoption, policies,
//! the integration-type enum and the crash-safe `pendingCreate` marker.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a Meshes object ID (a UUID, either case).
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// Pattern Meshes applies to workspace and connection names.
pub const MESHES_NAME_PATTERN: &str = "^[a-zA-Z0-9 _-]+$";

/// Removes a type's own description from its schema, so the description of the field using it
/// survives: kube's `Option<enum>` rewrite would otherwise replace the field's doc comment with
/// the type's.
pub(crate) fn drop_description(schema: &mut schemars::Schema) {
    schema.remove("description");
}

/// Most members of a free-form settings object (`MeshesConnection` `spec.metadata`).
pub const SETTINGS_MAX_MEMBERS: u64 = 64;
/// Most members of an object, or items of a list, nested inside free-form settings.
pub const SETTINGS_MAX_NESTED_ITEMS: u64 = 32;
/// Longest string value (in bytes) anywhere inside free-form settings.
pub const SETTINGS_MAX_STRING_BYTES: u64 = 8192;
/// Deepest level of a value inside free-form settings: the members of `spec.metadata` are at
/// level 1, so `custom_headers.X-Team` is at level 2; a value at this level must be a scalar
/// (or an empty object or list).
pub const SETTINGS_MAX_DEPTH: usize = 4;

/// Schema of free-form settings: a JSON object of at most [`SETTINGS_MAX_MEMBERS`] members whose
/// values are strings, numbers, booleans, objects or lists, nested at most
/// [`SETTINGS_MAX_DEPTH`] levels deep.
///
/// OpenAPI has no depth keyword and CEL cannot see values kept by
/// `x-kubernetes-preserve-unknown-fields`, so the depth bound is the shape itself: every level
/// is an untyped node (any JSON value, kept as it is) whose `additionalProperties` and `items`
/// describe the next level, with `maxLength`, `maxProperties` and `maxItems` applying to
/// whichever kind of value is there. The last level allows no members and no items. The
/// apiserver refuses anything deeper with `<path>: Too many: N: must have at most 0 items`
/// at the first level past the bound.
pub(crate) fn bounded_settings(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": SETTINGS_MAX_MEMBERS,
        "additionalProperties": settings_value(SETTINGS_MAX_DEPTH),
    })
}

/// The schema of one value of free-form settings with `levels` levels, itself included.
fn settings_value(levels: usize) -> serde_json::Value {
    let (members, next) = if levels > 1 {
        (SETTINGS_MAX_NESTED_ITEMS, Some(settings_value(levels - 1)))
    } else {
        (0, None)
    };
    let mut node = serde_json::json!({
        "x-kubernetes-preserve-unknown-fields": true,
        "maxLength": SETTINGS_MAX_STRING_BYTES,
        "maxProperties": members,
        "maxItems": members,
    });
    if let (Some(obj), Some(next)) = (node.as_object_mut(), next) {
        obj.insert("additionalProperties".into(), next.clone());
        obj.insert("items".into(), next);
    }
    node
}

/// A reference to another object (a Secret or a Meshes custom resource) in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the referenced object, in the same namespace as this object. References never
    /// cross namespaces.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret, in the same namespace as this object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// Adoption of an object that already exists in Meshes, instead of creating a new one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptSpec {
    /// Meshes ID (UUID) of the existing object to manage. Immutable once set. The object must
    /// carry credentials that can reach this ID.
    #[schemars(length(max = 36), regex(pattern = UUID_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf",
        "message": "adopt.id is immutable once set"
    }]))]
    pub id: String,
}

/// Whether the operator writes to Meshes or only watches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = drop_description)]
pub enum ManagementPolicy {
    /// Create, update and delete the upstream object to match the spec (the default).
    Manage,
    /// Never write upstream: bind to `adopt.id`, report differences in the `Drifted`
    /// condition. Requires `adopt.id` and implies `deletionPolicy: Orphan`.
    Observe,
}

/// What happens to the upstream object when the custom resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = drop_description)]
pub enum DeletionPolicy {
    /// Delete the upstream object (a 404 counts as done).
    Delete,
    /// Leave the upstream object in Meshes and only release it.
    Orphan,
}

/// The integration types Meshes supports for connections (and, through them, rules).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = drop_description)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationType {
    /// ActiveCampaign (API key).
    Activecampaign,
    /// AWeber (OAuth, adopt only).
    Aweber,
    /// Customer.io (API key).
    #[serde(rename = "customer_io")]
    CustomerIo,
    /// Discord (OAuth, adopt only).
    Discord,
    /// HubSpot (OAuth, adopt only).
    Hubspot,
    /// Intercom (OAuth, adopt only).
    Intercom,
    /// Mailchimp (API key).
    Mailchimp,
    /// MailerLite (API key).
    Mailerlite,
    /// Pipedrive (OAuth, adopt only).
    Pipedrive,
    /// Resend (API key).
    Resend,
    /// SendGrid (API key).
    Sendgrid,
    /// Salesforce (OAuth, adopt only).
    Salesforce,
    /// Slack (OAuth, adopt only).
    Slack,
    /// Generic HTTPS webhook.
    Webhook,
    /// Zoom (OAuth, adopt only).
    Zoom,
}

impl IntegrationType {
    /// Every integration type, in the order of the schema enum.
    pub const ALL: [IntegrationType; 15] = [
        Self::Activecampaign,
        Self::Aweber,
        Self::CustomerIo,
        Self::Discord,
        Self::Hubspot,
        Self::Intercom,
        Self::Mailchimp,
        Self::Mailerlite,
        Self::Pipedrive,
        Self::Resend,
        Self::Sendgrid,
        Self::Salesforce,
        Self::Slack,
        Self::Webhook,
        Self::Zoom,
    ];

    /// The wire spelling (`customer_io`, `webhook`, …), identical in the CRD and the Meshes API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activecampaign => "activecampaign",
            Self::Aweber => "aweber",
            Self::CustomerIo => "customer_io",
            Self::Discord => "discord",
            Self::Hubspot => "hubspot",
            Self::Intercom => "intercom",
            Self::Mailchimp => "mailchimp",
            Self::Mailerlite => "mailerlite",
            Self::Pipedrive => "pipedrive",
            Self::Resend => "resend",
            Self::Sendgrid => "sendgrid",
            Self::Salesforce => "salesforce",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::Zoom => "zoom",
        }
    }

    /// True for the OAuth integrations, which Meshes creates only in its dashboard: a
    /// connection of this type can only be adopted (`adopt.id`).
    pub fn is_oauth(self) -> bool {
        matches!(
            self,
            Self::Aweber
                | Self::Discord
                | Self::Hubspot
                | Self::Intercom
                | Self::Pipedrive
                | Self::Salesforce
                | Self::Slack
                | Self::Zoom
        )
    }
}

impl std::fmt::Display for IntegrationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Marker written to status just before a create call, so a create whose response was lost
/// (timeout, crash) is claimed instead of duplicated (`docs/reconcile-contract.md`,
/// "Crash-safe creates").
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// The natural identity of the object being created (workspace name, connection name within
    /// its workspace, or the rule tuple), as the controller compares it when claiming.
    pub identity: String,
    /// When the create was started; an upstream object created before this (minus a small
    /// skew) is never claimed.
    pub started_at: Time,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_type_wire_names_match_serde() {
        for t in IntegrationType::ALL {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, serde_json::Value::String(t.as_str().to_owned()));
            let back: IntegrationType = serde_json::from_value(json).unwrap();
            assert_eq!(back, t);
        }
        assert_eq!(IntegrationType::CustomerIo.as_str(), "customer_io");
    }

    #[test]
    fn oauth_types_are_the_eight_dashboard_only_integrations() {
        let oauth: Vec<_> = IntegrationType::ALL
            .iter()
            .filter(|t| t.is_oauth())
            .map(|t| t.as_str())
            .collect();
        assert_eq!(
            oauth,
            [
                "aweber",
                "discord",
                "hubspot",
                "intercom",
                "pipedrive",
                "salesforce",
                "slack",
                "zoom"
            ]
        );
        assert!(!IntegrationType::Webhook.is_oauth());
    }
}
