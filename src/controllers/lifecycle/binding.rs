//! Which upstream object a CR is about this pass. Pure.
//!
//! Order matters: a create whose outcome is unknown is claimed before anything else (during a
//! re-create the external-id annotation still names the old object, and during a replace the
//! recorded ID is the rule in service); then the ID in status; then `spec.adopt.id`; then the
//! external-id annotation of a restored object; else create.

use crate::resources::PendingCreate;

/// How the CR finds its upstream object.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// A create (first, re-create or replacement) with an unknown outcome: claim it.
    ClaimPending(PendingCreate),
    /// Status records the ID.
    Bound(String),
    /// `spec.adopt.id`.
    Adopt(String),
    /// The `meshes.io/external-id` annotation of a restored or re-applied object.
    Rebind(String),
    /// Nothing exists yet.
    Create,
}

/// Chooses the binding path.
pub fn choose(
    pending: Option<&PendingCreate>,
    recorded: Option<&str>,
    adopt: Option<&str>,
    external_id: Option<&str>,
) -> Binding {
    if let Some(p) = pending {
        return Binding::ClaimPending(p.clone());
    }
    if let Some(id) = recorded {
        return Binding::Bound(id.to_string());
    }
    if let Some(id) = adopt {
        return Binding::Adopt(id.to_string());
    }
    if let Some(id) = external_id.filter(|s| !s.is_empty()) {
        return Binding::Rebind(id.to_string());
    }
    Binding::Create
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn pending() -> PendingCreate {
        PendingCreate {
            identity: "x".into(),
            started_at: Time(Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn a_pending_create_wins_over_everything() {
        let p = pending();
        assert_eq!(
            choose(Some(&p), Some("old"), Some("a"), Some("e")),
            Binding::ClaimPending(p)
        );
    }

    #[test]
    fn then_recorded_then_adopt_then_annotation() {
        assert_eq!(
            choose(None, Some("id"), Some("a"), Some("e")),
            Binding::Bound("id".into())
        );
        assert_eq!(
            choose(None, None, Some("a"), Some("e")),
            Binding::Adopt("a".into())
        );
        assert_eq!(
            choose(None, None, None, Some("e")),
            Binding::Rebind("e".into())
        );
        assert_eq!(choose(None, None, None, Some("")), Binding::Create);
        assert_eq!(choose(None, None, None, None), Binding::Create);
    }
}
