//! Emulator benchmark (not a test): management requests/s and ingestion events/s delivered,
//! on loopback, with 10,000 stored objects and a local webhook receiver.
//!
//! `cargo run --release -p meshes-emulator --example bench -- [SECONDS] [EVENTS]`
//! (defaults: 5 s of management load, 20,000 events). See bench/README.md.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use meshes_emulator::{Credentials, DeliveryConfig, Emulator, EmulatorConfig, Seed};
use serde_json::{Value, json};
use uuid::Uuid;

const WORKSPACES: usize = 100;
const CONNECTIONS_PER_WS: usize = 30;
const RULES_PER_WS: usize = 69;
const MGMT_WORKERS: usize = 32;
const INGEST_WORKERS: usize = 8;
const BULK: usize = 100;

fn mint(c: &Credentials) -> String {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(c.access_key.clone());
    header.typ = Some("JWT".into());
    let claims = json!({ "iss": format!("urn:meshes:m2m:{}", c.access_key), "aud": "meshes-api",
                         "org": c.org_id, "iat": iat, "exp": iat + 30 });
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(c.secret_key.as_bytes()),
    )
    .unwrap()
}

/// A receiver that counts requests and answers 200.
async fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, count)
}

struct Ids {
    workspaces: Vec<Uuid>,
    connections: Vec<Uuid>,
    rules: Vec<Uuid>,
}

/// 100 workspaces × (30 webhook connections + 69 rules) + 100 = 10,000 objects.
fn seed(hook: &str) -> (Seed, Ids) {
    let mut ids = Ids {
        workspaces: vec![],
        connections: vec![],
        rules: vec![],
    };
    let (mut ws, mut conns, mut rules) = (vec![], vec![], vec![]);
    for w in 0..WORKSPACES {
        let wid = Uuid::new_v4();
        ids.workspaces.push(wid);
        ws.push(json!({ "id": wid, "name": format!("bench-{w}") }));
        let mut cids = vec![];
        for c in 0..CONNECTIONS_PER_WS {
            let cid = Uuid::new_v4();
            cids.push(cid);
            ids.connections.push(cid);
            conns.push(json!({ "id": cid, "workspace": wid, "type": "webhook",
                               "name": format!("hook-{c}"), "metadata": { "url": hook } }));
        }
        for r in 0..RULES_PER_WS {
            let rid = Uuid::new_v4();
            ids.rules.push(rid);
            rules.push(
                json!({ "id": rid, "workspace": wid, "connection": cids[r % cids.len()],
                               "event": format!("seeded.event.{r}"),
                               "metadata": { "action": "send_webhook" } }),
            );
        }
    }
    let text = json!({ "workspaces": ws, "connections": conns, "rules": rules }).to_string();
    (Seed::from_text(&text).unwrap(), ids)
}

fn pick<T: Copy>(v: &[T], i: u64) -> T {
    v[(i as usize).wrapping_mul(2_654_435_761) % v.len()]
}

async fn management(
    base: &str,
    creds: &Credentials,
    ids: Arc<Ids>,
    secs: u64,
) -> (u64, u64, Vec<u128>) {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = vec![];
    for w in 0..MGMT_WORKERS {
        let (base, creds, ids, ok, bad) = (
            base.to_owned(),
            creds.clone(),
            ids.clone(),
            ok.clone(),
            bad.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut i = w as u64 * 7919;
            while Instant::now() < deadline {
                i += 1;
                let path = match i % 10 {
                    0..=3 => format!("/api/v1/workspaces/{}", pick(&ids.workspaces, i)),
                    4..=6 => format!("/api/v1/connections/{}", pick(&ids.connections, i)),
                    7 | 8 => format!("/api/v1/rules/{}", pick(&ids.rules, i)),
                    _ => format!("/api/v1/workspaces/{}/rules", pick(&ids.workspaces, i)),
                };
                let t = Instant::now();
                let r = http
                    .get(format!("{base}{path}"))
                    .bearer_auth(mint(&creds))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                lat.push(t.elapsed().as_micros());
            }
            lat
        }));
    }
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat.sort_unstable();
    (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed), lat)
}

fn pct(lat: &[u128], p: f64) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);

    let (hook, received) = receiver().await;
    let emu = Emulator::start(EmulatorConfig {
        allow_insecure_loopback_webhooks: true,
        delivery: DeliveryConfig {
            concurrency: 64,
            ..DeliveryConfig::default()
        },
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let creds = emu.credentials();
    let t = Instant::now();
    let (seed, ids) = seed(&hook);
    emu.admin().seed(&seed).unwrap();
    let stored = {
        let s = emu.admin().state();
        s.workspaces.len() + s.connections.len() + s.rules.len()
    };
    println!(
        "seeded {stored} objects in {:.2}s",
        t.elapsed().as_secs_f64()
    );

    // Management: GET workspace / connection / rule by id and a workspace's rule list.
    let api = emu.base_url();
    let ids = Arc::new(ids);
    let (ok, bad, lat) = management(&api, &creds, ids.clone(), secs).await;
    println!(
        "management: {ok} ok, {bad} failed in {secs}s = {:.0} requests/s (p50 {:.2} ms, p99 {:.2} ms, {MGMT_WORKERS} clients, fresh JWT per request)",
        ok as f64 / secs as f64,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );

    // Ingestion: one workspace with a webhook rule to the receiver; bulk requests of 100.
    let ws = ids.workspaces[0];
    let conn = ids.connections[0];
    let http = reqwest::Client::new();
    let rule: Value = http
        .post(format!("{api}/api/v1/rules"))
        .bearer_auth(mint(&creds))
        .json(
            &json!({ "workspace": ws, "connection": conn, "event": "bench.event",
                       "metadata": { "action": "send_webhook" } }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(rule["rule"]["id"].is_string(), "{rule}");
    let key = emu.admin().publishable_key(&ws.to_string()).unwrap();
    let before = received.load(Ordering::Relaxed);
    let start = Instant::now();
    let batches = events.div_ceil(BULK);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..INGEST_WORKERS {
        let (http, url, key, next) = (http.clone(), emu.events_url(), key.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed) as usize;
                if b >= batches {
                    return;
                }
                let batch: Vec<Value> = (0..BULK)
                    .map(|j| json!({ "event": "bench.event", "resource": "user",
                                     "payload": { "email": format!("u{b}-{j}@example.com"), "n": j } }))
                    .collect();
                let r = http
                    .post(format!("{url}/events/bulk"))
                    .header("X-Meshes-Publishable-Key", &key)
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted_in = start.elapsed().as_secs_f64();
    let total = (batches * BULK) as u64;
    let limit = Instant::now() + Duration::from_secs(300);
    while received.load(Ordering::Relaxed) - before < total && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_in = start.elapsed().as_secs_f64();
    let delivered = received.load(Ordering::Relaxed) - before;
    println!(
        "ingestion: {total} events accepted in {accepted_in:.2}s = {:.0} events/s accepted; {delivered} delivered to the receiver in {delivered_in:.2}s = {:.0} events/s delivered end to end",
        total as f64 / accepted_in,
        delivered as f64 / delivered_in
    );
    let failed = emu
        .admin()
        .deliveries()
        .iter()
        .filter(|d| !d.success)
        .count();
    println!("failed attempts: {failed}");
    emu.shutdown().await;
}
