//! The frame every reconcile pass of every kind runs in: the `meshes.io/paused` annotation, the
//! kind's pass, stall bookkeeping, the conditions, and a single status write when (and only
//! when) the status changed. An object that cannot be decoded gets [`undecodable`] instead.

use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::{Context, StallKey};
use super::error::Error;
use super::outcome::{self, Drift, Outcome};
use super::report;
use super::step::{Step, now};
use crate::resources::annotations::PAUSED;
use crate::resources::conditions::{self, Condition};
use crate::resources::finalizers::FINALIZER;
use crate::resources::{
    Decoded, MeshesConnection, MeshesConnectionStatus, MeshesRule, MeshesRuleStatus,
    MeshesWorkspace, MeshesWorkspaceStatus, Undecodable, reasons,
};

/// A kind the frame can reconcile.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
    /// The status type.
    type Status: Clone + PartialEq + Default + Serialize + Send + Sync;
    /// The current status, if any.
    fn current_status(&self) -> Option<&Self::Status>;
    /// The conditions of a status.
    fn conditions_mut(status: &mut Self::Status) -> &mut Vec<Condition>;
}

macro_rules! reconciled {
    ($kind:ty, $status:ty) => {
        impl Reconciled for $kind {
            type Status = $status;
            fn current_status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
            fn conditions_mut(status: &mut $status) -> &mut Vec<Condition> {
                &mut status.conditions
            }
        }
    };
}
reconciled!(MeshesWorkspace, MeshesWorkspaceStatus);
reconciled!(MeshesConnection, MeshesConnectionStatus);
reconciled!(MeshesRule, MeshesRuleStatus);

/// The controller runtime's entry for every kind: counts the pass, then runs `apply` or, for
/// an object being deleted, `cleanup` under the operator's finalizer (which `cleanup` keeps by
/// returning [`Error::Waiting`]). A new object that `early_wait` says waits quietly for its
/// parent is looked at again then, with nothing written.
pub async fn reconcile<K, W, A, C>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    early_wait: W,
    apply: A,
    cleanup: C,
) -> Result<Action, Error>
where
    K: Reconciled + Serialize + Send + Sync + 'static,
    W: FnOnce(&K, &Context) -> Option<std::time::Duration>,
    A: AsyncFnOnce(&K, &Context) -> Result<Action, Error>,
    C: AsyncFnOnce(&K, &Context) -> Result<Action, Error>,
{
    let ns = obj.namespace().unwrap_or_default();
    ctx.metrics.reconciled(&K::kind(&()), &ns, &obj.name_any());
    let uid = obj.uid().unwrap_or_default();
    ctx.handed(&uid, obj.resource_version().as_deref());
    let adding =
        obj.meta().deletion_timestamp.is_none() && !obj.finalizers().iter().any(|f| f == FINALIZER);
    if ctx.finalizer_pending(&uid, !adding) && adding {
        // This process added the finalizer and the cache has not caught up: adding it again
        // would be refused (422, the patch tests the list it saw). The watch event of the
        // patch brings the next pass; the requeue is only a safety net.
        return Ok(Action::requeue(std::time::Duration::from_secs(2)));
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    if adding {
        if let Some(after) = early_wait(&obj, &ctx) {
            return Ok(Action::requeue(after));
        }
        // The pass goes on with the patched copy. kube's `finalizer` helper ends the pass here
        // and waits for the patch's watch event: a second trip through the controller's queue
        // for every new object, which delayed the first create of a mass apply by seconds.
        let patched = match add_finalizer(&api, &obj, FINALIZER).await {
            Ok(patched) => patched,
            // Changed since the cache's copy: the watch brings the new one.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                return Ok(Action::requeue(std::time::Duration::from_millis(300)));
            }
            Err(e) => return Err(Error::Kube(e)),
        };
        ctx.finalizer_added(&uid, patched.resource_version());
        return apply(&patched, &ctx).await;
    }
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(&o, &ctx).await,
            FinalizerEvent::Cleanup(o) => cleanup(&o, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Adds finalizer `name` to `obj` (a merge patch guarded by its resourceVersion, a
/// compare-and-swap: a 409 when the object changed since, so a concurrent finalizer change is
/// never lost) and returns the patched object.
pub async fn add_finalizer<K>(api: &Api<K>, obj: &K, name: &str) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(name.to_string());
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}
    });
    api.patch(
        &obj.name_any(),
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
}

/// A deletion that must wait: reports `Ready=False, Deleting` with `message` (once; the status
/// is written only when it changes) and returns the error that keeps the finalizer.
pub async fn wait_deleting<K: Reconciled>(
    obj: &K,
    ctx: &Context,
    requeue: std::time::Duration,
    message: String,
) -> Error {
    let mut status = obj.current_status().cloned().unwrap_or_default();
    let outcome = Outcome::Progressing {
        reason: reasons::DELETING,
        message: message.clone(),
    };
    outcome::apply(
        K::conditions_mut(&mut status),
        &outcome,
        &Drift::Unchanged,
        obj.meta().generation,
        &now(),
    );
    if let Err(e) = write_status_if_changed(ctx, obj, &status).await {
        tracing::debug!(error = %e, "writing the Deleting status failed");
    }
    Error::waiting(requeue, message)
}

/// The Ready outcome of an object bound to Meshes `noun` `id`.
pub fn ready(noun: &str, id: &str, observe: bool) -> Outcome {
    Outcome::Ready {
        message: if observe {
            format!("Observing Meshes {noun} {id} (no writes upstream)")
        } else {
            format!("Meshes {noun} {id} matches the spec")
        },
    }
}

/// Whether `obj` may bind an existing upstream object by natural identity (opt-in).
pub fn rebind_by_identity<K: kube::Resource>(obj: &K, ctx: &Context) -> bool {
    ctx.config.rebind_by_identity
        || obj
            .meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::resources::annotations::REBIND_BY_IDENTITY))
            .is_some_and(|v| v == "true")
}

/// The action a step asks for.
pub fn action(step: &Step) -> Action {
    step.requeue
        .map(Action::requeue)
        .unwrap_or_else(Action::await_change)
}

/// Runs one pass of `obj`: `status` is its status prepared by the kind (observed generation,
/// effective deletion policy), `run` the kind's resolve → observe → decide → act.
pub async fn pass<K, F>(
    obj: &K,
    ctx: &Context,
    mut status: K::Status,
    run: F,
) -> Result<Action, Error>
where
    K: Reconciled,
    F: AsyncFnOnce(&mut K::Status, &mut Option<StallKey>) -> Step,
{
    let generation = obj.meta().generation;
    let uid = obj.uid().unwrap_or_default();
    if obj.annotations().get(PAUSED).is_some_and(|v| v == "true") {
        // One Paused status write, then no writes at all until the annotation goes.
        let conds = K::conditions_mut(&mut status);
        let already =
            conditions::find(conds, conditions::READY).is_some_and(|c| c.reason == reasons::PAUSED);
        if !already {
            outcome::apply(
                conds,
                &Outcome::Paused,
                &Drift::Unchanged,
                generation,
                &now(),
            );
            write_status_if_changed(ctx, obj, &status).await?;
        }
        return Ok(Action::await_change());
    }

    let mut stall_key = None;
    let step = run(&mut status, &mut stall_key).await;
    if step.quiet {
        return Ok(action(&step));
    }
    match (&step.outcome, stall_key) {
        (Outcome::Ready { .. }, _) => {
            ctx.reset_backoff(&uid);
            ctx.clear_stall(&uid);
        }
        // An inactive connection is upstream state, re-checked at every snapshot: never
        // remembered as a stall of unchanged inputs.
        (Outcome::Stalled { reason, .. }, Some(key)) if *reason != reasons::CONNECTION_INACTIVE => {
            ctx.remember_stall(&uid, key)
        }
        _ => ctx.clear_stall(&uid),
    }
    outcome::apply(
        K::conditions_mut(&mut status),
        &step.outcome,
        &step.drift,
        generation,
        &now(),
    );
    write_status_if_changed(ctx, obj, &status).await?;
    Ok(action(&step))
}

/// Writes `status` to `obj` unless it is already there. "There" is judged by the copy of the
/// object the pass was handed, which can predate this process's own last write (the watch
/// has not delivered it yet), and by what this process last wrote: a pass that starts right
/// after a pass that wrote `Stalled`, still holding the older `Ready` copy and concluding
/// `Ready`, would otherwise skip its write and leave `Stalled` in place, and since the
/// operator's own status writes wake nothing, for good (the reliability churn's workspaces
/// stuck `InvalidCredentials` after a rotation raced a pass). Returns whether it wrote.
pub async fn write_status_if_changed<K: Reconciled>(
    ctx: &Context,
    obj: &K,
    status: &K::Status,
) -> Result<bool, kube::Error> {
    let uid = obj.meta().uid.as_deref().unwrap_or_default();
    let hash = report::status_hash(status);
    if !needs_write(
        obj.current_status(),
        status,
        ctx.last_written_status(uid),
        hash,
    ) {
        return Ok(false);
    }
    let version = report::apply_status(ctx, obj, status).await?;
    ctx.wrote(uid, version);
    ctx.status_written(uid, hash);
    Ok(true)
}

/// Whether a pass that concluded `status` (hashing to `hash`) must write it, given the status
/// on the copy it was handed and the hash of the status this process last wrote.
fn needs_write<S: PartialEq>(
    held: Option<&S>,
    status: &S,
    last_written: Option<u64>,
    hash: u64,
) -> bool {
    held != Some(status) || last_written.is_some_and(|last| last != hash)
}

/// The controller runtime's entry for an object that does not decode (`docs/crds.md`, "Objects
/// the operator cannot read"): it is reported on itself, with a Warning Event and `Ready=False`
/// / `Stalled=True`, reason `InvalidSpec`, naming the decode error, once per generation and
/// error (the stored conditions tell whether it was already reported, so a restart does not
/// repeat it). Nothing else is done: its spec is unknown, so nothing is created, updated or
/// cleaned up in Meshes, and no finalizer is added or removed. Other objects are not affected.
///
/// The status is written by server-side apply as the operator, from the stored status with the
/// conditions replaced, so nothing else the operator recorded there (the Meshes ID) is lost.
/// When the stored status cannot be read either, only the Event is published.
pub async fn undecodable<K>(
    obj: &Decoded<K>,
    bad: &Undecodable,
    ctx: &Context,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let message = undecodable_message(&K::kind(&()), bad);
    tracing::warn!(object = %obj.name_any(), namespace = %obj.namespace().unwrap_or_default(), error = %bad.error, "cannot decode the object; it is not reconciled");
    let mut status = match &bad.status {
        Some(serde_json::Value::Object(s)) => s.clone(),
        Some(serde_json::Value::Null) => serde_json::Map::new(),
        _ => {
            report::event(ctx, obj, true, reasons::INVALID_SPEC, message).await;
            return Ok(Action::await_change());
        }
    };
    let mut conds: Vec<Condition> = status
        .get("conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let outcome = Outcome::Stalled {
        reason: reasons::INVALID_SPEC,
        message: message.clone(),
    };
    let generation = obj.meta().generation;
    let changed = outcome::apply(&mut conds, &outcome, &Drift::Unchanged, generation, &now());
    if !changed {
        return Ok(Action::await_change());
    }
    status.insert(
        "conditions".into(),
        serde_json::to_value(&conds).unwrap_or_default(),
    );
    if let Some(g) = generation {
        status.insert("observedGeneration".into(), g.into());
    }
    report::event(ctx, obj, true, reasons::INVALID_SPEC, message).await;
    report::apply_status(ctx, obj, &status).await?;
    Ok(Action::await_change())
}

/// What a user reads about an object that does not decode.
fn undecodable_message(kind: &str, bad: &Undecodable) -> String {
    let mut m = format!("The operator cannot read this {kind}: {}.", bad.error);
    if bad.error.contains("recursion limit exceeded") {
        m.push_str(
            " It is nested too deeply for the JSON decoder (128 levels in all, managedFields \
             included); spec.metadata allows 4 levels (docs/crds.md).",
        );
    }
    m.push_str(
        " It is not reconciled until it is fixed or deleted; other objects are not affected.",
    );
    let finalized = bad
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    if bad.metadata.deletion_timestamp.is_some() && finalized {
        m.push_str(&format!(
            " Its deletion waits: the Meshes object cannot be cleaned up while this object \
             cannot be read. Fix it, or remove the finalizer {FINALIZER} to leave the Meshes \
             object behind."
        ));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    /// The status on the copy a pass holds decides, unless this process wrote another one
    /// since: then the copy is older than that write and the conclusion is written.
    #[test]
    fn a_status_is_written_when_the_held_copy_predates_our_own_last_write() {
        let (ready, stalled) = ("Ready", "Stalled");
        let (h_ready, h_stalled) = (report::status_hash(&ready), report::status_hash(&stalled));
        assert_ne!(h_ready, h_stalled);
        // Steady state: nothing changed, nothing written.
        assert!(!needs_write(Some(&ready), &ready, None, h_ready));
        assert!(!needs_write(Some(&ready), &ready, Some(h_ready), h_ready));
        // A change is written.
        assert!(needs_write(
            Some(&ready),
            &stalled,
            Some(h_ready),
            h_stalled
        ));
        assert!(needs_write(None, &ready, None, h_ready));
        // The race: the last pass wrote Stalled, this one holds the older Ready copy and
        // concludes Ready. Judged by the copy alone, nothing would be written.
        assert!(needs_write(Some(&ready), &ready, Some(h_stalled), h_ready));
        // Once the copy shows what was written last, the same conclusion is not rewritten.
        assert!(!needs_write(
            Some(&stalled),
            &stalled,
            Some(h_stalled),
            h_stalled
        ));
    }

    fn bad(error: &str, deleting: bool, finalizer: bool) -> Undecodable {
        Undecodable {
            error: error.to_string(),
            metadata: ObjectMeta {
                name: Some("x".into()),
                deletion_timestamp: deleting.then(|| Time(k8s_openapi::jiff::Timestamp::now())),
                finalizers: finalizer.then(|| vec![FINALIZER.to_string()]),
                ..ObjectMeta::default()
            },
            status: None,
        }
    }

    #[test]
    fn the_message_names_the_error_and_what_to_do() {
        let m = undecodable_message(
            "MeshesConnection",
            &bad("recursion limit exceeded", false, false),
        );
        assert!(
            m.starts_with(
                "The operator cannot read this MeshesConnection: recursion limit exceeded."
            ),
            "{m}"
        );
        assert!(m.contains("spec.metadata allows 4 levels"), "{m}");
        assert!(m.contains("other objects are not affected"), "{m}");
        assert!(!m.contains("deletion"), "{m}");
        let m = undecodable_message("MeshesRule", &bad("unknown variant `x`", true, true));
        assert!(!m.contains("nested too deeply"), "{m}");
        assert!(
            m.contains("remove the finalizer meshes.io/finalizer"),
            "{m}"
        );
        // Being deleted without our finalizer: nothing waits for the operator.
        let m = undecodable_message("MeshesRule", &bad("unknown variant `x`", true, false));
        assert!(!m.contains("finalizer"), "{m}");
    }
}
