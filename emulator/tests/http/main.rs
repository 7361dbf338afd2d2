//! Emulator tests over real HTTP on loopback (one test binary).
#![allow(clippy::unwrap_used)]

mod common;
mod golden;
mod api;
mod auth;
mod faults;
mod admin;
mod pagination;
