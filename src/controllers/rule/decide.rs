//! Pure decisions of the rule controller. Meshes cannot update a rule, so any change of the
//! rule's tuple replaces it; the tuple (connection, event, resource, resourceId, metadata over
//! the spec's keys) is also its natural identity for crash-safe creates and collisions.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::api::types::{CreateRule, Rule};
use crate::resources::{
    DeletionPolicy, ManagementPolicy, MeshesRuleSpec, MeshesRuleStatus, PendingCreate,
};

/// How the CR finds its upstream rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// A create (first or replacement) with an unknown outcome: claim before anything else.
    ClaimPending(PendingCreate),
    /// Status records the rule ID.
    Bound(String),
    /// `spec.adopt.id`.
    Adopt(String),
    /// The external-id annotation of a restored object.
    Rebind(String),
    /// Create.
    Create,
}

/// Chooses the binding path. A pending create wins even over a recorded ID: during a replace
/// the old ID is still recorded while the new rule's create may have been lost.
pub fn binding(
    spec: &MeshesRuleSpec,
    status: Option<&MeshesRuleStatus>,
    external_id: Option<&str>,
) -> Binding {
    if let Some(p) = status.and_then(|s| s.pending_create.clone()) {
        return Binding::ClaimPending(p);
    }
    if let Some(id) = status.and_then(|s| s.rule_id.clone()) {
        return Binding::Bound(id);
    }
    if let Some(a) = &spec.adopt {
        return Binding::Adopt(a.id.clone());
    }
    if let Some(id) = external_id.filter(|s| !s.is_empty()) {
        return Binding::Rebind(id.to_string());
    }
    Binding::Create
}

/// The rule the spec describes, in workspace `workspace` on connection `connection`.
pub fn desired(spec: &MeshesRuleSpec, workspace: &str, connection: &str) -> CreateRule {
    let mut metadata = Map::new();
    metadata.insert("action".into(), Value::String(spec.metadata.action.clone()));
    for (k, v) in &spec.metadata.extra {
        metadata.insert(k.clone(), Value::String(v.clone()));
    }
    CreateRule {
        workspace: workspace.to_string(),
        connection: connection.to_string(),
        event: spec.event.clone(),
        metadata,
        resource: spec.resource.clone(),
        resource_id: spec.resource_id.clone(),
        active: spec.active,
        hidden: spec.hidden,
    }
}

/// A stable hash of the desired rule; a different hash means a replace.
pub fn hash(rule: &CreateRule) -> String {
    let doc = serde_json::to_string(rule).unwrap_or_default();
    hex::encode(Sha256::digest(doc.as_bytes()))
}

/// Whether upstream rule `r` is the desired one (metadata compared over the spec's keys, so
/// members Meshes adds do not count).
pub fn matches(r: &Rule, want: &CreateRule) -> bool {
    r.connection == want.connection
        && r.event == want.event
        && r.resource == want.resource
        && r.resource_id == want.resource_id
        && want
            .metadata
            .iter()
            .all(|(k, v)| r.metadata.get(k) == Some(v))
        && want.active.is_none_or(|a| r.active.unwrap_or(true) == a)
        && want.hidden.is_none_or(|h| r.hidden.unwrap_or(false) == h)
}

/// The deletion policy in effect.
pub fn deletion_policy(spec: &MeshesRuleSpec, default: DeletionPolicy) -> DeletionPolicy {
    if let Some(p) = spec.deletion_policy {
        return p;
    }
    if spec.management_policy == Some(ManagementPolicy::Observe) || spec.adopt.is_some() {
        return DeletionPolicy::Orphan;
    }
    default
}

/// An identical upstream rule no CR has bound: creating ours would silently duplicate or take
/// it over, so the CR stalls instead.
pub fn collision<'a>(
    upstream: &'a [Rule],
    want: &CreateRule,
    bound: &HashSet<String>,
) -> Option<&'a Rule> {
    upstream
        .iter()
        .find(|r| matches(r, want) && !bound.contains(&r.id))
}

/// Result of looking for the rule a lost create may have made.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Ours: bind it.
    Ours(Box<Rule>),
    /// Not there: create again.
    Absent,
}

/// Finds a rule with the desired tuple created no earlier than `started_at - skew` and bound by
/// no other CR.
pub fn claim(
    upstream: &[Rule],
    want: &CreateRule,
    started_at: &Time,
    skew: Duration,
    bound: &HashSet<String>,
) -> Claim {
    let skew = i64::try_from(skew.as_millis()).unwrap_or(i64::MAX);
    let earliest = started_at.0.as_millisecond().saturating_sub(skew);
    upstream
        .iter()
        .filter(|r| matches(r, want) && !bound.contains(&r.id))
        .find(|r| r.created_at.timestamp_millis() >= earliest)
        .map(|r| Claim::Ours(Box::new(r.clone())))
        .unwrap_or(Claim::Absent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> MeshesRuleSpec {
        serde_json::from_value(v).unwrap()
    }

    fn rule(id: &str, metadata: Value, created: &str) -> Rule {
        serde_json::from_value(json!({
            "id": id, "workspace": "w", "connection": "c", "type": "webhook", "event": "user.signup",
            "metadata": metadata, "created_by": "u", "created_at": created, "updated_at": created
        }))
        .unwrap()
    }

    #[test]
    fn any_tuple_change_changes_the_hash() {
        let a = spec(
            json!({"connectionRef": {"name": "c"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}),
        );
        let mut b = a.clone();
        let base = hash(&desired(&a, "w", "c"));
        assert_eq!(base, hash(&desired(&b, "w", "c")));
        b.event = "user.deleted".into();
        assert_ne!(base, hash(&desired(&b, "w", "c")));
        let mut c = a.clone();
        c.metadata.extra.insert("id".into(), "list-1".into());
        assert_ne!(base, hash(&desired(&c, "w", "c")));
        assert_ne!(base, hash(&desired(&a, "w", "other")));
    }

    #[test]
    fn matching_ignores_members_meshes_adds() {
        let s = spec(
            json!({"connectionRef": {"name": "c"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}),
        );
        let want = desired(&s, "w", "c");
        assert!(matches(
            &rule(
                "r",
                json!({"action": "send_webhook", "extra": "x"}),
                "2026-01-01T00:00:00Z"
            ),
            &want
        ));
        assert!(!matches(
            &rule("r", json!({"action": "other"}), "2026-01-01T00:00:00Z"),
            &want
        ));
    }

    #[test]
    fn pending_wins_over_a_recorded_id_during_a_replace() {
        let s = spec(
            json!({"connectionRef": {"name": "c"}, "event": "e", "metadata": {"action": "a"}}),
        );
        let st: MeshesRuleStatus = serde_json::from_value(json!({
            "ruleId": "old", "pendingCreate": {"identity": "i", "startedAt": "2026-01-01T00:00:00Z"}
        }))
        .unwrap();
        assert!(matches!(
            binding(&s, Some(&st), None),
            Binding::ClaimPending(_)
        ));
    }

    #[test]
    fn claims_only_new_unbound_rules_and_collisions_only_unbound_ones() {
        let s = spec(
            json!({"connectionRef": {"name": "c"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}),
        );
        let want = desired(&s, "w", "c");
        let started = Time(k8s_openapi::jiff::Timestamp::from_second(1_767_225_600).unwrap()); // 2026-01-01
        let old = rule(
            "old",
            json!({"action": "send_webhook"}),
            "2025-12-01T00:00:00Z",
        );
        let new = rule(
            "new",
            json!({"action": "send_webhook"}),
            "2026-01-01T00:00:01Z",
        );
        let none = HashSet::new();
        assert_eq!(
            claim(
                &[old.clone(), new.clone()],
                &want,
                &started,
                Duration::from_secs(5),
                &none
            ),
            Claim::Ours(Box::new(new.clone()))
        );
        assert_eq!(
            claim(
                std::slice::from_ref(&old),
                &want,
                &started,
                Duration::from_secs(5),
                &none
            ),
            Claim::Absent
        );
        assert_eq!(
            collision(std::slice::from_ref(&old), &want, &none).map(|r| r.id.as_str()),
            Some("old")
        );
        let bound: HashSet<String> = ["old".to_string()].into();
        assert!(collision(&[old], &want, &bound).is_none());
    }
}
