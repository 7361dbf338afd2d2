//! Webhook delivery end to end: a real receiver on loopback, the wrapped body, method,
//! headers and HMAC signature it sees, retries with backoff, failure after the last attempt,
//! the manual retry endpoint (and its 425), fan-out, and simulated OAuth delivery.

use std::time::Duration;

use hmac::{Hmac, Mac};
use meshes_emulator::{DeliveryConfig, Emulator, EmulatorConfig, Seed};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::Api;
use crate::receiver::{Receiver, start_delivering};

pub async fn publishable_key(api: &Api, ws: &str) -> String {
    let v = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    v["publishable_key"]["public_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn hook(api: &Api, ws: &str, name: &str, metadata: Value) -> String {
    let v = api
        .ok(
            "POST",
            "/api/v1/connections",
            Some(json!({ "workspace": ws, "type": "webhook", "name": name, "metadata": metadata })),
        )
        .await;
    v["connection"]["id"].as_str().unwrap().to_owned()
}

pub async fn rule(api: &Api, ws: &str, conn: &str, extra: Value) -> String {
    let mut body = json!({ "workspace": ws, "connection": conn, "event": "user.signup",
                           "metadata": { "action": "send_webhook" } });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let v = api.ok("POST", "/api/v1/rules", Some(body)).await;
    v["rule"]["id"].as_str().unwrap().to_owned()
}

/// POST /events with a publishable key against `base` (…/api/v1).
pub async fn emit(base: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/events"))
        .header("X-Meshes-Publishable-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    crate::common::parse(resp).await
}

/// Polls GET /events/{id} until completed/failed.
pub async fn wait_terminal(api: &Api, id: &str) -> Value {
    for _ in 0..1500 {
        let v = api.ok("GET", &format!("/api/v1/events/{id}"), None).await;
        if v["status"] == "completed" || v["status"] == "failed" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("event {id} never finished");
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn webhook_receives_wrapped_body_with_method_headers_and_valid_hmac() {
    let emu = start_delivering().await;
    let api = Api::new(&emu);
    let rx = Receiver::start().await;
    let ws = api.create_workspace("Delivery OK").await;
    let conn = hook(
        &api,
        &ws,
        "signed",
        json!({ "url": format!("{}/hooks/meshes?x=1", rx.url), "http_method": "PUT",
                "signing_secret": "whsec_test_secret", "custom_headers": { "X-Team": "growth" },
                "auth_scheme": "bearer", "bearer_token": "tok-123" }),
    )
    .await;
    let rule_id = rule(&api, &ws, &conn, json!({})).await;
    let key = publishable_key(&api, &ws).await;

    let payload = json!({ "email": "ada@example.com", "plan": { "tier": "pro" } });
    let (s, created) = emit(
        &emu.events_url(),
        &key,
        json!({ "event": "user.signup", "resource": "user", "resource_id": "u-1",
                "payload": payload }),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let ev = &created["event"];
    let id = ev["id"].as_str().unwrap().to_owned();
    assert_eq!(ev["workspace"], ws.as_str());
    assert_eq!(ev["event"], "user.signup");
    assert_eq!(ev["type"], "event");
    assert_eq!(ev["created_by"], "publishable_key");

    let got = rx.wait_for(1).await;
    let req = &got[0];
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path, "/hooks/meshes");
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(req.header("x-team").as_deref(), Some("growth"));
    assert_eq!(
        req.header("authorization").as_deref(),
        Some("Bearer tok-123")
    );
    let body = req.json();
    assert_eq!(body["uuid"], id.as_str());
    assert_eq!(body["event"], "user.signup");
    assert_eq!(body["resource"], "user");
    assert_eq!(body["resource_id"], "u-1");
    assert_eq!(body["payload"], payload);
    assert!(body["time_created"].as_i64().unwrap() <= body["time_sent"].as_i64().unwrap());
    // The receiver verifies the signature over the exact bytes it received.
    let expected = format!("sha256={}", hmac_hex("whsec_test_secret", &req.body));
    assert_eq!(req.header("x-meshes-signature"), Some(expected));
    assert_ne!(
        req.header("x-meshes-signature"),
        Some(format!("sha256={}", hmac_hex("wrong-secret", &req.body)))
    );

    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["total_rules"], 1);
    assert_eq!(done["completed_count"], 1);
    assert_eq!(done["failed_count"], 0);
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    assert!(done.get("payload").is_none());
    let re = &done["rule_events"][0];
    assert_eq!(re["rule"], rule_id.as_str());
    assert_eq!(re["connection"], conn.as_str());
    assert_eq!(re["event_id"], id.as_str());
    assert_eq!(re["integration_type"], "webhook");
    assert_eq!(re["status"], "completed");
    assert_eq!(re["attempt_count"], 1);
    assert!(re.get("last_error").is_none());

    let with_payload = api
        .ok("GET", &format!("/api/v1/events/{id}/payload"), None)
        .await;
    assert_eq!(with_payload["payload"], payload);

    let deliveries = emu.admin().deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].success && !deliveries[0].simulated);
    assert_eq!(emu.admin().delivered_count_for_rule(&rule_id), 1);
    // Exactly one request: nothing is delivered twice once it succeeded.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn receiver_failing_twice_then_succeeding_gives_three_attempts_and_completed() {
    let emu = start_delivering().await;
    let api = Api::new(&emu);
    let rx = Receiver::start().await;
    rx.script(&[500, 503]);
    let ws = api.create_workspace("Retry Then OK").await;
    let conn = hook(&api, &ws, "flaky", json!({ "url": rx.url })).await;
    let rule_id = rule(&api, &ws, &conn, json!({})).await;
    let key = publishable_key(&api, &ws).await;
    let (s, v) = emit(
        &emu.events_url(),
        &key,
        json!({ "event": "user.signup", "payload": { "email": "b@example.com" } }),
    )
    .await;
    assert_eq!(s, 201);
    let id = v["event"]["id"].as_str().unwrap().to_owned();
    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["rule_events"][0]["attempt_count"], 3);
    assert_eq!(rx.count(), 3);
    let attempts = api
        .ok(
            "GET",
            &format!("/api/v1/events/{id}/rules/{rule_id}/attempts"),
            None,
        )
        .await;
    let codes: Vec<_> = attempts["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome_code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        codes,
        [
            "rejected_server_error",
            "rejected_server_error",
            "delivered"
        ]
    );
    assert_eq!(attempts["records"][1]["response_status"], 503);
    let one = &attempts["records"][0];
    let single = api
        .ok(
            "GET",
            &format!(
                "/api/v1/events/{id}/rules/{rule_id}/attempts/{}",
                one["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(single["attempt_number"], 1);
}

#[tokio::test]
async fn always_failing_receiver_fails_the_event_and_retry_redelivers() {
    let emu = start_delivering().await;
    let api = Api::new(&emu);
    let rx = Receiver::start().await;
    rx.always(500);
    let ws = api.create_workspace("Always Failing").await;
    let conn = hook(&api, &ws, "down", json!({ "url": rx.url })).await;
    let rule_id = rule(&api, &ws, &conn, json!({})).await;
    let key = publishable_key(&api, &ws).await;
    let (_, v) = emit(
        &emu.events_url(),
        &key,
        json!({ "event": "user.signup", "payload": { "email": "c@example.com" } }),
    )
    .await;
    let id = v["event"]["id"].as_str().unwrap().to_owned();
    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["failed_count"], 1);
    assert_eq!(done["completed_count"], 0);
    let re = &done["rule_events"][0];
    assert_eq!(re["status"], "failed");
    assert_eq!(re["attempt_count"], DeliveryConfig::fast().max_attempts);
    assert_eq!(re["last_error"], "HTTP 500");
    assert_eq!(rx.count(), DeliveryConfig::fast().max_attempts as usize);

    // The destination recovers; a manual retry delivers.
    rx.always(200);
    let retry_path = format!("/api/v1/events/{id}/rules/{rule_id}/retry");
    let (s, r) = api.call("POST", &retry_path, None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["rule"], rule_id.as_str());
    assert_eq!(r["type"], "rule");
    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["completed_count"], 1);
    assert_eq!(done["failed_count"], 0);
    let attempts = DeliveryConfig::fast().max_attempts + 1;
    assert_eq!(done["rule_events"][0]["attempt_count"], attempts);
    assert_eq!(rx.count(), attempts as usize);
    assert!(emu.admin().delivered_count_for_rule(&rule_id) == 1);

    // Retrying a delivered rule event delivers it again (a deliberate re-send).
    let (s, _) = api.call("POST", &retry_path, None).await;
    assert_eq!(s, 200);
    rx.wait_for(attempts as usize + 1).await;

    // Unknown rule on this event → 404; malformed id → 400.
    let (s, _) = api
        .call(
            "POST",
            &format!("/api/v1/events/{id}/rules/{}/retry", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = api
        .call(
            "POST",
            &format!("/api/v1/events/{id}/rules/nope/retry"),
            None,
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn retry_is_425_while_an_automatic_retry_is_imminent() {
    let emu = Emulator::start(EmulatorConfig {
        allow_insecure_loopback_webhooks: true,
        delivery: DeliveryConfig {
            max_attempts: 2,
            backoff_base: Duration::from_millis(1500),
            backoff_max: Duration::from_millis(1500),
            ..DeliveryConfig::fast()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&emu);
    let rx = Receiver::start().await;
    rx.always(502);
    let ws = api.create_workspace("Imminent").await;
    let conn = hook(&api, &ws, "slow-retry", json!({ "url": rx.url })).await;
    let rule_id = rule(&api, &ws, &conn, json!({})).await;
    let key = publishable_key(&api, &ws).await;
    let (_, v) = emit(
        &emu.events_url(),
        &key,
        json!({ "event": "user.signup", "payload": { "n": 1 } }),
    )
    .await;
    let id = v["event"]["id"].as_str().unwrap().to_owned();
    rx.wait_for(1).await;
    let retry_path = format!("/api/v1/events/{id}/rules/{rule_id}/retry");
    // First attempt failed, the second is due within 1.5 s (or running): too early.
    let (s, body) = api.call("POST", &retry_path, None).await;
    assert_eq!(s, 425, "{body}");
    assert_eq!(body["error"]["name"], "TooEarly");
    // Positive control: once the event has failed, the same call is accepted.
    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "failed");
    let (s, _) = api.call("POST", &retry_path, None).await;
    assert_eq!(s, 200);
    rx.wait_for(3).await;
}

#[tokio::test]
async fn one_event_fans_out_to_three_matching_rules_on_two_connections() {
    let emu = start_delivering().await;
    let api = Api::new(&emu);
    let rx = Receiver::start().await;
    let ws = api.create_workspace("Fan Out").await;
    let a = hook(
        &api,
        &ws,
        "hook-a",
        json!({ "url": format!("{}/a", rx.url) }),
    )
    .await;
    let b = hook(
        &api,
        &ws,
        "hook-b",
        json!({ "url": format!("{}/b", rx.url) }),
    )
    .await;
    let r1 = rule(&api, &ws, &a, json!({ "event": "order.paid" })).await;
    let r2 = rule(
        &api,
        &ws,
        &a,
        json!({ "event": "order.paid", "resource": "order" }),
    )
    .await;
    let r3 = rule(
        &api,
        &ws,
        &b,
        json!({ "event": "order.paid", "resource": "order", "resource_id": "o-42" }),
    )
    .await;
    // Non-matching: other event, other resource, other resource id, inactive.
    rule(&api, &ws, &b, json!({ "event": "order.refunded" })).await;
    rule(
        &api,
        &ws,
        &b,
        json!({ "event": "order.paid", "resource": "invoice" }),
    )
    .await;
    rule(
        &api,
        &ws,
        &b,
        json!({ "event": "order.paid", "resource": "order", "resource_id": "o-7" }),
    )
    .await;
    rule(
        &api,
        &ws,
        &a,
        json!({ "event": "order.paid", "resource_id": "o-42", "active": false }),
    )
    .await;

    let key = publishable_key(&api, &ws).await;
    let (s, v) = emit(
        &emu.events_url(),
        &key,
        json!({ "event": "order.paid", "resource": "order", "resource_id": "o-42",
                "payload": { "id": "o-42", "amount": 10 } }),
    )
    .await;
    assert_eq!(s, 201);
    let id = v["event"]["id"].as_str().unwrap().to_owned();
    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["total_rules"], 3);
    assert_eq!(done["completed_count"], 3);
    assert_eq!(done["failed_count"], 0);
    let mut rules: Vec<_> = done["rule_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    let mut expected = vec![r1, r2, r3];
    expected.sort();
    assert_eq!(rules, expected);
    let got = rx.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 3, "exactly three deliveries");
    let to_a = got.iter().filter(|r| r.path == "/a").count();
    let to_b = got.iter().filter(|r| r.path == "/b").count();
    assert_eq!((to_a, to_b), (2, 1));
    assert_eq!(emu.admin().delivered_count(), 3);

    // An event nothing matches completes at once with no rule events.
    let (_, v) = emit(
        &emu.events_url(),
        &key,
        json!({ "event": "nobody.listens", "payload": { "x": 1 } }),
    )
    .await;
    let done = wait_terminal(&api, v["event"]["id"].as_str().unwrap()).await;
    assert_eq!(done["total_rules"], 0);
    assert_eq!(done["status"], "completed");
}

#[tokio::test]
async fn oauth_integrations_are_simulated_and_inactive_connections_fail() {
    let emu = start_delivering().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Simulated").await;
    let seed: Seed = Seed::from_text(&format!(
        "connections:\n  - {{id: 5eed0000-0000-4000-8000-000000000001, workspace: {ws}, type: hubspot, name: CRM}}\n  - {{id: 5eed0000-0000-4000-8000-000000000002, workspace: {ws}, type: slack, name: Chat, active: false, inactive_reason: oauth_authorization_revoked}}\nrules:\n  - {{id: 5eed0000-0000-4000-8000-0000000000a1, workspace: {ws}, connection: 5eed0000-0000-4000-8000-000000000001, event: user.signup, metadata: {{action: add_to_list, id: l1}}}}\n  - {{id: 5eed0000-0000-4000-8000-0000000000a2, workspace: {ws}, connection: 5eed0000-0000-4000-8000-000000000002, event: user.signup, metadata: {{action: send_message, id: c1}}}}\n"
    ))
    .unwrap();
    emu.admin().seed(&seed).unwrap();
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/events",
            Some(json!({ "workspace": ws, "event": "user.signup", "payload": { "email": "d@e.co" } })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["event"]["id"].as_str().unwrap().to_owned();
    let done = wait_terminal(&api, &id).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["completed_count"], 1);
    assert_eq!(done["failed_count"], 1);
    let by_type = |t: &str| {
        done["rule_events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["integration_type"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(by_type("hubspot")["status"], "completed");
    assert_eq!(by_type("slack")["status"], "failed");
    assert!(
        by_type("slack")["last_error"]
            .as_str()
            .unwrap()
            .contains("inactive")
    );
    let simulated: Vec<_> = emu
        .admin()
        .deliveries()
        .into_iter()
        .filter(|d| d.simulated)
        .collect();
    assert_eq!(simulated.len(), 1);
    assert_eq!(simulated[0].integration_type, "hubspot");
    // The retry endpoint refuses an inactive connection.
    let (s, _) = api
        .call(
            "POST",
            &format!("/api/v1/events/{id}/rules/5eed0000-0000-4000-8000-0000000000a2/retry"),
            None,
        )
        .await;
    assert_eq!(s, 409);
}
