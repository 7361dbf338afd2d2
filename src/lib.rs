//! meshes-operator: reconciles `MeshesWorkspace`, `MeshesConnection` and `MeshesRule`
//! resources against the Meshes management API.
//!
//! The crate is split so that each layer knows only what it must:
//! - [`api`]: the Meshes HTTP client (JWTs, budgets, typed calls, errors): the `meshes-client`
//!   crate (`client/`), re-exported under its old path. It has no Kubernetes dependency, so
//!   the compiler keeps it that way.
//! - [`resources`]: the custom resource types and their schema. Knows nothing of HTTP.
//! - [`controllers`]: glue between the two.
//! - [`ops`]: metrics, health probes and their HTTP servers.

pub use meshes_client as api;
pub mod cli;
pub mod controllers;
pub mod ops;
pub mod resources;
