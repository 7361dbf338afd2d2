//! What the transport tells an observer about its work, for metrics: each HTTP request sent
//! (operation, status class, latency), each wait for a key's budget and each 429.
//!
//! The crate does not depend on a metrics library: the operator implements [`CallObserver`]
//! over its Prometheus registry and puts it in [`crate::ClientConfig::observer`].
//!
//! **Labels stay low-cardinality and secret-free.** The operation is the endpoint's method and
//! route template (`GET /api/v1/workspaces/{workspace_id}`), never a URL with IDs. A credential
//! is named by [`credential_label`], a short hash of the *access key* (not of the secret key),
//! so neither key appears in a label and the label does not change when the secret is rotated.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::Endpoint;

/// How an HTTP request to Meshes ended, in few enough classes to be a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// 200–299.
    Success,
    /// 300–399 (the client never follows a redirect).
    Redirect,
    /// 400–499, 429 included.
    ClientError,
    /// 500–599.
    ServerError,
    /// Any other status (outside 200–599).
    OtherStatus,
    /// No status: the connection failed, timed out or the answer could not be read.
    Transport,
}

impl StatusClass {
    /// The class of an HTTP status code.
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            300..=399 => Self::Redirect,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::OtherStatus,
        }
    }

    /// The label value: `2xx`, `3xx`, `4xx`, `5xx`, `other` or `transport_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::Redirect => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
            Self::OtherStatus => "other",
            Self::Transport => "transport_error",
        }
    }
}

/// Receives what the transport did. Called inline on the request path: implementations must
/// be quick and must not block (atomic counters, no I/O).
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// One HTTP request was sent and ended (each attempt of a retried GET counts once).
    /// `latency` runs from sending the request to the end of reading the answer; the wait for
    /// the budget is not included (see [`CallObserver::budget_waited`]).
    fn request_finished(&self, endpoint: Endpoint, status: StatusClass, latency: Duration);

    /// A request had to wait for its key's budget (a 429 pause, the round between shares, the
    /// concurrency cap or the token bucket) for `waited`. Requests admitted at once are not
    /// reported. `credential` is [`credential_label`] of the access key.
    fn budget_waited(&self, credential: &str, waited: Duration);

    /// Meshes answered 429 to a request made with the access key labelled `credential`.
    fn rate_limited(&self, credential: &str);

    /// A request made with the access key labelled `credential` ended with `status` (reported
    /// with [`CallObserver::request_finished`], for observers that follow each key's health,
    /// such as the operator's outage watch). Does nothing unless implemented.
    fn answered(&self, credential: &str, status: StatusClass) {
        let _ = (credential, status);
    }
}

/// The label naming an access key in metrics: the first 8 hex digits of its SHA-256. Not a
/// secret (the access key is the JWT `kid`), short, and stable across secret rotations; an
/// operator can compute it for a key they hold to find its series.
pub fn credential_label(access_key: &str) -> String {
    let digest = Sha256::digest(access_key.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_cover_every_code() {
        assert_eq!(StatusClass::of(200).as_str(), "2xx");
        assert_eq!(StatusClass::of(204).as_str(), "2xx");
        assert_eq!(StatusClass::of(302).as_str(), "3xx");
        assert_eq!(StatusClass::of(429).as_str(), "4xx");
        assert_eq!(StatusClass::of(503).as_str(), "5xx");
        assert_eq!(StatusClass::of(999).as_str(), "other");
        assert_eq!(StatusClass::of(100).as_str(), "other");
    }

    #[test]
    fn the_credential_label_is_a_short_hash_of_the_access_key_only() {
        let label = credential_label("mk_abcdefghijklmnopqrstuv");
        assert_eq!(label.len(), 8);
        assert!(label.chars().all(|c| c.is_ascii_hexdigit()), "{label}");
        assert!(!"mk_abcdefghijklmnopqrstuv".contains(&label));
        // Stable (an operator can compute it) and distinct per key.
        assert_eq!(label, credential_label("mk_abcdefghijklmnopqrstuv"));
        assert_ne!(label, credential_label("mk_other"));
        // sha256("abc") = ba7816bf…
        assert_eq!(credential_label("abc"), "ba7816bf");
    }
}
