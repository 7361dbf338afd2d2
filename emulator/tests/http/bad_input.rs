//! Bad input: malformed JSON, wrong content type, oversized bodies, wrong types and unknown enum
//! values are 400 with a message; a randomized request generator never gets a 5xx or a dropped
//! connection, and the server keeps answering afterwards.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::common::{Api, assert_error_body, mint, parse, start};

#[tokio::test]
async fn malformed_requests_are_400_with_a_message() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Bad Input").await;
    let url = format!("{}/api/v1/workspaces", api.base);
    let token = mint(&api.creds);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("malformed JSON", api.http.post(&url).header("Content-Type", "application/json").body("{\"name\":")),
        ("array body", api.http.post(&url).header("Content-Type", "application/json").body("[]")),
        ("wrong content type", api.http.post(&url).header("Content-Type", "text/plain").body("{\"name\":\"Plain\"}")),
        ("no content type", api.http.post(&url).body("{\"name\":\"Plain\"}")),
        ("empty body", api.http.post(&url).header("Content-Type", "application/json")),
        ("over 1 MiB", api.http.post(&url).header("Content-Type", "application/json").body(format!("{{\"name\":\"Big\",\"description\":\"{}\"}}", "x".repeat(1024 * 1024 + 10)))),
        ("wrong type", api.http.post(&url).json(&json!({"name": ["a"]}))),
        ("description too long", api.http.post(&url).json(&json!({"name": "Fine", "description": "d".repeat(1025)}))),
        ("bad charset", api.http.post(&url).json(&json!({"name": "no/slashes"}))),
        ("unknown type enum", api.http.post(format!("{}/api/v1/connections", api.base)).json(&json!({"workspace": ws, "type": "fax", "name": "F", "metadata": {}}))),
        ("bad select value", api.http.post(format!("{}/api/v1/connections", api.base)).json(&json!({"workspace": ws, "type": "webhook", "name": "F", "metadata": {"url": "https://e.com", "http_method": "DELETE"}}))),
        ("metadata not an object", api.http.post(format!("{}/api/v1/connections", api.base)).json(&json!({"workspace": ws, "type": "webhook", "name": "F", "metadata": "url"}))),
        ("bad resource_id", api.http.post(format!("{}/api/v1/rules", api.base)).json(&json!({"workspace": ws, "connection": ws, "event": "e", "resource_id": "has space", "metadata": {"action": "x"}}))),
        ("workspace not a uuid", api.http.post(format!("{}/api/v1/rules", api.base)).json(&json!({"workspace": "nope", "connection": ws, "event": "e", "metadata": {"action": "x"}}))),
        ("active not a bool", api.http.post(format!("{}/api/v1/rules", api.base)).json(&json!({"workspace": ws, "connection": ws, "event": "e", "active": "yes", "metadata": {"action": "x"}}))),
    ];
    for (name, rb) in cases {
        let (s, v) = parse(rb.bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(s, 400, "{name}: {v}");
        let msg = assert_error_body(&v);
        assert!(!msg.is_empty(), "{name}");
    }
    // Positive control: a well-formed request with the same client succeeds.
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/workspaces",
            Some(json!({"name": "Good One"}))
        )
        .await
        .0,
        201
    );
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>()),
        4 => {
            let pool = [
                "",
                "a",
                "webhook",
                "mailchimp",
                "https://x.io",
                "http://127.0.0.1:1/",
                "00000000-0000-4000-8000-000000000000",
                "é✓\u{0}",
                "send_webhook",
                "ab",
                &"z".repeat(300),
            ];
            json!(pool[rng.random_range(0..pool.len())])
        }
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "name",
                "description",
                "workspace",
                "connection",
                "type",
                "metadata",
                "event",
                "resource",
                "resource_id",
                "action",
                "url",
                "force_delete",
                "hidden",
                "active",
                "api_key",
                "http_method",
                "auth_scheme",
            ];
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..6) {
                m.insert(
                    keys[rng.random_range(0..keys.len())].into(),
                    random_json(rng, depth + 1),
                );
            }
            Value::Object(m)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_requests_never_crash_or_500() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Fuzz").await;
    let conn = api.create_webhook(&ws, "Fuzz Hook").await;
    let seed: u64 = std::env::var("EMULATOR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let mut rng = StdRng::seed_from_u64(seed);
    let paths = [
        "/api/v1/workspaces".to_owned(),
        format!("/api/v1/workspaces/{ws}"),
        format!("/api/v1/workspaces/{ws}/rules?event=%ZZ&limit=-1"),
        "/api/v1/connections".into(),
        format!("/api/v1/connections/{conn}"),
        format!("/api/v1/connections/{conn}/fields?refresh=%00"),
        "/api/v1/rules".into(),
        "/api/v1/rules/not-a-uuid".into(),
        "/api/v1/integrations?cursor=%FF%FE".into(),
        "/api/v1/workspaces/%2e%2e/connections".into(),
        "/api/v1//workspaces".into(),
        "/_emulator/seed".into(),
        "/_emulator/faults".into(),
        "/_emulator/keys".into(),
        "/_emulator/rate-limit".into(),
        "/_emulator/rule-dedup".into(),
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut api_sent = 0u64;
    for i in 0..600 {
        let path = &paths[rng.random_range(0..paths.len())];
        let method = methods[rng.random_range(0..methods.len())];
        // Avoid installing random faults/limits through the admin API: they would turn later
        // answers into deliberate 5xx/429s.
        if (path.starts_with("/_emulator/faults") || path.starts_with("/_emulator/rate-limit"))
            && (method == "POST" || method == "PUT")
        {
            continue;
        }
        let mut rb = api
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{}", api.base, path),
            )
            .bearer_auth(mint(&api.creds));
        rb = match rng.random_range(0..4) {
            0 => rb,
            1 => rb.json(&random_json(&mut rng, 0)),
            2 => {
                let bytes: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
                rb.header("Content-Type", "application/json").body(bytes)
            }
            _ => rb
                .header(
                    "Content-Type",
                    [
                        "text/plain",
                        "application/json; charset=utf-8",
                        "application/x-www-form-urlencoded",
                        "application/merge-patch+json",
                    ][rng.random_range(0..4)],
                )
                .body(random_json(&mut rng, 0).to_string()),
        };
        let resp = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} ({method} {path}, seed {seed}) failed: {e}"));
        let status = resp.status().as_u16();
        if path.starts_with("/api/") {
            api_sent += 1;
        }
        assert!(
            status < 500,
            "request {i} ({method} {path}, seed {seed}) -> {status}"
        );
    }
    // Still alive and consistent.
    assert_eq!(api.call("GET", "/api/v1/workspaces", None).await.0, 200);
    // Every API answer was counted: the two setup calls, the random ones, the final GET.
    assert!(api_sent > 100);
    assert_eq!(emu.admin().total_requests(), api_sent + 3);
}
