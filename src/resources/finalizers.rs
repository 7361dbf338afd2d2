//! Finalizer names the operator adds to custom resources and to credential Secrets.

/// On every custom resource the operator manages: upstream cleanup per deletion policy.
pub const FINALIZER: &str = "meshes.io/finalizer";
/// On credential Secrets while any object uses them, so the last upstream deletes still have
/// credentials whatever the deletion order (namespace deletion included).
pub const CREDENTIALS_IN_USE: &str = "meshes.io/credentials-in-use";
