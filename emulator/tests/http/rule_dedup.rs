//! Rule de-duplication modes (`tuple`, `exact`, `none`): picked in `EmulatorConfig`, switched at
//! run time over `PUT /_emulator/rule-dedup` and through `Admin::set_rule_dedup`, kept by reset.

use meshes_emulator::{Emulator, EmulatorConfig, RuleDedup};
use serde_json::{Value, json};

use crate::common::{Api, assert_error_body, parse, start};

async fn start_with(mode: RuleDedup) -> Emulator {
    Emulator::start(EmulatorConfig {
        rule_dedup: mode,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// A workspace and a webhook connection in it.
async fn setup(api: &Api) -> (String, String) {
    let ws = api.create_workspace("Dedup").await;
    let conn = api.create_webhook(&ws, "Dedup Hook").await;
    (ws, conn)
}

/// A rule body; `active`/`hidden` only sent when given.
fn rule(ws: &str, conn: &str, event: &str, active: Option<bool>, hidden: Option<bool>) -> Value {
    let mut b = json!({ "workspace": ws, "connection": conn, "event": event,
                        "resource": "user", "resource_id": "u-1",
                        "metadata": { "action": "send_webhook" } });
    if let Some(a) = active {
        b["active"] = json!(a);
    }
    if let Some(h) = hidden {
        b["hidden"] = json!(h);
    }
    b
}

/// Creates a rule; returns the status and, on 201, checks `active`/`hidden` were stored.
async fn create(api: &Api, body: Value) -> u16 {
    let (s, v) = api.call("POST", "/api/v1/rules", Some(body.clone())).await;
    match s {
        201 => {
            assert_eq!(
                v["rule"]["active"],
                body.get("active").cloned().unwrap_or(json!(true))
            );
            assert_eq!(
                v["rule"]["hidden"],
                body.get("hidden").cloned().unwrap_or(json!(false))
            );
        }
        409 => assert_eq!(assert_error_body(&v), "rule already exists"),
        _ => panic!("unexpected answer {s} {v}"),
    }
    s
}

async fn rule_count(api: &Api) -> usize {
    let v = api.ok("GET", "/api/v1/rules?limit=200", None).await;
    v["records"].as_array().map_or(0, Vec::len)
}

async fn admin_mode(api: &Api) -> Value {
    let r = api
        .http
        .get(format!("{}/_emulator/rule-dedup", api.base))
        .send()
        .await
        .unwrap();
    let (s, v) = parse(r).await;
    assert_eq!(s, 200, "{v}");
    v["mode"].clone()
}

async fn put_mode(api: &Api, body: Value) -> (u16, Value) {
    let r = api
        .http
        .put(format!("{}/_emulator/rule-dedup", api.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    parse(r).await
}

#[tokio::test]
async fn tuple_is_the_default_and_refuses_a_rule_differing_only_in_active_or_hidden() {
    let emu = start().await;
    assert_eq!(emu.admin().rule_dedup(), RuleDedup::Tuple);
    let api = Api::new(&emu);
    let (ws, conn) = setup(&api).await;
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", None, None)).await,
        201
    );
    // Only `active` differs (the operator's create-before-delete replace of a toggle).
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", Some(false), None)).await,
        409
    );
    // Only `hidden` differs.
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", None, Some(true))).await,
        409
    );
    // Fully identical.
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", None, None)).await,
        409
    );
    // Positive control: another event on the same connection is accepted.
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.login", Some(false), None)).await,
        201
    );
    assert_eq!(rule_count(&api).await, 2);
}

#[tokio::test]
async fn exact_accepts_a_rule_differing_only_in_active_or_hidden_but_refuses_a_full_copy() {
    let emu = start_with(RuleDedup::Exact).await;
    assert_eq!(emu.admin().rule_dedup(), RuleDedup::Exact);
    let api = Api::new(&emu);
    assert_eq!(admin_mode(&api).await, "exact");
    let (ws, conn) = setup(&api).await;
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", None, None)).await,
        201
    );
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", Some(false), None)).await,
        201
    );
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", None, Some(true))).await,
        201
    );
    // Fully identical to each of the three (defaults spelled out or not) → 409.
    assert_eq!(
        create(&api, rule(&ws, &conn, "user.signup", None, None)).await,
        409
    );
    assert_eq!(
        create(
            &api,
            rule(&ws, &conn, "user.signup", Some(true), Some(false))
        )
        .await,
        409
    );
    assert_eq!(
        create(
            &api,
            rule(&ws, &conn, "user.signup", Some(false), Some(false))
        )
        .await,
        409
    );
    assert_eq!(
        create(
            &api,
            rule(&ws, &conn, "user.signup", Some(true), Some(true))
        )
        .await,
        409
    );
    // A combination not seen yet is still accepted.
    assert_eq!(
        create(
            &api,
            rule(&ws, &conn, "user.signup", Some(false), Some(true))
        )
        .await,
        201
    );
    assert_eq!(rule_count(&api).await, 4);
}

#[tokio::test]
async fn none_accepts_a_fully_identical_rule() {
    let emu = start_with(RuleDedup::None).await;
    let api = Api::new(&emu);
    assert_eq!(admin_mode(&api).await, "none");
    let (ws, conn) = setup(&api).await;
    let body = rule(&ws, &conn, "user.signup", None, None);
    assert_eq!(create(&api, body.clone()).await, 201);
    assert_eq!(create(&api, body.clone()).await, 201);
    assert_eq!(create(&api, body).await, 201);
    assert_eq!(rule_count(&api).await, 3);
    let rules = emu.admin().rules();
    let ids: std::collections::HashSet<_> = rules.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids.len(), 3, "three distinct rules: {rules:?}");
}

#[tokio::test]
async fn the_admin_switch_changes_the_mode_at_run_time_and_reset_keeps_it() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    let (ws, conn) = setup(&api).await;
    let first = rule(&ws, &conn, "user.signup", None, None);
    let inactive = rule(&ws, &conn, "user.signup", Some(false), None);
    assert_eq!(create(&api, first.clone()).await, 201);

    // Positive control: the default mode refuses the inactive twin.
    assert_eq!(admin_mode(&api).await, "tuple");
    assert_eq!(create(&api, inactive.clone()).await, 409);

    // Over HTTP: exact → the inactive twin is accepted, a full copy still refused.
    let (s, v) = put_mode(&api, json!({"mode": "exact"})).await;
    assert_eq!((s, v), (200, json!({"mode": "exact"})));
    assert_eq!(admin.rule_dedup(), RuleDedup::Exact);
    assert_eq!(create(&api, inactive.clone()).await, 201);
    assert_eq!(create(&api, first.clone()).await, 409);

    // Bad requests change nothing.
    for bad in [json!({"mode": "sometimes"}), json!({}), json!({"mode": 1})] {
        let (s, v) = put_mode(&api, bad.clone()).await;
        assert_eq!(s, 400, "{bad} -> {v}");
        assert_error_body(&v);
    }
    assert_eq!(admin_mode(&api).await, "exact");

    // none → a full copy is accepted.
    let (s, _) = put_mode(&api, json!({"mode": "none"})).await;
    assert_eq!(s, 200);
    assert_eq!(create(&api, first.clone()).await, 201);
    assert_eq!(rule_count(&api).await, 3);

    // In-process: back to tuple → refused again (no rule added).
    admin.set_rule_dedup(RuleDedup::Tuple);
    assert_eq!(admin_mode(&api).await, "tuple");
    assert_eq!(create(&api, first.clone()).await, 409);
    assert_eq!(create(&api, inactive).await, 409);
    assert_eq!(rule_count(&api).await, 3);

    // Reset restores objects, not configuration: the mode survives it.
    admin.set_rule_dedup(RuleDedup::None);
    let r = api
        .http
        .post(format!("{}/_emulator/reset", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(admin.rule_dedup(), RuleDedup::None);
    let (ws, conn) = setup(&api).await;
    let again = rule(&ws, &conn, "user.signup", None, None);
    assert_eq!(create(&api, again.clone()).await, 201);
    assert_eq!(create(&api, again).await, 201);
}
