//! The client against a hostile server in place of Meshes (a broken deployment, a proxy, a
//! WAF, a MITM): truncated and ill-typed JSON, a recursion bomb, a 50 MiB error page, no
//! answer at all, an HTML 502, redirects to another host, absurd `Retry-After` values, a
//! non-HTTP answer. Every case ends in a typed [`ApiError`] of a stated class, within bounded
//! memory (bodies stop at `max_response_bytes`) and time, and without a panic.

#![cfg(test)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::testserver::{Framing, Reply, TestServer};
use super::types::CreateWorkspace;
use super::{
    ApiError, ClientConfig, Credentials, ErrorClass, MAX_RETRY_AFTER, MeshesApi, MeshesClient,
    RetryConfig, TransientCause,
};

const MIB: usize = 1024 * 1024;

fn creds() -> Credentials {
    Credentials::new("mk_hostile", "hostile-secret-abcdefghijklmnop", "org-1").unwrap()
}

/// One attempt per call (no GET retries), a 1 MiB body cap, short timeouts and backoffs.
fn client(server: &TestServer) -> MeshesClient {
    let mut cfg = ClientConfig {
        base_url: server.base_url.clone(),
        request_timeout: Duration::from_millis(500),
        retry: RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        },
        max_response_bytes: MIB,
        ..ClientConfig::default()
    };
    cfg.budget.rate_limit_backoff = Duration::from_millis(50);
    cfg.budget.max_rate_limit_backoff = Duration::from_millis(200);
    MeshesClient::new(cfg).unwrap()
}

fn create_body() -> CreateWorkspace {
    CreateWorkspace {
        name: "acme".into(),
        description: None,
    }
}

/// Bodies that are not what the contract says, on a 2xx: each an `Unexpected` carrying the
/// status, outcome unknown (for a write the server may have acted).
#[tokio::test]
async fn malformed_2xx_bodies_are_unexpected_never_a_panic() {
    let server = TestServer::start().await;
    let c = client(&server);
    let bomb = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let bodies: Vec<(&str, String)> = vec![
        (
            "truncated JSON",
            r#"{"count":1,"limit":50,"next_cursor":null,"records":[{"id":"w"#.into(),
        ),
        (
            "wrong types",
            r#"{"count":"one","limit":-5,"next_cursor":7,"records":{}}"#.into(),
        ),
        (
            "wrong record types",
            r#"{"count":1,"limit":50,"records":[{"id":1,"name":[],"created_at":"yesterday"}]}"#
                .into(),
        ),
        ("an array", "[]".into()),
        ("null", "null".into()),
        ("empty", String::new()),
        ("not JSON", "<html><body>OK</body></html>".into()),
        ("invalid UTF-8 and NUL", "\u{0}\u{fffd}\u{0}".into()),
        ("a recursion bomb", bomb),
        (
            "a huge number",
            format!(
                r#"{{"count":1{},"limit":1,"records":[]}}"#,
                "0".repeat(5000)
            ),
        ),
    ];
    for (what, body) in &bodies {
        server.push(Reply::json(200, body));
        let err = c.list_workspaces_page(&creds(), None).await.unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Unexpected {
                    status: Some(200),
                    ..
                }
            ),
            "{what}: {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{what}");
        // The excerpt is bounded whatever the body.
        assert!(
            err.to_string().len() < 2_000,
            "{what}: {} bytes",
            err.to_string().len()
        );
    }
    // The same on a write: accepted, unreadable, outcome unknown.
    server.push(Reply::json(201, r#"{"workspace":{"id":"#));
    let err = c
        .create_workspace(&creds(), &create_body(), None)
        .await
        .unwrap_err();
    assert!(err.outcome_unknown() && !err.is_permanent(), "{err:?}");
    assert!(err.to_string().contains("accepted"), "{err}");
}

/// An answer cut short (fewer bytes than announced, then a closed connection) is a network
/// failure: transient, and for a write outcome unknown.
#[tokio::test]
async fn a_body_cut_short_is_a_transient_network_failure() {
    let server = TestServer::start().await;
    let c = client(&server);
    server.push(Reply {
        cut_at: Some(10),
        ..Reply::json(
            200,
            &format!(
                r#"{{"count":0,"limit":50,"records":[]}}{}"#,
                " ".repeat(500)
            ),
        )
    });
    let err = c.list_workspaces_page(&creds(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transient {
                cause: TransientCause::Network,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.outcome_unknown());
}

/// Not HTTP at all, a status outside the known ones, a header section too large: typed,
/// bounded, no panic.
#[tokio::test]
async fn non_http_answers_are_typed_errors() {
    let server = TestServer::start().await;
    let c = client(&server);
    let huge_header = format!(
        "HTTP/1.1 200 OK\r\nx-junk: {}\r\ncontent-length: 2\r\n\r\n{{}}",
        "a".repeat(2 * MIB)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage",
            b"\x16\x03\x01 definitely not HTTP\r\n\r\n".to_vec(),
        ),
        ("nothing", Vec::new()),
        ("a header section of 2 MiB", huge_header.into_bytes()),
    ];
    for (what, bytes) in cases {
        server.push(Reply::raw(bytes));
        let err = c.list_workspaces_page(&creds(), None).await.unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Transient {
                    cause: TransientCause::Network,
                    ..
                }
            ),
            "{what}: {err:?}"
        );
    }
    // A status code no one uses: not interpretable, never a success.
    server.push(Reply::json(599, "{}"));
    server.push(Reply::json(299, "{}"));
    server.push(Reply::json(999, "{}"));
    let a = c.list_workspaces_page(&creds(), None).await.unwrap_err();
    assert!(a.is_transient(), "5xx: {a:?}");
    let b = c.list_workspaces_page(&creds(), None).await.unwrap_err();
    assert!(
        matches!(
            b,
            ApiError::Unexpected {
                status: Some(299),
                ..
            }
        ),
        "{b:?}"
    );
    let d = c.list_workspaces_page(&creds(), None).await.unwrap_err();
    assert!(
        matches!(
            d,
            ApiError::Unexpected {
                status: Some(999),
                ..
            }
        ),
        "{d:?}"
    );
}

/// No answer within the request timeout: a transient timeout, quickly.
#[tokio::test]
async fn no_answer_is_a_transient_timeout() {
    let server = TestServer::start().await;
    let c = client(&server);
    server.push(Reply {
        delay: Duration::from_secs(30),
        ..Reply::json(200, "{}")
    });
    let started = Instant::now();
    let err = c
        .create_workspace(&creds(), &create_body(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transient {
                cause: TransientCause::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.outcome_unknown(),
        "a write that timed out may have been applied"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A proxy's HTML error pages: a small 502 is a transient gateway failure without the HTML
/// in the message; a 50 MiB one is the same, read only up to the cap.
#[tokio::test]
async fn html_error_pages_are_transient_and_a_huge_one_is_not_read() {
    let server = TestServer::start().await;
    let c = client(&server);
    server.push(Reply::json(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ));
    let err = c.get_workspace(&creds(), "w1").await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transient {
                cause: TransientCause::Status(502),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("<html>"), "{err}");
    assert!(
        err.to_string().contains("without a Meshes error body"),
        "{err}"
    );

    for framing in [Framing::ContentLength, Framing::CloseDelimited] {
        server.push(Reply::bulk(502, 50 * MIB, b'<', framing));
        let err = c.get_workspace(&creds(), "w1").await.unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::Transient {
                    cause: TransientCause::Status(502),
                    ..
                }
            ),
            "{framing:?}: {err:?}"
        );
        assert!(err.to_string().contains("limit"), "{err}");
    }
    let written = server.written(3).await;
    assert_eq!(written.len(), 3);
    for w in &written[1..] {
        assert!(
            *w < 25 * MIB,
            "the client accepted {w} bytes of a 50 MiB page"
        );
    }
}

/// Redirects are never followed: not to another host (which would then get the
/// Authorization header and the body), not even to the same one. The 3xx is an `Unexpected`
/// answer; for a write the outcome is unknown.
#[tokio::test]
async fn redirects_are_not_followed_to_another_host_or_at_all() {
    let server = TestServer::start().await;
    let elsewhere = TestServer::start_on("127.0.0.2").await;
    let c = client(&server);
    for status in [301, 302, 303, 307, 308] {
        server.push(Reply {
            headers: vec![(
                "location".into(),
                format!("{}/api/v1/workspaces", elsewhere.base_url),
            )],
            ..Reply::json(status, "")
        });
        let err = c
            .create_workspace(&creds(), &create_body(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::Unexpected { status: Some(s), .. } if s == status),
            "{status}: {err:?}"
        );
        assert!(err.outcome_unknown(), "{status}");
    }
    server.push(Reply {
        headers: vec![("location".into(), "/api/v1/workspaces?page=2".into())],
        ..Reply::json(302, "")
    });
    let err = c.list_workspaces_page(&creds(), None).await.unwrap_err();
    assert_eq!(err.status(), Some(302), "{err:?}");
    assert_eq!(
        server.seen().len(),
        6,
        "each call was sent once, nothing followed"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "a request reached the other host"
    );
    // Positive control: the other host is reachable and records what it gets.
    let direct = MeshesClient::new(ClientConfig {
        base_url: elsewhere.base_url.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    let _ = direct.list_workspaces_page(&creds(), None).await;
    assert_eq!(elsewhere.seen().len(), 1);
}

/// Absurd `Retry-After` values on a 429: a typed `RateLimited` whose delay is at most
/// [`MAX_RETRY_AFTER`], a key pause capped by `max_rate_limit_backoff`, and no panic.
#[tokio::test]
async fn absurd_retry_after_values_are_clamped_and_never_panic() {
    let server = TestServer::start().await;
    let c = client(&server);
    for value in [
        "1e20",
        "18446744073709551616",
        "99999999999999999999999999999999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "-1",
        "NaN",
        "soon",
    ] {
        server.push(Reply {
            headers: vec![("retry-after".into(), value.into())],
            ..Reply::json(429, r#"{"message":"Too Many Requests"}"#)
        });
        let err = c.list_workspaces_page(&creds(), None).await.unwrap_err();
        assert!(
            matches!(err, ApiError::RateLimited { .. }),
            "{value}: {err:?}"
        );
        assert!(
            err.retry_after().is_none_or(|d| d <= MAX_RETRY_AFTER),
            "{value}: {err:?}"
        );
    }
    // The key pause is capped (200 ms here): the next call goes through promptly.
    server.push(Reply::json(
        200,
        r#"{"count":0,"limit":50,"next_cursor":null,"records":[]}"#,
    ));
    let started = Instant::now();
    let page = tokio::time::timeout(
        Duration::from_secs(5),
        c.list_workspaces_page(&creds(), None),
    )
    .await
    .expect("the key stayed paused");
    assert!(page.unwrap().records.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A 429 with a 50 MiB body still pauses the key and says so.
#[tokio::test]
async fn an_oversized_429_is_still_rate_limited() {
    let server = TestServer::start().await;
    let c = client(&server);
    server.push(Reply {
        headers: vec![("retry-after".into(), "1".into())],
        ..Reply::bulk(429, 50 * MIB, b'x', Framing::CloseDelimited)
    });
    let err = c.list_workspaces_page(&creds(), None).await.unwrap_err();
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
}
