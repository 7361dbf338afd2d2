//! Operating the operator: the Prometheus registry ([`metrics`]), the health state behind
//! `/livez` and `/readyz` ([`health`]) and the HTTP servers that expose them ([`server`]).
//! `docs/operations.md` is the runbook and the metrics reference.
//!
//! `main.rs` builds one [`Metrics`] and one [`Health`] per process, starts the servers before
//! the controllers (so probes answer while the operator waits for its CRDs), hands the metrics
//! to the Meshes client as its observer and both to the controllers.

pub mod health;
mod labels;
pub mod metrics;
pub mod server;
#[cfg(test)]
mod tests;

pub use health::Health;
pub use metrics::Metrics;
pub use server::BindAddress;
