//! `meshes-client`: the Meshes management API client. Knows nothing of Kubernetes: the crate
//! does not depend on kube, k8s-openapi or schemars, so the compiler keeps it that way. The
//! operator re-exports it as `meshes_operator::api`.
//!
//! - [`Credentials`]: a machine key and its org; the secret never prints. An optional share
//!   label ([`Credentials::with_share`]) splits the key's budget fairly between tenants.
//! - [`MeshesClient`]: the HTTP implementation of [`MeshesApi`], built from a
//!   [`ClientConfig`]; cheap to clone, one per process. Every call takes a budget permit for
//!   its key ([`BudgetRegistry`]: access key + secret fingerprint; token bucket + concurrency
//!   cap, round robin between shares, paused after a 429), then mints a fresh 30 s JWT,
//!   sends, reads at most `max_response_bytes` of the answer, and classifies the outcome into
//!   an [`ApiError`]. GETs are retried after transient failures; any call refused with a 429
//!   is sent again once the key's pause is over, when that pause is short. A server-sent `Retry-After` is clamped to
//!   [`MAX_RETRY_AFTER`].
//! - [`ApiError::class`] / [`ErrorClass`]: what a failure means for the caller (retry, give up,
//!   or find out first), and [`ApiError::outcome_unknown`]: whether a write may have been
//!   applied. One classification for the client and the controllers.
//! - [`CallObserver`]: told of every request (operation, [`StatusClass`], latency), budget
//!   wait and 429, for metrics; credentials are labelled by [`credential_label`] (a short hash
//!   of the access key), never by a key.
//! - [`MeshesApi`]: the trait the controllers depend on (mock it in tests).
//! - [`MeshesEvents`]: event history, delivery attempts, manual retry and ingestion with a
//!   publishable key (what `kubectl meshes` reads; the operator does not use it).
//! - [`types`], [`events`]: the wire types.
//!
//! Egress: proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` by default
//! ([`ProxyConfig`]); an extra PEM CA bundle can be trusted in addition to the platform
//! roots; `http://` is accepted only for loopback hosts.

mod budget;
mod calls;
mod client;
mod config;
mod credentials;
mod error;
mod event_calls;
pub mod events;
mod events_golden;
mod gate;
mod golden;
mod hostile_tests;
pub mod jwt;
mod observe;
mod proptests;
mod response;
mod testserver;
mod transport_tests;
pub mod types;

pub use budget::{BudgetPermit, BudgetRegistry};
pub use calls::{DEFAULT_MAX_LIST_PAGES, MeshesApi, routes, walk_pages};
pub use client::{IDEMPOTENCY_KEY_HEADER, MeshesClient};
pub use config::{
    BudgetConfig, ClientConfig, ConfigError, DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES,
    ProxyConfig, RetryConfig, parse_base_url,
};
pub use credentials::{Credentials, CredentialsError, SecretKey};
pub use error::{ApiError, Endpoint, ErrorClass, FieldError, Method, TransientCause};
pub use event_calls::{MeshesEvents, PUBLISHABLE_KEY_HEADER, event_routes};
pub use gate::{Gate, SendGate};
pub use observe::{CallObserver, StatusClass, credential_label};
pub use response::MAX_RETRY_AFTER;
pub use types::{
    Connection, CreateConnection, CreateRule, CreateWorkspace, DeletedConnection, DeletedRule,
    Integration, IntegrationType, Page, PublishableKey, Rule, RuleFilter, UpdateConnection,
    UpdateWorkspace, Workspace, WorkspaceDetail,
};
