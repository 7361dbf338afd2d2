//! Typed, classified errors of Meshes API calls. Each carries the endpoint (method and route
//! template) and the API's own message, never headers, tokens or connection settings.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Idempotent read; the only method that is retried.
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
}

impl fmt::Display for TransientCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransientCause::Network => f.write_str("network error"),
            TransientCause::Timeout => f.write_str("timeout"),
            TransientCause::Status(s) => write!(f, "HTTP {s}"),
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

/// A failed Meshes API call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Worth retrying later: network trouble, a timeout or a server-side failure. For a
    /// write, the outcome is unknown (it may have been applied).
    #[error("{endpoint}: transient failure ({cause}): {message}")]
    Transient {
        /// The operation.
        endpoint: Endpoint,
        /// Why it is transient.
        cause: TransientCause,
        /// The API's message or the transport error.
        message: String,
    },
    /// 429: the access key's budget at Meshes is exhausted; the key is paused.
    #[error("{endpoint}: rate limited by Meshes{}: {message}", fmt_retry_after(*retry_after))]
    RateLimited {
        /// The operation.
        endpoint: Endpoint,
        /// How long the server asked to wait, when it said.
        retry_after: Option<Duration>,
        /// The API's message.
        message: String,
    },
    /// 401: the credentials are wrong, revoked or for another org.
    #[error("{endpoint}: unauthorized (401): {message}")]
    Unauthorized {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 403: the key may not touch this object.
    #[error("{endpoint}: forbidden (403): {message}")]
    Forbidden {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 404 (or 410): the object does not exist.
    #[error("{endpoint}: not found (404): {message}")]
    NotFound {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 409: duplicate name, connection still has rules, and similar.
    #[error("{endpoint}: conflict (409): {message}")]
    Conflict {
        /// The operation.
        endpoint: Endpoint,
        /// The API's message.
        message: String,
    },
    /// 400 or 422: the request was refused as invalid.
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
    /// A response the client cannot interpret: an undecodable body or an unexpected status.
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
    /// The request could not be built or signed; nothing was sent.
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

    /// Retrying later may succeed without any change: network, timeout, 5xx, 429.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::Transient { .. } | ApiError::RateLimited { .. }
        )
    }

    /// Only a change (spec, credentials, upstream state, operator version) can fix it:
    /// 400/422, 401, 403, 409, an uninterpretable response, or a request that could not be
    /// built. `NotFound` is neither transient nor permanent: its meaning depends on the call
    /// (a delete is done, a get means the object vanished).
    pub fn is_permanent(&self) -> bool {
        !self.is_transient() && !self.is_not_found()
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

    /// The HTTP status, when a response arrived.
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

/// Longest API message kept in an error (status conditions have limited room).
pub(crate) const MAX_MESSAGE_CHARS: usize = 500;
/// Longest body excerpt kept in an [`ApiError::Unexpected`].
pub(crate) const MAX_EXCERPT_CHARS: usize = 200;

/// Cuts `s` to at most `max` characters on a char boundary, marking the cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_owned(),
    }
}

/// The standard Meshes error body: `{"message": ..., "error": {"name", "message", "data"}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Extracts the message and the field list from an error body, if it is the standard one.
pub(crate) fn parse_error_body(body: &[u8]) -> Option<(String, Vec<FieldError>)> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let detail = parsed.error.as_ref();
    let inner_message = detail
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty());
    let fields = detail
        .and_then(|e| e.get("data"))
        .and_then(|d| serde_json::from_value::<Vec<FieldError>>(d.clone()).ok())
        .unwrap_or_default();
    // Prefer the specific inner message ("name must be 3-50 characters") over the generic
    // outer one ("Bad Request") when both exist.
    let message = match (parsed.message.as_deref(), inner_message) {
        (Some(outer), Some(inner)) if outer != inner => format!("{outer}: {inner}"),
        (Some(outer), _) => outer.to_owned(),
        (None, Some(inner)) => inner.to_owned(),
        (None, None) => return None,
    };
    Some((truncate(&message, MAX_MESSAGE_CHARS), fields))
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub(crate) fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Classifies a non-2xx response. `body` is the raw response body; `redact_body` suppresses
/// the excerpt for routes whose bodies may carry connection settings.
pub(crate) fn classify_status(
    endpoint: Endpoint,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    redact_body: bool,
) -> ApiError {
    let parsed = parse_error_body(body);
    let (message, fields) = match parsed {
        Some(p) => p,
        None => (
            format!("HTTP {status} without a Meshes error body"),
            Vec::new(),
        ),
    };
    match status {
        400 | 422 => ApiError::Invalid {
            endpoint,
            status,
            message,
            fields,
        },
        401 => ApiError::Unauthorized { endpoint, message },
        403 => ApiError::Forbidden { endpoint, message },
        404 | 410 => ApiError::NotFound { endpoint, message },
        409 => ApiError::Conflict { endpoint, message },
        429 => ApiError::RateLimited {
            endpoint,
            retry_after,
            message,
        },
        408 | 425 | 500..=599 => ApiError::Transient {
            endpoint,
            cause: TransientCause::Status(status),
            message,
        },
        _ => ApiError::Unexpected {
            endpoint,
            status: Some(status),
            message,
            excerpt: excerpt(body, redact_body),
        },
    }
}

/// A short, printable start of a body, or nothing when the body may hold settings.
pub(crate) fn excerpt(body: &[u8], redact_body: bool) -> String {
    if redact_body {
        return String::new();
    }
    truncate(&String::from_utf8_lossy(body), MAX_EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EP: Endpoint = Endpoint {
        method: Method::Post,
        route: "/api/v1/workspaces",
    };

    fn classify(status: u16, body: &str) -> ApiError {
        classify_status(EP, status, body.as_bytes(), None, false)
    }

    #[test]
    fn statuses_map_to_kinds_and_classes() {
        let body = r#"{"message":"nope"}"#;
        let cases: [(u16, &str, bool, bool); 12] = [
            (400, "Invalid", false, true),
            (422, "Invalid", false, true),
            (401, "Unauthorized", false, true),
            (403, "Forbidden", false, true),
            (404, "NotFound", false, false),
            (409, "Conflict", false, true),
            (429, "RateLimited", true, false),
            (500, "Transient", true, false),
            (502, "Transient", true, false),
            (503, "Transient", true, false),
            (425, "Transient", true, false),
            (405, "Unexpected", false, true),
        ];
        for (status, kind, transient, permanent) in cases {
            let err = classify(status, body);
            assert!(format!("{err:?}").starts_with(kind), "{status}: {err:?}");
            assert_eq!(err.is_transient(), transient, "{status}");
            assert_eq!(err.is_permanent(), permanent, "{status}");
            assert_eq!(err.status(), Some(status));
            assert!(err.to_string().contains("nope"), "message kept: {err}");
            assert!(err.to_string().contains("POST /api/v1/workspaces"), "{err}");
        }
    }

    #[test]
    fn validation_fields_and_inner_message_are_kept() {
        let body = r#"{"message":"Bad Request","error":{"name":"BadRequest","message":"validation failed","data":[{"param":"name","msg":"must be 3-50 characters"}]}}"#;
        let err = classify(400, body);
        match &err {
            ApiError::Invalid {
                fields, message, ..
            } => {
                assert_eq!(
                    fields,
                    &vec![FieldError {
                        param: "name".into(),
                        msg: "must be 3-50 characters".into()
                    }]
                );
                assert_eq!(message, "Bad Request: validation failed");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains("name: must be 3-50 characters"),
            "{err}"
        );
    }

    #[test]
    fn non_json_bodies_are_classified_by_status_with_a_truncated_excerpt() {
        let html = format!("<html>{}</html>", "x".repeat(1000));
        let err = classify(502, &html);
        assert!(err.is_transient());
        let err = classify(418, &html);
        match &err {
            ApiError::Unexpected { excerpt, .. } => {
                assert!(excerpt.starts_with("<html>"));
                assert!(excerpt.chars().count() <= MAX_EXCERPT_CHARS + 1);
            }
            other => panic!("{other:?}"),
        }
        let redacted = classify_status(EP, 418, html.as_bytes(), None, true);
        assert!(!redacted.to_string().contains("<html>"), "{redacted}");
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let err = classify_status(EP, 429, b"{}", Some(Duration::from_secs(2)), false);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert!(err.to_string().contains("retry after 2s"), "{err}");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
