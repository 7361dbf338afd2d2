//! The workspace's output Secret: `MESHES_PUBLISHABLE_KEY`, `MESHES_WORKSPACE_ID` and
//! `MESHES_EVENTS_URL`, ready for an app's `envFrom`. Owned by the CR (owner reference); a
//! Secret with that name that the CR does not own is never overwritten.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::controllers::context::Context;
use crate::resources::MeshesWorkspace;

/// Key of the publishable key.
pub const PUBLISHABLE_KEY: &str = "MESHES_PUBLISHABLE_KEY";
/// Key of the workspace ID.
pub const WORKSPACE_ID: &str = "MESHES_WORKSPACE_ID";
/// Key of the ingestion base URL (including `/api/v1`).
pub const EVENTS_URL: &str = "MESHES_EVENTS_URL";
/// Label naming the workspace CR that owns the Secret.
pub const WORKSPACE_LABEL: &str = "meshes.io/workspace";

/// What happened to the output Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Created or updated.
    Changed,
    /// Already as wanted.
    Unchanged,
    /// A Secret with that name exists and is not ours.
    NotOurs,
}

/// The output Secret's name: `spec.publishableKeySecret.name` or `<name>-publishable-key`.
pub fn secret_name(ws: &MeshesWorkspace) -> String {
    ws.spec
        .publishable_key_secret
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| format!("{}-publishable-key", ws.name_any()))
}

fn owned_by(secret: &Secret, uid: &str) -> bool {
    secret.owner_references().iter().any(|o| o.uid == uid)
}

/// Writes the output Secret when it differs from `values`. `first`: this workspace has not
/// recorded writing it under this name (its status), so it most likely does not exist: it is
/// created, which a Secret already there refuses (then read and compared as usual), one request
/// where a read (a 404) and a write were two.
pub async fn ensure(
    ctx: &Context,
    ws: &MeshesWorkspace,
    name: &str,
    values: &BTreeMap<String, String>,
    first: bool,
) -> Result<Written, kube::Error> {
    let uid = ws.uid().unwrap_or_default();
    let namespace = ws.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let data: BTreeMap<String, ByteString> = values
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
        .collect();
    let wanted = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "meshes-operator".to_string(),
                ),
                (WORKSPACE_LABEL.to_string(), ws.name_any()),
            ])),
            owner_references: ws.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data.clone()),
        ..Secret::default()
    };
    // Registered before each write, so a change the watch reports meanwhile is not lost and
    // the copy written is kept for the next pass.
    if first {
        ctx.secrets.register(&namespace, name);
        let params = PostParams {
            field_manager: Some(ctx.config.manager_name.clone()),
            ..PostParams::default()
        };
        match api.create(&params, &wanted).await {
            Ok(created) => return Ok(keep(ctx, &namespace, name, created)),
            // Already there: read it and decide below (ours, or someone else's).
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(existing) = ctx.secrets.get(&ctx.client, &namespace, name).await? {
        if !owned_by(&existing, &uid) {
            return Ok(Written::NotOurs);
        }
        let labelled = existing.labels().get(WORKSPACE_LABEL) == Some(&ws.name_any());
        if existing.data.as_ref() == Some(&data) && labelled {
            return Ok(Written::Unchanged);
        }
    }
    ctx.secrets.register(&namespace, name);
    let mut patch = serde_json::to_value(&wanted).map_err(kube::Error::SerdeError)?;
    patch["apiVersion"] = json!("v1");
    patch["kind"] = json!("Secret");
    let written = api
        .patch(
            name,
            &PatchParams::apply(&ctx.config.manager_name).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(keep(ctx, &namespace, name, written))
}

/// Keeps the Secret this process just wrote in the Secret cache (the next pass reads it from
/// there) and reports the write.
fn keep(ctx: &Context, namespace: &str, name: &str, mut written: Secret) -> Written {
    written.metadata.managed_fields = None;
    ctx.secrets
        .insert(namespace, name, std::sync::Arc::new(written));
    Written::Changed
}

/// Deletes Secret `name` if this workspace owns it.
pub async fn remove(ctx: &Context, ws: &MeshesWorkspace, name: &str) -> Result<(), kube::Error> {
    let uid = ws.uid().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ws.namespace().unwrap_or_default());
    if let Some(existing) = api.get_opt(name).await?
        && owned_by(&existing, &uid)
    {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
