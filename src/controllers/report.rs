//! Writing results back: status by server-side apply only when it changed, and Kubernetes
//! Events (rate-limited per object and reason, [`super::event_limit`]; identical repeats are
//! merged into series by the recorder).

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::context::Context;

/// Applies `status` to `obj`'s status subresource as the operator's field manager. Fields the
/// operator set before and omits now are removed (server-side apply semantics).
pub async fn apply_status<K, S>(ctx: &Context, obj: &K, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(&ctx.config.manager_name).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// A hash of `status` as written (its JSON), to recognise the status this process wrote last
/// without keeping a copy.
pub fn status_hash<S: Serialize>(status: &S) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(status).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Publishes an Event about `obj`, unless the object already published too many Events of this
/// reason lately (`event_limit`: a burst of 5, then one a minute). Failures are logged, never
/// fatal: Events are best effort.
pub async fn event<K>(ctx: &Context, obj: &K, warning: bool, reason: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    let kind = K::kind(&());
    // The UID tells a re-created object from its predecessor; the name is the fallback.
    let key = format!(
        "{kind}/{}/{}/{reason}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta()
            .uid
            .as_deref()
            .or(obj.meta().name.as_deref())
            .unwrap_or_default()
    );
    let allowed = ctx.event_limit.allow(&key, std::time::Instant::now());
    ctx.metrics.event(&kind, reason, allowed);
    if !allowed {
        tracing::debug!(reason, "Event suppressed by the per-object rate limit");
        return;
    }
    let ev = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(truncate(note, 1000)),
        action: reason.to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        if warning {
            // A Warning must reach someone: in a namespace being deleted the apiserver refuses
            // new Events (NamespaceLifecycle), and a release with a Warning (an object left in
            // Meshes) would otherwise leave no trace at all.
            tracing::warn!(error = %e, reason, note = %ev.note.as_deref().unwrap_or_default(),
                "publishing a Warning Event failed; logged instead");
        } else {
            tracing::debug!(error = %e, reason, "publishing an Event failed");
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Adds or replaces annotation `key` on `obj` (merge patch on metadata only).
pub async fn annotate<K>(ctx: &Context, obj: &K, key: &str, value: &str) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    if obj.annotations().get(key).is_some_and(|v| v == value) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc".into(), 10), "abc");
        assert_eq!(truncate("ééé".into(), 3), "é…");
    }
}
