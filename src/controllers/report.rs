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
use super::terminating;

/// Applies `status` to `obj`'s status subresource as the operator's field manager. Fields the
/// operator set before and omits now are removed (server-side apply semantics). Returns the
/// resourceVersion it made.
pub async fn apply_status<K, S>(
    ctx: &Context,
    obj: &K,
    status: &S,
) -> Result<Option<String>, kube::Error>
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
    let written = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(&ctx.config.manager_name).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(written.resource_version())
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
/// fatal: Events are best effort. In a namespace being deleted ([`terminating`]) only Warnings
/// are published, on the Namespace.
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
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    // Only an object being deleted can be in a terminating namespace; a live one means the
    // namespace was re-created since.
    let known_terminating = obj.meta().deletion_timestamp.is_some()
        && ctx.terminating.contains(&ns, std::time::Instant::now());
    if !known_terminating {
        match ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
            Ok(()) => return,
            Err(e) if terminating::refused_as_terminating(&e) => {
                ctx.terminating.learnt(&ns, std::time::Instant::now());
            }
            Err(e) if warning => {
                // A Warning must reach someone (an object left in Meshes would leave no trace).
                tracing::warn!(error = %e, reason, note = %ev.note.as_deref().unwrap_or_default(),
                    "publishing a Warning Event failed; logged instead");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, reason, "publishing an Event failed");
                return;
            }
        }
    }
    // The namespace is being deleted.
    if warning {
        warn_on_namespace(ctx, obj, ev).await;
    } else {
        tracing::debug!(
            reason,
            "Event not published: the namespace is being deleted"
        );
    }
}

/// A Warning about `obj` whose namespace is being deleted (the apiserver refuses new Events
/// there): published on the Namespace instead, naming the object, so that what it says (an
/// object left in Meshes) still reaches `kubectl get events -n default`. Logged at `warn`
/// when that fails too (a namespaced installation may create Events only in its namespaces).
async fn warn_on_namespace<K>(ctx: &Context, obj: &K, mut ev: Event)
where
    K: Resource<DynamicType = ()>,
{
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    ev.note = Some(truncate(
        format!(
            "{} {}: {}",
            K::kind(&()),
            obj.meta().name.as_deref().unwrap_or_default(),
            ev.note.as_deref().unwrap_or_default()
        ),
        1000,
    ));
    // The object as `related`: the recorder merges Events with the same key (regarding,
    // related, reason, not the note) into a series, which would keep only the first note.
    ev.secondary = Some(obj.object_ref(&()));
    if let Err(e) = ctx
        .recorder
        .publish(&ev, &terminating::namespace_ref(&ns))
        .await
    {
        tracing::warn!(error = %e, reason = %ev.reason, note = %ev.note.as_deref().unwrap_or_default(),
            "publishing a Warning Event failed; logged instead");
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

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc".into(), 10), "abc");
        assert_eq!(truncate("ééé".into(), 3), "é…");
    }
}
