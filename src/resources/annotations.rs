//! Annotation keys users and the operator put on the custom resources (`docs/crds.md`,
//! "Annotations and finalizers"; behaviour in `docs/reconcile-contract.md`, "Annotations").

/// `"true"` stops all writes (upstream and status, after one `Paused` status write) until
/// removed; deletion still follows the deletion policy.
pub const PAUSED: &str = "meshes.io/paused";
/// Any new value forces an immediate reconcile.
pub const RECONCILE_REQUESTED_AT: &str = "meshes.io/reconcile-requested-at";
/// Overrides the resync period for this object (a duration such as `5m`).
pub const RESYNC_INTERVAL: &str = "meshes.io/resync-interval";
/// The Meshes ID a restored or re-applied object (Velero, export/apply) binds again after a GET
/// proves it exists; honoured only on the object's own credentials. Set by the user or the
/// export, from `status`: the operator records the ID in status only, because one more write
/// per create was a fifth of its Kubernetes writes while converging (`docs/performance.md`).
pub const EXTERNAL_ID: &str = "meshes.io/external-id";
/// `"true"`: when the object's identity (workspace name, connection name in its workspace, rule
/// tuple) already exists upstream and no other CR has bound it, bind it instead of stalling with
/// `NameConflict`. Opt-in, for clusters rebuilt from Git after a disaster; the operator-wide
/// flag `--rebind-by-identity` does the same for every object.
pub const REBIND_BY_IDENTITY: &str = "meshes.io/rebind-by-identity";
