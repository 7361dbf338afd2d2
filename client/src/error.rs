//! Typed, classified errors of Meshes API calls. Each carries the endpoint (method and route
//! template) and the API's own message, never headers, tokens or connection settings.
//!
//! [`ApiError::class`] is the one classification callers decide on. It answers two questions:
//! can the same call succeed later without a change, and may a write have been applied?
//!
//! | variant | [`ErrorClass`] | retry unchanged? | may a write have been applied? |
//! | --- | --- | --- | --- |
//! | `Transient` (network, timeout, 5xx, 408, 425) | `Transient` | yes, with backoff | yes: unknown ([`ApiError::outcome_unknown`]) |
//! | `RateLimited` (429) | `RateLimited` | yes, after `Retry-After` | no: refused |
//! | `NotFound` (404, 410) | `NotFound` | depends on the call | no |
//! | `Conflict` (409) | `Conflict` | no | no: refused |
//! | `Invalid` (400, 422) | `Rejected` | no | no: refused |
//! | `Unauthorized` (401) | `Unauthorized` | no | no: refused |
//! | `Forbidden` (403) | `Forbidden` | no | no: refused |
//! | `Unexpected` (a response that cannot be interpreted, a 2xx with an undecodable body included) | `OutcomeUnknown` | only after finding out what happened | yes: unknown |
//! | `Local` (request not built or signed) | `NotSent` | no: permanent | no: nothing was sent |
//!
//! [`ApiError::is_transient`] is `Transient | RateLimited`; [`ApiError::is_permanent`] is
//! `Conflict | Rejected | Unauthorized | Forbidden | NotSent`. `NotFound` and `OutcomeUnknown`
//! are neither: what a 404 means depends on the call (a delete is done, a get means the object
//! vanished), and after an uninterpretable answer the caller must first find out what happened
//! (read the object back) before repeating a write, or it may create a duplicate.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Idempotent read; the only method retried after a transient failure.
    Get,
    /// Create.
    Post,
    /// Full update.
    Put,
    /// Delete.
    Delete,
}

impl Method {
    /// The method name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation: method plus route template (`/api/v1/workspaces/{workspace_id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Route template with `{param}` placeholders, never concrete IDs.
    pub route: &'static str,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.route)
    }
}

/// What made a transient failure transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientCause {
    /// Connection refused, reset, DNS, TLS handshake and other transport failures.
    Network,
    /// The connect or request timeout elapsed.
    Timeout,
    /// The server answered with this status (5xx, 408 or 425).
    Status(u16),
    /// The send gate was closed (this replica may not be the leader): nothing was sent.
    NotSent,
}

impl fmt::Display for TransientCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransientCause::Network => f.write_str("network error"),
            TransientCause::Timeout => f.write_str("timeout"),
            TransientCause::Status(s) => write!(f, "HTTP {s}"),
            TransientCause::NotSent => f.write_str("not sent: this replica is not the leader"),
        }
    }
}

/// One rejected field from a validation error (`error.data[]` in the API body).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldError {
    /// Field name as the API reports it.
    #[serde(default)]
    pub param: String,
    /// What is wrong with it.
    #[serde(default)]
    pub msg: String,
}

/// What a failed call means for the caller (the one classification the controllers use).
///
/// Each class says whether repeating the same call can succeed and whether a write may have
/// been applied; see the table in the module docs and [`ApiError::outcome_unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Network trouble, a timeout or a server-side failure (5xx, 408, 425): retry later with
    /// backoff. For a write the outcome is unknown.
    Transient,
    /// 429: refused, nothing applied; retry after the pause (`Retry-After` when given).
    RateLimited,
    /// 404 / 410: the object does not exist; its meaning depends on the call.
    NotFound,
    /// 409: refused because of conflicting state (duplicate name, dependent objects).
    Conflict,
    /// 400 / 422: refused as invalid; the request must change.
    Rejected,
    /// 401: the credentials are wrong, revoked or for another org.
    Unauthorized,
    /// 403: the key may not do this.
    Forbidden,
    /// A response arrived that could not be interpreted (any [`ApiError::Unexpected`], a 2xx
    /// with an undecodable body included). Not a refusal: a write may have been applied.
    OutcomeUnknown,
    /// Nothing was sent: the request could not be built or signed ([`ApiError::Local`]).
    /// Permanent: retrying cannot help without a change to the inputs or the operator.
    NotSent,
}

/// A failed Meshes API call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Worth retrying later: network trouble, a timeout, or a server-side failure (5xx, 408,
    /// 425). Class [`ErrorClass::Transient`]. For a write the outcome is unknown: the request
    /// may have been applied before the failure ([`ApiError::outcome_unknown`] is true).
    #[error("{endpoint}: transient failure ({cause}): {message}")]
    Transient {
        /// The operation.
        endpoint: Endpoint,
        /// Why it is transient.
        cause: TransientCause,
        /// The API's message or the transport error.
        message: String,
    },
    /// 429: the access key's budget at Meshes is exhausted; the key is paused. Class
    /// [`ErrorClass::RateLimited`]: refused, nothing was applied; retry after `retry_after`.
    #[error("{endpoint}: rate limited by Meshes{}: {message}", fmt_retry_after(*retry_after))]
    RateLimited {
        /// The operation.
        endpoint: Endpoint,
        /// How long the server asked to wait, when it said.
        retry_after: Option<Duration>,
        /// The API's message.
        message: String,
    },
    /// 401: the credentials are wrong, revoked or for another org. Class
    /// [`ErrorClass::Unauthorized`]: refused, permanent until the credentials change.
    #[error("{endpoint}: unauthorized (401): {message}")]
    Unauthorized {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 403: the key may not touch this object. Class [`ErrorClass::Forbidden`]: refused,
    /// permanent until the key's access changes.
    #[error("{endpoint}: forbidden (403): {message}")]
    Forbidden {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 404 (or 410): the object does not exist. Class [`ErrorClass::NotFound`]: neither
    /// transient nor permanent; what it means depends on the call.
    #[error("{endpoint}: not found (404): {message}")]
    NotFound {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 409: duplicate name, connection still has rules, and similar. Class
    /// [`ErrorClass::Conflict`]: refused, nothing was applied; permanent until the conflicting
    /// state changes.
    #[error("{endpoint}: conflict (409): {message}")]
    Conflict {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 400 or 422: the request was refused as invalid. Class [`ErrorClass::Rejected`]:
    /// nothing was applied; permanent until the request changes.
    #[error(
        "{endpoint}: rejected as invalid ({status}): {message}{}",
        fmt_fields(fields)
    )]
    Invalid {
        /// The operation.
        endpoint: Endpoint,
        /// 400 or 422.
        status: u16,
        /// The API's message.
        message: String,
        /// Per-field complaints from `error.data`, if any.
        fields: Vec<FieldError>,
    },
    /// A response arrived that the client cannot interpret: an unexpected status (a 3xx, an
    /// unlisted 4xx), a 2xx whose body does not decode, or a list whose pagination never
    /// ends. Class [`ErrorClass::OutcomeUnknown`]: **not** a refusal. For a write the request
    /// may have been applied (a 201 with an undecodable body was applied), so the caller must
    /// find out what happened before repeating it. Neither transient nor permanent.
    #[error("{endpoint}: unexpected response{}: {message}{}", fmt_status(*status), fmt_excerpt(excerpt))]
    Unexpected {
        /// The operation.
        endpoint: Endpoint,
        /// The HTTP status, when a response arrived.
        status: Option<u16>,
        /// What could not be interpreted.
        message: String,
        /// The start of the body (empty when the body may hold connection settings).
        excerpt: String,
    },
    /// The request could not be built or signed (an invalid ID, an unencodable body, a JWT
    /// that cannot be minted); nothing was sent. Class [`ErrorClass::NotSent`]: permanent,
    /// because the same inputs fail the same way; only a change (spec, credentials, operator
    /// version) can fix it.
    #[error("{endpoint}: request not sent: {message}")]
    Local {
        /// The operation.
        endpoint: Endpoint,
        /// What went wrong.
        message: String,
    },
}

impl ApiError {
    /// The operation that failed.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            ApiError::Transient { endpoint, .. }
            | ApiError::RateLimited { endpoint, .. }
            | ApiError::Unauthorized { endpoint, .. }
            | ApiError::Forbidden { endpoint, .. }
            | ApiError::NotFound { endpoint, .. }
            | ApiError::Conflict { endpoint, .. }
            | ApiError::Invalid { endpoint, .. }
            | ApiError::Unexpected { endpoint, .. }
            | ApiError::Local { endpoint, .. } => *endpoint,
        }
    }

    /// What this failure means for the caller; see [`ErrorClass`].
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Transient { .. } => ErrorClass::Transient,
            ApiError::RateLimited { .. } => ErrorClass::RateLimited,
            ApiError::Unauthorized { .. } => ErrorClass::Unauthorized,
            ApiError::Forbidden { .. } => ErrorClass::Forbidden,
            ApiError::NotFound { .. } => ErrorClass::NotFound,
            ApiError::Conflict { .. } => ErrorClass::Conflict,
            ApiError::Invalid { .. } => ErrorClass::Rejected,
            ApiError::Unexpected { .. } => ErrorClass::OutcomeUnknown,
            ApiError::Local { .. } => ErrorClass::NotSent,
        }
    }

    /// The request may have reached Meshes and been applied, but the caller cannot know:
    /// [`ErrorClass::Transient`] (the failure may have come after the server acted) and
    /// [`ErrorClass::OutcomeUnknown`] (an answer arrived but could not be read, such as a 201
    /// with an undecodable body). After such a failure of a create, look for the object before
    /// creating again. Conservatively true for every transient failure, even a refused
    /// connection, since the transport cannot always tell; for a GET nothing is applied either
    /// way. False for every other class: a 429, 4xx refusal or 404 applied nothing, and
    /// [`ErrorClass::NotSent`] sent nothing.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::Transient | ErrorClass::OutcomeUnknown
        )
    }

    /// Retrying the same call later may succeed without any change: network, timeout, 5xx,
    /// 408, 425 ([`ErrorClass::Transient`]) and 429 ([`ErrorClass::RateLimited`]).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::Transient | ErrorClass::RateLimited
        )
    }

    /// Refused, or not sent, in a way only a change can fix (spec, credentials, upstream
    /// state, operator version): 400/422 ([`ErrorClass::Rejected`]), 401, 403, 409, and a
    /// request that could not be built or signed ([`ErrorClass::NotSent`]). Nothing was
    /// applied.
    ///
    /// False for [`ErrorClass::NotFound`] (its meaning depends on the call: a delete is done,
    /// a get means the object vanished) and for [`ErrorClass::OutcomeUnknown`]: an answer that
    /// could not be interpreted is not a refusal, and a write may have been applied, so the
    /// caller must find out what happened before repeating it.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.class(),
            ErrorClass::Conflict
                | ErrorClass::Rejected
                | ErrorClass::Unauthorized
                | ErrorClass::Forbidden
                | ErrorClass::NotSent
        )
    }

    /// 404 / 410.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }

    /// 409.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Conflict { .. })
    }

    /// 401.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Unauthorized { .. })
    }

    /// How long to wait before trying again, when the server said (429 `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when a response arrived. A 410 is reported as 404 (both are
    /// [`ApiError::NotFound`], which keeps no status of its own).
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Transient {
                cause: TransientCause::Status(s),
                ..
            } => Some(*s),
            ApiError::Transient { .. } | ApiError::Local { .. } => None,
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotFound { .. } => Some(404),
            ApiError::Conflict { .. } => Some(409),
            ApiError::Invalid { status, .. } => Some(*status),
            ApiError::Unexpected { status, .. } => *status,
        }
    }
}

fn fmt_retry_after(d: Option<Duration>) -> String {
    d.map(|d| format!(" (retry after {}s)", d.as_secs_f64()))
        .unwrap_or_default()
}

fn fmt_status(s: Option<u16>) -> String {
    s.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn fmt_excerpt(e: &str) -> String {
    if e.is_empty() {
        String::new()
    } else {
        format!("; body starts: {e:?}")
    }
}

fn fmt_fields(fields: &[FieldError]) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let list: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.param, f.msg))
        .collect();
    format!(" [{}]", list.join("; "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EP: Endpoint = Endpoint {
        method: Method::Post,
        route: "/api/v1/workspaces",
    };

    /// Every variant (and every transient cause) through `class()`, `outcome_unknown()`,
    /// `is_transient()` and `is_permanent()`: the table in the module docs, as code.
    #[test]
    fn every_variant_has_one_class_and_a_stated_outcome() {
        let m = || "m".to_owned();
        let transient = |cause| ApiError::Transient {
            endpoint: EP,
            cause,
            message: m(),
        };
        let garbled = |status| ApiError::Unexpected {
            endpoint: EP,
            status,
            message: m(),
            excerpt: String::new(),
        };
        let rate_limited = ApiError::RateLimited {
            endpoint: EP,
            retry_after: Some(Duration::from_secs(1)),
            message: m(),
        };
        let not_found = ApiError::NotFound {
            endpoint: EP,
            message: m(),
        };
        let conflict = ApiError::Conflict {
            endpoint: EP,
            message: m(),
        };
        let invalid = ApiError::Invalid {
            endpoint: EP,
            status: 422,
            message: m(),
            fields: Vec::new(),
        };
        let unauthorized = ApiError::Unauthorized {
            endpoint: EP,
            message: m(),
        };
        let forbidden = ApiError::Forbidden {
            endpoint: EP,
            message: m(),
        };
        let local = ApiError::Local {
            endpoint: EP,
            message: m(),
        };
        use ErrorClass as C;
        // (error, class, [outcome unknown, transient, permanent])
        use TransientCause as T;
        let cases = [
            (transient(T::Network), C::Transient, [true, true, false]),
            (transient(T::Timeout), C::Transient, [true, true, false]),
            (transient(T::Status(503)), C::Transient, [true, true, false]),
            (transient(T::Status(408)), C::Transient, [true, true, false]),
            (rate_limited, C::RateLimited, [false, true, false]),
            (not_found, C::NotFound, [false, false, false]),
            (conflict, C::Conflict, [false, false, true]),
            (invalid, C::Rejected, [false, false, true]),
            (unauthorized, C::Unauthorized, [false, false, true]),
            (forbidden, C::Forbidden, [false, false, true]),
            // A 2xx with an undecodable body: the write may well have been applied.
            (garbled(Some(201)), C::OutcomeUnknown, [true, false, false]),
            (garbled(Some(200)), C::OutcomeUnknown, [true, false, false]),
            (garbled(Some(302)), C::OutcomeUnknown, [true, false, false]),
            (garbled(None), C::OutcomeUnknown, [true, false, false]),
            (local, C::NotSent, [false, false, true]),
        ];
        let mut seen = std::collections::HashSet::new();
        for (err, class, [unknown, transient, permanent]) in &cases {
            assert_eq!(err.class(), *class, "{err:?}");
            assert_eq!(err.outcome_unknown(), *unknown, "{err:?}");
            assert_eq!(err.is_transient(), *transient, "{err:?}");
            assert_eq!(err.is_permanent(), *permanent, "{err:?}");
            assert_eq!(err.is_not_found(), *class == C::NotFound, "{err:?}");
            // No class is both retryable-unchanged and hopeless.
            assert!(!(err.is_transient() && err.is_permanent()), "{err:?}");
            seen.insert(*class);
        }
        // Every class is covered by the table above.
        assert_eq!(seen.len(), 9);
    }
}
