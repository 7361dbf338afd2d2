//! The single integration test binary: every test that needs the real control plane or the
//! emulator over HTTP lives here, sharing one control plane per process.
#![allow(clippy::unwrap_used)]
mod api_client;
mod bounded_work;
mod chart;
mod chart_process;
mod chart_render;
mod chart_support;
mod children;
mod cost;
mod crd_validation;
mod examples;
mod gitops;
mod gitops_apply;
mod gitops_support;
mod harness;
mod hostile_input;
mod image;
mod import;
mod leader;
mod lifecycle;
mod lifecycle_fixes;
mod namespaced;
mod operator_process;
mod ops;
mod outage;
mod plugin;
mod plugin_support;
mod reliability;
mod secrets;
mod support;
mod tenancy;
mod workspace;
