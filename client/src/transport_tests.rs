//! Transport behaviour of [`super::MeshesClient`] against a scripted loopback server: headers
//! (JWT, User-Agent, Idempotency-Key), retries only for GET, 429 pauses, timeouts and
//! response classification.

#![cfg(test)]
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::jwt::Claims;
use super::testserver::{Framing, Reply, TestServer};
use super::types::{CreateConnection, CreateWorkspace, IntegrationType};
use super::{
    ApiError, BudgetConfig, ClientConfig, Credentials, ErrorClass, MeshesApi, MeshesClient,
    RetryConfig, TransientCause,
};

const SECRET: &str = "unit-secret-abcdefghijklmnopqrstuvwxyz-0123456789";
const WS: &str = r#"{"id":"w1","name":"acme","description":null,"created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"}"#;

fn creds(key: &str) -> Credentials {
    Credentials::new(key, SECRET, "org-1").unwrap()
}

fn client(server: &TestServer, tweak: impl FnOnce(&mut ClientConfig)) -> MeshesClient {
    let mut cfg = ClientConfig {
        base_url: server.base_url.clone(),
        instance_id: Some("unit".into()),
        retry: RetryConfig {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        ..ClientConfig::default()
    };
    tweak(&mut cfg);
    MeshesClient::new(cfg).unwrap()
}

fn page(records: &str) -> String {
    format!(r#"{{"count":1,"limit":50,"next_cursor":null,"records":[{records}]}}"#)
}

fn claims_of(auth: &str) -> Claims {
    let token = auth.strip_prefix("Bearer ").unwrap();
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&["meshes-api"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &v)
        .unwrap()
        .claims
}

#[tokio::test]
async fn requests_carry_a_valid_jwt_user_agent_and_idempotency_key() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    server.push(Reply::json(201, &format!(r#"{{"workspace":{WS}}}"#)));
    server.push(Reply::json(201, &format!(r#"{{"workspace":{WS}}}"#)));
    let body = CreateWorkspace {
        name: "acme".into(),
        description: None,
    };
    c.create_workspace(&creds("mk_a"), &body, Some("pending-create-42"))
        .await
        .unwrap();
    c.create_workspace(&creds("mk_a"), &body, None)
        .await
        .unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/api/v1/workspaces");
    assert_eq!(first.headers["idempotency-key"], "pending-create-42");
    assert!(uuid::Uuid::parse_str(&seen[1].headers["idempotency-key"]).is_ok());
    assert_eq!(
        first.headers["user-agent"],
        format!(
            "meshes-operator/{} (instance=unit)",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(first.headers["content-type"], "application/json");
    assert_eq!(first.headers["accept"], "application/json");
    assert_eq!(first.body, br#"{"name":"acme"}"#);
    let claims = claims_of(&first.headers["authorization"]);
    assert_eq!(claims.iss, "urn:meshes:m2m:mk_a");
    assert_eq!(claims.org, "org-1");
    assert_eq!(claims.exp - claims.iat, 30);
    assert!((claims.iat - chrono::Utc::now().timestamp()).abs() <= 5);
}

#[tokio::test]
async fn the_token_is_minted_after_the_budget_wait_not_before() {
    let server = TestServer::start().await;
    // One request every 2 s, burst 1: the second call queues for about 2 s.
    let c = client(&server, |cfg| {
        cfg.budget = BudgetConfig {
            rate_per_second: 0.5,
            burst: 1,
            ..BudgetConfig::default()
        };
    });
    let key = creds("mk_a");
    let (a, b) = tokio::join!(
        c.list_workspaces_page(&key, None),
        c.list_workspaces_page(&key, None)
    );
    // Default replies are `{}`, which is not a page: both fail to decode, but were sent.
    assert!(matches!(a, Err(ApiError::Unexpected { .. })));
    assert!(matches!(b, Err(ApiError::Unexpected { .. })));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let iat: Vec<i64> = seen
        .iter()
        .map(|s| claims_of(&s.headers["authorization"]).iat)
        .collect();
    // Minted before queueing, both tokens would carry the same second.
    assert!(iat[1] - iat[0] >= 1, "iat {iat:?}");
}

#[tokio::test]
async fn a_get_is_retried_on_5xx_and_a_post_is_never_retried() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    server.push(Reply::json(503, r#"{"message":"Service Unavailable"}"#));
    server.push(Reply::json(502, "<html>bad gateway</html>"));
    server.push(Reply::json(200, &page(WS)));
    let page = c.list_workspaces_page(&creds("mk_a"), None).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(server.seen().len(), 3);

    server.push(Reply::json(500, r#"{"message":"boom"}"#));
    let body = CreateWorkspace {
        name: "acme".into(),
        description: None,
    };
    let err = c
        .create_workspace(&creds("mk_a"), &body, None)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("boom"));
    assert_eq!(server.seen().len(), 4, "the POST was sent exactly once");

    // Retries are bounded: four 5xx exhaust a GET.
    for _ in 0..4 {
        server.push(Reply::json(500, r#"{"message":"down"}"#));
    }
    let err = c.get_workspace(&creds("mk_a"), "w1").await.unwrap_err();
    assert!(matches!(
        err,
        ApiError::Transient {
            cause: TransientCause::Status(500),
            ..
        }
    ));
    assert_eq!(server.seen().len(), 8);
}

#[tokio::test]
async fn a_429_pauses_the_key_for_retry_after_and_spares_other_keys() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    server.push(Reply {
        headers: vec![("retry-after".into(), "1".into())],
        ..Reply::json(429, r#"{"message":"Too Many Requests"}"#)
    });
    let before = Instant::now();
    let err = c
        .list_workspaces_page(&creds("mk_a"), None)
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(err.is_transient());
    assert_eq!(
        server.seen().len(),
        1,
        "a 429 is not retried inside the client"
    );

    server.push(Reply::json(200, &page(WS)));
    server.push(Reply::json(200, &page(WS)));
    let t0 = Instant::now();
    c.list_workspaces_page(&creds("mk_b"), None).await.unwrap();
    let other_key = t0.elapsed();
    c.list_workspaces_page(&creds("mk_a"), None).await.unwrap();
    let same_key = before.elapsed();
    assert!(other_key < Duration::from_millis(800), "{other_key:?}");
    assert!(same_key >= Duration::from_secs(1), "{same_key:?}");
}

/// A 429 refused the call (nothing was applied), so any method, a POST included, is sent
/// again once the key's pause is over, when that pause is short; a long pause ends the call at
/// once (the caller frees its slot and comes back later), and the attempts stay bounded.
#[tokio::test]
async fn a_429_with_a_short_pause_is_sent_again_for_any_method() {
    let server = TestServer::start().await;
    let c = client(&server, |cfg| {
        cfg.retry.max_backoff = Duration::from_secs(2)
    });
    let limited = |after: &str| Reply {
        headers: vec![("retry-after".into(), after.into())],
        ..Reply::json(429, r#"{"message":"Too Many Requests"}"#)
    };
    let body = CreateWorkspace {
        name: "acme".into(),
        description: None,
    };
    let key = creds("mk_a");

    server.push(limited("1"));
    server.push(Reply::json(201, &format!(r#"{{"workspace":{WS}}}"#)));
    let started = Instant::now();
    let created = c.create_workspace(&key, &body, None).await.unwrap();
    assert_eq!(created.id, "w1");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "the refused POST was sent again");
    assert!(seen.iter().all(|s| s.method == "POST"));
    assert_eq!(
        seen[0].headers["idempotency-key"], seen[1].headers["idempotency-key"],
        "the same create, not a second one"
    );

    // A pause longer than `max_backoff` ends the call with the 429 (no wait, no resend).
    server.push(limited("30"));
    let started = Instant::now();
    let err = c.create_workspace(&key, &body, None).await.unwrap_err();
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.seen().len(), 3);

    // Bounded: four 429s with no pause exhaust the call's four attempts.
    let other = creds("mk_b");
    for _ in 0..5 {
        server.push(limited("0"));
    }
    let err = c.list_workspaces_page(&other, None).await.unwrap_err();
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert_eq!(server.seen().len(), 7, "four attempts, not five");
}

#[tokio::test]
async fn the_request_timeout_yields_a_transient_timeout() {
    let server = TestServer::start().await;
    let c = client(&server, |cfg| {
        cfg.request_timeout = Duration::from_millis(300);
        cfg.retry.max_attempts = 1;
    });
    server.push(Reply {
        delay: Duration::from_secs(3),
        ..Reply::json(200, &page(WS))
    });
    let started = Instant::now();
    let err = c
        .list_workspaces_page(&creds("mk_a"), None)
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
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn undecodable_bodies_are_unexpected_and_connection_bodies_stay_out_of_errors() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    server.push(Reply::json(200, r#"{"id":"w1","surprise":"plain-text"}"#));
    let err = c.get_workspace(&creds("mk_a"), "w1").await.unwrap_err();
    match &err {
        ApiError::Unexpected { excerpt, .. } => assert!(excerpt.contains("surprise")),
        other => panic!("{other:?}"),
    }
    // A connection response that does not decode must not quote its metadata.
    server.push(Reply::json(
        200,
        r#"{"connection":{"id":"c1","metadata":{"api_key":"LEAKED-VALUE"},"workspace":7}}"#,
    ));
    let body = CreateConnection {
        workspace: "w1".into(),
        kind: IntegrationType::Mailchimp,
        name: "m".into(),
        metadata: serde_json::json!({"api_key": "LEAKED-VALUE"})
            .as_object()
            .unwrap()
            .clone(),
        hidden: None,
    };
    let err = c
        .create_connection(&creds("mk_a"), &body, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unexpected { .. }), "{err:?}");
    assert!(
        !format!("{err} {err:?}").contains("LEAKED-VALUE"),
        "{err:?}"
    );
    // Positive control: the secret did travel in the request body.
    let seen = server.seen();
    assert!(String::from_utf8_lossy(&seen[1].body).contains("LEAKED-VALUE"));
}

#[tokio::test]
async fn delete_connection_sends_force_delete_only_when_asked() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    server.push(Reply::json(200, r#"{"id":"c1","type":"webhook"}"#));
    server.push(Reply::json(200, r#"{"id":"c1","type":"brand_new_type"}"#));
    let a = c
        .delete_connection(&creds("mk_a"), "c1", false)
        .await
        .unwrap();
    let b = c
        .delete_connection(&creds("mk_a"), "c1", true)
        .await
        .unwrap();
    assert_eq!(a.kind, IntegrationType::Webhook);
    assert_eq!(b.kind, IntegrationType::Other("brand_new_type".into()));
    let seen = server.seen();
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(seen[0].path, "/api/v1/connections/c1");
    assert_eq!(seen[0].body, b"{}");
    assert_eq!(seen[1].body, br#"{"force_delete":true}"#);
}

#[tokio::test]
async fn list_helpers_follow_cursors_through_the_transport() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    server.push(Reply::json(
        200,
        &format!(r#"{{"count":1,"limit":1,"next_cursor":"abc_1","records":[{WS}]}}"#),
    ));
    server.push(Reply::json(200, &page(WS)));
    let all = c.list_workspaces(&creds("mk_a")).await.unwrap();
    assert_eq!(all.len(), 2);
    let seen = server.seen();
    assert_eq!(seen[0].path, "/api/v1/workspaces");
    assert_eq!(seen[1].path, "/api/v1/workspaces?cursor=abc_1");
}

#[tokio::test]
async fn a_201_with_an_undecodable_body_is_outcome_unknown_not_a_refusal() {
    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    let body = CreateWorkspace {
        name: "acme".into(),
        description: None,
    };
    // Meshes created the workspace (201) but the body is not a workspace envelope.
    server.push(Reply::json(201, r#"{"workspace":{"id":7}}"#));
    let err = c
        .create_workspace(&creds("mk_a"), &body, Some("pending-create-7"))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unexpected { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err:?}");
    assert!(err.outcome_unknown(), "{err:?}");
    assert!(!err.is_permanent() && !err.is_transient(), "{err:?}");
    assert_eq!(err.status(), Some(201));
    assert!(err.to_string().contains("accepted"), "{err}");
    assert_eq!(server.seen().len(), 1, "a write is never retried");

    // Contrast on the same route: a 409 is a refusal (nothing created), and a request that
    // cannot be built is never sent.
    server.push(Reply::json(
        409,
        r#"{"message":"Workspace name already exists"}"#,
    ));
    let refused = c
        .create_workspace(&creds("mk_a"), &body, None)
        .await
        .unwrap_err();
    assert_eq!(refused.class(), ErrorClass::Conflict, "{refused:?}");
    assert!(!refused.outcome_unknown() && refused.is_permanent());
    let not_sent = c.get_workspace(&creds("mk_a"), "..").await.unwrap_err();
    assert_eq!(not_sent.class(), ErrorClass::NotSent, "{not_sent:?}");
    assert!(!not_sent.outcome_unknown() && not_sent.is_permanent());
    assert_eq!(server.seen().len(), 2, "the invalid ID was not sent");

    // Positive control: the same route with a decodable 201 succeeds.
    server.push(Reply::json(201, &format!(r#"{{"workspace":{WS}}}"#)));
    let ws = c
        .create_workspace(&creds("mk_a"), &body, None)
        .await
        .unwrap();
    assert_eq!(ws.id, "w1");
}

/// Collects formatted trace output in memory.
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn traces_and_errors_carry_no_secret_jwt_or_connection_setting() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "meshes_client=trace,reqwest=trace,hyper=trace,hyper_util=trace",
        ))
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    // Current-thread runtime: every task of this test logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let from = super::jwt::now_unix();

    let server = TestServer::start().await;
    let c = client(&server, |_| {});
    let creds = creds("mk_trace");
    server.push(Reply::json(200, &page(WS)));
    server.push(Reply::json(401, r#"{"message":"Unauthorized"}"#));
    server.push(Reply::json(
        422,
        r#"{"message":"Unprocessable","error":{"data":[{"param":"url","msg":"must be https"}]}}"#,
    ));
    c.list_workspaces_page(&creds, None).await.unwrap();
    let e1 = c.get_workspace(&creds, "w1").await.unwrap_err();
    let body = CreateConnection {
        workspace: "w1".into(),
        kind: IntegrationType::Webhook,
        name: "h".into(),
        metadata: serde_json::json!({"url": "http://x", "signing_secret": "HOOK-SECRET-VALUE"})
            .as_object()
            .unwrap()
            .clone(),
        hidden: None,
    };
    let e2 = c.create_connection(&creds, &body, None).await.unwrap_err();
    let to = super::jwt::now_unix();

    let traces = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let texts = [
        traces.clone(),
        format!("{creds:?} {creds} {e1:?} {e1} {e2:?} {e2} {body:?}"),
    ];
    let mut needles = vec![SECRET.to_owned(), "HOOK-SECRET-VALUE".to_owned()];
    for t in from - 1..=to + 1 {
        let token = super::jwt::mint(&creds, t).unwrap();
        needles.extend(token.split('.').map(str::to_owned));
        needles.push(token);
    }
    for text in &texts {
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "leaked {needle:?}:\n{text}"
            );
        }
    }
    // Positive controls: the tokens really were sent, and the traces are the call traces.
    let sent = server.seen();
    assert!(sent[0].headers["authorization"].starts_with("Bearer ey"));
    assert!(String::from_utf8_lossy(&sent[2].body).contains("HOOK-SECRET-VALUE"));
    assert!(traces.contains("meshes_api"), "{traces}");
    assert!(
        traces.contains(r#"route="/api/v1/workspaces/{workspace_id}""#),
        "{traces}"
    );
    assert!(traces.contains("status=401"), "{traces}");
    assert!(e2.to_string().contains("url: must be https"), "{e2}");
}

/// A body over `max_response_bytes` is refused while it is read: the client stops at the cap
/// (the server could not hand over the whole 50 MiB) and reports a typed error, for a body
/// with a `content-length` and for one delimited by closing the connection.
#[tokio::test]
async fn a_body_over_the_cap_is_refused_while_reading_and_never_read_whole() {
    const MIB: usize = 1024 * 1024;
    let server = TestServer::start().await;
    let c = client(&server, |cfg| cfg.max_response_bytes = MIB);
    let mut answers = 0;
    for framing in [Framing::ContentLength, Framing::CloseDelimited] {
        server.push(Reply::bulk(200, 50 * MIB, b' ', framing));
        let err = c.get_workspace(&creds("mk_a"), "w1").await.unwrap_err();
        answers += 1;
        assert!(
            matches!(
                err,
                ApiError::Unexpected {
                    status: Some(200),
                    ..
                }
            ),
            "{framing:?}: {err:?}"
        );
        assert!(
            err.to_string().contains("1048576-byte limit"),
            "{framing:?}: {err}"
        );
        assert_eq!(err.class(), ErrorClass::OutcomeUnknown);
        let written = server.written(answers).await;
        assert!(
            written[answers - 1] < 25 * MIB,
            "{framing:?}: the client accepted {} bytes of a 50 MiB body",
            written[answers - 1]
        );
    }
    assert_eq!(server.seen().len(), 2, "an oversized answer is not retried");

    // A write whose answer is too large: it may have been applied.
    server.push(Reply::bulk(201, 50 * MIB, b' ', Framing::CloseDelimited));
    let body = CreateWorkspace {
        name: "acme".into(),
        description: None,
    };
    let err = c
        .create_workspace(&creds("mk_a"), &body, None)
        .await
        .unwrap_err();
    assert!(err.outcome_unknown(), "{err:?}");
    assert!(err.to_string().contains("limit"), "{err}");

    // Positive control at the boundary: a valid page padded with whitespace (valid JSON) to
    // exactly the cap decodes; one byte more is refused.
    let exact = format!("{}{}", page(WS), " ".repeat(MIB - page(WS).len()));
    assert_eq!(exact.len(), MIB);
    server.push(Reply::json(200, &exact));
    server.push(Reply::json(200, &format!("{exact} ")));
    let ok = c.list_workspaces_page(&creds("mk_a"), None).await;
    assert_eq!(ok.unwrap().records.len(), 1);
    let over = c.list_workspaces_page(&creds("mk_a"), None).await;
    assert!(over.unwrap_err().to_string().contains("limit"));
}

/// Review finding 7 through the transport: eight concurrent calls that all meet a 429 without
/// Retry-After pause the key once (about `rate_limit_backoff`), not 2⁷ times longer.
#[tokio::test]
async fn eight_concurrent_429s_pause_the_key_once() {
    let server = TestServer::start().await;
    let c = client(&server, |cfg| {
        cfg.budget.rate_limit_backoff = Duration::from_millis(100);
        cfg.budget.max_rate_limit_backoff = Duration::from_secs(60);
    });
    for _ in 0..8 {
        server.push(Reply {
            delay: Duration::from_millis(50),
            ..Reply::json(429, r#"{"message":"Too Many Requests"}"#)
        });
    }
    let key = creds("mk_a");
    let calls = (0..8).map(|_| c.list_workspaces_page(&key, None));
    for r in futures::future::join_all(calls).await {
        assert!(matches!(r, Err(ApiError::RateLimited { .. })), "{r:?}");
    }
    assert_eq!(server.seen().len(), 8, "all eight were in flight together");
    server.push(Reply::json(200, &page(WS)));
    let started = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(5), c.list_workspaces_page(&key, None))
        .await
        .expect("the key is still paused 5 s after one burst of 429s");
    next.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// A gate that can be closed from the test.
struct Switch(std::sync::atomic::AtomicBool);

impl super::SendGate for Switch {
    fn may_send(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A closed send gate stops reads and writes before they leave the process (the leader fence),
/// without retrying, and the failure says nothing was sent; reopened, calls go out again.
#[tokio::test]
async fn a_closed_gate_sends_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = TestServer::start().await;
    let switch = Arc::new(Switch(AtomicBool::new(true)));
    let gate = super::Gate::new(switch.clone());
    let c = client(&server, |cfg| cfg.gate = Some(gate));
    // Positive control: open, the call reaches the server.
    server.push(Reply::json(200, &page(WS)));
    c.list_workspaces(&creds("mk_a")).await.unwrap();
    assert_eq!(server.seen().len(), 1);

    switch.0.store(false, Ordering::SeqCst);
    let read = c.list_workspaces(&creds("mk_a")).await.unwrap_err();
    let body = CreateWorkspace {
        name: "acme".into(),
        description: None,
    };
    let write = c
        .create_workspace(&creds("mk_a"), &body, None)
        .await
        .unwrap_err();
    for err in [&read, &write] {
        assert!(
            matches!(
                err,
                ApiError::Transient {
                    cause: TransientCause::NotSent,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("not the leader"), "{err}");
    }
    assert_eq!(
        server.seen().len(),
        1,
        "nothing sent while the gate is closed"
    );

    switch.0.store(true, Ordering::SeqCst);
    server.push(Reply::json(200, &page(WS)));
    c.list_workspaces(&creds("mk_a")).await.unwrap();
    assert_eq!(server.seen().len(), 2);
}

/// Records what the transport reports, for the observer test.
#[derive(Debug, Default)]
struct Recorder {
    requests: std::sync::Mutex<Vec<(String, &'static str, Duration)>>,
    waits: std::sync::Mutex<Vec<(String, Duration)>>,
    limited: std::sync::Mutex<Vec<String>>,
}

impl super::CallObserver for Recorder {
    fn request_finished(
        &self,
        endpoint: super::Endpoint,
        status: super::StatusClass,
        latency: Duration,
    ) {
        self.requests.lock().unwrap().push((
            format!("{} {}", endpoint.method.as_str(), endpoint.route),
            status.as_str(),
            latency,
        ));
    }
    fn budget_waited(&self, credential: &str, waited: Duration) {
        self.waits
            .lock()
            .unwrap()
            .push((credential.to_owned(), waited));
    }
    fn rate_limited(&self, credential: &str) {
        self.limited.lock().unwrap().push(credential.to_owned());
    }
}

/// The observer hears of every request sent (each retry included) by route template and
/// status class, of budget waits and 429s by the short hash of the access key, and never of a
/// request admitted at once as a wait.
#[tokio::test]
async fn the_observer_hears_each_request_wait_and_429_by_template_and_key_hash() {
    let server = TestServer::start().await;
    let observer = std::sync::Arc::new(Recorder::default());
    let c = client(&server, |cfg| {
        cfg.observer = Some(observer.clone());
        // Burst 2 at 4/s: the third call in a row waits about 250 ms for a token.
        cfg.budget = BudgetConfig {
            rate_per_second: 4.0,
            burst: 2,
            ..BudgetConfig::default()
        };
    });
    let key = creds("mk_observed");
    let label = super::credential_label("mk_observed");
    // A GET retried once (503 then 200), a 404, then a 429 (Retry-After 0: no pause).
    server.push(Reply::json(503, r#"{"message":"down"}"#));
    server.push(Reply::json(200, &format!(r#"{{"workspace":{WS}}}"#)));
    server.push(Reply::json(404, r#"{"message":"no"}"#));
    server.push(Reply {
        headers: vec![("retry-after".into(), "0".into())],
        ..Reply::json(429, r#"{"message":"Too Many Requests"}"#)
    });
    server.push(Reply::json(200, &page(WS)));
    // (The 200 body is not a workspace detail: the call fails to decode, but was answered.)
    let _ = c.get_workspace(&key, "w-1").await;
    assert!(
        observer.waits.lock().unwrap().is_empty(),
        "the two requests of a burst of 2 waited"
    );
    let _ = c.get_workspace(&key, "w-2").await.unwrap_err();
    // The 429's pause is zero: the list is sent again at once.
    c.list_workspaces_page(&key, None).await.unwrap();

    let requests = observer.requests.lock().unwrap().clone();
    let labels: Vec<(&str, &str)> = requests.iter().map(|(o, s, _)| (o.as_str(), *s)).collect();
    assert_eq!(
        labels,
        [
            ("GET /api/v1/workspaces/{workspace_id}", "5xx"),
            ("GET /api/v1/workspaces/{workspace_id}", "2xx"),
            ("GET /api/v1/workspaces/{workspace_id}", "4xx"),
            ("GET /api/v1/workspaces", "4xx"),
            ("GET /api/v1/workspaces", "2xx"),
        ]
    );
    assert_eq!(
        requests.len(),
        server.seen().len(),
        "one report per request sent"
    );
    // The 3rd and 4th requests found the bucket (burst 2) empty.
    let waits = observer.waits.lock().unwrap().clone();
    assert!(!waits.is_empty(), "no budget wait reported");
    assert!(waits.iter().all(|(c, _)| *c == label), "{waits:?}");
    assert!(
        waits.iter().any(|(_, w)| *w >= Duration::from_millis(100)),
        "{waits:?}"
    );
    assert_eq!(
        *observer.limited.lock().unwrap(),
        std::slice::from_ref(&label)
    );
    // Neither key appears in any label.
    let all = format!(
        "{requests:?}{waits:?}{:?}",
        observer.limited.lock().unwrap()
    );
    assert!(
        !all.contains("mk_observed") && !all.contains(SECRET),
        "{all}"
    );
}
