//! Golden-fixture check of the event wire types against `client/golden/*.json` (hand-written
//! from the contract, see `client/golden/README.md`): every response decodes into our types
//! with the values the fixture holds, the ingestion request round-trips exactly, and the error
//! case classifies as its status says.

#![cfg(test)]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;

use super::error::{Endpoint, ErrorClass, Method};
use super::event_calls::event_routes;
use super::events::{
    Attempt, DeliveryStatus, Event, IngestedEnvelope, NewEvent, OutcomeCode, RuleEvent,
};
use super::response::classify_status;
use super::types::Page;

fn case(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{name}: {e}\n{v:#}"))
}

#[test]
fn every_fixture_in_the_directory_is_checked() {
    let mut files: Vec<String> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".json"))
            .collect();
    files.sort();
    // A fixture added without a test here would otherwise check nothing.
    assert_eq!(
        files,
        vec![
            "events.attempts.list.json",
            "events.get.json",
            "events.ingest.json",
            "events.retry.json",
            "events.retry.too_early.json",
            "workspaces.events.list.json",
        ]
    );
}

#[test]
fn the_history_list_decodes_newest_first_with_its_rule_events() {
    let c = case("workspaces.events.list.json");
    let page: Page<Event> = decode("list", &c["response"]);
    assert_eq!(page.next_cursor.as_deref(), Some("c2VxOjQy"));
    assert_eq!(page.records.len(), 2);
    let [newer, older] = &page.records[..] else {
        panic!()
    };
    assert!(newer.created_at > older.created_at);
    assert_eq!(newer.status, DeliveryStatus::Processing);
    assert_eq!(newer.rule_events[0].status, DeliveryStatus::Pending);
    assert_eq!(older.failed_count, Some(1));
    let failed = &older.rule_events[1];
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempt_count, 5);
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(
        failed.integration_type.as_ref().map(|t| t.as_str()),
        Some("hubspot")
    );
    // Every member we model survives a round trip (nothing silently dropped on the way).
    let back = serde_json::to_value(&page.records[1].rule_events[1]).unwrap();
    for k in [
        "id",
        "event_id",
        "rule",
        "connection",
        "status",
        "attempt_count",
        "last_error",
    ] {
        assert_eq!(
            back[k], c["response"]["records"][1]["rule_events"][1][k],
            "{k}"
        );
    }
}

#[test]
fn get_event_and_retry_decode() {
    let ev: Event = decode("get", &case("events.get.json")["response"]);
    assert_eq!(ev.status, DeliveryStatus::Completed);
    assert_eq!(ev.rule_events.len(), 1);
    let re: RuleEvent = decode("retry", &case("events.retry.json")["response"]);
    assert_eq!(re.status, DeliveryStatus::Pending);
    assert_eq!(re.rule, "7f6e5d4c-0000-4000-8000-0000000b0003");
}

#[test]
fn attempts_decode_with_outcome_codes_and_statuses() {
    let c = case("events.attempts.list.json");
    let page: Page<Attempt> = decode("attempts", &c["response"]);
    let outcomes: Vec<_> = page
        .records
        .iter()
        .map(|a| a.outcome_code.clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            OutcomeCode::RejectedServerError,
            OutcomeCode::Timeout,
            OutcomeCode::NetworkError
        ]
    );
    assert_eq!(page.records[0].response_status, Some(500));
    // `null` and an absent member both mean "no answer".
    assert_eq!(page.records[1].response_status, None);
    assert_eq!(page.records[2].response_status, None);
    assert_eq!(page.records[1].duration_ms, Some(10_000));
}

#[test]
fn the_ingestion_request_round_trips_and_the_answer_decodes() {
    let c = case("events.ingest.json");
    assert_eq!(c["path"], event_routes::EVENTS);
    assert_eq!(c["auth"], "none");
    let body: NewEvent = decode("ingest request", &c["request"]);
    assert_eq!(serde_json::to_value(&body).unwrap(), c["request"]);
    let created: IngestedEnvelope = decode("ingest response", &c["response"]);
    assert_eq!(created.event.resource_id.as_deref(), Some("u-42"));
    assert_eq!(created.event.created_by.as_deref(), Some("publishable_key"));
}

#[test]
fn a_too_early_retry_is_transient() {
    let c = case("events.retry.too_early.json");
    let body = serde_json::to_vec(&c["response"]).unwrap();
    let ep = Endpoint {
        method: Method::Post,
        route: event_routes::RETRY,
    };
    let err = classify_status(ep, 425, &body, None, false);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.to_string().contains("imminent"), "{err}");
}
