//! Annotation keys users and the operator put on the custom resources (`docs/crds.md`,
//! "Annotations and finalizers"; behaviour in `docs/reconcile-contract.md`, "Annotations").

/// `"true"` stops all writes (upstream and status, after one `Paused` status write) until
/// removed; deletion still follows the deletion policy.
pub const PAUSED: &str = "meshes.io/paused";
/// Any new value forces an immediate reconcile.
pub const RECONCILE_REQUESTED_AT: &str = "meshes.io/reconcile-requested-at";
/// Overrides the resync period for this object (a duration such as `5m`).
pub const RESYNC_INTERVAL: &str = "meshes.io/resync-interval";
/// Written by the operator with the Meshes ID, so a restored or re-applied object binds again
/// to the same upstream object after verifying it exists.
pub const EXTERNAL_ID: &str = "meshes.io/external-id";
/// `"true"`: when the object's identity (workspace name, connection name in its workspace, rule
/// tuple) already exists upstream and no other CR has bound it, bind it instead of stalling with
/// `NameConflict`. Opt-in, for clusters rebuilt from Git after a disaster; the operator-wide
/// flag `--rebind-by-identity` does the same for every object.
pub const REBIND_BY_IDENTITY: &str = "meshes.io/rebind-by-identity";
