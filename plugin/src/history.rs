//! Delivery history from Meshes, shaped for display: one [`Delivery`] per (event, rule), with
//! the outcome a person cares about (delivered / failed with its outcome code / pending) and,
//! on request, every attempt. Payloads are never fetched: the event calls of the client crate
//! cannot return them.

use chrono::{DateTime, Utc};
use meshes_client::events::{Attempt, DeliveryStatus, Event, RuleEvent};
use meshes_client::{ApiError, Credentials, MeshesEvents};
use serde::Serialize;

/// What became of one event for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Delivered.
    Delivered,
    /// Given up after its attempts.
    Failed,
    /// Not finished yet (no attempt, an attempt running, or a retry scheduled).
    Pending,
    /// Stopped by a cancel call.
    Canceled,
}

impl Outcome {
    /// The word shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
            Outcome::Canceled => "canceled",
        }
    }

    /// From a rule event's status.
    pub fn of(status: &DeliveryStatus) -> Outcome {
        match status {
            DeliveryStatus::Completed => Outcome::Delivered,
            DeliveryStatus::Failed => Outcome::Failed,
            DeliveryStatus::Canceled => Outcome::Canceled,
            _ => Outcome::Pending,
        }
    }
}

/// One attempt as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// 1-based number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// The outcome code (`delivered`, `rejected_server_error`, `network_error`, …).
    pub outcome_code: String,
    /// The destination's HTTP status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Meshes' short result text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Duration in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        AttemptView {
            number: a.attempt_number,
            outcome_code: a.outcome_code.as_str().to_owned(),
            response_status: a.response_status,
            message: a.message.clone(),
            duration_ms: a.duration_ms,
            started_at: a.started_at,
        }
    }
}

/// One event through one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Meshes event ID.
    pub event_id: String,
    /// Event type.
    pub event: String,
    /// When Meshes received it.
    pub received_at: DateTime<Utc>,
    /// Meshes rule ID.
    pub rule_id: String,
    /// The MeshesRule it maps to, when one in view has that ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Meshes connection ID.
    pub connection_id: String,
    /// Delivered / failed / pending / canceled.
    pub outcome: Outcome,
    /// Meshes' status word (`completed`, `processing`, …).
    pub status: String,
    /// Attempts made.
    pub attempt_count: u32,
    /// The last attempt's outcome code, when there was an attempt and it was fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_code: Option<String>,
    /// The last attempt's response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Every attempt, oldest first (only where asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptView>,
}

impl Delivery {
    /// The compact form used in the tree: `delivered`, `failed:rejected_server_error(500)`,
    /// `pending`.
    pub fn short(&self) -> String {
        match (&self.outcome, &self.outcome_code) {
            (Outcome::Failed, Some(code)) => match self.response_status {
                Some(s) => format!("failed:{code}({s})"),
                None => format!("failed:{code}"),
            },
            (o, _) => o.as_str().to_owned(),
        }
    }
}

/// Builds the view of `re` (a rule event of `ev`). With `all_attempts`, every attempt is
/// fetched; otherwise only a failed delivery's attempts are (for its outcome code).
pub async fn describe(
    api: &dyn MeshesEvents,
    creds: &Credentials,
    ev: &Event,
    re: &RuleEvent,
    all_attempts: bool,
) -> Result<Delivery, ApiError> {
    let outcome = Outcome::of(&re.status);
    let fetch = re.attempt_count > 0 && (all_attempts || outcome == Outcome::Failed);
    let attempts: Vec<AttemptView> = if fetch {
        api.list_attempts(creds, &ev.id, &re.rule)
            .await?
            .iter()
            .map(AttemptView::from)
            .collect()
    } else {
        Vec::new()
    };
    let last = attempts.last();
    Ok(Delivery {
        event_id: ev.id.clone(),
        event: ev.event.clone(),
        received_at: ev.created_at,
        rule_id: re.rule.clone(),
        rule: None,
        connection_id: re.connection.clone(),
        outcome,
        status: re.status.as_str().to_owned(),
        attempt_count: re.attempt_count,
        outcome_code: last.map(|a| a.outcome_code.clone()),
        response_status: last.and_then(|a| a.response_status),
        attempts: if all_attempts { attempts } else { Vec::new() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(outcome: Outcome, code: Option<&str>, status: Option<u16>) -> Delivery {
        Delivery {
            event_id: "e".into(),
            event: "x".into(),
            received_at: DateTime::<Utc>::UNIX_EPOCH,
            rule_id: "r".into(),
            rule: None,
            connection_id: "c".into(),
            outcome,
            status: String::new(),
            attempt_count: 1,
            outcome_code: code.map(Into::into),
            response_status: status,
            attempts: Vec::new(),
        }
    }

    #[test]
    fn short_forms() {
        assert_eq!(
            delivery(Outcome::Delivered, Some("delivered"), Some(200)).short(),
            "delivered"
        );
        assert_eq!(
            delivery(Outcome::Failed, Some("rejected_server_error"), Some(500)).short(),
            "failed:rejected_server_error(500)"
        );
        assert_eq!(
            delivery(Outcome::Failed, Some("network_error"), None).short(),
            "failed:network_error"
        );
        assert_eq!(delivery(Outcome::Pending, None, None).short(), "pending");
        assert_eq!(Outcome::of(&DeliveryStatus::Processing), Outcome::Pending);
    }
}
