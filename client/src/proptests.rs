//! Property tests (proptest) of what crosses the wire.
//!
//! - **Decoding never panics:** arbitrary JSON (biased towards the contract's member names
//!   and value shapes, so that near-valid documents are common) and arbitrary bytes, decoded
//!   as every wire type of [`crate::types`], and through the error-body classifier and the
//!   `Retry-After` parser.
//! - **Valid shapes round-trip:** every wire type, generated valid, serializes and decodes
//!   back to itself.
//! - **Request builders:** arbitrary IDs, rule filters, idempotency keys and bodies, sent
//!   through the real client to the scripted server, arrive verbatim: one path segment per
//!   ID (percent-decoding to the ID), the filters as decoded query pairs, the body as JSON
//!   equal to what was passed; `""`, `.` and `..` are never sent.

#![cfg(test)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use chrono::{DateTime, Utc};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::calls::routes;
use super::error::{Endpoint, Method};
use super::response::{classify_status, parse_error_body, parse_retry_after};
use super::testserver::TestServer;
use super::types::{
    AuthenticationField, AuthenticationType, Connection, ConnectionEnvelope, CreateConnection,
    CreateRule, CreateWorkspace, DeleteConnection, DeletedConnection, DeletedRule, InactiveReason,
    Integration, IntegrationAction, IntegrationAuthentication, IntegrationType, JsonObject, Page,
    PublishableKey, Rule, RuleEnvelope, RuleFilter, UpdateConnection, UpdateWorkspace, Workspace,
    WorkspaceDetail, WorkspaceEnvelope,
};
use super::{ApiError, ClientConfig, Credentials, ErrorClass, MeshesApi, MeshesClient};

/// Member names of the contract: arbitrary objects use them often.
const NAMES: &[&str] = &[
    "id",
    "name",
    "description",
    "created_at",
    "updated_at",
    "workspace",
    "type",
    "metadata",
    "action_data",
    "active",
    "inactive_reason",
    "hidden",
    "created_by",
    "connection",
    "event",
    "resource",
    "resource_id",
    "count",
    "limit",
    "next_cursor",
    "records",
    "publishable_key",
    "public_key",
    "authentication",
    "actions",
    "fields",
    "oauth",
    "key",
    "label",
    "noun",
    "required",
    "message",
    "error",
    "data",
    "param",
    "msg",
    "force_delete",
    "rule",
];

/// String values of the contract's shapes (timestamps, enum spellings).
const STRINGS: &[&str] = &[
    "2026-01-01T00:00:00.000Z",
    "2026-13-01T00:00:00Z",
    "webhook",
    "customer_io",
    "api_key",
    "oauth",
    "password",
    "authentication_invalid",
    "",
    "w1",
    "mesh_pub_x",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Any JSON value, floats and extreme numbers included.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // non-finite becomes null
        proptest::sample::select(STRINGS).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(arb_key(), inner, 0..10).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON that round-trips exactly: no floats (serde_json's default parser may differ from
/// the printer in the last bit).
fn exact_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn exact_object() -> impl Strategy<Value = JsonObject> {
    btree_map(any::<String>(), exact_json(), 0..5).prop_map(|m| m.into_iter().collect())
}

/// A non-null value (an `Option<Value>` of `Some(null)` reads back as `None`, by design).
fn some_value() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(exact_json().prop_filter("not null", |v| !v.is_null()))
}

/// Extra members of a flattened type: names that cannot collide with its own fields.
fn extra_object() -> impl Strategy<Value = JsonObject> {
    btree_map("x-[a-z]{1,8}", exact_json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
}

fn arb_type() -> impl Strategy<Value = IntegrationType> {
    prop_oneof![
        proptest::sample::select(IntegrationType::KNOWN),
        any::<String>().prop_map(IntegrationType::from),
    ]
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<String>())
}

fn arb_workspace() -> impl Strategy<Value = Workspace> {
    (
        any::<String>(),
        any::<String>(),
        opt_string(),
        arb_time(),
        arb_time(),
    )
        .prop_map(
            |(id, name, description, created_at, updated_at)| Workspace {
                id,
                name,
                description,
                created_at,
                updated_at,
            },
        )
}

fn arb_publishable_key() -> impl Strategy<Value = PublishableKey> {
    (any::<String>(), any::<String>())
        .prop_map(|(name, public_key)| PublishableKey { name, public_key })
}

fn arb_connection() -> impl Strategy<Value = Connection> {
    (
        (
            any::<String>(),
            any::<String>(),
            arb_type(),
            any::<String>(),
        ),
        (
            exact_object(),
            some_value(),
            proptest::option::of(any::<bool>()),
        ),
        (
            proptest::option::of(any::<String>().prop_map(InactiveReason::from)),
            proptest::option::of(any::<bool>()),
            opt_string(),
        ),
        (arb_time(), arb_time()),
    )
        .prop_map(
            |(
                (id, workspace, kind, name),
                (metadata, action_data, active),
                (inactive_reason, hidden, created_by),
                (created_at, updated_at),
            )| Connection {
                id,
                workspace,
                kind,
                name,
                metadata,
                action_data,
                active,
                inactive_reason,
                hidden,
                created_by,
                created_at,
                updated_at,
            },
        )
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            arb_type(),
        ),
        (any::<String>(), opt_string(), opt_string(), exact_object()),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            opt_string(),
        ),
        (arb_time(), arb_time()),
    )
        .prop_map(
            |(
                (id, workspace, connection, kind),
                (event, resource, resource_id, metadata),
                (active, hidden, created_by),
                (created_at, updated_at),
            )| Rule {
                id,
                workspace,
                connection,
                kind,
                event,
                resource,
                resource_id,
                metadata,
                active,
                hidden,
                created_by,
                created_at,
                updated_at,
            },
        )
}

fn arb_integration() -> impl Strategy<Value = Integration> {
    let field = (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        proptest::option::of(any::<bool>()),
        extra_object(),
    )
        .prop_map(|(key, label, kind, required, extra)| AuthenticationField {
            key,
            label,
            kind,
            required,
            extra,
        });
    let auth = (
        any::<String>().prop_map(AuthenticationType::from),
        proptest::option::of(vec(field, 0..3)),
        some_value(),
    )
        .prop_map(|(kind, fields, oauth)| IntegrationAuthentication {
            kind,
            fields,
            oauth,
        });
    let action = (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        proptest::option::of(vec(any::<String>(), 0..3)),
        extra_object(),
    )
        .prop_map(|(key, label, noun, fields, extra)| IntegrationAction {
            key,
            label,
            noun,
            fields,
            extra,
        });
    (
        any::<String>(),
        arb_type(),
        auth,
        btree_map(any::<String>(), action, 0..3),
    )
        .prop_map(|(name, kind, authentication, actions)| Integration {
            name,
            kind,
            authentication,
            actions: actions.into_iter().collect::<BTreeMap<_, _>>(),
        })
}

fn arb_page<T: Debug>(item: impl Strategy<Value = T>) -> impl Strategy<Value = Page<T>> {
    (any::<u64>(), any::<u64>(), opt_string(), vec(item, 0..3)).prop_map(
        |(count, limit, next_cursor, records)| Page {
            count,
            limit,
            next_cursor,
            records,
        },
    )
}

fn arb_create_rule() -> impl Strategy<Value = CreateRule> {
    (
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            exact_object(),
        ),
        (opt_string(), opt_string()),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (workspace, connection, event, metadata),
                (resource, resource_id),
                (active, hidden),
            )| {
                CreateRule {
                    workspace,
                    connection,
                    event,
                    metadata,
                    resource,
                    resource_id,
                    active,
                    hidden,
                }
            },
        )
}

fn arb_create_connection() -> impl Strategy<Value = CreateConnection> {
    (
        any::<String>(),
        arb_type(),
        any::<String>(),
        exact_object(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(workspace, kind, name, metadata, hidden)| CreateConnection {
                workspace,
                kind,
                name,
                metadata,
                hidden,
            },
        )
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Decodes `bytes` as `T`: any outcome but a panic is fine.
fn decode_as<T: DeserializeOwned>(bytes: &[u8]) {
    let _ = serde_json::from_slice::<T>(bytes);
}

/// Decodes the bytes as every wire type, response and request alike.
fn decode_everything(bytes: &[u8]) {
    decode_as::<Page<Workspace>>(bytes);
    decode_as::<Page<Connection>>(bytes);
    decode_as::<Page<Rule>>(bytes);
    decode_as::<Page<Integration>>(bytes);
    decode_as::<Workspace>(bytes);
    decode_as::<WorkspaceDetail>(bytes);
    decode_as::<WorkspaceEnvelope>(bytes);
    decode_as::<PublishableKey>(bytes);
    decode_as::<Connection>(bytes);
    decode_as::<ConnectionEnvelope>(bytes);
    decode_as::<DeletedConnection>(bytes);
    decode_as::<Rule>(bytes);
    decode_as::<RuleEnvelope>(bytes);
    decode_as::<DeletedRule>(bytes);
    decode_as::<Integration>(bytes);
    decode_as::<IntegrationAuthentication>(bytes);
    decode_as::<AuthenticationField>(bytes);
    decode_as::<IntegrationAction>(bytes);
    decode_as::<IntegrationType>(bytes);
    decode_as::<InactiveReason>(bytes);
    decode_as::<AuthenticationType>(bytes);
    decode_as::<CreateWorkspace>(bytes);
    decode_as::<UpdateWorkspace>(bytes);
    decode_as::<CreateConnection>(bytes);
    decode_as::<UpdateConnection>(bytes);
    decode_as::<DeleteConnection>(bytes);
    decode_as::<CreateRule>(bytes);
}

const EP: Endpoint = Endpoint {
    method: Method::Post,
    route: routes::CONNECTIONS,
};

/// The error path: any status, any body, redacted or not, is classified without a panic,
/// keeps the status (410 reads as 404), and never quotes a redacted body.
fn classify_anything(status: u16, bytes: &[u8]) {
    let _ = parse_error_body(bytes);
    for redact in [false, true] {
        let err = classify_status(EP, status, bytes, None, redact);
        let _ = (err.class(), err.outcome_unknown(), err.to_string());
        // 410 is reported as 404: `NotFound` has no status field (see `ApiError::status`).
        let want = if status == 410 { 404 } else { status };
        assert_eq!(err.status(), Some(want));
        if redact && let ApiError::Unexpected { excerpt, .. } = &err {
            assert!(excerpt.is_empty());
        }
    }
}

#[test]
fn arbitrary_json_never_panics_any_decoder() {
    runner(512)
        .run(&(arb_json(), 100u16..1000), |(value, status)| {
            let bytes = serde_json::to_vec(&value).unwrap();
            decode_everything(&bytes);
            classify_anything(status, &bytes);
            // The same value wrapped the way responses wrap records.
            let page = serde_json::json!({"count": 1, "limit": 50, "records": [value.clone()]});
            decode_everything(&serde_json::to_vec(&page).unwrap());
            let error = serde_json::json!({"message": "m", "error": {"message": value.clone(), "data": value}});
            classify_anything(status, &serde_json::to_vec(&error).unwrap());
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_never_panic_any_decoder_or_header_parser() {
    runner(512)
        .run(
            &(vec(any::<u8>(), 0..512), 100u16..1000, any::<String>()),
            |(bytes, status, header)| {
                decode_everything(&bytes);
                classify_anything(status, &bytes);
                let now = Utc::now();
                if let Some(d) = parse_retry_after(&header, now) {
                    assert!(d <= super::MAX_RETRY_AFTER);
                }
                if let Some(d) = parse_retry_after(&String::from_utf8_lossy(&bytes), now) {
                    assert!(d <= super::MAX_RETRY_AFTER);
                }
                Ok(())
            },
        )
        .unwrap();
}

/// `Retry-After` is total and bounded: numbers of any size and form, and HTTP dates anywhere
/// in time in all three formats, give at most [`super::MAX_RETRY_AFTER`]; a date reads back
/// as its distance from now, clamped.
#[test]
fn retry_after_is_total_bounded_and_reads_every_date_format() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let max = super::MAX_RETRY_AFTER;
    let numbers = prop_oneof![
        "[0-9]{1,40}",
        r"[-+]?[0-9]{0,25}(\.[0-9]{0,6})?([eE][-+]?[0-9]{1,3})?",
        any::<f64>().prop_map(|f| f.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ];
    runner(1024)
        .run(&numbers, |value| {
            let got = parse_retry_after(&value, Utc::now());
            prop_assert!(got.is_none_or(|d| d <= max), "{} gave {:?}", value, got);
            Ok(())
        })
        .unwrap();
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let now_sys = SystemTime::from(now);
    runner(512)
        .run(&(0u64..253_402_300_799, 0usize..3), |(secs, format)| {
            let at = UNIX_EPOCH + Duration::from_secs(secs);
            let imf = httpdate::fmt_http_date(at);
            let parsed = httpdate::parse_http_date(&imf).unwrap();
            let dt: DateTime<Utc> = parsed.into();
            let text = match format {
                0 => imf,
                // The same instant as asctime and as RFC 850.
                1 => dt.format("%a %b %e %H:%M:%S %Y").to_string(),
                _ => dt.format("%A, %d-%b-%y %H:%M:%S GMT").to_string(),
            };
            let got = parse_retry_after(&text, now);
            if format == 2 && !(1970..2070).contains(&chrono::Datelike::year(&dt)) {
                // RFC 850 has two-digit years: only 1970..=2069 can be expressed.
                prop_assert!(got.is_none_or(|d| d <= max));
                return Ok(());
            }
            let want = at
                .duration_since(now_sys)
                .unwrap_or(Duration::ZERO)
                .min(max);
            prop_assert_eq!(got, Some(want), "{}", text);
            Ok(())
        })
        .unwrap();
}

/// Serializes `value`, decodes it back, and requires equality.
fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = serde_json::to_vec(value).unwrap();
    let back: T = serde_json::from_slice(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(&back, value);
    Ok(())
}

#[test]
fn valid_shapes_round_trip() {
    let mut r = runner(128);
    r.run(&arb_page(arb_workspace()), |v| round_trip(&v))
        .unwrap();
    r.run(
        &(arb_workspace(), arb_publishable_key()),
        |(workspace, publishable_key)| {
            round_trip(&WorkspaceEnvelope {
                workspace: workspace.clone(),
            })?;
            round_trip(&WorkspaceDetail {
                workspace,
                publishable_key,
            })
        },
    )
    .unwrap();
    r.run(&arb_page(arb_connection()), |v| round_trip(&v))
        .unwrap();
    r.run(&arb_connection(), |connection| {
        round_trip(&ConnectionEnvelope { connection })
    })
    .unwrap();
    r.run(&arb_page(arb_rule()), |v| round_trip(&v)).unwrap();
    r.run(&arb_rule(), |rule| round_trip(&RuleEnvelope { rule }))
        .unwrap();
    r.run(&arb_page(arb_integration()), |v| round_trip(&v))
        .unwrap();
    r.run(
        &(
            any::<String>(),
            arb_type(),
            any::<String>(),
            opt_string(),
            opt_string(),
        ),
        |(id, kind, s, resource, resource_id)| {
            round_trip(&DeletedConnection {
                id: id.clone(),
                kind: kind.clone(),
            })?;
            round_trip(&DeletedRule {
                id,
                connection: s.clone(),
                kind,
                event: s,
                resource,
                resource_id,
            })
        },
    )
    .unwrap();
    // Requests.
    r.run(
        &(any::<String>(), opt_string(), any::<bool>()),
        |(name, description, force)| {
            round_trip(&CreateWorkspace {
                name: name.clone(),
                description: description.clone(),
            })?;
            round_trip(&UpdateWorkspace { name, description })?;
            round_trip(&DeleteConnection {
                force_delete: force,
            })
        },
    )
    .unwrap();
    r.run(&arb_create_connection(), |c| {
        round_trip(&UpdateConnection {
            name: c.name.clone(),
            metadata: c.metadata.clone(),
            hidden: c.hidden,
        })?;
        round_trip(&c)
    })
    .unwrap();
    r.run(&arb_create_rule(), |v| round_trip(&v)).unwrap();
    // Enum spellings: any string reads back as the same value and prints verbatim.
    r.run(&any::<String>(), |s| {
        let t = IntegrationType::from(s.as_str());
        prop_assert_eq!(t.as_str(), s.as_str());
        round_trip(&t)?;
        round_trip(&InactiveReason::from(s.as_str()))?;
        round_trip(&AuthenticationType::from(s.as_str()))
    })
    .unwrap();
}

/// IDs: arbitrary strings, plus short ones over the characters that matter to a path.
fn arb_id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        r"[./\\%?#;=&a-z ]{0,5}",
        Just(".".to_owned()),
        Just("..".to_owned()),
    ]
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(hex) = std::str::from_utf8(&b[i + 1..i + 3])
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn request_builders_send_ids_filters_keys_and_bodies_verbatim() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::start());
    let mut cfg = ClientConfig {
        base_url: server.base_url.clone(),
        ..ClientConfig::default()
    };
    cfg.retry.max_attempts = 1;
    cfg.budget.rate_per_second = 100_000.0;
    cfg.budget.burst = 100_000;
    let client = MeshesClient::new(cfg).unwrap();
    let creds = Credentials::new("mk_prop", "prop-secret-abcdefghijklmnop", "org-1").unwrap();
    let filter =
        (opt_string(), opt_string(), opt_string()).prop_map(|(event, resource, resource_id)| {
            RuleFilter {
                event,
                resource,
                resource_id,
            }
        });
    let strategy = (arb_id(), filter, any::<String>(), arb_create_rule());
    runner(96)
        .run(&strategy, |(id, filter, key, rule)| {
            rt.block_on(async {
                let before = server.seen().len();
                let listed = client
                    .list_workspace_rules_page(&creds, &id, &filter, None)
                    .await;
                if id.is_empty() || id == "." || id == ".." {
                    let err = listed.unwrap_err();
                    prop_assert_eq!(err.class(), ErrorClass::NotSent);
                    prop_assert_eq!(server.seen().len(), before, "an invalid ID was sent");
                } else {
                    let seen = server.seen();
                    prop_assert_eq!(seen.len(), before + 1);
                    let sent = &seen[before];
                    let (path, query) = sent.path.split_once('?').unwrap_or((&sent.path, ""));
                    let segments: Vec<&str> = path.split('/').collect();
                    prop_assert_eq!(segments.len(), 6, "{}", path);
                    prop_assert_eq!(&segments[..4], &["", "api", "v1", "workspaces"]);
                    prop_assert_eq!(segments[5], "rules");
                    prop_assert_eq!(percent_decode(segments[4]), id.as_bytes().to_vec());
                    prop_assert!(!segments[4].contains('\\'), "{}", path);
                    let pairs: Vec<(String, String)> =
                        url::form_urlencoded::parse(query.as_bytes())
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                    let want: Vec<(String, String)> = [
                        ("event", &filter.event),
                        ("resource", &filter.resource),
                        ("resource_id", &filter.resource_id),
                    ]
                    .into_iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
                    .collect();
                    prop_assert_eq!(pairs, want);
                }

                // A create: the body arrives as the same JSON; the idempotency key verbatim,
                // or the call is refused unsent when the key cannot be a header value.
                let before = server.seen().len();
                let created = client.create_rule(&creds, &rule, Some(&key)).await;
                let seen = server.seen();
                if seen.len() == before {
                    let err = created.unwrap_err();
                    prop_assert_eq!(err.class(), ErrorClass::NotSent);
                    prop_assert!(reqwest::header::HeaderValue::from_str(&key).is_err());
                } else {
                    let sent = &seen[before];
                    prop_assert_eq!(sent.path.as_str(), "/api/v1/rules");
                    let body: CreateRule = serde_json::from_slice(&sent.body).unwrap();
                    prop_assert_eq!(&body, &rule);
                    prop_assert_eq!(sent.headers["idempotency-key"].as_str(), key.trim());
                }
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn connection_bodies_arrive_verbatim() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::start());
    let mut cfg = ClientConfig {
        base_url: server.base_url.clone(),
        ..ClientConfig::default()
    };
    cfg.budget.rate_per_second = 100_000.0;
    cfg.budget.burst = 100_000;
    let client = MeshesClient::new(cfg).unwrap();
    let creds = Credentials::new("mk_prop", "prop-secret-abcdefghijklmnop", "org-1").unwrap();
    runner(48)
        .run(&(arb_create_connection(), arb_id()), |(body, id)| {
            rt.block_on(async {
                let _ = client.create_connection(&creds, &body, None).await;
                let update = UpdateConnection {
                    name: body.name.clone(),
                    metadata: body.metadata.clone(),
                    hidden: body.hidden,
                };
                let _ = client.update_connection(&creds, &id, &update).await;
                let seen = server.seen();
                let sent = seen.iter().rev().find(|s| s.method == "POST").unwrap();
                let got: CreateConnection = serde_json::from_slice(&sent.body).unwrap();
                prop_assert_eq!(&got, &body);
                if let Some(put) = seen.last().filter(|s| s.method == "PUT") {
                    let got: UpdateConnection = serde_json::from_slice(&put.body).unwrap();
                    prop_assert_eq!(&got, &update);
                }
                Ok(())
            })
        })
        .unwrap();
}
