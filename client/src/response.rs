//! From an HTTP response to an [`ApiError`]: the standard Meshes error body, `Retry-After`,
//! the status → variant mapping, and the body excerpts kept in errors (never for routes whose
//! bodies may carry connection settings).

use std::time::Duration;

use serde::Deserialize;

use crate::error::{ApiError, Endpoint, FieldError, TransientCause};

/// Longest API message kept in an error (status conditions have limited room).
pub(crate) const MAX_MESSAGE_CHARS: usize = 500;
/// Longest body excerpt kept in an [`ApiError::Unexpected`].
pub(crate) const MAX_EXCERPT_CHARS: usize = 200;
/// The longest wait a server-sent `Retry-After` can ask for: larger values (delay-seconds or
/// HTTP dates further out) are clamped to it. One hour: long enough for any real rate-limit
/// window, short enough that a hostile or broken value cannot park a key for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP date in any of
/// the three formats (IMF-fixdate, the obsolete RFC 850 form, asctime), read by `httpdate`.
///
/// Never panics and never returns more than [`MAX_RETRY_AFTER`]: delay-seconds too large for
/// any integer type and dates further out are clamped to it. A fractional number of seconds
/// (not in the RFC, sent by some servers) is accepted when finite and non-negative. Negative,
/// NaN, infinite and unparsable values are ignored (`None`: the caller's own backoff applies).
/// A date in the past means "now".
pub(crate) fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // delay-seconds: only too many digits for u64 can fail here, which means "very long".
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        if secs >= MAX_RETRY_AFTER.as_secs_f64() {
            return Some(MAX_RETRY_AFTER);
        }
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let delay = at
        .duration_since(std::time::SystemTime::from(now))
        .unwrap_or(Duration::ZERO);
    Some(delay.min(MAX_RETRY_AFTER))
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
    let (message, fields) = parse_error_body(body).unwrap_or_else(|| {
        (
            format!("HTTP {status} without a Meshes error body"),
            Vec::new(),
        )
    });
    status_error(
        endpoint,
        status,
        message,
        fields,
        retry_after,
        excerpt(body, redact_body),
    )
}

/// Classifies a response whose body exceeded `limit` bytes and was not read. An error status
/// keeps its meaning (a 502 from a proxy with a huge HTML page is still a gateway failure, a
/// 429 still pauses the key); anything else, a 2xx included, is [`ApiError::Unexpected`]:
/// for a write the outcome is unknown.
pub(crate) fn classify_oversized(
    endpoint: Endpoint,
    status: u16,
    limit: usize,
    retry_after: Option<Duration>,
) -> ApiError {
    let mut message = format!(
        "the response body exceeds the {limit}-byte limit (max_response_bytes) and was not read"
    );
    if (200..300).contains(&status) && endpoint.method != crate::error::Method::Get {
        message = format!("the request was accepted but its result cannot be read: {message}");
    }
    status_error(
        endpoint,
        status,
        message,
        Vec::new(),
        retry_after,
        String::new(),
    )
}

/// The status → variant mapping shared by [`classify_status`] and [`classify_oversized`].
fn status_error(
    endpoint: Endpoint,
    status: u16,
    message: String,
    fields: Vec<FieldError>,
    retry_after: Option<Duration>,
    excerpt: String,
) -> ApiError {
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
            excerpt,
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
    use crate::error::Method;

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
            (405, "Unexpected", false, false),
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

    /// Real statuses land in the class the module docs of `error` promise.
    #[test]
    fn statuses_land_in_their_error_class() {
        use crate::error::ErrorClass as C;
        for (status, class) in [
            (400, C::Rejected),
            (401, C::Unauthorized),
            (403, C::Forbidden),
            (404, C::NotFound),
            (409, C::Conflict),
            (410, C::NotFound),
            (422, C::Rejected),
            (429, C::RateLimited),
            (503, C::Transient),
            (405, C::OutcomeUnknown),
            (302, C::OutcomeUnknown),
        ] {
            assert_eq!(classify(status, "{}").class(), class, "{status}");
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

    /// A hostile or broken `Retry-After` never panics and never asks for more than
    /// [`MAX_RETRY_AFTER`]; the three HTTP-date formats of RFC 9110 are all understood.
    #[test]
    fn retry_after_never_panics_is_clamped_and_reads_all_three_date_formats() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:50Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let s = Duration::from_secs;
        let long_garbage = "9".repeat(10_000);
        let cases: &[(&str, Option<Duration>)] = &[
            ("2", Some(s(2))),
            ("0", Some(Duration::ZERO)),
            (" 0.5 ", Some(Duration::from_millis(500))),
            ("3600", Some(MAX_RETRY_AFTER)),
            ("3601", Some(MAX_RETRY_AFTER)),
            ("86400", Some(MAX_RETRY_AFTER)),
            ("18446744073709551615", Some(MAX_RETRY_AFTER)),
            ("18446744073709551616", Some(MAX_RETRY_AFTER)),
            ("99999999999999999999999999999999", Some(MAX_RETRY_AFTER)),
            (long_garbage.as_str(), Some(MAX_RETRY_AFTER)),
            ("1e20", Some(MAX_RETRY_AFTER)),
            ("1.8e19", Some(MAX_RETRY_AFTER)),
            ("1e308", Some(MAX_RETRY_AFTER)),
            ("-1", None),
            ("-0.5", None),
            ("-1e20", None),
            ("NaN", None),
            ("nan", None),
            ("inf", None),
            ("-inf", None),
            ("", None),
            ("soon", None),
            ("1 2", None),
            ("0x10", None),
            ("\u{7f}", None),
            // IMF-fixdate, RFC 850 and asctime: the same instant, 10 s from now.
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(s(10))),
            ("Wednesday, 21-Oct-15 07:28:00 GMT", Some(s(10))),
            ("Wed Oct 21 07:28:00 2015", Some(s(10))),
            // A date in the past means "now".
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(Duration::ZERO)),
            // Far in the future: clamped.
            ("Thu, 22 Oct 2015 07:28:00 GMT", Some(MAX_RETRY_AFTER)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Some(MAX_RETRY_AFTER)),
            ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ];
        let mut wrong = Vec::new();
        for (value, expected) in cases {
            let got = std::panic::catch_unwind(|| parse_retry_after(value, now));
            let shown: String = value.chars().take(40).collect();
            match got {
                Ok(got) if got == *expected => {}
                Ok(got) => wrong.push(format!("{shown:?}: got {got:?}, want {expected:?}")),
                Err(_) => wrong.push(format!("{shown:?}: panicked")),
            }
        }
        assert!(
            wrong.is_empty(),
            "Retry-After cases wrong:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }
}
