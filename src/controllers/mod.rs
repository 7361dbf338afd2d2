//! Controllers: one module per kind plus the shared reconcile machinery.
//!
//! Every controller follows the same pipeline (docs/reconcile-contract.md): resolve (credentials,
//! references) → observe (upstream, by recorded ID) → decide (pure, unit-tested) → act (through
//! [`crate::api::MeshesApi`]) → report (status written only when it changes, Events, outputs).
//!
//! - [`config`]: operator-wide settings; [`durations`]: bounded parsing, panic-free arithmetic.
//! - [`context`]: shared state, memos that spare Meshes calls, backoff.
//! - [`credentials`], [`users`], [`janitor`]: credentials resolution and the in-use finalizer.
//! - [`parents`]: dependencies between kinds and inherited credentials.
//! - [`settings`]: connection settings merged with Secret values.
//! - [`outcome`]: one conditions vocabulary for all kinds.
//! - [`ownership`]: which CR owns an upstream object.
//! - [`snapshot`], [`catalog`]: shared upstream lists (bulk drift, integrations catalog).
//! - [`references`]: the one index of which objects reference which (mappers, triggers).
//! - [`metrics`]: the controllers' view of the registry in [`crate::ops::metrics`].
//! - [`report`]: status and Events (rate-limited by [`event_limit`]).
//! - [`frame`]: the frame of every pass (paused, stall memo, one status write).
//! - [`lifecycle`]: the one lifecycle of all kinds (bind, crash-safe create, observe, update or
//!   replace, delete); a kind implements [`lifecycle::Kind`].
//! - [`step`]: a pass's conclusion and the error mappings all controllers share.
//! - [`workspace`], [`connection`], [`rule`]: per kind only what differs (watches, mappers,
//!   decisions, the [`lifecycle::Kind`] implementation).
//! - [`scope`]: which objects an instance handles and its decoding watches of them; [`cache`]:
//!   the one cache of each kind those watches fill.
//! - [`run`]: starting everything; [`wake`]: which changes of an object wake its controller.

pub mod cache;
pub mod catalog;
pub mod config;
pub mod connection;
pub mod context;
pub mod credentials;
pub mod durations;
pub mod error;
pub mod event_limit;
pub mod fanout;
pub mod frame;
pub mod index;
pub mod janitor;
pub mod lifecycle;
pub mod metrics;
pub mod outage;
pub mod outcome;
pub mod ownership;
pub mod parents;
pub mod references;
pub mod report;
pub mod rule;
pub mod run;
pub mod scope;
pub mod secret_cache;
pub mod secret_feed;
pub mod settings;
pub mod snapshot;
pub mod step;
pub mod terminating;
pub mod users;
pub mod wake;
pub mod watches;
pub mod workspace;
