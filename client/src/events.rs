//! Wire types of event ingestion and delivery history (`/events…`, contract §5.5 and §7):
//! events with their per-rule deliveries, delivery attempts with an outcome code, the
//! history filters, and the ingestion body and answer.
//!
//! Reading is lenient in the same way as [`crate::types`]: unknown statuses and outcome
//! codes land in a catch-all, unknown members are ignored. The event payload is never part
//! of these types (only `GET /events/{id}/payload` returns it, and no call here reads it),
//! so a history listing cannot carry a payload's secrets into a log or a terminal.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{IntegrationType, JsonObject, string_enum};

string_enum! {
    /// Status of an event or of one rule's delivery of it. Meshes' spec lists the first
    /// four; newer vendor guidance adds `retrying` and `canceled`.
    DeliveryStatus {
        /// Accepted, no attempt yet.
        Pending = "pending",
        /// An attempt is running or a retry is scheduled.
        Processing = "processing",
        /// A retry is scheduled (newer wire value).
        Retrying = "retrying",
        /// Delivered (for an event: every rule is done and none failed).
        Completed = "completed",
        /// Given up (for an event: at least one rule failed).
        Failed = "failed",
        /// Stopped by a cancel call (newer wire value).
        Canceled = "canceled",
    }
}

impl DeliveryStatus {
    /// True when nothing more will happen without a manual retry.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            DeliveryStatus::Completed | DeliveryStatus::Failed | DeliveryStatus::Canceled
        )
    }
}

string_enum! {
    /// What one delivery attempt came to (the contract's `outcome_code` enum).
    OutcomeCode {
        /// The destination accepted it (2xx, or 3xx for webhooks).
        Delivered = "delivered",
        /// The destination answered 4xx (other than auth and rate limit).
        RejectedClientError = "rejected_client_error",
        /// The destination answered 5xx.
        RejectedServerError = "rejected_server_error",
        /// The destination answered 429.
        RateLimited = "rate_limited",
        /// The destination refused the credentials (401/403), or the connection is inactive.
        AuthFailed = "auth_failed",
        /// No answer in time.
        Timeout = "timeout",
        /// The destination could not be reached.
        NetworkError = "network_error",
        /// The payload could not be mapped to the destination's fields.
        MappingError = "mapping_error",
        /// Meshes failed internally.
        InternalError = "internal_error",
    }
}

/// An ingested event with its per-rule deliveries (`GET /events/{id}`, history lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Meshes ID (UUID).
    pub id: String,
    /// Workspace ID.
    pub workspace: String,
    /// Event type key, e.g. `user.signup`.
    pub event: String,
    /// Resource, when the event named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Resource ID, when the event named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Overall status.
    pub status: DeliveryStatus,
    /// Rules the event matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_rules: Option<u64>,
    /// Rules that delivered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_count: Option<u64>,
    /// Rules that gave up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_count: Option<u64>,
    /// First attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When every rule was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Who sent it (a user ID, or the publishable key marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Ingestion time.
    pub created_at: DateTime<Utc>,
    /// One delivery per matched rule (absent from some list answers).
    #[serde(default)]
    pub rule_events: Vec<RuleEvent>,
}

/// The delivery of one event through one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEvent {
    /// Meshes ID of this delivery (UUID).
    pub id: String,
    /// The event's ID.
    pub event_id: String,
    /// The rule.
    pub rule: String,
    /// The rule's connection.
    pub connection: String,
    /// The connection's integration type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_type: Option<IntegrationType>,
    /// Status of this delivery.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    #[serde(default)]
    pub attempt_count: u32,
    /// First attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it became terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Message of the last failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// One delivery attempt (`GET /events/{id}/rules/{rule_id}/attempts`). The contract pins only
/// the outcome code, timing and a short message, so everything else is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Meshes ID of the attempt.
    pub id: String,
    /// 1-based position among the delivery's attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_number: Option<u32>,
    /// What the attempt came to.
    pub outcome_code: OutcomeCode,
    /// Short result text (never the response body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// HTTP status the destination answered, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// End.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// Query filters of the event history lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Page size (Meshes: 1–200, default 50).
    pub limit: Option<u32>,
    /// Only this event type.
    pub event: Option<String>,
    /// Only this resource.
    pub resource: Option<String>,
    /// Only this resource ID.
    pub resource_id: Option<String>,
    /// Only events with this status.
    pub status: Option<DeliveryStatus>,
}

impl EventFilter {
    pub(crate) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(v) = self.limit {
            q.push(("limit", v.to_string()));
        }
        for (k, v) in [
            ("event", &self.event),
            ("resource", &self.resource),
            ("resource_id", &self.resource_id),
        ] {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        if let Some(s) = &self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        q
    }
}

/// Body of `POST /events` (ingestion).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Event type key.
    pub event: String,
    /// The payload (must have a non-null member). May hold personal data: `Debug` shows only
    /// its keys.
    pub payload: JsonObject,
    /// Resource; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Resource ID; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Workspace; omitted when `None` (a publishable key names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
}

impl fmt::Debug for NewEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEvent")
            .field("event", &self.event)
            .field("payload_keys", &self.payload.keys().collect::<Vec<_>>())
            .field("resource", &self.resource)
            .field("resource_id", &self.resource_id)
            .field("workspace", &self.workspace)
            .finish()
    }
}

/// What ingestion answers: the accepted event, before any delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestedEvent {
    /// Meshes ID (UUID): follow it with `GET /events/{id}`.
    pub id: String,
    /// Event type key.
    pub event: String,
    /// Workspace ID.
    pub workspace: String,
    /// Resource, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Resource ID, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Ingestion time.
    pub created_at: DateTime<Utc>,
}

/// `{"event": …}` wrapper of the ingestion answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestedEnvelope {
    /// The accepted event.
    pub event: IngestedEvent,
}

/// The workspace's publishable key, for ingestion only. Meshes calls it browser-safe, but it
/// still lets anyone post events into the workspace, so it never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct IngestKey(String);

impl IngestKey {
    /// Wraps a key (surrounding whitespace trimmed, as for machine keys).
    pub fn new(key: impl AsRef<str>) -> Self {
        Self(key.as_ref().trim().to_owned())
    }

    /// The key, for the request header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// True when the key is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for IngestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IngestKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_statuses_and_outcomes_are_kept() {
        let s: DeliveryStatus = serde_json::from_value(json!("paused")).unwrap();
        assert_eq!(s, DeliveryStatus::Other("paused".into()));
        assert!(!s.is_terminal());
        assert!(DeliveryStatus::Failed.is_terminal());
        let o: OutcomeCode = serde_json::from_value(json!("timeout")).unwrap();
        assert_eq!(o, OutcomeCode::Timeout);
    }

    #[test]
    fn filters_become_query_pairs() {
        let f = EventFilter {
            limit: Some(5),
            event: Some("user.signup".into()),
            status: Some(DeliveryStatus::Failed),
            ..EventFilter::default()
        };
        assert_eq!(
            f.query_pairs(),
            vec![
                ("limit", "5".to_owned()),
                ("event", "user.signup".to_owned()),
                ("status", "failed".to_owned())
            ]
        );
        assert!(EventFilter::default().query_pairs().is_empty());
    }

    #[test]
    fn payloads_and_keys_do_not_print() {
        let body = NewEvent {
            event: "user.signup".into(),
            payload: serde_json::from_value(json!({"password": "hunter2"})).unwrap(),
            resource: None,
            resource_id: None,
            workspace: None,
        };
        let text = format!("{body:?}");
        assert!(
            text.contains("password") && !text.contains("hunter2"),
            "{text}"
        );
        let key = IngestKey::new(" mesh_pub_a_b_c\n");
        assert_eq!(key.expose(), "mesh_pub_a_b_c");
        assert!(!format!("{key:?}").contains("mesh_pub"));
    }
}
