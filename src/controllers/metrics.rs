//! The controllers' counters live in the operator's one registry, [`crate::ops::metrics`]; this
//! path is kept for the callers and tests that name it (`reconciles_of` and friends).

pub use crate::ops::metrics::{Metrics, PassResult};
