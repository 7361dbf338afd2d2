//! A real kube-apiserver + etcd (+ kube-controller-manager) control plane for tests and the demo, built from the Go modules
//! pinned in `testenv/go` (see `testenv/scripts/build.sh`). No hand-written fake: RBAC is on,
//! ServiceAccount tokens work, and an audit log records every request.
//!
//! Tests call [`TestEnv::shared`] to get the one control plane of their test binary, then ask for
//! a fresh namespace per test. Children die with the process (`PR_SET_PDEATHSIG`) and are
//! recorded in run records so a later run can reap leftovers of a killed one.

pub mod bins;
pub mod certs;
pub mod controller_manager;
pub mod controlplane;
pub mod env;
pub mod kubeconfig;
pub mod procfs;
pub mod runrecord;
mod spawn;
pub mod sys;

pub use controlplane::{ControlPlane, Options};
pub use env::{TestEnv, crds_from_yaml, install_crds};
