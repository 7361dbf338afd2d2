//! Ingestion: auth (publishable key or JWT + workspace), validation, bulk limits and 207
//! per-item results, the events-host listener, and history lists (newest first, filters,
//! pagination).

use std::collections::HashSet;

use meshes_emulator::{Emulator, EmulatorConfig};
use serde_json::{Value, json};

use crate::common::{Api, assert_error_body, parse, start};
use crate::delivery::{emit, publishable_key};

async fn bulk(base: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/events/bulk"))
        .header("X-Meshes-Publishable-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    parse(resp).await
}

fn item(i: usize) -> Value {
    json!({ "event": "page.viewed", "payload": { "n": i } })
}

#[tokio::test]
async fn bulk_accepts_100_refuses_101_and_reports_mixed_items_with_207() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Bulk").await;
    let key = publishable_key(&api, &ws).await;
    let base = emu.events_url();

    let hundred: Vec<Value> = (0..100).map(item).collect();
    let (s, v) = bulk(&base, &key, json!(hundred)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["count"], 100);
    assert!(v.get("error_count").is_none());
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 100);
    let ids: HashSet<_> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 100);
    assert!(records.iter().all(|r| r["workspace"] == ws.as_str()));

    let too_many: Vec<Value> = (0..101).map(item).collect();
    let (s, v) = bulk(&base, &key, json!(too_many)).await;
    assert_eq!(s, 400);
    assert_error_body(&v);
    let (s, _) = bulk(&base, &key, json!([])).await;
    assert_eq!(s, 400);
    let (s, _) = bulk(&base, &key, json!({ "events": [item(0)] })).await;
    assert_eq!(s, 400, "the body is a bare array, not a wrapper");

    let mixed = json!([item(1), { "event": "", "payload": {} }, item(3), "not an object"]);
    let (s, v) = bulk(&base, &key, mixed).await;
    assert_eq!(s, 207, "{v}");
    assert_eq!(v["count"], 2);
    assert_eq!(v["error_count"], 2);
    let r = v["records"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    assert!(r[0]["id"].is_string() && r[2]["id"].is_string());
    assert_eq!(r[1]["index"], 1);
    assert_eq!(r[1]["status"], 400);
    assert_eq!(r[1]["message"], "Bad Request");
    let params: Vec<_> = r[1]["error"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["param"].as_str().unwrap())
        .collect();
    assert!(
        params.contains(&"event") && params.contains(&"payload"),
        "{params:?}"
    );
    assert_eq!(r[3]["index"], 3);

    // History holds exactly the accepted ones: 100 + 2.
    let listed = api.ok("GET", "/api/v1/events?limit=200", None).await;
    assert_eq!(listed["count"], 102);
    assert_eq!(emu.admin().events().len(), 102);
}

#[tokio::test]
async fn ingestion_auth_and_validation() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Ingest Auth").await;
    let other = api.create_workspace("Ingest Other").await;
    let key = publishable_key(&api, &ws).await;
    let base = emu.events_url();
    let good = json!({ "event": "user.signup", "payload": { "email": "a@b.co" } });

    let (s, _) = emit(&base, &key, good.clone()).await;
    assert_eq!(s, 201);
    let (s, v) = emit(&base, "mesh_pub_no_such_key", good.clone()).await;
    assert_eq!(s, 401);
    assert_error_body(&v);
    let (s, _) = parse(
        reqwest::Client::new()
            .post(format!("{base}/events"))
            .json(&good)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401, "no credentials at all");
    // A publishable key does not open any other endpoint.
    let (s, _) = parse(
        reqwest::Client::new()
            .get(format!("{base}/events"))
            .header("X-Meshes-Publishable-Key", &key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 401);
    let mut foreign = good.clone();
    foreign["workspace"] = json!(other);
    let (s, _) = emit(&base, &key, foreign).await;
    assert_eq!(s, 400, "workspace must match the key's");

    // Machine JWT: `workspace` required.
    let (s, v) = api.call("POST", "/api/v1/events", Some(good.clone())).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["data"][0]["param"], "workspace");
    let mut with_ws = good.clone();
    with_ws["workspace"] = json!(ws);
    let (s, v) = api.call("POST", "/api/v1/events", Some(with_ws)).await;
    assert_eq!(s, 201);
    assert_eq!(v["event"]["created_by"].as_str().map(str::len), Some(36));
    let mut unknown = good.clone();
    unknown["workspace"] = json!(uuid::Uuid::new_v4());
    let (s, _) = api.call("POST", "/api/v1/events", Some(unknown)).await;
    assert_eq!(s, 404);

    for bad in [
        json!({ "payload": { "a": 1 } }),
        json!({ "event": "x", "payload": [1] }),
        json!({ "event": "x", "payload": {} }),
        json!({ "event": "x", "payload": { "a": 1 }, "resource_id": "has space" }),
        json!({ "event": "x", "payload": { "a": 1 }, "type": "rule" }),
        json!([good.clone()]),
    ] {
        let (s, v) = emit(&base, &key, bad.clone()).await;
        assert_eq!(s, 400, "{bad} -> {v}");
        assert_error_body(&v);
    }
    // The event type was added to the workspace catalog on first use.
    let types = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}/event-types"), None)
        .await;
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "user.signup")
    );
}

#[tokio::test]
async fn events_host_listener_ingests_and_serves_nothing_else() {
    let emu = Emulator::start(EmulatorConfig {
        events_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let events_url = emu.events_url();
    assert_ne!(events_url, format!("{}/api/v1", emu.base_url()));
    assert!(events_url.ends_with("/api/v1"));
    let api = Api::new(&emu);
    let ws = api.create_workspace("Events Host").await;
    let key = publishable_key(&api, &ws).await;
    let (s, _) = emit(
        &events_url,
        &key,
        json!({ "event": "a.b", "payload": { "x": 1 } }),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = bulk(
        &events_url,
        &key,
        json!([{ "event": "a.b", "payload": { "x": 2 } }]),
    )
    .await;
    assert_eq!(s, 201);
    // Management routes are not on the events host, even with a valid JWT.
    let other = Api {
        base: events_url.trim_end_matches("/api/v1").to_owned(),
        ..api.clone()
    };
    let (s, v) = other.call("GET", "/api/v1/workspaces", None).await;
    assert_eq!(s, 404, "{v}");
    // Both events are in the history served by the management host.
    let listed = api.ok("GET", "/api/v1/events", None).await;
    assert_eq!(listed["count"], 2);
}

#[tokio::test]
async fn history_lists_newest_first_with_filters_and_pagination() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("History").await;
    let ws2 = api.create_workspace("History Two").await;
    let key = publishable_key(&api, &ws).await;
    let key2 = publishable_key(&api, &ws2).await;
    let base = emu.events_url();
    let mut ids = Vec::new();
    for i in 0..7 {
        let name = if i % 2 == 0 {
            "even.happened"
        } else {
            "odd.happened"
        };
        let (_, v) = emit(
            &base,
            &key,
            json!({ "event": name, "resource": "thing", "payload": { "i": i } }),
        )
        .await;
        ids.push(v["event"]["id"].as_str().unwrap().to_owned());
    }
    emit(
        &base,
        &key2,
        json!({ "event": "even.happened", "payload": { "i": 99 } }),
    )
    .await;

    // Walk the workspace's events 3 at a time: newest first, each once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/workspaces/{ws}/events?limit=3&cursor={c}"),
            None => format!("/api/v1/workspaces/{ws}/events?limit=3"),
        };
        let page = api.ok("GET", &path, None).await;
        assert_eq!(page["limit"], 3);
        for r in page["records"].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_owned());
            assert_eq!(r["status"], "completed");
            assert!(r.get("payload").is_none());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let even = api
        .ok("GET", "/api/v1/events?event=even.happened", None)
        .await;
    assert_eq!(even["count"], 5, "4 in ws + 1 in ws2");
    let even_ws = api
        .ok(
            "GET",
            &format!("/api/v1/workspaces/{ws}/events?event=even.happened&resource=thing"),
            None,
        )
        .await;
    assert_eq!(even_ws["count"], 4);
    let pending = api.ok("GET", "/api/v1/events?status=pending", None).await;
    assert_eq!(pending["count"], 0);
    let completed = api.ok("GET", "/api/v1/events?status=completed", None).await;
    assert_eq!(completed["count"], 8);
    let (s, _) = api.call("GET", "/api/v1/events?status=bogus", None).await;
    assert_eq!(s, 400);
    let (s, _) = api.call("GET", "/api/v1/events?limit=201", None).await;
    assert_eq!(s, 400);
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/events/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Another org sees none of it.
    let stranger = emu.admin().add_key(&uuid::Uuid::new_v4().to_string());
    let other = Api::with_creds(&emu, stranger);
    let listed = other.ok("GET", "/api/v1/events", None).await;
    assert_eq!(listed["count"], 0);
    let (s, _) = other
        .call("GET", &format!("/api/v1/events/{}", ids[0]), None)
        .await;
    assert_eq!(s, 404);
}
