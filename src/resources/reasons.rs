//! The reason vocabulary (`docs/crds.md`, "Status conditions"; when each is set:
//! `docs/reconcile-contract.md`, "Reasons you will see"), shared by controllers (condition
//! reasons), Events, the documentation and the Argo CD health check. Reasons are CamelCase and
//! stable: users and alerting match on them.

/// `Ready=True`: upstream matches the current generation and outputs are written.
pub const AVAILABLE: &str = "Available";

/// `Ready=False`/`Reconciling=True`: the upstream object is being created.
pub const CREATING: &str = "Creating";
/// `Ready=False`/`Reconciling=True`: the upstream object is being updated.
pub const UPDATING: &str = "Updating";
/// `Ready=False`/`Reconciling=True`: a rule is being replaced (create new, then delete old).
pub const REPLACING: &str = "Replacing";
/// `Ready=False`/`Reconciling=True`: a referenced workspace or connection is not Ready yet.
pub const WAITING_FOR_DEPENDENCY: &str = "WaitingForDependency";
/// `Ready=False`/`Reconciling=True`: a referenced Secret does not exist yet (grace period).
pub const WAITING_FOR_SECRET: &str = "WaitingForSecret";
/// `Ready=False`/`Reconciling=True`: the object is being deleted.
pub const DELETING: &str = "Deleting";
/// `Ready=False`: the `meshes.io/paused` annotation stops all writes.
pub const PAUSED: &str = "Paused";

/// `Stalled=True`: the credentials were refused by Meshes or are malformed.
pub const INVALID_CREDENTIALS: &str = "InvalidCredentials";
/// `Stalled=True`: the credentials now belong to another org than the one recorded in status.
pub const CREDENTIALS_ORG_CHANGED: &str = "CredentialsOrgChanged";
/// `Stalled=True`: an upstream object with the same identity exists and was not created by
/// this object; set `adopt.id` to manage it.
pub const NAME_CONFLICT: &str = "NameConflict";
/// `Stalled=True`: the upstream object is already bound by another custom resource.
pub const ALREADY_MANAGED: &str = "AlreadyManaged";
/// `Stalled=True`: the output Secret exists and is not owned by this object.
pub const OWNERSHIP_CONFLICT: &str = "OwnershipConflict";
/// `Stalled=True`: the connection is inactive in Meshes (e.g. OAuth revoked).
pub const CONNECTION_INACTIVE: &str = "ConnectionInactive";
/// `Stalled=True`: the spec cannot work (e.g. an action the integration does not offer).
pub const INVALID_SPEC: &str = "InvalidSpec";
/// `Stalled=True`: Meshes refused the request with a 4xx.
pub const REJECTED: &str = "Rejected";

/// `Synced=True`: the last reconcile attempt reached Meshes and succeeded.
pub const RECONCILE_SUCCESS: &str = "ReconcileSuccess";
/// `Synced=False`: the last attempt failed transiently (network, 5xx, 429); it is retried.
pub const RECONCILE_ERROR: &str = "ReconcileError";

/// `Drifted=True`: the upstream object differs from the spec.
pub const UPSTREAM_CHANGED: &str = "UpstreamChanged";
/// `Drifted=True`: the upstream object no longer exists.
pub const UPSTREAM_DELETED: &str = "UpstreamDeleted";
/// `Drifted=False`: upstream matches the spec over the fields the spec sets.
pub const IN_SYNC: &str = "InSync";

/// Event: an upstream object was created.
pub const CREATED: &str = "Created";
/// Event: an existing upstream object was adopted (bound by `adopt.id` or a claim).
pub const ADOPTED: &str = "Adopted";
/// Event: the upstream object was updated to match the spec.
pub const UPDATED: &str = "Updated";
/// Event: a rule was replaced (the API cannot update rules).
pub const REPLACED: &str = "Replaced";
/// Event: the upstream object was deleted.
pub const DELETED: &str = "Deleted";
/// Event: the custom resource was removed and the upstream object left in place.
pub const ORPHANED: &str = "Orphaned";
/// Event: upstream drift was corrected (`Manage` mode).
pub const DRIFT_CORRECTED: &str = "DriftCorrected";
/// Event (Warning): the operator's RBAC refused a call it needed; what depended on it was
/// done the safe way (e.g. a credentials Secret's in-use finalizer kept).
pub const FORBIDDEN: &str = "Forbidden";

/// Reasons of `Ready=False` and `Reconciling=True` (work in flight).
pub const PROGRESSING: [&str; 7] = [
    CREATING,
    UPDATING,
    REPLACING,
    WAITING_FOR_DEPENDENCY,
    WAITING_FOR_SECRET,
    DELETING,
    PAUSED,
];

/// Reasons of `Stalled=True` (only a human can fix it).
pub const STALLING: [&str; 8] = [
    INVALID_CREDENTIALS,
    CREDENTIALS_ORG_CHANGED,
    NAME_CONFLICT,
    ALREADY_MANAGED,
    OWNERSHIP_CONFLICT,
    CONNECTION_INACTIVE,
    INVALID_SPEC,
    REJECTED,
];

/// Reasons of the `Synced` condition.
pub const SYNC: [&str; 2] = [RECONCILE_SUCCESS, RECONCILE_ERROR];

/// Reasons of the `Drifted` condition.
pub const DRIFT: [&str; 3] = [UPSTREAM_CHANGED, UPSTREAM_DELETED, IN_SYNC];

/// Reasons used only by Events (in addition to every condition reason).
pub const EVENT_ONLY: [&str; 8] = [
    CREATED,
    ADOPTED,
    UPDATED,
    REPLACED,
    DELETED,
    ORPHANED,
    DRIFT_CORRECTED,
    FORBIDDEN,
];

/// Every reason of the vocabulary: conditions and Events.
pub fn all() -> Vec<&'static str> {
    [AVAILABLE]
        .iter()
        .chain(PROGRESSING.iter())
        .chain(STALLING.iter())
        .chain(SYNC.iter())
        .chain(DRIFT.iter())
        .chain(EVENT_ONLY.iter())
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A reason constant left out of the lists above would be missing from the docs, metrics
    /// and the troubleshooting test: every `pub const` here must be in [`all`].
    #[test]
    fn every_reason_constant_is_in_the_vocabulary() {
        let source = include_str!("reasons.rs");
        let mut seen = 0;
        for line in source.lines() {
            let Some(rest) = line.strip_prefix("pub const ") else {
                continue;
            };
            let Some(value) = rest.split(": &str = \"").nth(1) else {
                continue;
            };
            let value = value.trim_end_matches("\";");
            seen += 1;
            assert!(all().contains(&value), "{value} is not in reasons::all()");
        }
        assert_eq!(
            seen,
            all().len(),
            "positive control: every constant was read"
        );
    }

    #[test]
    fn vocabulary_is_unique_and_camel_case() {
        let all = all();
        let unique: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "duplicate reason in {all:?}");
        for r in all {
            assert!(
                r.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                "{r}"
            );
            assert!(r.chars().all(|c| c.is_ascii_alphanumeric()), "{r}");
        }
    }
}
