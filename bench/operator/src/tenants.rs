//! The measured workload: tenants of four custom resources each (a workspace, a webhook
//! connection whose signing secret comes from a Secret, and two rules), grouped in one
//! namespace per org with that org's credentials Secret, created in parallel with the kube
//! client.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use meshes_emulator::Credentials;
use serde_json::{Value, json};

use crate::cluster::ensure_namespace;

/// Custom resources per tenant.
pub const CRS_PER_TENANT: usize = 4;
/// Objects in flight at once while creating.
const PARALLEL: usize = 64;

/// The namespace of org `o`.
pub fn namespace(o: usize) -> String {
    format!("org-{o}")
}

/// The API resource of a meshes.io kind or a core kind.
pub fn resource(kind: &str) -> ApiResource {
    let gvk = match kind {
        "Secret" | "ConfigMap" => GroupVersionKind::gvk("", "v1", kind),
        _ => GroupVersionKind::gvk("meshes.io", "v1alpha1", kind),
    };
    let plural = format!("{}s", kind.to_ascii_lowercase());
    ApiResource::from_gvk_with_plural(&gvk, &plural)
}

/// Creates the org namespaces with their credentials and signing Secrets.
pub async fn prepare_orgs(client: &kube::Client, keys: &[Credentials]) -> anyhow::Result<()> {
    for (o, key) in keys.iter().enumerate() {
        let ns = namespace(o);
        ensure_namespace(client, &ns).await?;
        create(
            client,
            &ns,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "meshes-credentials"},
                "stringData": {"MESHES_ACCESS_KEY": key.access_key, "MESHES_SECRET_KEY": key.secret_key,
                "MESHES_ORG_ID": key.org_id}}),
        )
        .await?;
        create(
            client,
            &ns,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook-signing"},
                "stringData": {"secret": "change-me-to-a-long-random-signing-secret"}}),
        )
        .await?;
    }
    Ok(())
}

/// The four custom resources of tenant `i`.
pub fn tenant(i: usize) -> Vec<Value> {
    let ws = format!("tenant-{i}");
    let conn = format!("tenant-{i}-hook");
    let rule = |suffix: &str, event: &str| {
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule",
            "metadata": {"name": format!("tenant-{i}-{suffix}")},
            "spec": {"connectionRef": {"name": conn}, "event": event,
                "metadata": {"action": "send_webhook"}}})
    };
    vec![
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": ws},
            "spec": {"description": format!("tenant {i}"), "credentialsRef": {"name": "meshes-credentials"}}}),
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": conn},
            "spec": {"workspaceRef": {"name": ws}, "type": "webhook",
                "metadata": {"url": format!("https://hooks.tenant{i}.example/meshes"), "http_method": "POST"},
                "secretMetadata": [{"key": "signing_secret", "secretKeyRef": {"name": "hook-signing", "key": "secret"}}]}}),
        rule("signup", "user.signup"),
        rule("payment", "payment.failed"),
    ]
}

/// Creates one object (from its manifest) in `ns`.
pub async fn create(client: &kube::Client, ns: &str, manifest: Value) -> anyhow::Result<()> {
    let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource(&kind));
    let obj: DynamicObject = serde_json::from_value(manifest).context("manifest")?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {kind} in {ns}")),
    }
}

/// Creates `per_org` tenants in each of `orgs` orgs, `PARALLEL` objects at a time; returns how
/// long the creation took (the arrival time).
pub async fn create_all(
    client: &kube::Client,
    orgs: usize,
    per_org: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let work: Vec<(String, Value)> = (0..orgs)
        .flat_map(|o| {
            (0..per_org).flat_map(move |i| {
                tenant(o * per_org + i)
                    .into_iter()
                    .map(move |m| (namespace(o), m))
            })
        })
        .collect();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(work)
        .map(|(ns, m)| async move { create(client, &ns, m).await })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(started.elapsed())
}

/// Creates `count` objects of `kind` (Secret or ConfigMap) of about 1 KiB each in `ns`.
pub async fn create_unrelated(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    count: usize,
) -> anyhow::Result<()> {
    ensure_namespace(client, ns).await?;
    let filler = "x".repeat(1024);
    let field = if kind == "Secret" {
        "stringData"
    } else {
        "data"
    };
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let m = json!({"apiVersion": "v1", "kind": kind,
                "metadata": {"name": format!("unrelated-{i}")}, field: {"blob": filler}});
            async move { create(client, ns, m).await }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}
