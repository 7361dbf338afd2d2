//! What one reconcile concluded, and how that becomes conditions (docs/reconcile-contract.md,
//! "Conditions"): one vocabulary for all kinds, kstatus-compatible, with `lastTransitionTime` kept
//! when a status does not change. Pure, so every rule here is unit-tested.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::resources::conditions::{self, Condition, ConditionStatus};
use crate::resources::reasons;

/// The conclusion of one reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Upstream matches the current generation and outputs are written.
    Ready {
        /// What is true now, e.g. "workspace 1234 matches the spec".
        message: String,
    },
    /// Work for the current generation is in flight or waiting (Creating, Updating,
    /// WaitingForSecret, WaitingForDependency, Deleting, ...).
    Progressing {
        /// A Ready=False reason from [`reasons`].
        reason: &'static str,
        /// What is happening and, when waiting, what for.
        message: String,
    },
    /// Only a human can fix this.
    Stalled {
        /// A Stalled reason from [`reasons`].
        reason: &'static str,
        /// What is wrong and what to do about it.
        message: String,
    },
    /// Meshes could not be reached or failed (network, 5xx, 429): retried with backoff.
    Transient {
        /// The error, without secrets.
        message: String,
    },
    /// The `meshes.io/paused` annotation is set.
    Paused,
}

/// How the `Drifted` condition should look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Not tracked for this object (Manage mode corrects instead): the condition is removed.
    NotTracked,
    /// Tracked and upstream matches.
    InSync,
    /// Upstream differs from the spec.
    Drifted {
        /// `UpstreamChanged` or `UpstreamDeleted`.
        reason: &'static str,
        /// What differs.
        message: String,
    },
    /// Leave the condition as it is (nothing was observed this time).
    Unchanged,
}

/// The longest condition message written (the CRD allows 32 KiB; a message comes from Meshes
/// errors and drift lists that nobody bounds, and kstatus tools print it whole).
pub const MAX_MESSAGE_CHARS: usize = 2048;

/// `message` cut to [`MAX_MESSAGE_CHARS`] on a char boundary, marked when cut.
pub fn bounded(message: &str) -> std::borrow::Cow<'_, str> {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}… (truncated)", &message[..at]).into(),
        None => message.into(),
    }
}

/// Rewrites `conds` for `outcome` observed at `generation`. Returns true when anything changed.
pub fn apply(
    conds: &mut Vec<Condition>,
    outcome: &Outcome,
    drift: &Drift,
    generation: Option<i64>,
    now: &Time,
) -> bool {
    let before = conds.clone();
    let cond = |type_: &str, status: ConditionStatus, reason: &str, message: &str| {
        let message = bounded(message);
        Condition::new(
            type_,
            status,
            reason,
            message.as_ref(),
            generation,
            now.clone(),
        )
    };
    let ready_for_generation = conditions::find(conds, conditions::READY)
        .is_some_and(|c| c.is_true() && c.observed_generation == generation);

    match outcome {
        Outcome::Ready { message } => {
            conditions::set(
                conds,
                cond(
                    conditions::READY,
                    ConditionStatus::True,
                    reasons::AVAILABLE,
                    message,
                ),
            );
            conditions::remove(conds, conditions::RECONCILING);
            conditions::remove(conds, conditions::STALLED);
            conditions::set(
                conds,
                cond(
                    conditions::SYNCED,
                    ConditionStatus::True,
                    reasons::RECONCILE_SUCCESS,
                    "Last reconcile reached Meshes and succeeded",
                ),
            );
        }
        Outcome::Progressing { reason, message } => {
            conditions::set(
                conds,
                cond(conditions::READY, ConditionStatus::False, reason, message),
            );
            conditions::set(
                conds,
                cond(
                    conditions::RECONCILING,
                    ConditionStatus::True,
                    reason,
                    message,
                ),
            );
            conditions::remove(conds, conditions::STALLED);
        }
        Outcome::Stalled { reason, message } => {
            conditions::set(
                conds,
                cond(conditions::READY, ConditionStatus::False, reason, message),
            );
            conditions::set(
                conds,
                cond(conditions::STALLED, ConditionStatus::True, reason, message),
            );
            conditions::remove(conds, conditions::RECONCILING);
            conditions::set(
                conds,
                cond(
                    conditions::SYNCED,
                    ConditionStatus::False,
                    reasons::RECONCILE_ERROR,
                    message,
                ),
            );
        }
        Outcome::Transient { message } => {
            // A Meshes outage never flips a Ready object to not-Ready for an unchanged
            // generation: only Synced reports it.
            if !ready_for_generation {
                let reason = conditions::find(conds, conditions::READY)
                    .filter(|c| !c.is_true() && reasons::PROGRESSING.contains(&c.reason.as_str()))
                    .map(|c| c.reason.clone())
                    .unwrap_or_else(|| reasons::UPDATING.to_string());
                let msg = format!("Retrying after a transient Meshes error: {message}");
                conditions::set(
                    conds,
                    cond(conditions::READY, ConditionStatus::False, &reason, &msg),
                );
                conditions::set(
                    conds,
                    cond(
                        conditions::RECONCILING,
                        ConditionStatus::True,
                        &reason,
                        &msg,
                    ),
                );
            }
            conditions::remove(conds, conditions::STALLED);
            conditions::set(
                conds,
                cond(
                    conditions::SYNCED,
                    ConditionStatus::False,
                    reasons::RECONCILE_ERROR,
                    message,
                ),
            );
        }
        Outcome::Paused => {
            let msg = "Paused by the meshes.io/paused annotation: no writes to Meshes or status until it is removed";
            conditions::set(
                conds,
                cond(
                    conditions::READY,
                    ConditionStatus::False,
                    reasons::PAUSED,
                    msg,
                ),
            );
            conditions::remove(conds, conditions::RECONCILING);
            conditions::remove(conds, conditions::STALLED);
        }
    }
    match drift {
        Drift::NotTracked => {
            conditions::remove(conds, conditions::DRIFTED);
        }
        Drift::InSync => {
            conditions::set(
                conds,
                cond(
                    conditions::DRIFTED,
                    ConditionStatus::False,
                    reasons::IN_SYNC,
                    "Upstream matches the spec",
                ),
            );
        }
        Drift::Drifted { reason, message } => {
            conditions::set(
                conds,
                cond(conditions::DRIFTED, ConditionStatus::True, reason, message),
            );
        }
        Drift::Unchanged => {}
    }
    *conds != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded_on_a_char_boundary() {
        let long = "é".repeat(MAX_MESSAGE_CHARS * 4);
        let mut conds = Vec::new();
        let now = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        let out = Outcome::Stalled {
            reason: reasons::REJECTED,
            message: long,
        };
        apply(&mut conds, &out, &Drift::Unchanged, Some(1), &now);
        for c in &conds {
            assert!(
                c.message.chars().count() <= MAX_MESSAGE_CHARS + 20,
                "{}",
                c.type_
            );
        }
        assert!(conds.iter().any(|c| c.message.ends_with("(truncated)")));
        assert_eq!(bounded("short"), "short");
    }
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn ready(conds: &[Condition]) -> &Condition {
        conditions::find(conds, conditions::READY).unwrap()
    }

    #[test]
    fn ready_sets_available_and_synced_and_clears_progress() {
        let mut c = Vec::new();
        apply(
            &mut c,
            &Outcome::Progressing {
                reason: reasons::CREATING,
                message: "creating".into(),
            },
            &Drift::NotTracked,
            Some(1),
            &t(10),
        );
        assert!(
            conditions::find(&c, conditions::RECONCILING)
                .unwrap()
                .is_true()
        );
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::NotTracked,
            Some(1),
            &t(20),
        );
        assert_eq!(ready(&c).reason, reasons::AVAILABLE);
        assert!(ready(&c).is_true());
        assert_eq!(ready(&c).last_transition_time, t(20));
        assert!(conditions::find(&c, conditions::RECONCILING).is_none());
        assert!(conditions::is_true(&c, conditions::SYNCED));
    }

    #[test]
    fn an_outage_keeps_ready_true_for_the_same_generation_and_flips_synced() {
        let mut c = Vec::new();
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::NotTracked,
            Some(3),
            &t(10),
        );
        let changed = apply(
            &mut c,
            &Outcome::Transient {
                message: "503".into(),
            },
            &Drift::Unchanged,
            Some(3),
            &t(20),
        );
        assert!(changed);
        assert!(ready(&c).is_true());
        assert_eq!(ready(&c).last_transition_time, t(10));
        let synced = conditions::find(&c, conditions::SYNCED).unwrap();
        assert!(!synced.is_true());
        assert_eq!(synced.reason, reasons::RECONCILE_ERROR);
        // Recovery restores Synced without touching Ready's transition time.
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::NotTracked,
            Some(3),
            &t(30),
        );
        assert!(conditions::is_true(&c, conditions::SYNCED));
        assert_eq!(ready(&c).last_transition_time, t(10));
    }

    #[test]
    fn an_outage_during_a_spec_change_reports_not_ready() {
        let mut c = Vec::new();
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::NotTracked,
            Some(3),
            &t(10),
        );
        apply(
            &mut c,
            &Outcome::Transient {
                message: "503".into(),
            },
            &Drift::Unchanged,
            Some(4),
            &t(20),
        );
        assert!(!ready(&c).is_true());
        assert_eq!(ready(&c).reason, reasons::UPDATING);
        assert!(conditions::is_true(&c, conditions::RECONCILING));
    }

    #[test]
    fn stalled_is_exclusive_with_reconciling() {
        let mut c = Vec::new();
        apply(
            &mut c,
            &Outcome::Progressing {
                reason: reasons::WAITING_FOR_SECRET,
                message: "w".into(),
            },
            &Drift::NotTracked,
            Some(1),
            &t(1),
        );
        apply(
            &mut c,
            &Outcome::Stalled {
                reason: reasons::INVALID_CREDENTIALS,
                message: "Secret acme/creds not found".into(),
            },
            &Drift::NotTracked,
            Some(1),
            &t(2),
        );
        assert!(conditions::is_true(&c, conditions::STALLED));
        assert!(conditions::find(&c, conditions::RECONCILING).is_none());
        assert_eq!(ready(&c).reason, reasons::INVALID_CREDENTIALS);
    }

    #[test]
    fn repeating_the_same_outcome_changes_nothing() {
        let mut c = Vec::new();
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::InSync,
            Some(1),
            &t(1),
        );
        assert!(!apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into()
            },
            &Drift::InSync,
            Some(1),
            &t(99)
        ));
    }

    #[test]
    fn drift_is_reported_and_cleared() {
        let mut c = Vec::new();
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::Drifted {
                reason: reasons::UPSTREAM_CHANGED,
                message: "name".into(),
            },
            Some(1),
            &t(1),
        );
        assert!(conditions::is_true(&c, conditions::DRIFTED));
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::InSync,
            Some(1),
            &t(2),
        );
        assert!(!conditions::is_true(&c, conditions::DRIFTED));
        apply(
            &mut c,
            &Outcome::Ready {
                message: "ok".into(),
            },
            &Drift::NotTracked,
            Some(1),
            &t(3),
        );
        assert!(conditions::find(&c, conditions::DRIFTED).is_none());
    }
}
