//! The single integration test binary: every test that needs the real control plane or the
//! emulator over HTTP lives here, sharing one control plane per process.
#![allow(clippy::unwrap_used)]
mod crd_validation;
mod harness;
mod api_client;
mod support;
mod workspace;
