//! Golden-fixture check of the wire types against `emulator/golden/*.json` (hand-written from
//! the contract by the emulator's author): every response decodes into our types, every
//! request our types can express serializes back to exactly the fixture, and every error body
//! classifies as its status says.

#![cfg(test)]
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::calls::routes;
use super::error::{ApiError, Endpoint, Method};
use super::response::classify_status;
use super::types::{
    Connection, ConnectionEnvelope, CreateConnection, CreateRule, CreateWorkspace,
    DeleteConnection, DeletedConnection, DeletedRule, Integration, Page, Rule, RuleEnvelope,
    RuleFilter, UpdateConnection, UpdateWorkspace, Workspace, WorkspaceDetail, WorkspaceEnvelope,
};

/// Fixtures for operations the client deliberately does not implement (not needed by the
/// operator) or that only exercise server behaviour. Their error bodies are still checked.
const NOT_CLIENT_OPERATIONS: &[&str] = &[
    "connections.actions.json",
    "connections.fields.json",
    "workspaces.event_types.list.json",
    "workspaces.resources.list.json",
];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../emulator/golden")
}

/// Which client operation a fixture exercises, from its file name.
fn operation(file: &str) -> Option<(Method, &'static str)> {
    let table: &[(&str, Method, &str)] = &[
        ("workspaces.list", Method::Get, routes::WORKSPACES),
        ("workspaces.get", Method::Get, routes::WORKSPACE),
        ("workspaces.create", Method::Post, routes::WORKSPACES),
        ("workspaces.update", Method::Put, routes::WORKSPACE),
        (
            "workspaces.connections.list",
            Method::Get,
            routes::WORKSPACE_CONNECTIONS,
        ),
        (
            "workspaces.rules.list",
            Method::Get,
            routes::WORKSPACE_RULES,
        ),
        ("connections.list", Method::Get, routes::CONNECTIONS),
        ("connections.get", Method::Get, routes::CONNECTION),
        ("connections.create", Method::Post, routes::CONNECTIONS),
        ("connections.update", Method::Put, routes::CONNECTION),
        ("connections.delete", Method::Delete, routes::CONNECTION),
        ("rules.list", Method::Get, routes::RULES),
        ("rules.get", Method::Get, routes::RULE),
        ("rules.create", Method::Post, routes::RULES),
        ("rules.delete", Method::Delete, routes::RULE),
        ("integrations.list", Method::Get, routes::INTEGRATIONS),
    ];
    table
        .iter()
        .find(|(prefix, ..)| {
            file.strip_prefix(prefix)
                .is_some_and(|rest| rest == ".json" || rest.starts_with('.'))
        })
        // `workspaces.connections.list` must not be taken for `workspaces.c…` of another op.
        .map(|(_, m, r)| (*m, *r))
}

/// True when `path` (no query) fills `template`'s `{param}` segments with one segment each.
fn matches_template(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

fn decode<T: DeserializeOwned>(file: &str, v: &Value) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{file}: response does not decode: {e}\n{v:#}"))
}

/// Deserializes a fixture request into our request type and checks that serializing it gives
/// the fixture back. Returns false when the fixture is not expressible (a deliberately bad
/// body, which must then be a 400/422 case).
fn request_round_trips<T: DeserializeOwned + Serialize>(file: &str, req: &Value) -> bool {
    let Ok(typed) = serde_json::from_value::<T>(req.clone()) else {
        return false;
    };
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, req,
        "{file}: our serialization differs from the fixture request"
    );
    true
}

fn check_success(file: &str, method: Method, route: &str, case: &Value) {
    let resp = &case["response"];
    match (method, route) {
        (Method::Get, routes::WORKSPACES) => {
            let page: Page<Workspace> = decode(file, resp);
            assert!(!page.records.is_empty(), "{file}");
        }
        (Method::Get, routes::WORKSPACE) => {
            let ws: WorkspaceDetail = decode(file, resp);
            assert!(
                ws.publishable_key.public_key.starts_with("mesh_pub_"),
                "{file}"
            );
        }
        (Method::Post, routes::WORKSPACES) => {
            let _: WorkspaceEnvelope = decode(file, resp);
        }
        (Method::Put, routes::WORKSPACE) => {
            let ws: Workspace = decode(file, resp);
            assert_eq!(
                ws.description.is_none(),
                resp["description"].is_null(),
                "{file}"
            );
        }
        (Method::Get, routes::WORKSPACE_CONNECTIONS | routes::CONNECTIONS) => {
            let _: Page<Connection> = decode(file, resp);
        }
        (Method::Get, routes::WORKSPACE_RULES | routes::RULES) => {
            let page: Page<Rule> = decode(file, resp);
            assert!(page.records.iter().all(|r| r.action().is_some()), "{file}");
        }
        (Method::Get, routes::CONNECTION) => {
            let _: Connection = decode(file, resp);
        }
        (Method::Post, routes::CONNECTIONS) => {
            let _: ConnectionEnvelope = decode(file, resp);
        }
        (Method::Put, routes::CONNECTION) => {
            let _: Connection = decode(file, resp);
        }
        (Method::Delete, routes::CONNECTION) => {
            let _: DeletedConnection = decode(file, resp);
        }
        (Method::Get, routes::RULE) => {
            let _: Rule = decode(file, resp);
        }
        (Method::Post, routes::RULES) => {
            let _: RuleEnvelope = decode(file, resp);
        }
        (Method::Delete, routes::RULE) => {
            let _: DeletedRule = decode(file, resp);
        }
        (Method::Get, routes::INTEGRATIONS) => {
            let page: Page<Integration> = decode(file, resp);
            // Every type the catalog lists is one this client knows by name.
            for i in &page.records {
                assert!(
                    !matches!(i.kind, super::types::IntegrationType::Other(_)),
                    "{file}: {:?}",
                    i.kind
                );
            }
        }
        other => panic!("{file}: no response type for {other:?}"),
    }
}

/// Checks the request body (and query) of a case against our request types.
fn check_request(file: &str, method: Method, route: &str, case: &Value) {
    let req = &case["request"];
    let status = case["response_status"].as_u64().unwrap();
    let expressible = match (method, route) {
        (Method::Post, routes::WORKSPACES) => request_round_trips::<CreateWorkspace>(file, req),
        (Method::Put, routes::WORKSPACE) => request_round_trips::<UpdateWorkspace>(file, req),
        (Method::Post, routes::CONNECTIONS) => request_round_trips::<CreateConnection>(file, req),
        (Method::Put, routes::CONNECTION) => request_round_trips::<UpdateConnection>(file, req),
        (Method::Delete, routes::CONNECTION) => request_round_trips::<DeleteConnection>(file, req),
        (Method::Post, routes::RULES) => request_round_trips::<CreateRule>(file, req),
        // Reads and rule deletes send no body.
        _ => {
            assert!(
                req.is_null(),
                "{file}: unexpected body for {method} {route}"
            );
            true
        }
    };
    assert!(
        expressible || matches!(status, 400 | 422),
        "{file}: a request our types cannot express must be a validation case"
    );

    let path = case["path"].as_str().unwrap();
    if let Some((_, query)) = path.split_once('?') {
        let mut filter = RuleFilter::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "event" => &mut filter.event,
                "resource" => &mut filter.resource,
                "resource_id" => &mut filter.resource_id,
                other => panic!("{file}: query parameter {other} is unknown to the client"),
            };
            *slot = Some(v.into_owned());
        }
        let ours: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(filter.query_pairs())
            .finish();
        assert_eq!(ours, query, "{file}: query string differs");
    }
}

fn check_error(file: &str, route: &'static str, case: &Value) {
    let status = u16::try_from(case["response_status"].as_u64().unwrap()).unwrap();
    let body = serde_json::to_vec(&case["response"]).unwrap();
    let endpoint = Endpoint {
        method: Method::Get,
        route,
    };
    let err = classify_status(endpoint, status, &body, None, false);
    let expected = match status {
        400 | 422 => "Invalid",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        _ => "Unexpected",
    };
    assert!(
        format!("{err:?}").starts_with(expected),
        "{file}: {status} classified as {err:?}"
    );
    let api_message = case["response"]["message"].as_str().unwrap();
    assert!(
        err.to_string().contains(api_message),
        "{file}: message lost: {err}"
    );
    if let ApiError::Invalid { fields, .. } = &err {
        let listed = case["response"]["error"]["data"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(fields.len(), listed, "{file}: field list lost");
    }
}

#[test]
fn golden_fixtures_match_the_client_wire_types() {
    let dir = golden_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && n != "seed.json")
        .collect();
    files.sort();
    let mut covered = HashSet::new();
    let mut skipped = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let case: Value = serde_json::from_str(&text).unwrap();
        let status = case["response_status"].as_u64().unwrap();
        let method = case["method"].as_str().unwrap();
        let path = case["path"].as_str().unwrap().split('?').next().unwrap();
        match operation(file) {
            Some((m, route)) => {
                assert_eq!(m.as_str(), method, "{file}: method");
                assert!(matches_template(route, path), "{file}: {path} vs {route}");
                if !case["request"].is_string() {
                    check_request(file, m, route, &case);
                }
                if (200..300).contains(&status) {
                    check_success(file, m, route, &case);
                } else {
                    check_error(file, route, &case);
                }
                covered.insert((m, route));
            }
            None if status >= 400 => check_error(file, "(not a client operation)", &case),
            None => {
                skipped.insert(file.as_str());
            }
        }
    }
    assert_eq!(
        skipped,
        NOT_CLIENT_OPERATIONS.iter().copied().collect(),
        "a fixture for an operation the client does not model appeared or vanished"
    );
    // Every client operation has at least one fixture.
    assert_eq!(covered.len(), 16, "covered: {covered:?}");
}

#[test]
fn operation_lookup_respects_segment_boundaries() {
    assert_eq!(
        operation("workspaces.connections.list.json"),
        Some((Method::Get, routes::WORKSPACE_CONNECTIONS))
    );
    assert_eq!(
        operation("workspaces.create.conflict.json"),
        Some((Method::Post, routes::WORKSPACES))
    );
    assert_eq!(operation("workspaces.delete.method_not_allowed.json"), None);
    assert!(matches_template(
        routes::WORKSPACE,
        "/api/v1/workspaces/abc"
    ));
    assert!(!matches_template(routes::WORKSPACE, "/api/v1/workspaces"));
}
