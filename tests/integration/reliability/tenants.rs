//! Tenants as the scenarios create them: per tenant `ten<i>`, a workspace, a webhook connection
//! `ten<i>-hook` and two rules `ten<i>-a-b` and `ten<i>-c-d`, applied into one namespace.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{api_resource, condition};

/// The three custom resource kinds, parents first.
pub const KINDS: [&str; 3] = ["MeshesWorkspace", "MeshesConnection", "MeshesRule"];

/// The events each tenant routes.
pub const EVENTS: [&str; 2] = ["a.b", "c.d"];

/// A dynamic API for `kind` in `ns`.
pub fn api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

/// Server-side applies one object into `ns`.
pub async fn apply(client: &kube::Client, ns: &str, mut v: Value) {
    v["metadata"]["namespace"] = json!(ns);
    let kind = v["kind"].as_str().unwrap().to_string();
    let name = v["metadata"]["name"].as_str().unwrap().to_string();
    let obj: DynamicObject = serde_json::from_value(v).unwrap();
    api(client, ns, &kind)
        .patch(
            &name,
            &PatchParams::apply("reliability").force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {kind}/{name} in {ns}: {e}"));
}

/// Secret holding the webhook signing secret the connections reference (when asked to).
pub const SIGNING_SECRET: &str = "hook-signing";

/// The manifests of tenant `ten<i>` using credentials Secret `secret`; with `signed`, its
/// connection takes `signing_secret` from Secret [`SIGNING_SECRET`] (key `secret`).
pub fn manifests(i: usize, secret: &str, signed: bool) -> Vec<Value> {
    let ws = format!("ten{i}");
    let hook = format!("{ws}-hook");
    let mut out = vec![
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": ws},
            "spec": {"credentialsRef": {"name": secret}}}),
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": hook},
            "spec": {"workspaceRef": {"name": ws}, "type": "webhook",
                     "metadata": {"url": format!("https://hooks.example/{ws}")}}}),
    ];
    if signed {
        out[1]["spec"]["secretMetadata"] = json!([{"key": "signing_secret",
            "secretKeyRef": {"name": SIGNING_SECRET, "key": "secret"}}]);
    }
    for ev in EVENTS {
        out.push(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule",
            "metadata": {"name": format!("{ws}-{}", ev.replace('.', "-"))},
            "spec": {"connectionRef": {"name": hook}, "event": ev, "metadata": {"action": "send_webhook"}}}));
    }
    out
}

/// Applies tenants `range` into `ns` with credentials Secret `secret` (see [`manifests`]).
pub async fn create(
    client: &kube::Client,
    ns: &str,
    range: std::ops::Range<usize>,
    secret: &str,
    signed: bool,
) {
    for i in range {
        for m in manifests(i, secret, signed) {
            apply(client, ns, m).await;
        }
    }
}

/// Objects of the three kinds in `ns` that are not Ready for their current generation, as
/// `Kind/name (reason)`.
pub async fn not_ready(client: &kube::Client, ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for kind in KINDS {
        let Ok(list) = api(client, ns, kind).list(&ListParams::default()).await else {
            out.push(format!("{kind}: list failed"));
            continue;
        };
        for o in list.items {
            let v = serde_json::to_value(&o).unwrap();
            let ready = condition(&v["status"], "Ready");
            let ok = ready.as_ref().is_some_and(|(s, _, _, g)| {
                s == "True" && *g == v["metadata"]["generation"].as_i64()
            });
            if !ok {
                // Reason, message (truncated) and UID: enough to find the object's passes in
                // the operator's log.
                let (reason, message) = ready.map(|r| (r.1, r.2)).unwrap_or_default();
                out.push(format!(
                    "{kind}/{} uid={} ({reason}: {})",
                    o.metadata.name.unwrap_or_default(),
                    o.metadata.uid.unwrap_or_default(),
                    message.chars().take(240).collect::<String>()
                ));
            }
        }
    }
    out
}

/// Counts the objects of the three kinds in `ns`.
pub async fn count(client: &kube::Client, ns: &str) -> usize {
    let mut n = 0;
    for kind in KINDS {
        n += api(client, ns, kind)
            .list(&ListParams::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
    }
    n
}

/// Waits until every object in `namespaces` is Ready (and there are `expected` of them);
/// returns how long it took, or panics with what is still not Ready after `timeout`.
pub async fn wait_all_ready(
    client: &kube::Client,
    namespaces: &[String],
    expected: usize,
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let mut pending = Vec::new();
        let mut total = 0;
        for ns in namespaces {
            pending.extend(not_ready(client, ns).await);
            total += count(client, ns).await;
        }
        if pending.is_empty() && total == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "not all Ready after {timeout:?}: {} of {total} pending (expected {expected} objects): {:?}",
            pending.len(),
            &pending[..pending.len().min(20)]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
