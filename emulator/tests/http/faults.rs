//! Faults and rate limiting: commit-then-drop, next-N statuses, probabilities, latency before
//! and after commit, 429 with Retry-After, the per-key token bucket, and faults set over HTTP.

use std::time::{Duration, Instant};

use meshes_emulator::{Emulator, EmulatorConfig, FaultAction, FaultSpec, RateLimit, Trigger};
use serde_json::json;

use crate::common::{Api, start};

fn spec(method: &str, route: &str, action: FaultAction, trigger: Trigger) -> FaultSpec {
    FaultSpec {
        method: Some(method.into()),
        route: route.into(),
        action,
        trigger,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_drop_on_create_workspace_applies_the_write_and_fails_the_client() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    let id = admin.add_fault(spec(
        "POST",
        "/api/v1/workspaces",
        FaultAction::CommitThenDrop,
        Trigger::Next(1),
    ));
    let res = api
        .request("POST", "/api/v1/workspaces")
        .json(&json!({"name": "Dropped"}))
        .send()
        .await;
    let failed = match res {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a failure");
    assert_eq!(admin.fault_hits(id), 1);
    let list = api.ok("GET", "/api/v1/workspaces", None).await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["records"][0]["name"], "Dropped");
    // The retry by a client now hits the name conflict: the write really happened once.
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/workspaces",
            Some(json!({"name": "Dropped"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(admin.fault_hits(id), 1);
    assert_eq!(admin.request_count("POST", "/api/v1/workspaces"), 2);
}

#[tokio::test]
async fn next_n_status_faults_fire_exactly_n_times_on_the_matching_route_only() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    let ws = api.create_workspace("Faulty").await;
    let id = admin.add_fault(spec(
        "GET",
        "/api/v1/workspaces/{workspace_id}",
        FaultAction::Status(503),
        Trigger::Next(2),
    ));
    // Other route and other method unaffected.
    assert_eq!(api.call("GET", "/api/v1/workspaces", None).await.0, 200);
    assert_eq!(
        api.call(
            "PUT",
            &format!("/api/v1/workspaces/{ws}"),
            Some(json!({"name": "Faulty"}))
        )
        .await
        .0,
        200
    );
    let path = format!("/api/v1/workspaces/{ws}");
    let statuses = [
        api.call("GET", &path, None).await.0,
        api.call("GET", &path, None).await.0,
        api.call("GET", &path, None).await.0,
    ];
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(admin.fault_hits(id), 2);
    assert_eq!(admin.faults()[0].remaining, Some(0));
}

#[tokio::test]
async fn probability_faults_respect_zero_and_one() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    let never = admin.add_fault(spec(
        "GET",
        "/api/v1/rules",
        FaultAction::Status(500),
        Trigger::Probability(0.0),
    ));
    let always = admin.add_fault(FaultSpec {
        method: None,
        route: "/api/v1/connections*".into(),
        action: FaultAction::Status(502),
        trigger: Trigger::Probability(1.0),
    });
    for _ in 0..5 {
        assert_eq!(api.call("GET", "/api/v1/rules", None).await.0, 200);
        assert_eq!(api.call("GET", "/api/v1/connections", None).await.0, 502);
    }
    assert_eq!((admin.fault_hits(never), admin.fault_hits(always)), (0, 5));
    admin.clear_faults();
    assert_eq!(api.call("GET", "/api/v1/connections", None).await.0, 200);
    assert_eq!(
        admin.fault_hits(always),
        5,
        "hit counts survive clear_faults"
    );
}

#[tokio::test]
async fn rate_limited_fault_and_latency_faults() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    let rl = admin.add_fault(spec(
        "GET",
        "/api/v1/integrations",
        FaultAction::RateLimited {
            retry_after_secs: 7,
        },
        Trigger::Next(1),
    ));
    let resp = api
        .request("GET", "/api/v1/integrations")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(admin.fault_hits(rl), 1);

    let slow = admin.add_fault(spec(
        "GET",
        "/api/v1/rules",
        FaultAction::Latency {
            delay: Duration::from_millis(400),
            after_commit: false,
        },
        Trigger::Next(1),
    ));
    let t = Instant::now();
    assert_eq!(api.call("GET", "/api/v1/rules", None).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(admin.fault_hits(slow), 1);

    // After-commit latency: the write is visible while the client is still waiting.
    let late = admin.add_fault(spec(
        "POST",
        "/api/v1/workspaces",
        FaultAction::Latency {
            delay: Duration::from_secs(2),
            after_commit: true,
        },
        Trigger::Next(1),
    ));
    let api2 = api.clone();
    let pending = tokio::spawn(async move {
        api2.call(
            "POST",
            "/api/v1/workspaces",
            Some(json!({"name": "Slow Commit"})),
        )
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if admin
            .workspaces()
            .iter()
            .any(|w| w["name"] == "Slow Commit")
        {
            break;
        }
        assert!(Instant::now() < deadline, "write never became visible");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !pending.is_finished(),
        "client should still be waiting after the commit"
    );
    assert_eq!(pending.await.unwrap().0, 201);
    assert_eq!(admin.fault_hits(late), 1);
}

#[tokio::test]
async fn per_key_token_bucket_answers_429_with_retry_after() {
    let emu = Emulator::start(EmulatorConfig {
        rate_limit: Some(RateLimit {
            per_second: 0.2,
            burst: 3,
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&emu);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let r = api
            .request("GET", "/api/v1/workspaces")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(
        retry_after.is_some_and(|s| (1..=5).contains(&s)),
        "{retry_after:?}"
    );
    // Another key has its own bucket.
    let other = Api::with_creds(&emu, emu.admin().add_key(&emu.credentials().org_id));
    assert_eq!(other.call("GET", "/api/v1/workspaces", None).await.0, 200);
    // Limits change at run time.
    emu.admin().set_rate_limit(None);
    assert_eq!(api.call("GET", "/api/v1/workspaces", None).await.0, 200);
}

#[tokio::test]
async fn faults_can_be_managed_over_the_admin_http_api() {
    let emu = start().await;
    let api = Api::new(&emu);
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let r = http
        .post(format!("{base}/_emulator/faults"))
        .json(&json!({"spec": "GET /api/v1/workspaces status=504 next=1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    let r = http.post(format!("{base}/_emulator/faults")).json(&json!({"route": "/api/v1/rules", "action": "status", "status": 500, "probability": 1.0})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(api.call("GET", "/api/v1/workspaces", None).await.0, 504);
    assert_eq!(api.call("GET", "/api/v1/rules", None).await.0, 500);
    let f: serde_json::Value = http
        .get(format!("{base}/_emulator/faults/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(f["hits"], 1);
    let bad = http
        .post(format!("{base}/_emulator/faults"))
        .json(&json!({"spec": "GET /x wobble"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    http.delete(format!("{base}/_emulator/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.call("GET", "/api/v1/rules", None).await.0, 200);
}
