//! Item 4, deletion under faults: whole namespaces deleted by the real namespace controller, in
//! every order of their objects and one after another, tenants sharing credentials Secrets,
//! during a 5xx and 429 storm. After Meshes recovers no namespace stays beyond 60 s, upstream
//! matches the deletion policies (workspaces released and still there, once each; connections
//! and rules deleted) and every connection or rule left behind has a Warning Event naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::watcher;
use meshes_testenv::{TestEnv, sys};

use super::faults::Installed;
use super::process::Fleet;
use super::tenants::{self, KINDS};
use crate::support::World;

/// What is deleted before the namespace itself, one order per namespace (cycled).
const ORDERS: [&[&str]; 6] = [
    &[],
    &["MeshesWorkspace"],
    &["MeshesConnection"],
    &["MeshesRule"],
    &["Secret"],
    &[
        "MeshesRule",
        "MeshesConnection",
        "MeshesWorkspace",
        "Secret",
    ],
];

/// Every Event of the watched namespaces, by uid (the namespace controller deletes them with
/// the namespace, so they are collected as they are written).
fn record_events(
    client: kube::Client,
    namespaces: BTreeSet<String>,
) -> Arc<Mutex<BTreeMap<String, Event>>> {
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        let api: Api<Event> = Api::all(client);
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(e) = stream.next().await {
            let objs = match e {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => vec![o],
                Err(e) => {
                    eprintln!("event watch: {e}");
                    continue;
                }
                _ => continue,
            };
            for o in objs {
                // A Warning about an object in a namespace being deleted is published on the
                // Namespace (its Events live in `default`).
                let on_namespace = o.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("Namespace")
                        && r.name.as_ref().is_some_and(|n| namespaces.contains(n))
                });
                if on_namespace
                    || o.metadata
                        .namespace
                        .as_ref()
                        .is_some_and(|n| namespaces.contains(n))
                {
                    let uid = o.metadata.uid.clone().unwrap_or_default();
                    out.lock().unwrap().insert(uid, o);
                }
            }
        }
    });
    seen
}

#[tokio::test]
async fn namespaces_deleted_in_every_order_during_storms_are_gone_within_60s_of_recovery() {
    let started = Instant::now();
    let w = World::new("rel-del").await;
    let env = TestEnv::shared().await;
    let n_ns = ORDERS.len();
    let tenants = super::tenants().max(n_ns);
    let mut namespaces = vec![w.ns.clone()];
    for _ in 1..n_ns {
        namespaces.push(env.namespace("rel-del").await);
    }
    let c = w.emu.credentials();
    // Two shared credentials Secrets per namespace: tenants alternate between them.
    for ns in &namespaces {
        for secret in ["creds-a", "creds-b"] {
            tenants::apply(
                &w.client,
                ns,
                serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": secret}, "stringData": {"MESHES_ACCESS_KEY": c.access_key,
                "MESHES_SECRET_KEY": c.secret_key, "MESHES_ORG_ID": c.org_id}}),
            )
            .await;
        }
    }
    let mut fleet = Fleet::new(
        "deletion",
        vec![
            "--api-url".into(),
            w.emu.base_url(),
            "--watch-namespace".into(),
            namespaces.join(","),
            "--secret-grace=3s".into(),
            "--deletion-release-timeout=15s".into(),
            // Every tenant shares one access key here; at the default 10 calls/s the 600
            // deletes of the full size (200 tenants) alone take 60 s of pacing, which is the
            // bound itself. The budget of the scale bench (0.95 × R = 50/s) keeps the bound
            // about clean-up, not about the client's own pacing.
            "--api-rate=47.5".into(),
            "--api-burst=50".into(),
        ],
    );
    fleet.start("op", env.admin_kubeconfig());
    for i in 0..tenants {
        let secret = if i % 2 == 0 { "creds-a" } else { "creds-b" };
        tenants::create(&w.client, &namespaces[i % n_ns], i..i + 1, secret, false).await;
    }
    let objects = tenants * 4;
    let ready =
        tenants::wait_all_ready(&w.client, &namespaces, objects, super::ceiling(60, 2000)).await;
    let admin = w.emu.admin();
    let released: BTreeSet<String> = admin
        .workspaces()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    // Positive control: everything exists upstream before the deletion.
    assert_eq!(released.len(), tenants);
    assert_eq!(admin.connections().len(), tenants);
    assert_eq!(admin.rules().len(), tenants * 2);
    let events = record_events(w.client.clone(), namespaces.iter().cloned().collect());

    let storm = Installed::storm(&admin, 0.4, 0.2);
    let ns_api: Api<Namespace> = Api::all(w.client.clone());
    // Namespaces go one after another, in an order different from their creation.
    let mut order: Vec<usize> = (0..n_ns).collect();
    order.reverse();
    order.rotate_left(2);
    for k in order {
        let ns = &namespaces[k];
        for kind in ORDERS[k] {
            tenants::api(&w.client, ns, kind)
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        ns_api.delete(ns, &DeleteParams::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The storm goes on for a while after the last deletion, then Meshes recovers.
    tokio::time::sleep(Duration::from_secs(15)).await;
    storm.remove(&admin);
    let recovered = Instant::now();
    storm.assert_all_fired(&admin);
    let mut stuck: Vec<String> = Vec::new();
    let mut gone_after = Duration::ZERO;
    for ns in &namespaces {
        loop {
            if ns_api.get_opt(ns).await.unwrap().is_none() {
                gone_after = gone_after.max(recovered.elapsed());
                break;
            }
            if recovered.elapsed() > Duration::from_secs(60) {
                let mut left = Vec::new();
                for kind in KINDS.iter().chain(&["Secret"]) {
                    for o in tenants::api(&w.client, ns, kind)
                        .list(&ListParams::default())
                        .await
                        .unwrap()
                        .items
                    {
                        left.push(format!(
                            "{kind}/{} finalizers {:?}",
                            o.metadata.name.unwrap_or_default(),
                            o.metadata.finalizers
                        ));
                    }
                }
                stuck.push(format!("{ns}: {left:?}"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    fleet
        .signal("op", sys::SIGTERM, Duration::from_secs(60))
        .await;
    let (crashes, panics) = fleet.finish().await;

    // Upstream against the policies: every workspace released and there once, no connection or
    // rule left without a Warning naming it.
    let recorded = events.lock().unwrap().len();
    if std::env::var("DEBUG_RELIABILITY").is_ok() {
        for e in events.lock().unwrap().values() {
            eprintln!(
                "EVENT {:?} {:?} {:?} {:?}",
                e.type_,
                e.reason,
                e.regarding.as_ref().and_then(|r| r.name.clone()),
                e.note
            );
        }
    }
    let warnings: Vec<String> = events
        .lock()
        .unwrap()
        .values()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| e.note.clone().unwrap_or_default())
        .collect();
    let upstream_ws: Vec<String> = admin
        .workspaces()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    let duplicates = upstream_ws.len() - upstream_ws.iter().collect::<BTreeSet<_>>().len()
        + upstream_ws
            .iter()
            .filter(|id| !released.contains(*id))
            .count();
    let missing = released
        .iter()
        .filter(|id| !upstream_ws.contains(id))
        .count();
    let mut orphans = Vec::new();
    for o in admin.connections().into_iter().chain(admin.rules()) {
        orphans.push(o["id"].as_str().unwrap().to_string());
    }
    // In a namespace being deleted the apiserver refuses new Events: the operator publishes
    // the Warning on the Namespace instead, and logs it when even that fails.
    let logged: Vec<String> = fleet
        .log_texts()
        .into_iter()
        .flat_map(|(_, text)| {
            text.lines()
                .filter(|l| l.contains("WARN") && l.contains("publishing a Warning Event failed"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let by_event = orphans
        .iter()
        .filter(|id| warnings.iter().any(|n| n.contains(id.as_str())))
        .count();
    let unwarned: Vec<&String> = orphans
        .iter()
        .filter(|id| {
            !warnings
                .iter()
                .chain(&logged)
                .any(|n| n.contains(id.as_str()))
        })
        .collect();
    super::report(
        "deletion",
        &[
            ("namespaces", n_ns.to_string()),
            ("events_recorded", recorded.to_string()),
            ("tenants", tenants.to_string()),
            ("duplicates", duplicates.to_string()),
            ("orphans", orphans.len().to_string()),
            ("orphans_warned_by_event", by_event.to_string()),
            (
                "orphans_warned_in_log_only",
                (orphans.len() - by_event - unwarned.len()).to_string(),
            ),
            ("orphans_without_warning", unwarned.len().to_string()),
            ("missing", missing.to_string()),
            ("stuck_deletes", stuck.len().to_string()),
            ("crashes", crashes.len().to_string()),
            ("panics", panics.to_string()),
            ("fault_hits", storm.hits_text(&admin)),
            ("ready_s", format!("{:.1}", ready.as_secs_f64())),
            (
                "gone_after_recovery_s",
                format!("{:.1}", gone_after.as_secs_f64()),
            ),
            ("total_s", format!("{:.1}", started.elapsed().as_secs_f64())),
        ],
    );
    assert!(
        stuck.is_empty(),
        "namespaces stuck 60 s after recovery: {stuck:#?}"
    );
    assert_eq!(duplicates, 0, "duplicate workspaces upstream");
    assert_eq!(missing, 0, "released workspaces missing upstream");
    assert!(
        unwarned.is_empty(),
        "left upstream without a Warning Event: {unwarned:?}; warnings: {warnings:#?}"
    );
    assert_eq!(
        by_event,
        orphans.len(),
        "every orphan named by a Warning Event (log lines: {logged:#?})"
    );
    assert!(
        crashes.is_empty(),
        "operator exits not caused by the suite: {crashes:?}"
    );
    assert_eq!(panics, 0, "panics in the operator logs");
    fleet.remove_logs();
}
