//! meshes-operator: reconciles `MeshesWorkspace`, `MeshesConnection` and `MeshesRule`
//! resources against the Meshes management API.
//!
//! The crate is split so that each layer knows only what it must:
//! - [`api`]: the Meshes HTTP client (JWTs, budgets, typed calls, errors): the `meshes-client`
//!   crate (`client/`), re-exported under its old path. It has no Kubernetes dependency, so
//!   the compiler keeps it that way.
//! - [`resources`]: the custom resource types and their schema. Knows nothing of HTTP.
//! - [`controllers`]: glue between the two.
//! - [`leader`], [`kube_client`], [`shutdown`]: running as one of several replicas: the Lease,
//!   the fence on every write, the paced Kubernetes client, and the stop signals.
//! - [`ops`]: metrics, health probes and their HTTP servers.

pub use meshes_client as api;
pub mod cli;
pub mod controllers;
pub mod kube_client;
pub mod leader;
pub mod ops;
pub mod resources;
pub mod shutdown;
