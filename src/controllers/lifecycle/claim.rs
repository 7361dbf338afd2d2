//! Which upstream object a create whose outcome is unknown made. Pure.
//!
//! A candidate is ours when it has the recorded identity (the spec when the create started) or
//! the current one, was created no earlier than the attempt's start minus a clock skew, and is
//! bound by no other CR; an object with the identity that fails either test is someone else's.

use super::Kind;
use crate::resources::PendingCreate;

/// What a look for the object a pending create may have made found.
#[derive(Debug)]
pub enum Claim<U> {
    /// Ours: bind it.
    Ours(U),
    /// An object with the identity exists but is older than the attempt or bound elsewhere.
    Conflict(U),
    /// Nothing: the create did not happen.
    Absent,
}

/// Looks through `candidates` for the object a create started at `pending` made. `mine`: IDs this
/// CR already holds (the object in service during a replace), never the one being created.
pub fn claim_in<K: Kind>(
    candidates: &[K::Up],
    pending: &PendingCreate,
    current: &str,
    skew: std::time::Duration,
    bound_elsewhere: &std::collections::HashSet<String>,
    mine: &[String],
) -> Claim<K::Up> {
    let skew = i64::try_from(skew.as_millis()).unwrap_or(i64::MAX);
    let earliest = pending.started_at.0.as_millisecond().saturating_sub(skew);
    let twins: Vec<&K::Up> = candidates
        .iter()
        .filter(|u| !mine.iter().any(|m| m == K::up_id(u)))
        .filter(|u| K::has_identity(u, &pending.identity) || K::has_identity(u, current))
        .collect();
    if let Some(ours) = twins
        .iter()
        .find(|u| K::created_ms(u) >= earliest && !bound_elsewhere.contains(K::up_id(u)))
    {
        return Claim::Ours((*ours).clone());
    }
    match twins.first() {
        Some(other) => Claim::Conflict((*other).clone()),
        None => Claim::Absent,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::api::types::Connection;
    use crate::resources::MeshesConnection;

    fn conn(id: &str, name: &str, created_secs: i64) -> Connection {
        serde_json::from_value(json!({
            "id": id, "workspace": "w1", "type": "webhook", "name": name, "metadata": {},
            "created_at": chrono::DateTime::from_timestamp(created_secs, 0).unwrap(),
            "updated_at": chrono::DateTime::from_timestamp(created_secs, 0).unwrap()
        }))
        .unwrap()
    }

    fn pending(identity: &str) -> PendingCreate {
        PendingCreate {
            identity: identity.into(),
            started_at: Time(Timestamp::from_second(1_000).unwrap()),
        }
    }

    fn claim(
        list: &[Connection],
        p: &PendingCreate,
        bound: &[&str],
        mine: &[&str],
    ) -> Claim<Connection> {
        let bound: HashSet<String> = bound.iter().map(|s| s.to_string()).collect();
        let mine: Vec<String> = mine.iter().map(|s| s.to_string()).collect();
        claim_in::<MeshesConnection>(
            list,
            p,
            "connection:w1/current",
            Duration::from_secs(10),
            &bound,
            &mine,
        )
    }

    #[test]
    fn a_new_unbound_twin_is_ours_by_the_recorded_or_the_current_identity() {
        let p = pending("connection:w1/recorded");
        for name in ["Recorded", "current"] {
            assert!(
                matches!(claim(&[conn("c1", name, 995)], &p, &[], &[]), Claim::Ours(c) if c.id == "c1"),
                "{name}"
            );
        }
    }

    #[test]
    fn an_old_or_foreign_twin_is_a_conflict_and_mine_or_others_are_ignored() {
        let p = pending("connection:w1/recorded");
        assert!(matches!(
            claim(&[conn("c1", "recorded", 900)], &p, &[], &[]),
            Claim::Conflict(_)
        ));
        assert!(matches!(
            claim(&[conn("c1", "recorded", 995)], &p, &["c1"], &[]),
            Claim::Conflict(_)
        ));
        assert!(matches!(
            claim(&[conn("c1", "recorded", 995)], &p, &[], &["c1"]),
            Claim::Absent
        ));
        assert!(matches!(
            claim(&[conn("c1", "other", 995)], &p, &[], &[]),
            Claim::Absent
        ));
        assert!(matches!(claim(&[], &p, &[], &[]), Claim::Absent));
    }
}
