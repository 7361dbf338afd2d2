//! Replays every case in `emulator/golden/` (written by hand from the contract, see
//! `emulator/golden/README.md`) against a freshly
//! reset emulator seeded with `golden/seed.json`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use meshes_emulator::{Emulator, EmulatorConfig, Seed};
use serde_json::Value;

use crate::common::{Api, parse};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn looks_like_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

fn looks_like_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Differences between `expected` and `actual`; `volatile` pointers only need the same form.
fn compare(
    expected: &Value,
    actual: &Value,
    path: &str,
    volatile: &BTreeSet<String>,
    subset: bool,
    out: &mut Vec<String>,
) {
    if volatile.contains(path) {
        if !same_type(expected, actual) {
            out.push(format!(
                "{path}: type differs: expected like {expected}, got {actual}"
            ));
        } else if let (Value::String(e), Value::String(a)) = (expected, actual) {
            if looks_like_uuid(e) && !looks_like_uuid(a) {
                out.push(format!("{path}: expected a UUID, got {a}"));
            }
            if looks_like_time(e) && !looks_like_time(a) {
                out.push(format!("{path}: expected an RFC 3339 time, got {a}"));
            }
        }
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}/{k}");
                match a.get(k) {
                    Some(av) => compare(ev, av, &p, volatile, subset, out),
                    None => out.push(format!("{p}: missing")),
                }
            }
            if !subset {
                for k in a.keys().filter(|k| !e.contains_key(*k)) {
                    out.push(format!("{path}/{k}: unexpected member {}", a[k]));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if subset => {
            // Ordered subsequence: each expected element matches a later actual element.
            let mut rest = a.iter();
            for (i, ev) in e.iter().enumerate() {
                let found = rest.by_ref().any(|av| {
                    let mut d = Vec::new();
                    compare(ev, av, "", &BTreeSet::new(), true, &mut d);
                    d.is_empty()
                });
                if !found {
                    out.push(format!("{path}/{i}: no matching element for {ev}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: expected {} elements, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{path}/{i}"), volatile, subset, out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_case_matches_the_emulator() {
    let seed_text = std::fs::read_to_string(golden_dir().join("seed.json")).unwrap();
    let seed = Seed::from_text(&seed_text).unwrap();
    let emu = Emulator::start(EmulatorConfig {
        seed: Some(seed),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(emu.credentials().access_key, "mk_golden0access0key0000001");
    let api = Api::new(&emu);
    let admin = emu.admin();

    let mut files: Vec<_> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("seed.json"))
        .collect();
    files.sort();
    assert!(files.len() >= 50, "only {} golden cases", files.len());

    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        admin.reset();
        let method = case["method"].as_str().unwrap();
        let path = case["path"].as_str().unwrap();
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = api.http.request(m, format!("{}{}", api.base, path));
        if case["auth"].as_str().unwrap_or("valid") == "valid" {
            rb = rb.bearer_auth(crate::common::mint(&api.creds));
        }
        if let Some(h) = case["headers"].as_object() {
            for (k, v) in h {
                rb = rb.header(k.as_str(), v.as_str().unwrap());
            }
        }
        rb = match &case["request"] {
            Value::Null => rb,
            Value::String(raw) => rb
                .header("Content-Type", "application/json")
                .body(raw.clone()),
            body => rb.json(body),
        };
        let (status, body) = parse(rb.send().await.unwrap()).await;
        let want_status = case["response_status"].as_u64().unwrap() as u16;
        let volatile: BTreeSet<String> = case["volatile"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let subset = case["compare"] == "subset";
        let mut diffs = Vec::new();
        if status != want_status {
            diffs.push(format!("status: expected {want_status}, got {status}"));
        }
        compare(&case["response"], &body, "", &volatile, subset, &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn comparison_detects_differences() {
    // Positive control for the comparator itself: a wrong value, a missing and an extra member.
    let e =
        serde_json::json!({"a": 1, "b": {"c": "x"}, "id": "3f0e2a4c-0000-4000-8000-000000000001"});
    let a = serde_json::json!({"a": 2, "b": {"d": "x"}, "id": "not-a-uuid"});
    let vol = BTreeSet::from(["/id".to_owned()]);
    let mut out = Vec::new();
    compare(&e, &a, "", &vol, false, &mut out);
    assert_eq!(out.len(), 4, "{out:?}");
    let mut out = Vec::new();
    compare(&e, &e, "", &vol, false, &mut out);
    assert!(out.is_empty());
}
