//! The scenarios of the issue, each measured on a [`crate::session::Session`].

pub mod compare;
pub mod convergence;
pub mod reaction;
pub mod restart;
pub mod steady;
