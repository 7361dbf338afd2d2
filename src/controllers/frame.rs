//! The frame every reconcile pass of every kind runs in: the `meshes.io/paused` annotation, the
//! kind's pass, stall bookkeeping, the conditions, and a single status write when (and only
//! when) the status changed.

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
    MeshesConnection, MeshesConnectionStatus, MeshesRule, MeshesRuleStatus, MeshesWorkspace,
    MeshesWorkspaceStatus, reasons,
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
/// returning [`Error::Waiting`]).
pub async fn reconcile<K, A, C>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    apply: A,
    cleanup: C,
) -> Result<Action, Error>
where
    K: Reconciled + Serialize + Send + Sync + 'static,
    A: AsyncFnOnce(&K, &Context) -> Result<Action, Error>,
    C: AsyncFnOnce(&K, &Context) -> Result<Action, Error>,
{
    let ns = obj.namespace().unwrap_or_default();
    ctx.metrics.reconciled(&K::kind(&()), &ns, &obj.name_any());
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(&o, &ctx).await,
            FinalizerEvent::Cleanup(o) => cleanup(&o, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
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
    if obj.current_status() != Some(&status)
        && let Err(e) = report::apply_status(ctx, obj, &status).await
    {
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
            report::apply_status(ctx, obj, &status).await?;
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
    if obj.current_status() != Some(&status) {
        report::apply_status(ctx, obj, &status).await?;
    }
    Ok(action(&step))
}
