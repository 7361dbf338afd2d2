//! Admin surface: counters per route/key/client including 4xx, reset, seed over HTTP, listing,
//! dashboard-style mutations over HTTP and in-process.

use serde_json::{Value, json};

use crate::common::{Api, parse, start};

#[tokio::test]
async fn counters_count_every_answer_per_route_key_and_client() {
    let emu = start().await;
    let mut api = Api::new(&emu);
    api.user_agent = "meshes-operator/0.1 (test)".into();
    let admin = emu.admin();
    let ws = api.create_workspace("Counted").await;
    api.call("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/workspaces/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = api
        .call("POST", "/api/v1/workspaces", Some(json!({"name": "x"})))
        .await;
    assert_eq!(s, 400);
    // Unauthenticated call still counts for the route and the client.
    let r = api
        .http
        .get(format!("{}/api/v1/workspaces", api.base))
        .header("User-Agent", "meshes-operator/0.1 (test)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    assert_eq!(admin.request_count("POST", "/api/v1/workspaces"), 2);
    assert_eq!(
        admin.request_count("get", "/api/v1/workspaces/{workspace_id}"),
        2
    );
    assert_eq!(admin.request_count("GET", "/api/v1/workspaces"), 1);
    assert_eq!(admin.total_requests(), 5);
    assert_eq!(admin.key_count(&api.creds.access_key), 4);
    assert_eq!(admin.client_count("meshes-operator/0.1 (test)"), 5);
    assert_eq!(admin.client_count("someone-else"), 0);
    let snap: Value = reqwest::get(format!("{}/_emulator/counters", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["statuses"]["404"], 1);
    assert_eq!(snap["routes"]["GET /api/v1/workspaces/{workspace_id}"], 2);
    // Admin calls are not counted.
    assert_eq!(admin.total_requests(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_restores_the_start_state_and_seed_over_http_uses_fixed_ids() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    api.create_workspace("Temporary").await;
    admin.add_fault(meshes_emulator::FaultSpec {
        method: None,
        route: "*".into(),
        action: meshes_emulator::FaultAction::Status(500),
        trigger: meshes_emulator::Trigger::Next(1000),
    });
    let http = reqwest::Client::new();
    http.post(format!("{}/_emulator/reset", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.ok("GET", "/api/v1/workspaces", None).await["count"], 0);
    assert_eq!(admin.total_requests(), 1, "counters were reset");

    let org = emu.credentials().org_id;
    let seed = format!(
        "workspaces:\n  - id: 5e5e5e5e-0000-4000-8000-000000000001\n    org_id: {org}\n    name: Seeded\n    publishable_key: mesh_pub_seed_abc_def\nconnections:\n  - id: 5e5e5e5e-0000-4000-8000-0000000000c1\n    workspace: 5e5e5e5e-0000-4000-8000-000000000001\n    type: salesforce\n    name: Adopt Me\n"
    );
    let r = http
        .post(format!("{}/_emulator/seed", api.base))
        .body(seed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let got = api
        .ok(
            "GET",
            "/api/v1/workspaces/5e5e5e5e-0000-4000-8000-000000000001",
            None,
        )
        .await;
    assert_eq!(
        got["publishable_key"]["public_key"],
        "mesh_pub_seed_abc_def"
    );
    let conn = api
        .ok(
            "GET",
            "/api/v1/connections/5e5e5e5e-0000-4000-8000-0000000000c1",
            None,
        )
        .await;
    assert_eq!(conn["type"], "salesforce");
    // A broken seed is refused as a whole.
    let r = http.post(format!("{}/_emulator/seed", api.base)).body("connections: [{workspace: 5e5e5e5e-0000-4000-8000-0000000000ff, type: webhook, name: x}]").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let listing: Value = http
        .get(format!("{}/_emulator/state", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(listing["connections"].as_array().unwrap().len(), 1);
    assert!(listing["keys"][0].get("secret_key").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_mutations_over_http_are_visible_to_clients() {
    let emu = start().await;
    let api = Api::new(&emu);
    let base = api.base.clone();
    let http = reqwest::Client::new();
    let ws = api.create_workspace("Before Rename").await;
    let conn = api.create_webhook(&ws, "Hook").await;
    let rule = api.create_rule(&ws, &conn, "user.signup").await;

    let r = http
        .patch(format!("{base}/_emulator/workspaces/{ws}"))
        .json(&json!({"name": "Renamed In Dashboard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        api.ok("GET", &format!("/api/v1/workspaces/{ws}"), None)
            .await["name"],
        "Renamed In Dashboard"
    );

    let r = http
        .patch(format!("{base}/_emulator/connections/{conn}"))
        .json(&json!({"active": false, "inactive_reason": "oauth_authorization_revoked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        api.ok("GET", &format!("/api/v1/connections/{conn}"), None)
            .await["inactive_reason"],
        "oauth_authorization_revoked"
    );

    let r = http
        .delete(format!("{base}/_emulator/rules/{rule}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        api.call("GET", &format!("/api/v1/rules/{rule}"), None)
            .await
            .0,
        404
    );

    let r = http
        .delete(format!("{base}/_emulator/connections/{conn}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        api.call("GET", &format!("/api/v1/connections/{conn}"), None)
            .await
            .0,
        404
    );
    let r = http
        .delete(format!("{base}/_emulator/connections/{conn}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let r = http
        .post(format!("{base}/_emulator/workspaces"))
        .json(&json!({"name": "Made In Dashboard"}))
        .send()
        .await
        .unwrap();
    let (s, v) = parse(r).await;
    assert_eq!(s, 201);
    let id = v["id"].as_str().unwrap();
    assert_eq!(
        api.ok("GET", &format!("/api/v1/workspaces/{id}"), None)
            .await["name"],
        "Made In Dashboard"
    );

    let r = http
        .post(format!("{base}/_emulator/keys"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (s, creds) = parse(r).await;
    assert_eq!(s, 201);
    let k: meshes_emulator::Credentials = serde_json::from_value(creds).unwrap();
    assert_eq!(
        Api::with_creds(&emu, k.clone())
            .call("GET", "/api/v1/workspaces", None)
            .await
            .0,
        200
    );
    http.delete(format!("{base}/_emulator/keys/{}", k.access_key))
        .send()
        .await
        .unwrap();
    assert_eq!(
        Api::with_creds(&emu, k)
            .call("GET", "/api/v1/workspaces", None)
            .await
            .0,
        401
    );
}
