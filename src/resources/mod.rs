//! Custom resource types (`meshes.io/v1alpha1`) and their generated schema. Knows nothing of HTTP.
//!
//! - [`workspace`], [`connection`], [`rule`]: the three kinds.
//! - [`common`]: references, adoption, policies, integration types, `pendingCreate`.
//! - [`conditions`], [`reasons`]: the status vocabulary (`docs/crds.md`, "Status conditions").
//! - [`annotations`], [`finalizers`]: metadata keys the operator reads and writes.
//! - [`decoded`]: one stored object decoded on its own, so an unreadable one never breaks the
//!   list or watch of its kind.
//! - [`crdgen`]: CRD generation (post-processed schema) rendered to YAML strings; the CLI
//!   (`crate::cli::crds`) writes and checks the files under `crds/`.

pub mod annotations;
pub mod common;
pub mod conditions;
pub mod connection;
pub mod crdgen;
pub mod decoded;
pub mod finalizers;
pub mod reasons;
pub mod rule;
pub mod workspace;

pub use common::{
    AdoptSpec, DeletionPolicy, IntegrationType, LocalObjectReference, ManagementPolicy,
    PendingCreate, SecretKeySelector,
};
pub use conditions::{Condition, ConditionStatus};
pub use connection::{
    MeshesConnection, MeshesConnectionSpec, MeshesConnectionStatus, SecretMetadataEntry,
};
pub use decoded::{Decoded, Undecodable};
pub use rule::{MeshesRule, MeshesRuleSpec, MeshesRuleStatus, RuleMetadata};
pub use workspace::{MeshesWorkspace, MeshesWorkspaceSpec, MeshesWorkspaceStatus};

/// API group of the three kinds.
pub const GROUP: &str = "meshes.io";
/// API version of the three kinds.
pub const VERSION: &str = "v1alpha1";
/// Category shared by the three kinds: `kubectl get meshes` lists them all, except in clusters
/// where another CRD's resource is called `meshes` (Kuma, AWS App Mesh): a resource name wins
/// over a category, so there use [`CATEGORY_UNSHADOWED`].
pub const CATEGORY: &str = "meshes";
/// A second category no other project's resource is named after: `kubectl get meshesio`.
pub const CATEGORY_UNSHADOWED: &str = "meshesio";
