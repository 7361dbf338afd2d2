//! Endpoint groups beyond the golden cases: 403 for keys scoped to other workspaces, 500 via an
//! injected fault on each group, and the semantics clients rely on (secrets never echoed,
//! defaults added, type copied, force_delete cascade, catalog growth, case-insensitive names).

use meshes_emulator::{FaultAction, FaultSpec, Trigger};
use serde_json::json;
use uuid::Uuid;

use crate::common::{Api, assert_error_body, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_keys_get_403_outside_their_workspaces() {
    let emu = start().await;
    let api = Api::new(&emu);
    let allowed = api.create_workspace("Allowed").await;
    let denied = api.create_workspace("Denied").await;
    let denied_conn = api.create_webhook(&denied, "Denied Hook").await;
    let allowed_conn = api.create_webhook(&allowed, "Allowed Hook").await;
    let c = emu.credentials();
    let scoped = Api::with_creds(
        &emu,
        emu.admin()
            .add_scoped_key(&c.org_id, &[Uuid::parse_str(&allowed).unwrap()]),
    );

    for (method, path, body) in [
        (
            "GET",
            format!("/api/v1/workspaces/{denied}/event-types"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/workspaces/{denied}/resources"),
            None,
        ),
        ("GET", format!("/api/v1/connections/{denied_conn}"), None),
        ("DELETE", format!("/api/v1/connections/{denied_conn}"), None),
        (
            "POST",
            "/api/v1/connections".to_owned(),
            Some(
                json!({"workspace": denied, "type": "webhook", "name": "X", "metadata": {"url": "https://e.com"}}),
            ),
        ),
        (
            "PUT",
            format!("/api/v1/connections/{denied_conn}"),
            Some(json!({"name": "Y", "metadata": {"url": "https://e.com"}})),
        ),
        (
            "POST",
            "/api/v1/rules".to_owned(),
            Some(
                json!({"workspace": denied, "connection": denied_conn, "event": "e", "metadata": {"action": "send_webhook"}}),
            ),
        ),
    ] {
        let (s, v) = scoped.call(method, &path, body).await;
        assert_eq!(s, 403, "{method} {path}: {v}");
        assert_error_body(&v);
    }
    // Positive control: the same key works inside its workspace, and lists are filtered.
    let (s, _) = scoped
        .call(
            "GET",
            &format!("/api/v1/workspaces/{allowed}/event-types"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    scoped
        .create_rule(&allowed, &allowed_conn, "user.signup")
        .await;
    let list = scoped.ok("GET", "/api/v1/connections", None).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["records"][0]["id"], allowed_conn.as_str());
}

#[tokio::test]
async fn injected_500_uses_the_error_body_on_every_group() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    for route in [
        "/api/v1/workspaces",
        "/api/v1/connections",
        "/api/v1/rules",
        "/api/v1/integrations",
    ] {
        let id = admin.add_fault(FaultSpec {
            method: Some("GET".into()),
            route: route.into(),
            action: FaultAction::Status(500),
            trigger: Trigger::Next(1),
        });
        let (s, v) = api.call("GET", route, None).await;
        assert_eq!(s, 500, "{route}");
        assert_eq!(v["error"]["name"], "InternalServerError");
        assert_eq!(admin.fault_hits(id), 1);
        let (s, _) = api.call("GET", route, None).await;
        assert_eq!(s, 200, "{route} after the fault was used up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_secrets_are_never_echoed_and_defaults_are_added() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Secrets").await;
    let secret = "very-secret-bearer-value-123";
    let created = api
        .ok("POST", "/api/v1/connections", Some(json!({"workspace": ws, "type": "webhook", "name": "Signed",
            "metadata": {"url": "https://example.com/x", "auth_scheme": "bearer", "bearer_token": secret,
                          "signing_algorithm": "hmac-sha256", "signing_secret": "sign-secret-456"}})))
        .await;
    let id = created["connection"]["id"].as_str().unwrap().to_owned();
    let meta = &created["connection"]["metadata"];
    assert_eq!(meta["http_method"], "POST");
    assert_eq!(meta["payload_mode"], "wrapped");
    assert!(meta.get("bearer_token").is_none() && meta.get("signing_secret").is_none());
    // Update without the secrets keeps them; rename works.
    let updated = api
        .ok("PUT", &format!("/api/v1/connections/{id}"), Some(json!({"name": "Signed 2", "metadata": {"url": "https://example.com/y", "auth_scheme": "bearer"}, "hidden": true})))
        .await;
    assert_eq!(updated["name"], "Signed 2");
    assert_eq!(updated["hidden"], true);
    for path in [
        format!("/api/v1/connections/{id}"),
        "/api/v1/connections".into(),
        format!("/api/v1/workspaces/{ws}/connections"),
    ] {
        let text = api
            .request("GET", &path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(secret) && !text.contains("sign-secret-456"),
            "{path} leaked a secret"
        );
        assert!(text.contains("https://example.com/y"), "{path}: {text}");
    }
    // Positive control: the secret really is stored (in-process admin view).
    let stored = emu.admin().connections();
    assert_eq!(stored[0]["metadata"]["bearer_token"], secret);
    // The HTTP admin listing redacts unless asked.
    let listing = reqwest::get(format!("{}/_emulator/state", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listing.contains(secret));
    let listing = reqwest::get(format!("{}/_emulator/state?include_secrets=true", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_types_cascade_and_catalog_semantics() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Semantics").await;
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/workspaces",
            Some(json!({"name": "SEMANTICS"})),
        )
        .await;
    assert_eq!(s, 409);
    let other = api.create_workspace("Other Space").await;
    let hook = api.create_webhook(&ws, "Hook").await;
    // Same connection name in another workspace is fine; in the same one (any case) it is not.
    api.create_webhook(&other, "Hook").await;
    let (s, _) = api.call("POST", "/api/v1/connections", Some(json!({"workspace": ws, "type": "webhook", "name": "hook", "metadata": {"url": "https://e.com"}}))).await;
    assert_eq!(s, 409);
    let rule = api.ok("POST", "/api/v1/rules", Some(json!({"workspace": ws, "connection": hook, "event": "order.paid", "resource": "order", "metadata": {"action": "send_webhook"}}))).await;
    assert_eq!(rule["rule"]["type"], "webhook");
    assert_eq!(
        rule["rule"]["created_by"],
        api.ok("GET", "/api/v1/connections", None).await["records"][0]["created_by"]
    );
    // The rule's event and resource joined the workspace catalog (plus the default event type).
    let ets = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}/event-types"), None)
        .await;
    let keys: Vec<_> = ets
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["contact.created", "order.paid"]);
    let res = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}/resources"), None)
        .await;
    assert_eq!(res[0]["key"], "order");
    // Workspace GET has the publishable key in the documented shape; list does not.
    let got = api
        .ok("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    let pk = got["publishable_key"]["public_key"].as_str().unwrap();
    assert!(
        pk.starts_with("mesh_pub_") && pk.split('_').count() == 5,
        "{pk}"
    );
    let list = api.ok("GET", "/api/v1/workspaces", None).await;
    assert!(list["records"][0].get("publishable_key").is_none());
    // Delete with rules: 409 (DELETE without body), then force deletes the rules too.
    let (s, _) = api
        .http
        .delete(format!("{}/api/v1/connections/{hook}", api.base))
        .bearer_auth(crate::common::mint(&api.creds))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(s, 409);
    assert_eq!(api.ok("GET", "/api/v1/rules", None).await["count"], 1);
    let del = api
        .ok(
            "DELETE",
            &format!("/api/v1/connections/{hook}"),
            Some(json!({"force_delete": true})),
        )
        .await;
    assert_eq!(del, json!({"id": hook, "type": "webhook"}));
    assert_eq!(api.ok("GET", "/api/v1/rules", None).await["count"], 0);
    let (s, _) = api
        .call("GET", &format!("/api/v1/connections/{hook}"), None)
        .await;
    assert_eq!(s, 404);
    // force_delete must be a boolean.
    let c2 = api.create_webhook(&ws, "Hook2").await;
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/connections/{c2}"),
            Some(json!({"force_delete": "yes"})),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn inactive_connections_refuse_actions_and_fields_until_reactivated() {
    let emu = start().await;
    let api = Api::new(&emu);
    let ws = api.create_workspace("Health").await;
    let mc = api.ok("POST", "/api/v1/connections", Some(json!({"workspace": ws, "type": "mailchimp", "name": "MC", "metadata": {"data_center": "us1", "api_key": "k-us1"}}))).await;
    let id = mc["connection"]["id"].as_str().unwrap().to_owned();
    let actions = api
        .ok("GET", &format!("/api/v1/connections/{id}/actions"), None)
        .await;
    assert!(
        actions["lists"].as_array().is_some_and(|l| !l.is_empty()),
        "{actions}"
    );
    let fields = api
        .ok(
            "GET",
            &format!("/api/v1/connections/{id}/fields?refresh=true"),
            None,
        )
        .await;
    assert_eq!(fields["fields"][0]["key"], "email");
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/connections/{id}/fields?refresh=maybe"),
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        emu.admin()
            .set_connection_inactive(&id, "authentication_invalid")
    );
    let got = api
        .ok("GET", &format!("/api/v1/connections/{id}"), None)
        .await;
    assert_eq!(
        (got["active"].clone(), got["inactive_reason"].clone()),
        (json!(false), json!("authentication_invalid"))
    );
    for sub in ["actions", "fields"] {
        let (s, v) = api
            .call("GET", &format!("/api/v1/connections/{id}/{sub}"), None)
            .await;
        assert_eq!(s, 409, "{sub}: {v}");
    }
    assert!(emu.admin().set_connection_active(&id));
    let (s, _) = api
        .call("GET", &format!("/api/v1/connections/{id}/actions"), None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn every_integration_type_is_listed_with_authentication_and_actions() {
    let emu = start().await;
    let api = Api::new(&emu);
    let v = api.ok("GET", "/api/v1/integrations", None).await;
    assert_eq!(v["count"], 15);
    for r in v["records"].as_array().unwrap() {
        let t = r["type"].as_str().unwrap();
        assert!(r["name"].is_string());
        let auth = r["authentication"]["type"].as_str().unwrap();
        assert!(["api_key", "none", "oauth"].contains(&auth), "{t}");
        if auth == "oauth" {
            assert_eq!(r["authentication"]["oauth"]["version"], 2, "{t}");
        }
        if auth == "api_key" {
            let fields = r["authentication"]["fields"].as_array().unwrap();
            assert!(
                fields.iter().any(|f| f["type"] == "password"),
                "{t} has no secret field"
            );
        }
        let actions = r["actions"].as_object().unwrap();
        assert!(!actions.is_empty(), "{t}");
        for (k, a) in actions {
            assert_eq!(a["key"], k.as_str());
            assert!(a["label"].is_string() && a["noun"].is_string(), "{t}.{k}");
        }
    }
}
