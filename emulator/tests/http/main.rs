//! Emulator tests over real HTTP on loopback (one test binary).
#![allow(clippy::unwrap_used)]

mod admin;
mod api;
mod auth;
mod bad_input;
mod binary;
mod common;
mod delivery;
mod embed;
mod faults;
mod golden;
mod ingestion;
mod pagination;
mod receiver;
mod restart;
mod rule_dedup;
