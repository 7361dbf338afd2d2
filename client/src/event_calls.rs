//! Event history, delivery attempts, manual retry and ingestion, as the mockable
//! [`MeshesEvents`] trait and its HTTP implementation on [`MeshesClient`].
//!
//! A trait of its own rather than more methods on [`crate::MeshesApi`]: the operator never
//! reads delivery history, so its mocks need not implement these calls.

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::calls::walk_pages;
use super::client::{Call, MeshesClient, decode_message, read_capped, transport_error, url_under};
use super::config::parse_base_url;
use super::credentials::Credentials;
use super::error::{ApiError, Endpoint, Method, TransientCause};
use super::events::{
    Attempt, Event, EventFilter, IngestKey, IngestedEnvelope, NewEvent, RuleEvent,
};
use super::response::{classify_oversized, classify_status, excerpt, parse_retry_after};
use super::types::Page;

/// Header carrying a workspace's publishable key on ingestion.
pub const PUBLISHABLE_KEY_HEADER: &str = "X-Meshes-Publishable-Key";

/// Route templates of the event calls, as they appear in errors and emulator counters.
pub mod event_routes {
    /// `/api/v1/events` (ingestion with a publishable key)
    pub const EVENTS: &str = "/api/v1/events";
    /// `/api/v1/events/{event_id}`
    pub const EVENT: &str = "/api/v1/events/{event_id}";
    /// `/api/v1/workspaces/{workspace_id}/events`
    pub const WORKSPACE_EVENTS: &str = "/api/v1/workspaces/{workspace_id}/events";
    /// `/api/v1/events/{event_id}/rules/{rule_id}/attempts`
    pub const ATTEMPTS: &str = "/api/v1/events/{event_id}/rules/{rule_id}/attempts";
    /// `/api/v1/events/{event_id}/rules/{rule_id}/retry`
    pub const RETRY: &str = "/api/v1/events/{event_id}/rules/{rule_id}/retry";
}

/// Delivery history and ingestion. Implemented over HTTP by [`MeshesClient`].
#[async_trait]
pub trait MeshesEvents: Send + Sync {
    /// `GET /workspaces/{id}/events`, one page, newest first.
    async fn list_workspace_events_page(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        filter: &EventFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Event>, ApiError>;

    /// `GET /events/{id}`: the event with its per-rule deliveries (never its payload).
    async fn get_event(&self, creds: &Credentials, event_id: &str) -> Result<Event, ApiError>;

    /// `GET /events/{id}/rules/{rule_id}/attempts`, one page.
    async fn list_attempts_page(
        &self,
        creds: &Credentials,
        event_id: &str,
        rule_id: &str,
        cursor: Option<&str>,
    ) -> Result<Page<Attempt>, ApiError>;

    /// `POST /events/{id}/rules/{rule_id}/retry`: a new round of attempts for one rule.
    /// Meshes answers 425 (a [`ApiError::Transient`]) when one is already due.
    async fn retry_delivery(
        &self,
        creds: &Credentials,
        event_id: &str,
        rule_id: &str,
    ) -> Result<RuleEvent, ApiError>;

    /// `POST {events_url}/events` with the workspace's publishable key (no machine key:
    /// ingestion is what an app does). `events_url` is the ingestion base including
    /// `/api/v1`, as the operator writes it to `MESHES_EVENTS_URL`.
    async fn ingest_event(
        &self,
        events_url: &str,
        key: &IngestKey,
        body: &NewEvent,
    ) -> Result<super::events::IngestedEvent, ApiError>;

    /// The newest events of a workspace, at most `max` of them, following cursors only as
    /// far as needed (a history can be very long).
    async fn recent_workspace_events(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        filter: &EventFilter,
        max: usize,
    ) -> Result<Vec<Event>, ApiError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        while out.len() < max {
            let page = self
                .list_workspace_events_page(creds, workspace_id, filter, cursor.as_deref())
                .await?;
            out.extend(page.records);
            match page.next_cursor.filter(|c| !c.is_empty()) {
                // A server repeating its cursor would loop: stop rather than spin.
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => break,
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Every attempt of one rule's delivery of an event, oldest first.
    async fn list_attempts(
        &self,
        creds: &Credentials,
        event_id: &str,
        rule_id: &str,
    ) -> Result<Vec<Attempt>, ApiError> {
        let ep = Endpoint {
            method: Method::Get,
            route: event_routes::ATTEMPTS,
        };
        walk_pages(crate::DEFAULT_MAX_LIST_PAGES, ep, |c| async move {
            self.list_attempts_page(creds, event_id, rule_id, c.as_deref())
                .await
        })
        .await
    }
}

/// Same check as the management calls: `.` and `..` would be normalized away.
fn id(endpoint: Endpoint, value: &str) -> Result<&str, ApiError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(ApiError::Local {
            endpoint,
            message: format!("{value:?} is not a valid Meshes ID"),
        });
    }
    Ok(value)
}

fn with_cursor(call: &mut Call<'_>, cursor: Option<&str>) {
    if let Some(c) = cursor {
        call.query.push(("cursor", c.to_owned()));
    }
}

#[async_trait]
impl MeshesEvents for MeshesClient {
    async fn list_workspace_events_page(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        filter: &EventFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Event>, ApiError> {
        let mut call = Call::new(
            Method::Get,
            event_routes::WORKSPACE_EVENTS,
            vec!["workspaces"],
        );
        call.segments.push(id(call.endpoint, workspace_id)?);
        call.segments.push("events");
        call.query = filter.query_pairs();
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn get_event(&self, creds: &Credentials, event_id: &str) -> Result<Event, ApiError> {
        let mut call = Call::new(Method::Get, event_routes::EVENT, vec!["events"]);
        call.segments.push(id(call.endpoint, event_id)?);
        self.execute(creds, call).await
    }

    async fn list_attempts_page(
        &self,
        creds: &Credentials,
        event_id: &str,
        rule_id: &str,
        cursor: Option<&str>,
    ) -> Result<Page<Attempt>, ApiError> {
        let mut call = Call::new(Method::Get, event_routes::ATTEMPTS, vec!["events"]);
        call.segments.push(id(call.endpoint, event_id)?);
        call.segments.push("rules");
        call.segments.push(id(call.endpoint, rule_id)?);
        call.segments.push("attempts");
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn retry_delivery(
        &self,
        creds: &Credentials,
        event_id: &str,
        rule_id: &str,
    ) -> Result<RuleEvent, ApiError> {
        let mut call = Call::new(Method::Post, event_routes::RETRY, vec!["events"]);
        call.segments.push(id(call.endpoint, event_id)?);
        call.segments.push("rules");
        call.segments.push(id(call.endpoint, rule_id)?);
        call.segments.push("retry");
        self.execute(creds, call).await
    }

    async fn ingest_event(
        &self,
        events_url: &str,
        key: &IngestKey,
        body: &NewEvent,
    ) -> Result<super::events::IngestedEvent, ApiError> {
        let endpoint = Endpoint {
            method: Method::Post,
            route: event_routes::EVENTS,
        };
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Local {
            endpoint,
            message: format!("could not encode the event: {e}"),
        })?;
        let created: IngestedEnvelope =
            post_with_publishable_key(self, events_url, key, bytes).await?;
        Ok(created.event)
    }
}

/// Runs an ingestion call: `POST {events_url}/events` authenticated by the workspace's
/// publishable key instead of a JWT (the way an app sends events). No budget permit: the
/// budgets are per machine key, and this call uses none. Never retried (a POST).
async fn post_with_publishable_key<T: DeserializeOwned>(
    client: &MeshesClient,
    events_url: &str,
    key: &IngestKey,
    body: Vec<u8>,
) -> Result<T, ApiError> {
    let call = Call::new(Method::Post, event_routes::EVENTS, vec!["events"]);
    let endpoint = call.endpoint;
    let local = |message: String| ApiError::Local { endpoint, message };
    if key.is_empty() {
        return Err(local("the publishable key is empty".to_owned()));
    }
    // The same transport policy as the management API: https, or http to loopback only.
    let base =
        parse_base_url(events_url).map_err(|e| local(format!("the events URL is refused: {e}")))?;
    let url = url_under(&base, &call)?;
    let mut value = HeaderValue::from_str(key.expose())
        .map_err(|_| local("the publishable key is not a valid header value".to_owned()))?;
    value.set_sensitive(true);
    if let Some(gate) = &client.config().gate
        && !gate.may_send()
    {
        return Err(ApiError::Transient {
            endpoint,
            cause: TransientCause::NotSent,
            message: "the send gate is closed".to_owned(),
        });
    }
    let response = client
        .http()
        .post(url)
        .header(PUBLISHABLE_KEY_HEADER, value)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/json")
        .timeout(client.config().request_timeout)
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(endpoint, &e))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let limit = client.config().max_response_bytes;
    let Some(body) = read_capped(response, limit)
        .await
        .map_err(|e| transport_error(endpoint, &e))?
    else {
        return Err(classify_oversized(endpoint, status, limit, retry_after));
    };
    if (200..300).contains(&status) {
        return serde_json::from_slice(&body).map_err(|e| ApiError::Unexpected {
            endpoint,
            status: Some(status),
            message: format!(
                "the event was accepted but the answer cannot be read: {}",
                decode_message(&e, false)
            ),
            excerpt: excerpt(&body, false),
        });
    }
    Err(classify_status(endpoint, status, &body, retry_after, false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::events::{DeliveryStatus, OutcomeCode};
    use crate::testserver::{Reply, TestServer};
    use crate::{ClientConfig, ErrorClass, IntegrationType};

    const SECRET: &str = "unit-secret-abcdefghijklmnopqrstuvwxyz-0123456789";
    const EVENT: &str = r#"{"id":"e1","type":"event","workspace":"w1","event":"user.signup","status":"failed","total_rules":1,"completed_count":0,"failed_count":1,"created_by":"publishable_key","created_at":"2026-01-01T00:00:00.000Z","rule_events":[{"id":"re1","type":"rule","workspace":"w1","event":"user.signup","event_id":"e1","connection":"c1","rule":"r1","integration_type":"webhook","status":"failed","attempt_count":2,"last_error":"HTTP 500","created_by":"publishable_key","created_at":"2026-01-01T00:00:00.000Z"}]}"#;

    fn creds() -> Credentials {
        Credentials::new("mk_events", SECRET, "org-1").unwrap()
    }

    fn client(server: &TestServer) -> MeshesClient {
        MeshesClient::new(ClientConfig {
            base_url: server.base_url.clone(),
            ..ClientConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn history_calls_use_the_contract_paths_and_decode() {
        let server = TestServer::start().await;
        let c = client(&server);
        server.push(Reply::json(
            200,
            &format!(r#"{{"count":1,"limit":2,"next_cursor":"n1","records":[{EVENT}]}}"#),
        ));
        server.push(Reply::json(
            200,
            &format!(r#"{{"count":1,"limit":2,"next_cursor":null,"records":[{EVENT}]}}"#),
        ));
        server.push(Reply::json(200, EVENT));
        server.push(Reply::json(
            200,
            r#"{"count":1,"limit":50,"next_cursor":null,"records":[{"id":"a1","attempt_number":1,"outcome_code":"rejected_server_error","message":"HTTP 500","response_status":500,"duration_ms":3}]}"#,
        ));
        server.push(Reply::json(
            200,
            r#"{"id":"re1","event_id":"e1","connection":"c1","rule":"r1","status":"pending","attempt_count":2,"created_at":"2026-01-01T00:00:00.000Z"}"#,
        ));
        let filter = EventFilter {
            limit: Some(2),
            ..EventFilter::default()
        };
        let events = c
            .recent_workspace_events(&creds(), "w1", &filter, 5)
            .await
            .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].status, DeliveryStatus::Failed);
        let re = &events[0].rule_events[0];
        assert_eq!(re.integration_type, Some(IntegrationType::Webhook));
        assert_eq!(re.last_error.as_deref(), Some("HTTP 500"));
        c.get_event(&creds(), "e1").await.unwrap();
        let attempts = c.list_attempts(&creds(), "e1", "r1").await.unwrap();
        assert_eq!(attempts[0].outcome_code, OutcomeCode::RejectedServerError);
        assert_eq!(attempts[0].response_status, Some(500));
        let retried = c.retry_delivery(&creds(), "e1", "r1").await.unwrap();
        assert_eq!(retried.status, DeliveryStatus::Pending);

        let seen = server.seen();
        let paths: Vec<_> = seen
            .iter()
            .map(|s| (s.method.as_str(), s.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("GET", "/api/v1/workspaces/w1/events?limit=2"),
                ("GET", "/api/v1/workspaces/w1/events?limit=2&cursor=n1"),
                ("GET", "/api/v1/events/e1"),
                ("GET", "/api/v1/events/e1/rules/r1/attempts"),
                ("POST", "/api/v1/events/e1/rules/r1/retry"),
            ]
        );
        assert!(
            seen.iter()
                .all(|s| s.headers["authorization"].starts_with("Bearer "))
        );
    }

    #[tokio::test]
    async fn recent_events_stop_at_max_without_walking_the_whole_history() {
        let server = TestServer::start().await;
        let c = client(&server);
        for n in 0..3 {
            server.push(Reply::json(
                200,
                &format!(
                    r#"{{"count":2,"limit":2,"next_cursor":"c{n}","records":[{EVENT},{EVENT}]}}"#
                ),
            ));
        }
        let events = c
            .recent_workspace_events(&creds(), "w1", &EventFilter::default(), 3)
            .await
            .unwrap();
        assert_eq!(events.len(), 3);
        // Two pages were enough; the third scripted page was never asked for.
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn ingestion_sends_the_publishable_key_and_no_jwt() {
        let server = TestServer::start().await;
        let c = MeshesClient::new(ClientConfig::default()).unwrap();
        server.push(Reply::json(
            201,
            r#"{"event":{"id":"e9","type":"event","event":"user.signup","workspace":"w1","created_by":"publishable_key","created_at":"2026-01-01T00:00:00.000Z"}}"#,
        ));
        server.push(Reply::json(
            401,
            r#"{"message":"Unauthorized","error":{"name":"Unauthorized","message":"unknown publishable key"}}"#,
        ));
        let body = NewEvent {
            event: "user.signup".into(),
            payload: serde_json::from_str(r#"{"email":"ada@example.com"}"#).unwrap(),
            resource: None,
            resource_id: None,
            workspace: None,
        };
        let key = IngestKey::new("mesh_pub_a_b_c");
        let events_url = format!("{}/api/v1", server.base_url);
        let created = c.ingest_event(&events_url, &key, &body).await.unwrap();
        assert_eq!(created.id, "e9");
        let err = c.ingest_event(&events_url, &key, &body).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Unauthorized);
        assert!(!err.to_string().contains("mesh_pub_a_b_c"), "{err}");

        let seen = server.seen();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path, "/api/v1/events");
        assert_eq!(
            seen[0].headers["x-meshes-publishable-key"],
            "mesh_pub_a_b_c"
        );
        assert_eq!(seen[0].headers["content-type"], "application/json");
        assert!(!seen[0].headers.contains_key("authorization"));
        let sent: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"event": "user.signup", "payload": {"email": "ada@example.com"}})
        );
    }

    #[tokio::test]
    async fn ingestion_refuses_a_non_loopback_http_url_and_an_empty_key() {
        let c = MeshesClient::new(ClientConfig::default()).unwrap();
        let body = NewEvent {
            event: "x".into(),
            payload: serde_json::from_str(r#"{"a":1}"#).unwrap(),
            resource: None,
            resource_id: None,
            workspace: None,
        };
        let key = IngestKey::new("mesh_pub_a_b_c");
        let err = c
            .ingest_event("http://events.example.com/api/v1", &key, &body)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = c
            .ingest_event("http://127.0.0.1:9/api/v1", &IngestKey::new(" "), &body)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("publishable key is empty"),
            "{err}"
        );
    }
}
