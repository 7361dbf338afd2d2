//! Controllers: one module per kind plus the shared reconcile machinery.
//!
//! Every controller follows the same pipeline (DESIGN §4): resolve (credentials, references) →
//! observe (upstream, by recorded ID) → decide (pure, unit-tested) → act (through
//! [`crate::api::MeshesApi`]) → report (status written only when it changes, Events, outputs).
//!
//! - [`config`]: operator-wide settings.
//! - [`context`]: shared state, memos that spare Meshes calls, backoff.
//! - [`credentials`], [`users`]: credentials resolution and the in-use finalizer.
//! - [`outcome`]: one conditions vocabulary for all kinds.
//! - [`ownership`]: which CR owns an upstream object.
//! - [`report`]: status, Events, annotations.
//! - [`workspace`]: the `MeshesWorkspace` controller.
//! - [`run`]: starting everything.

pub mod config;
pub mod context;
pub mod credentials;
pub mod error;
pub mod outcome;
pub mod ownership;
pub mod report;
pub mod run;
pub mod users;
pub mod workspace;
