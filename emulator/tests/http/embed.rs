//! Embed sessions (create 200, list, refresh, revoke, 409 after revoke, validation) and
//! connection default mappings (generated → stored, expected_version 409, schema 422).

use serde_json::json;

use crate::common::{Api, assert_error_body, start};

#[tokio::test]
async fn sessions_create_list_refresh_revoke() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Embed").await;
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/sessions",
            Some(
                json!({ "workspace_id": ws, "role": "admin", "external_user_id": "user-7",
                         "ttl_seconds": 600, "launch_page": "events",
                         "allowed_origins": ["https://app.example.com"],
                         "scopes": ["events.payload:read"] }),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let sid = v["session_id"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("sess_"));
    assert_eq!(v["workspace_id"], ws.as_str());
    assert_eq!(v["role"], "admin");
    assert_eq!(v["session_type"], "workspace");
    assert!(v["expires_in"].as_i64().unwrap() > 590);
    let token = v["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("eyJhbGciOiJIUzI1NiIs"));
    let launch = v["launch_token"].as_str().unwrap();
    assert_eq!(
        v["launch_url"].as_str().unwrap(),
        format!("https://embed.meshes.io/workspace/events?launch={launch}")
    );
    assert!(v["launch_expires_at"].is_string() && v["expires_at"].is_string());

    let other = api
        .ok(
            "POST",
            "/api/v1/sessions",
            Some(
                json!({ "workspace_id": ws, "session_type": "resource", "resource": "order",
                         "resource_id": "o-1" }),
            ),
        )
        .await;
    assert_eq!(other["resource"], "order");

    let listed = api
        .ok("GET", &format!("/api/v1/sessions?workspace_id={ws}"), None)
        .await;
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["records"][0]["session_id"], sid.as_str());
    assert_eq!(listed["records"][0]["status"], "active");
    assert_eq!(listed["records"][0]["is_expired"], false);
    assert_eq!(listed["records"][0]["external_user_id"], "user-7");
    let filtered = api
        .ok(
            "GET",
            &format!("/api/v1/sessions?workspace_id={ws}&resource=order&resource_id=o-1"),
            None,
        )
        .await;
    assert_eq!(filtered["count"], 1);

    let refreshed = api
        .ok("POST", &format!("/api/v1/sessions/{sid}/refresh"), None)
        .await;
    assert_eq!(refreshed["session_id"], sid.as_str());
    assert_ne!(refreshed["access_token"], token.as_str());
    assert!(refreshed.get("launch_url").is_none());

    let revoked = api
        .ok("DELETE", &format!("/api/v1/sessions/{sid}"), None)
        .await;
    assert_eq!(revoked, json!({ "revoked": true }));
    let (s, v) = api
        .call("POST", &format!("/api/v1/sessions/{sid}/refresh"), None)
        .await;
    assert_eq!(s, 409);
    assert_error_body(&v);
    let rev = api
        .ok(
            "GET",
            &format!("/api/v1/sessions?workspace_id={ws}&status=revoked"),
            None,
        )
        .await;
    assert_eq!(rev["count"], 1);
    assert_eq!(rev["records"][0]["status"], "revoked");

    for bad in [
        json!({ "workspace_id": ws, "session_type": "bogus" }),
        json!({ "workspace_id": ws, "ttl_seconds": 10 }),
        json!({ "workspace_id": ws, "session_type": "resource" }),
        json!({ "workspace_id": ws, "session_type": "dashboard", "launch_page": "rules" }),
        json!({ "workspace_id": ws, "scopes": ["everything"] }),
        json!({ "role": "member" }),
    ] {
        let (s, v) = api
            .call("POST", "/api/v1/sessions", Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad} -> {v}");
    }
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({ "workspace_id": uuid::Uuid::new_v4() })),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = api.call("GET", "/api/v1/sessions", None).await;
    assert_eq!(s, 400, "workspace_id is required");
    let (s, _) = api.call("DELETE", "/api/v1/sessions/sess_nope", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn default_mappings_generated_stored_versioned_and_validated() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Mappings").await;
    let c = api
        .ok(
            "POST",
            "/api/v1/connections",
            Some(json!({ "workspace": ws, "type": "mailchimp", "name": "mc",
                         "metadata": { "data_center": "us6", "api_key": "k-us6" } })),
        )
        .await;
    let cid = c["connection"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{cid}/mappings/default");

    let g = api.ok("GET", &path, None).await;
    assert_eq!(g["status"], "generated");
    assert_eq!(g["mapping"]["version"], 0);
    assert_eq!(g["mapping"]["connection_id"], cid.as_str());
    assert_eq!(g["mapping"]["workspace_id"], ws.as_str());
    assert_eq!(g["mapping"]["integration_type"], "mailchimp");
    assert_eq!(g["mapping"]["schema"]["schema_version"], 1);
    assert!(
        g["mapping"]["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["dest"] == "email")
    );
    assert_eq!(
        api.ok("GET", &path, None).await["mapping"]["id"],
        g["mapping"]["id"]
    );

    let schema = json!({ "schema_version": 1, "fields": [
        { "dest": "email", "source": { "type": "path", "value": "user.email" },
          "transforms": [{ "type": "trim" }, { "type": "lower" }] },
        { "dest": "FNAME", "source": { "type": "literal", "value": "Friend" }, "on_error": "skip_field" }
    ]});
    let put = api
        .ok(
            "PUT",
            &path,
            Some(json!({ "schema": schema, "name": "Signup mapping" })),
        )
        .await;
    assert_eq!(put["status"], "stored");
    assert_eq!(put["mapping"]["version"], 1);
    assert_eq!(put["mapping"]["name"], "Signup mapping");
    let put2 = api
        .ok(
            "PUT",
            &path,
            Some(json!({ "schema": schema, "expected_version": 1 })),
        )
        .await;
    assert_eq!(put2["mapping"]["version"], 2);
    assert_eq!(put2["mapping"]["mapping_id"], put["mapping"]["mapping_id"]);

    let (s, v) = api
        .call(
            "PUT",
            &path,
            Some(json!({ "schema": schema, "expected_version": 1 })),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_error_body(&v);

    for bad in [
        json!({ "schema_version": 2, "fields": [] }),
        json!({ "schema_version": 1, "fields": [{ "dest": "email", "source": { "type": "path", "value": "9bad" } }] }),
        json!({ "schema_version": 1, "fields": [{ "dest": "", "source": { "type": "literal", "value": "x" } }] }),
        json!({ "schema_version": 1, "fields": [{ "dest": "a", "source": { "type": "path", "value": "a" }, "transforms": [{ "type": "explode" }] }] }),
        json!({ "schema_version": 1, "fields": [
            { "dest": "a", "source": { "type": "path", "value": "a" } },
            { "dest": "a", "source": { "type": "path", "value": "b" } }] }),
    ] {
        let (s, v) = api.call("PUT", &path, Some(json!({ "schema": bad }))).await;
        assert_eq!(s, 422, "{v}");
        assert!(!v["error"]["data"].as_array().unwrap().is_empty());
    }
    let (s, _) = api.call("PUT", &path, Some(json!({ "name": "x" }))).await;
    assert_eq!(s, 400, "schema is required");

    let now = api.ok("GET", &path, None).await;
    assert_eq!(now["status"], "stored");
    assert_eq!(now["mapping"]["version"], 2);
    let (s, _) = api
        .call(
            "GET",
            &format!(
                "/api/v1/connections/{}/mappings/default",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_eq!(s, 404);
}
