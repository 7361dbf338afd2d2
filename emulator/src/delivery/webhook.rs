//! One webhook delivery attempt: builds the request the way Meshes documents it (wrapped body
//! `{uuid, event, resource, resource_id, payload, time_created, time_sent}` or the raw payload
//! with `X-Meshes-*` headers, the configured method, auth scheme, custom headers and an HMAC
//! signature over the exact body bytes), sends it, and classifies the answer as an outcome code.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};
use sha2::{Sha256, Sha512};
use uuid::Uuid;

use crate::store::Connection;

/// Default signature header.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Meshes-Signature";
/// `User-Agent` of deliveries.
pub const USER_AGENT: &str = "Meshes-Webhooks/1.0 (meshes-emulator)";

/// Header names a connection's `custom_headers` cannot set.
const RESERVED: [&str; 8] = [
    "content-type",
    "content-length",
    "host",
    "authorization",
    "transfer-encoding",
    "connection",
    "user-agent",
    "expect",
];

/// What is delivered: the event fields a webhook body carries.
#[derive(Debug, Clone)]
pub struct EventSnapshot {
    /// Event id (`uuid` of the wrapped body).
    pub id: Uuid,
    /// Event type key.
    pub event: String,
    /// Resource.
    pub resource: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// Payload.
    pub payload: Map<String, Value>,
    /// Ingestion time.
    pub created_at: DateTime<Utc>,
}

/// Result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether it counts as delivered (2xx or 3xx, or a simulated integration).
    pub success: bool,
    /// Outcome code of the attempts API.
    pub code: &'static str,
    /// Short result text (no secrets, no URL).
    pub message: String,
    /// HTTP status of the destination.
    pub status: Option<u16>,
}

impl Outcome {
    /// A failure without HTTP status.
    pub fn failed(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            success: false,
            code,
            message: message.into(),
            status: None,
        }
    }
}

/// Whether `u` points at localhost / 127.0.0.0/8 / ::1.
pub fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn meta<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Classifies a destination status.
pub fn classify(status: u16) -> Outcome {
    let (success, code) = match status {
        200..=399 => (true, "delivered"),
        401 | 403 => (false, "auth_failed"),
        429 => (false, "rate_limited"),
        400..=499 => (false, "rejected_client_error"),
        _ => (false, "rejected_server_error"),
    };
    Outcome {
        success,
        code,
        message: format!("HTTP {status}"),
        status: Some(status),
    }
}

/// `sha256=<hex>` / `sha512=<hex>` HMAC of `body` with `secret`.
pub fn signature(algorithm: &str, secret: &str, body: &[u8]) -> String {
    if algorithm.eq_ignore_ascii_case("hmac-sha512") {
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(body);
        format!("sha512={}", hex::encode(mac.finalize().into_bytes()))
    } else {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }
}

fn header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), Outcome> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Outcome::failed("internal_error", format!("invalid header name {name:?}")))?;
    let v = HeaderValue::from_str(value).map_err(|_| {
        Outcome::failed("internal_error", format!("invalid value for header {name}"))
    })?;
    headers.insert(n, v);
    Ok(())
}

/// Builds method, body and headers for `conn` and `ev`.
fn build(
    conn: &Connection,
    ev: &EventSnapshot,
) -> Result<(reqwest::Method, Vec<u8>, HeaderMap), Outcome> {
    let m = &conn.metadata;
    let method = match meta(m, "http_method").unwrap_or("POST") {
        "PUT" => reqwest::Method::PUT,
        "PATCH" => reqwest::Method::PATCH,
        _ => reqwest::Method::POST,
    };
    let now_ms = Utc::now().timestamp_millis();
    let created_ms = ev.created_at.timestamp_millis();
    let raw = meta(m, "payload_mode") == Some("raw");
    let body = if raw {
        Value::Object(ev.payload.clone())
    } else {
        json!({
            "uuid": ev.id, "event": ev.event, "resource": ev.resource,
            "resource_id": ev.resource_id, "payload": ev.payload,
            "time_created": created_ms, "time_sent": now_ms,
        })
    };
    let body = serde_json::to_vec(&body)
        .map_err(|e| Outcome::failed("mapping_error", format!("payload not serializable: {e}")))?;
    let mut headers = HeaderMap::new();
    header(&mut headers, "content-type", "application/json")?;
    header(&mut headers, "user-agent", USER_AGENT)?;
    if let Some(custom) = m.get("custom_headers").and_then(Value::as_object) {
        for (k, v) in custom {
            let lower = k.to_ascii_lowercase();
            if RESERVED.contains(&lower.as_str()) || lower.starts_with("x-meshes-") {
                continue;
            }
            if let Some(v) = v.as_str() {
                header(&mut headers, k, v)?;
            }
        }
    }
    if raw {
        header(&mut headers, "x-meshes-event-id", &ev.id.to_string())?;
        header(&mut headers, "x-meshes-event", &ev.event)?;
        if let Some(r) = &ev.resource {
            header(&mut headers, "x-meshes-resource", r)?;
        }
        if let Some(r) = &ev.resource_id {
            header(&mut headers, "x-meshes-resource-id", r)?;
        }
        header(
            &mut headers,
            "x-meshes-time-created",
            &created_ms.to_string(),
        )?;
        header(&mut headers, "x-meshes-time-sent", &now_ms.to_string())?;
    }
    match meta(m, "auth_scheme").unwrap_or("none") {
        "basic" => {
            use base64::Engine;
            let user = meta(m, "basic_username").unwrap_or("");
            let pass = meta(m, "basic_password").unwrap_or("");
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            header(&mut headers, "authorization", &format!("Basic {token}"))?;
        }
        "bearer" => {
            let token = meta(m, "bearer_token").unwrap_or("");
            header(&mut headers, "authorization", &format!("Bearer {token}"))?;
        }
        "custom_header" => {
            if let (Some(n), Some(v)) = (
                meta(m, "custom_header_name"),
                meta(m, "custom_header_value"),
            ) {
                header(&mut headers, n, v)?;
            }
        }
        _ => {}
    }
    if let Some(secret) = meta(m, "signing_secret") {
        let algorithm = meta(m, "signing_algorithm").unwrap_or("hmac-sha256");
        let name = meta(m, "signature_header").unwrap_or(DEFAULT_SIGNATURE_HEADER);
        header(&mut headers, name, &signature(algorithm, secret, &body))?;
    }
    Ok((method, body, headers))
}

/// Sends one attempt to a webhook connection.
pub async fn send(
    http: &reqwest::Client,
    timeout: Duration,
    allow_insecure_loopback: bool,
    conn: &Connection,
    ev: &EventSnapshot,
) -> Outcome {
    let Some(raw_url) = meta(&conn.metadata, "url") else {
        return Outcome::failed("internal_error", "webhook connection has no url");
    };
    let url = match url::Url::parse(raw_url) {
        Ok(u) => u,
        Err(_) => return Outcome::failed("internal_error", "webhook url is not a valid URL"),
    };
    let allowed = url.scheme() == "https"
        || (url.scheme() == "http" && allow_insecure_loopback && is_loopback_host(&url));
    if !allowed {
        return Outcome::failed(
            "internal_error",
            "webhook url must be https:// (http:// only to loopback with the insecure flag)",
        );
    }
    let (method, body, headers) = match build(conn, ev) {
        Ok(parts) => parts,
        Err(o) => return o,
    };
    let result = http
        .request(method, url)
        .headers(headers)
        .body(body)
        .timeout(timeout)
        .send()
        .await;
    match result {
        Ok(resp) => classify(resp.status().as_u16()),
        Err(e) if e.is_timeout() => Outcome::failed(
            "timeout",
            format!("timed out after {} ms", timeout.as_millis()),
        ),
        // Without the URL: it may carry a token in its query.
        Err(e) => Outcome::failed("network_error", e.without_url().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_counts_3xx_as_success() {
        assert!(classify(200).success);
        assert!(classify(302).success);
        assert_eq!(classify(401).code, "auth_failed");
        assert_eq!(classify(429).code, "rate_limited");
        assert_eq!(classify(404).code, "rejected_client_error");
        assert_eq!(classify(503).code, "rejected_server_error");
        assert!(!classify(500).success);
    }

    #[test]
    fn raw_mode_basic_auth_and_reserved_custom_headers() {
        let now = Utc::now();
        let mut metadata = Map::new();
        for (k, v) in [
            ("url", json!("https://example.com/h")),
            ("payload_mode", json!("raw")),
            ("http_method", json!("PATCH")),
            ("auth_scheme", json!("basic")),
            ("basic_username", json!("u")),
            ("basic_password", json!("p")),
            (
                "custom_headers",
                json!({ "X-Env": "prod", "Content-Type": "text/plain",
                                       "X-Meshes-Event": "forged" }),
            ),
            ("signing_secret", json!("k")),
            ("signature_header", json!("X-Sig")),
        ] {
            metadata.insert(k.into(), v);
        }
        let conn = Connection {
            id: Uuid::new_v4(),
            seq: 1,
            org_id: "o".into(),
            workspace: Uuid::new_v4(),
            kind: "webhook".into(),
            name: "n".into(),
            metadata,
            action_data: None,
            active: true,
            inactive_reason: None,
            hidden: false,
            created_by: "u".into(),
            created_at: now,
            updated_at: now,
        };
        let mut payload = Map::new();
        payload.insert("email".into(), json!("a@b.co"));
        let ev = EventSnapshot {
            id: Uuid::new_v4(),
            event: "user.signup".into(),
            resource: Some("user".into()),
            resource_id: None,
            payload,
            created_at: now,
        };
        let Ok((method, body, headers)) = build(&conn, &ev) else {
            panic!("build failed");
        };
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(method, reqwest::Method::PATCH);
        assert_eq!(body, br#"{"email":"a@b.co"}"#.to_vec());
        assert_eq!(h("authorization").as_deref(), Some("Basic dTpw"));
        assert_eq!(h("content-type").as_deref(), Some("application/json"));
        assert_eq!(h("x-env").as_deref(), Some("prod"));
        assert_eq!(h("x-meshes-event").as_deref(), Some("user.signup"));
        assert_eq!(h("x-meshes-resource").as_deref(), Some("user"));
        assert!(h("x-meshes-resource-id").is_none());
        assert_eq!(h("x-sig"), Some(signature("hmac-sha256", "k", &body)));
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("hmac-sha256", "Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(signature("hmac-sha512", "Jefe", b"x").starts_with("sha512="));
    }
}
