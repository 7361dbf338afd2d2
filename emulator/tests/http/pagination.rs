//! Cursor pagination: a walk over 1,000 workspaces sees each exactly once while others are being
//! created concurrently; bad `limit`/`cursor` are 400.

use std::collections::HashSet;

use serde_json::json;

use crate::common::{Api, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walking_1000_workspaces_during_concurrent_inserts_loses_and_repeats_nothing() {
    let emu = start().await;
    let api = Api::new(&emu);
    let admin = emu.admin();
    let org = emu.credentials().org_id;
    let initial: HashSet<String> = (0..1000)
        .map(|i| admin.create_workspace_direct(&org, &format!("Initial {i:04}")))
        .collect();
    assert_eq!(initial.len(), 1000);

    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                api.create_workspace(&format!("Concurrent {i:04}")).await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/workspaces?limit=37&cursor={c}"),
            None => "/api/v1/workspaces?limit=37".into(),
        };
        let page = api.ok("GET", &path, None).await;
        pages += 1;
        let records = page["records"].as_array().unwrap();
        assert_eq!(page["count"].as_u64().unwrap() as usize, records.len());
        assert_eq!(page["limit"], 37);
        seen.extend(records.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(
                    c.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'),
                    "cursor {c}"
                );
                cursor = Some(c.to_owned());
            }
            None => break,
        }
        assert!(pages < 1000, "walk does not terminate");
    }
    writer.await.unwrap();
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a workspace was returned twice");
    let missing: Vec<_> = initial.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "{} initial workspaces were lost",
        missing.len()
    );
    assert!(pages >= 28, "{pages} pages");
    // Positive control: everything created concurrently exists afterwards.
    assert_eq!(admin.workspaces().len(), 1300);
}

#[tokio::test]
async fn default_limit_and_bad_paging_parameters() {
    let emu = start().await;
    let api = Api::new(&emu);
    for i in 0..55 {
        emu.admin()
            .create_workspace_direct(&emu.credentials().org_id, &format!("W{i}"));
    }
    let first = api.ok("GET", "/api/v1/workspaces", None).await;
    assert_eq!(
        (first["count"].clone(), first["limit"].clone()),
        (json!(50), json!(50))
    );
    assert!(first["next_cursor"].is_string());
    let c = first["next_cursor"].as_str().unwrap();
    let second = api
        .ok("GET", &format!("/api/v1/workspaces?cursor={c}"), None)
        .await;
    assert_eq!(second["count"], 5);
    assert!(second["next_cursor"].is_null());
    for q in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=%%%",
        "cursor=bm9wZQ",
    ] {
        let (s, v) = api
            .call("GET", &format!("/api/v1/workspaces?{q}"), None)
            .await;
        assert_eq!(s, 400, "{q}: {v}");
        assert!(v["error"]["data"][0]["param"].is_string(), "{v}");
    }
}
