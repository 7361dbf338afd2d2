//! Pure decisions of the rule controller. Meshes cannot update a rule, so any change of the
//! rule's tuple replaces it; the tuple (connection, event, resource, resourceId, metadata over
//! the spec's keys) is also its natural identity for crash-safe creates and collisions.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::api::types::{CreateRule, Rule};
use crate::resources::MeshesRuleSpec;

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

/// An identical upstream rule no CR has bound: creating ours would silently duplicate or take
/// it over, so the CR stalls instead.
pub fn collision<'a>(
    upstream: &'a [Rule],
    want: &CreateRule,
    bound: impl Fn(&str) -> bool,
) -> Option<&'a Rule> {
    upstream.iter().find(|r| matches(r, want) && !bound(&r.id))
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
    fn collisions_are_only_unbound_identical_rules() {
        let s = spec(
            json!({"connectionRef": {"name": "c"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}),
        );
        let want = desired(&s, "w", "c");
        let old = rule(
            "old",
            json!({"action": "send_webhook"}),
            "2025-12-01T00:00:00Z",
        );
        assert_eq!(
            collision(std::slice::from_ref(&old), &want, |_| false).map(|r| r.id.as_str()),
            Some("old")
        );
        assert!(collision(&[old], &want, |id| id == "old").is_none());
    }
}
