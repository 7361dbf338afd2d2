//! The status condition type shared by all three kinds, the five condition types
//! (`docs/crds.md`, "Status conditions"), and pure helpers to set them without rewriting
//! timestamps needlessly.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Upstream matches the current generation and outputs are written.
pub const READY: &str = "Ready";
/// Work for the current generation is in flight.
pub const RECONCILING: &str = "Reconciling";
/// Only a human can fix the object (bad credentials, conflicts, invalid spec).
pub const STALLED: &str = "Stalled";
/// The last reconcile attempt reached Meshes and succeeded.
pub const SYNCED: &str = "Synced";
/// Upstream differs from the spec (reported in `Observe` mode, or before a correction).
pub const DRIFTED: &str = "Drifted";

/// Every condition type, in the order the operator reports them.
pub const ALL_TYPES: [&str; 5] = [READY, RECONCILING, STALLED, SYNCED, DRIFTED];

/// Status of a condition, as in Kubernetes `metav1.ConditionStatus`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot tell yet.
    Unknown,
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// One observation about the object, in the shape kstatus, Flux, Argo CD and kubectl read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: `Ready`, `Reconciling`, `Stalled`, `Synced` or `Drifted`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 64))]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason from the documented vocabulary (e.g. `Available`,
    /// `WaitingForSecret`, `InvalidCredentials`).
    #[schemars(length(max = 128))]
    pub reason: String,
    /// Human-readable message saying what happened and what to do about it.
    #[schemars(length(max = 32768))]
    pub message: String,
    /// The `metadata.generation` this condition was computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status of this condition last changed (not when it was last checked).
    pub last_transition_time: Time,
}

impl Condition {
    /// A condition observed now, for the given generation.
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: Time,
    ) -> Self {
        Self {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.into(),
            observed_generation,
            last_transition_time: now,
        }
    }

    /// True when the condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// The condition of the given type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition of the given type is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(Condition::is_true)
}

/// Sets `new` into `conditions`, replacing any condition of the same type. When the status is
/// unchanged the existing `lastTransitionTime` is kept, so a resync that observes the same
/// state writes nothing. Returns true when `conditions` changed (the caller then patches status).
pub fn set(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            if *existing == new {
                false
            } else {
                *existing = new;
                true
            }
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Sets every condition of `updates` with [`set`]; returns true when anything changed.
pub fn merge(
    conditions: &mut Vec<Condition>,
    updates: impl IntoIterator<Item = Condition>,
) -> bool {
    // Not `any`: every update must be applied, not just those up to the first change.
    let mut changed = false;
    for c in updates {
        changed |= set(conditions, c);
    }
    changed
}

/// Removes the condition of the given type; returns true when one was removed.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::reasons;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn ready(
        status: ConditionStatus,
        reason: &str,
        msg: &str,
        generation: i64,
        t: i64,
    ) -> Condition {
        Condition::new(READY, status, reason, msg, Some(generation), at(t))
    }

    #[test]
    fn set_appends_a_new_type() {
        let mut conds = vec![];
        assert!(set(
            &mut conds,
            ready(ConditionStatus::True, reasons::AVAILABLE, "ok", 1, 10)
        ));
        assert_eq!(conds.len(), 1);
        assert!(is_true(&conds, READY));
        assert!(!is_true(&conds, STALLED));
    }

    #[test]
    fn same_status_keeps_transition_time_and_reports_no_change_when_identical() {
        let mut conds = vec![ready(
            ConditionStatus::True,
            reasons::AVAILABLE,
            "ok",
            1,
            10,
        )];
        // A later resync observing the same state: nothing to write.
        assert!(!set(
            &mut conds,
            ready(ConditionStatus::True, reasons::AVAILABLE, "ok", 1, 99)
        ));
        assert_eq!(conds[0].last_transition_time, at(10));
        // New generation, same status: updated, but the transition time stays.
        assert!(set(
            &mut conds,
            ready(ConditionStatus::True, reasons::AVAILABLE, "ok", 2, 99)
        ));
        assert_eq!(conds[0].observed_generation, Some(2));
        assert_eq!(conds[0].last_transition_time, at(10));
        // Same status, new reason and message: updated, transition time kept.
        assert!(set(
            &mut conds,
            ready(
                ConditionStatus::True,
                reasons::AVAILABLE,
                "still ok",
                2,
                120
            )
        ));
        assert_eq!(conds[0].message, "still ok");
        assert_eq!(conds[0].last_transition_time, at(10));
    }

    #[test]
    fn status_change_moves_transition_time() {
        let mut conds = vec![ready(
            ConditionStatus::True,
            reasons::AVAILABLE,
            "ok",
            1,
            10,
        )];
        assert!(set(
            &mut conds,
            ready(ConditionStatus::False, reasons::UPDATING, "updating", 2, 50)
        ));
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].status, ConditionStatus::False);
        assert_eq!(conds[0].reason, reasons::UPDATING);
        assert_eq!(conds[0].last_transition_time, at(50));
    }

    #[test]
    fn merge_and_remove() {
        let mut conds = vec![ready(
            ConditionStatus::True,
            reasons::AVAILABLE,
            "ok",
            1,
            10,
        )];
        let synced = Condition::new(
            SYNCED,
            ConditionStatus::True,
            reasons::RECONCILE_SUCCESS,
            "",
            Some(1),
            at(20),
        );
        assert!(merge(
            &mut conds,
            [
                ready(ConditionStatus::True, reasons::AVAILABLE, "ok", 1, 30),
                synced.clone()
            ]
        ));
        assert_eq!(conds.len(), 2);
        assert!(!merge(&mut conds, [synced]));
        assert_eq!(find(&conds, READY).unwrap().last_transition_time, at(10));
        // Every update is applied, not only the first that changes something.
        let updating = ready(ConditionStatus::False, reasons::UPDATING, "updating", 2, 40);
        let failing = Condition::new(
            SYNCED,
            ConditionStatus::False,
            reasons::RECONCILE_ERROR,
            "503",
            Some(2),
            at(40),
        );
        assert!(merge(&mut conds, [updating, failing]));
        assert_eq!(find(&conds, READY).unwrap().reason, reasons::UPDATING);
        assert_eq!(
            find(&conds, SYNCED).unwrap().reason,
            reasons::RECONCILE_ERROR
        );
        assert!(remove(&mut conds, SYNCED));
        assert!(!remove(&mut conds, SYNCED));
        assert_eq!(conds.len(), 1);
    }

    #[test]
    fn serializes_in_kubernetes_shape() {
        let c = ready(ConditionStatus::True, reasons::AVAILABLE, "ok", 3, 0);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "Ready", "status": "True", "reason": "Available", "message": "ok",
                "observedGeneration": 3, "lastTransitionTime": "1970-01-01T00:00:00Z"
            })
        );
    }
}
