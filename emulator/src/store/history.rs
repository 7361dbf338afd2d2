//! Event history as stored: an ingested [`Event`], its per-rule [`RuleEvent`]s (one per matching
//! rule, the unit of delivery and retry) and each delivery [`Attempt`], with their wire shapes
//! (`emulator/README.md`, "Events and delivery") and the rule that derives an event's status
//! from its rule events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::model::ts;

/// Status of an event or a rule event (the four classic values of the v1 wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted, no attempt started yet.
    Pending,
    /// At least one attempt started, not finished (retries waiting included).
    Processing,
    /// Delivered (for an event: every rule event delivered).
    Completed,
    /// Gave up (for an event: every rule event finished and at least one failed).
    Failed,
}

impl Status {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    /// Completed or failed.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }
}

/// Status filter values accepted on event lists: the four emitted plus the two newer ones
/// (`retrying`, `canceled`), which match nothing because they are never emitted.
pub const STATUS_FILTERS: [&str; 6] = [
    "pending",
    "processing",
    "retrying",
    "completed",
    "failed",
    "canceled",
];

/// One delivery attempt of a rule event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// UUID.
    pub id: Uuid,
    /// 1-based, across automatic and manual retries.
    pub number: u32,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub completed_at: DateTime<Utc>,
    /// `delivered`, `rejected_client_error`, `rejected_server_error`, `rate_limited`,
    /// `auth_failed`, `timeout`, `network_error`, `mapping_error`, `internal_error`.
    pub outcome_code: String,
    /// Short result text.
    pub message: String,
    /// HTTP status of the destination, when one answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
}

impl Attempt {
    /// Wire shape of `GET …/attempts`.
    pub fn to_wire(&self, ev: &Event, re: &RuleEvent) -> Value {
        let duration = (self.completed_at - self.started_at)
            .num_milliseconds()
            .max(0);
        json!({
            "id": self.id, "attempt_number": self.number, "event_id": ev.id, "rule": re.rule,
            "rule_event_id": re.id, "connection": re.connection,
            "outcome_code": self.outcome_code, "message": self.message,
            "response_status": self.response_status, "started_at": ts(&self.started_at),
            "completed_at": ts(&self.completed_at), "duration_ms": duration,
        })
    }
}

/// The delivery of one event through one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEvent {
    /// UUID.
    pub id: Uuid,
    /// Rule UUID.
    pub rule: Uuid,
    /// Connection UUID.
    pub connection: Uuid,
    /// Integration type of the connection.
    pub integration_type: String,
    /// Status.
    pub status: Status,
    /// Attempts made so far.
    pub attempt_count: u32,
    /// First attempt start.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it became terminal.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Message of the last failed attempt.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// An attempt is running now.
    #[serde(default)]
    pub in_flight: bool,
    /// When the next automatic attempt is due.
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Attempts left in the current cycle (automatic or manual retry).
    #[serde(default)]
    pub attempts_left: u32,
    /// Bumped by a manual retry so a sleeping automatic retry knows it was superseded.
    #[serde(default)]
    pub generation: u64,
}

impl RuleEvent {
    /// Wire shape of a RuleEvent (`emulator/README.md`, "Events and delivery").
    pub fn to_wire(&self, ev: &Event) -> Value {
        let mut v = json!({
            "id": self.id, "type": "rule", "workspace": ev.workspace, "event": ev.event,
            "event_id": ev.id, "connection": self.connection, "rule": self.rule,
            "integration_type": self.integration_type, "status": self.status.as_str(),
            "attempt_count": self.attempt_count, "created_by": ev.created_by,
            "created_at": ts(&self.created_at),
        });
        if let Some(r) = &ev.resource {
            v["resource"] = json!(r);
        }
        if let Some(r) = &ev.resource_id {
            v["resource_id"] = json!(r);
        }
        if let Some(t) = &self.started_at {
            v["started_at"] = json!(ts(t));
        }
        if let Some(t) = &self.completed_at {
            v["completed_at"] = json!(ts(t));
        }
        if let Some(e) = &self.last_error {
            v["last_error"] = json!(e);
        }
        v
    }
}

/// An ingested event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUID.
    pub id: Uuid,
    /// Insertion order (history key and cursor position).
    pub seq: u64,
    /// Owning organization.
    pub org_id: String,
    /// Workspace UUID.
    pub workspace: Uuid,
    /// Event type key.
    pub event: String,
    /// Optional resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Optional resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The payload object as sent.
    pub payload: Map<String, Value>,
    /// Derived from the rule events ([`Event::refresh_status`]).
    pub status: Status,
    /// First attempt start (or ingestion time when nothing matched).
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When every rule event became terminal.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// User id of the machine key, or `publishable_key`.
    pub created_by: String,
    /// Ingestion time.
    pub created_at: DateTime<Utc>,
    /// One per matching rule.
    pub rule_events: Vec<RuleEvent>,
}

impl Event {
    /// The 201 answer of ingestion: `{id, type, event, workspace, created_by, created_at,
    /// resource?, resource_id?}`.
    pub fn to_created_wire(&self) -> Value {
        let mut v = json!({
            "id": self.id, "type": "event", "event": self.event, "workspace": self.workspace,
            "created_by": self.created_by, "created_at": ts(&self.created_at),
        });
        if let Some(r) = &self.resource {
            v["resource"] = json!(r);
        }
        if let Some(r) = &self.resource_id {
            v["resource_id"] = json!(r);
        }
        v
    }

    /// List/get shape with counters and `rule_events`; `with_payload` adds `payload`.
    pub fn to_wire(&self, with_payload: bool) -> Value {
        let mut v = self.to_created_wire();
        v["status"] = json!(self.status.as_str());
        v["total_rules"] = json!(self.rule_events.len());
        v["completed_count"] = json!(self.count(Status::Completed));
        v["failed_count"] = json!(self.count(Status::Failed));
        if let Some(t) = &self.started_at {
            v["started_at"] = json!(ts(t));
        }
        if let Some(t) = &self.completed_at {
            v["completed_at"] = json!(ts(t));
        }
        v["rule_events"] = Value::Array(self.rule_events.iter().map(|r| r.to_wire(self)).collect());
        if with_payload {
            v["payload"] = Value::Object(self.payload.clone());
        }
        v
    }

    fn count(&self, s: Status) -> usize {
        self.rule_events.iter().filter(|r| r.status == s).count()
    }

    /// Re-derives `status`, `started_at` and `completed_at` from the rule events: no rule →
    /// completed at once; all terminal → failed if any failed, else completed; any attempt
    /// started → processing; else pending.
    pub fn refresh_status(&mut self, now: DateTime<Utc>) {
        if self.rule_events.is_empty() {
            self.status = Status::Completed;
            self.started_at.get_or_insert(self.created_at);
            self.completed_at.get_or_insert(self.created_at);
            return;
        }
        if self.started_at.is_none() {
            self.started_at = self.rule_events.iter().filter_map(|r| r.started_at).min();
        }
        if self.rule_events.iter().all(|r| r.status.is_terminal()) {
            self.status = if self.count(Status::Failed) > 0 {
                Status::Failed
            } else {
                Status::Completed
            };
            if self.completed_at.is_none() {
                self.completed_at = Some(now);
            }
        } else {
            self.completed_at = None;
            self.status = if self.rule_events.iter().any(|r| r.status != Status::Pending) {
                Status::Processing
            } else {
                Status::Pending
            };
        }
    }

    /// Whether the event passes the list filters of `GET /events`.
    pub fn matches(
        &self,
        event: Option<&str>,
        resource: Option<&str>,
        resource_id: Option<&str>,
        status: Option<&str>,
    ) -> bool {
        event.is_none_or(|e| self.event == e)
            && resource.is_none_or(|r| self.resource.as_deref() == Some(r))
            && resource_id.is_none_or(|r| self.resource_id.as_deref() == Some(r))
            && status.is_none_or(|s| self.status.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_event(status: Status) -> RuleEvent {
        RuleEvent {
            id: Uuid::new_v4(),
            rule: Uuid::new_v4(),
            connection: Uuid::new_v4(),
            integration_type: "webhook".into(),
            status,
            attempt_count: 0,
            started_at: None,
            completed_at: None,
            last_error: None,
            created_at: Utc::now(),
            attempts: Vec::new(),
            in_flight: false,
            next_attempt_at: None,
            attempts_left: 1,
            generation: 0,
        }
    }

    fn event(rules: Vec<RuleEvent>) -> Event {
        Event {
            id: Uuid::new_v4(),
            seq: 1,
            org_id: "o".into(),
            workspace: Uuid::new_v4(),
            event: "user.signup".into(),
            resource: None,
            resource_id: None,
            payload: Map::new(),
            status: Status::Pending,
            started_at: None,
            completed_at: None,
            created_by: "u".into(),
            created_at: Utc::now(),
            rule_events: rules,
        }
    }

    #[test]
    fn status_derivation() {
        let now = Utc::now();
        let mut e = event(vec![]);
        e.refresh_status(now);
        assert_eq!(e.status, Status::Completed);
        let mut e = event(vec![
            rule_event(Status::Pending),
            rule_event(Status::Pending),
        ]);
        e.refresh_status(now);
        assert_eq!(e.status, Status::Pending);
        e.rule_events[0].status = Status::Processing;
        e.refresh_status(now);
        assert_eq!(e.status, Status::Processing);
        e.rule_events[0].status = Status::Completed;
        e.rule_events[1].status = Status::Failed;
        e.refresh_status(now);
        assert_eq!(e.status, Status::Failed);
        assert!(e.completed_at.is_some());
        e.rule_events[1].status = Status::Completed;
        e.completed_at = None;
        e.refresh_status(now);
        assert_eq!(e.status, Status::Completed);
        let w = e.to_wire(false);
        assert_eq!(w["total_rules"], 2);
        assert_eq!(w["completed_count"], 2);
        assert_eq!(w["failed_count"], 0);
        assert!(w.get("payload").is_none());
    }
}
