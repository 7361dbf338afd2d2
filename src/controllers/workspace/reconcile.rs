//! The workspace reconcile: resolve (credentials) → observe (the bound workspace, by ID) →
//! decide ([`super::decide`], pure) → act (create, adopt, update) → report (status, Events,
//! output Secret, external-id annotation). Deleting the CR releases the workspace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::decide::{self, Binding, Claim};
use super::output::{self, Written};
use crate::api::types::{CreateWorkspace, WorkspaceDetail};
use crate::api::{ApiError, Credentials};
use crate::controllers::context::{Context, Memo, StallKey, jittered};
use crate::controllers::credentials;
use crate::controllers::error::Error;
use crate::controllers::outcome::{self, Drift, Outcome};
use crate::controllers::ownership;
use crate::controllers::step::{self, Step, api_error, is_stale, kube_transient, now};
use crate::controllers::{frame, report, users};
use crate::resources::annotations::{EXTERNAL_ID, RECONCILE_REQUESTED_AT, RESYNC_INTERVAL};
use crate::resources::{
    DeletionPolicy, ManagementPolicy, MeshesWorkspace, MeshesWorkspaceStatus, PendingCreate,
    reasons,
};

/// Entry point for the controller runtime.
pub async fn reconcile(ws: Arc<MeshesWorkspace>, ctx: Arc<Context>) -> Result<Action, Error> {
    frame::reconcile(ws, ctx, apply, cleanup).await
}

fn resync_interval(ws: &MeshesWorkspace, ctx: &Context) -> Duration {
    ws.annotations()
        .get(RESYNC_INTERVAL)
        .and_then(|v| humantime::parse_duration(v).ok())
        .filter(|d| *d >= Duration::from_secs(1))
        .unwrap_or(ctx.config.resync_interval)
}

fn observe_only(ws: &MeshesWorkspace) -> bool {
    ws.spec.management_policy == Some(ManagementPolicy::Observe)
}

async fn apply(ws: &MeshesWorkspace, ctx: &Context) -> Result<Action, Error> {
    let mut status = ws.status.clone().unwrap_or_default();
    status.observed_generation = ws.metadata.generation;
    // Meshes has no workspace delete: deleting the CR always releases the workspace.
    status.effective_deletion_policy = Some(DeletionPolicy::Orphan);
    frame::pass(ws, ctx, status, async |status, stall_key| {
        run(ws, ctx, status, stall_key).await
    })
    .await
}

async fn run(
    ws: &MeshesWorkspace,
    ctx: &Context,
    status: &mut MeshesWorkspaceStatus,
    stall_key: &mut Option<StallKey>,
) -> Step {
    let uid = ws.uid().unwrap_or_default();
    let ns = ws.namespace().unwrap_or_default();
    let secret = match credentials::source(&ctx.config, &ns, ws.spec.credentials_ref.as_ref()) {
        Ok(s) => s,
        Err(u) => return u.into(),
    };
    let resolved = match credentials::load(ctx, &uid, &secret).await {
        Ok(r) => r,
        Err(u) => return u.into(),
    };
    let creds = &resolved.creds;
    if let Some(step) = step::org_changed(
        ctx,
        ws,
        status.org_id.as_deref(),
        status.workspace_id.is_some(),
        status.pending_create.is_some(),
        creds.org_id(),
        "workspace",
        &format!("Secret {secret}"),
    )
    .await
    {
        return step;
    }

    let requested = ws.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let key = StallKey {
        generation: ws.metadata.generation,
        credentials: resolved.fingerprint,
        requested_at: requested.clone(),
    };
    if ctx.stalled_with(&uid, &key) {
        return Step::quiet(None); // same inputs, same refusal: wait for a change
    }
    *stall_key = Some(key);
    let interval = resync_interval(ws, ctx);
    // Fast path: nothing can have changed since the last successful observation (same
    // generation, credentials and request token, resync not yet due). Triggered by our own
    // status writes or Secret events; costs no Meshes call.
    if let (Some(id), Some(memo)) = (status.workspace_id.clone(), ctx.memo(&uid))
        && memo.generation == ws.metadata.generation
        && memo.credentials == resolved.fingerprint
        && memo.requested_at == requested
        && let Some(left) = memo.due.checked_duration_since(Instant::now())
        && left <= interval.mul_f64(1.0 + ctx.config.resync_jitter)
    {
        let key = memo.snapshot["publishable_key"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Err(step) = write_output(ctx, ws, status, &id, &key).await {
            return step;
        }
        return Step {
            outcome: ready_outcome(&id, observe_only(ws)),
            drift: Drift::Unchanged,
            requeue: Some(left),
            quiet: false,
        };
    }

    let external_id = ws.annotations().get(EXTERNAL_ID).cloned();
    let bound_before = ws.status.as_ref().and_then(|s| s.workspace_id.clone());
    let mut adopted_via = None;
    let binding = decide::binding(&ws.spec, Some(status), external_id.as_deref());
    // Anything but a recorded binding may be an artefact of a stale cache entry (our own last
    // write not seen yet): confirm with a fresh read before calling Meshes.
    if !matches!(binding, Binding::Bound(_)) {
        // Never create from a stale cache entry: our own last status write (an ID, or the
        // end of a pending create) may not have reached the cache yet.
        match is_stale(ctx, ws).await {
            Ok(false) => {}
            Ok(true) => return Step::quiet(Some(Duration::from_millis(300))),
            Err(e) => return kube_transient(ctx, &uid, e),
        }
    }
    let detail = match binding {
        Binding::Bound(id) => match ctx.api.get_workspace(creds, &id).await {
            Ok(d) => d,
            Err(e) if e.is_not_found() => {
                if observe_only(ws) {
                    return Step {
                        outcome: Outcome::Stalled {
                            reason: reasons::REJECTED,
                            message: format!("Observed Meshes workspace {id} no longer exists"),
                        },
                        drift: Drift::Drifted {
                            reason: reasons::UPSTREAM_DELETED,
                            message: format!("Meshes workspace {id} was deleted upstream"),
                        },
                        requeue: None,
                        quiet: false,
                    };
                }
                report::event(
                    ctx,
                    ws,
                    true,
                    reasons::UPSTREAM_DELETED,
                    format!("Meshes workspace {id} was deleted upstream; creating a new one"),
                )
                .await;
                status.workspace_id = None;
                ctx.forget(&uid);
                match create(ws, ctx, status, creds).await {
                    Ok(d) => d,
                    Err(step) => return step,
                }
            }
            Err(e) => return api_error(ctx, &uid, &secret.to_string(), e),
        },
        Binding::Adopt(id) => match ctx.api.get_workspace(creds, &id).await {
            Ok(d) => {
                adopted_via = Some("spec.adopt.id");
                d
            }
            Err(e) if e.is_not_found() => {
                return Step::stalled(
                    reasons::REJECTED,
                    format!(
                        "spec.adopt.id {id} is not a workspace of Meshes org {}; check the ID",
                        creds.org_id()
                    ),
                );
            }
            Err(e) => return api_error(ctx, &uid, &secret.to_string(), e),
        },
        Binding::Rebind(id) => match ctx.api.get_workspace(creds, &id).await {
            Ok(d) => {
                adopted_via = Some("the meshes.io/external-id annotation");
                d
            }
            Err(e) if e.is_not_found() => match create(ws, ctx, status, creds).await {
                Ok(d) => d,
                Err(step) => return step,
            },
            Err(e) => return api_error(ctx, &uid, &secret.to_string(), e),
        },
        Binding::ClaimPending(pending) => {
            match claim_pending(ws, ctx, status, creds, &pending).await {
                Ok(d) => d,
                Err(step) => return step,
            }
        }
        Binding::Create => match create(ws, ctx, status, creds).await {
            Ok(d) => d,
            Err(step) => return step,
        },
    };
    let id = detail.workspace.id.clone();

    // No silent takeover: another CR that owns this workspace wins.
    if let Some(owner) = ownership::other_owner(ws, &ctx.stores.all_workspaces(), &id) {
        if bound_before.as_deref() != Some(id.as_str()) {
            status.workspace_id = bound_before;
        }
        return Step::stalled(
            reasons::ALREADY_MANAGED,
            format!(
                "Meshes workspace {id} is already managed by MeshesWorkspace {owner}; each upstream object has one owner"
            ),
        );
    }
    if let Some(how) = adopted_via {
        report::event(
            ctx,
            ws,
            false,
            reasons::ADOPTED,
            format!(
                "Bound Meshes workspace {id} ({}) via {how}",
                detail.workspace.name
            ),
        )
        .await;
    }
    status.workspace_id = Some(id.clone());
    status.org_id = Some(creds.org_id().to_string());
    status.pending_create = None;

    // Decide and act on differences over the fields the spec sets.
    let adopted = ws.spec.adopt.is_some();
    let desired = decide::desired(&ws.spec, &ws.name_any(), adopted);
    let mut drift = if observe_only(ws) {
        Drift::InSync
    } else {
        Drift::NotTracked
    };
    if let Some((body, diffs)) = decide::plan_update(&desired, &detail.workspace) {
        if observe_only(ws) {
            drift = Drift::Drifted {
                reason: reasons::UPSTREAM_CHANGED,
                message: diffs.join("; "),
            };
        } else {
            match ctx.api.update_workspace(creds, &id, &body).await {
                Ok(_) => {
                    let spec_changed = ws.status.as_ref().and_then(|s| s.observed_generation)
                        != ws.metadata.generation;
                    let (reason, what) = if spec_changed {
                        (reasons::UPDATED, "Updated")
                    } else {
                        (reasons::DRIFT_CORRECTED, "Corrected upstream drift on")
                    };
                    report::event(
                        ctx,
                        ws,
                        false,
                        reason,
                        format!("{what} Meshes workspace {id}: {}", diffs.join("; ")),
                    )
                    .await;
                }
                Err(ApiError::Conflict { message, .. }) => {
                    return Step::stalled(
                        reasons::NAME_CONFLICT,
                        format!(
                            "Renaming Meshes workspace {id} to {:?} was refused: {message}; choose another spec.name",
                            body.name
                        ),
                    );
                }
                Err(e) => return api_error(ctx, &uid, &secret.to_string(), e),
            }
        }
    }

    if let Err(step) = write_output(ctx, ws, status, &id, &detail.publishable_key.public_key).await
    {
        return step;
    }
    if let Err(e) = report::annotate(ctx, ws, EXTERNAL_ID, &id).await {
        return Step {
            outcome: Outcome::Transient {
                message: format!("writing annotation: {e}"),
            },
            drift,
            requeue: Some(ctx.next_backoff(&uid)),
            quiet: false,
        };
    }
    // The resync tick of a bound workspace: one list of its connections and one of its rules,
    // shared by every child for its drift check (not on first creation: nothing to check yet).
    if bound_before.as_deref() == Some(id.as_str()) {
        match ctx.snapshots.refresh(ctx.api.as_ref(), creds, &id).await {
            Ok(_) => trigger_children(ctx, ws, &id),
            Err(e) => {
                tracing::debug!(workspace = %id, error = %e, "snapshot failed; retried at the next tick")
            }
        }
    }
    let due_in = jittered(interval, ctx.config.resync_jitter, rand::random());
    ctx.remember(
        &uid,
        Memo {
            due: Instant::now() + due_in,
            generation: ws.metadata.generation,
            credentials: resolved.fingerprint,
            requested_at: requested,
            snapshot: serde_json::json!({"publishable_key": detail.publishable_key.public_key}),
            written_at: Instant::now(),
            checked_seq: 0,
            inputs: 0,
        },
    );
    Step {
        outcome: ready_outcome(&id, observe_only(ws)),
        drift,
        requeue: Some(due_in),
        quiet: false,
    }
}

/// Asks every connection and rule of workspace `id` to check the new snapshot.
fn trigger_children(ctx: &Context, ws: &MeshesWorkspace, id: &str) {
    let ns = ws.namespace();
    if let Some(store) = &ctx.stores.connections {
        for c in store.state() {
            let in_ws = c.status.as_ref().and_then(|s| s.workspace_id.as_deref()) == Some(id);
            if c.namespace() == ns && in_ws {
                ctx.triggers.connection(ObjectRef::from_obj(c.as_ref()));
            }
        }
    }
    if let Some(store) = &ctx.stores.rules {
        for r in store.state() {
            let in_ws = r.status.as_ref().and_then(|s| s.workspace_id.as_deref()) == Some(id);
            if r.namespace() == ns && in_ws {
                ctx.triggers.rule(ObjectRef::from_obj(r.as_ref()));
            }
        }
    }
}

fn ready_outcome(id: &str, observe: bool) -> Outcome {
    let message = if observe {
        format!("Observing Meshes workspace {id} (no writes upstream)")
    } else {
        format!("Meshes workspace {id} matches the spec; publishable key written")
    };
    Outcome::Ready { message }
}

/// Creates the workspace crash-safely: `status.pendingCreate` is persisted before the POST, so
/// a lost response is claimed on the next pass instead of duplicated.
async fn create(
    ws: &MeshesWorkspace,
    ctx: &Context,
    status: &mut MeshesWorkspaceStatus,
    creds: &Credentials,
) -> Result<WorkspaceDetail, Step> {
    let uid = ws.uid().unwrap_or_default();
    let desired = decide::desired(&ws.spec, &ws.name_any(), false);
    let name = desired.name.clone().unwrap_or_else(|| ws.name_any());
    let started = now();
    let pending = PendingCreate {
        identity: decide::identity(creds.org_id(), &name),
        started_at: started.clone(),
    };
    status.pending_create = Some(pending);
    status.org_id = Some(creds.org_id().to_string());
    let message = format!("Creating Meshes workspace {name:?}");
    outcome::apply(
        &mut status.conditions,
        &Outcome::Progressing {
            reason: reasons::CREATING,
            message,
        },
        &Drift::Unchanged,
        ws.metadata.generation,
        &started,
    );
    if let Err(e) = report::apply_status(ctx, ws, status).await {
        return Err(Step {
            outcome: Outcome::Transient {
                message: format!("recording the pending create: {e}"),
            },
            drift: Drift::Unchanged,
            requeue: Some(ctx.next_backoff(&uid)),
            quiet: false,
        });
    }
    let body = CreateWorkspace {
        name: name.clone(),
        description: desired.description.filter(|d| !d.is_empty()),
    };
    let idempotency_key = format!("{uid}-{}", started.0.as_millisecond());
    match ctx
        .api
        .create_workspace(creds, &body, Some(&idempotency_key))
        .await
    {
        Ok(created) => {
            status.pending_create = None;
            status.workspace_id = Some(created.id.clone());
            report::event(
                ctx,
                ws,
                false,
                reasons::CREATED,
                format!("Created Meshes workspace {} ({name})", created.id),
            )
            .await;
            fetch_detail(ctx, &uid, creds, &created.id).await
        }
        Err(ApiError::Conflict { .. }) => {
            status.pending_create = None;
            if frame::rebind_by_identity(ws, ctx) {
                return rebind(ws, ctx, status, creds, &name).await;
            }
            Err(name_conflict(ctx, creds, &name).await)
        }
        Err(e) => {
            if !(e.is_transient() || matches!(e, ApiError::RateLimited { .. })) {
                status.pending_create = None; // refused: nothing was created
                status.org_id = None;
            }
            Err(api_error(ctx, &uid, "", e))
        }
    }
}

async fn fetch_detail(
    ctx: &Context,
    uid: &str,
    creds: &Credentials,
    id: &str,
) -> Result<WorkspaceDetail, Step> {
    ctx.api
        .get_workspace(creds, id)
        .await
        .map_err(|e| api_error(ctx, uid, "", e))
}

/// Opt-in disaster recovery: binds the existing workspace named `name` unless another CR has it.
async fn rebind(
    ws: &MeshesWorkspace,
    ctx: &Context,
    status: &mut MeshesWorkspaceStatus,
    creds: &Credentials,
    name: &str,
) -> Result<WorkspaceDetail, Step> {
    let uid = ws.uid().unwrap_or_default();
    let all = ctx
        .api
        .list_workspaces(creds)
        .await
        .map_err(|e| api_error(ctx, &uid, "", e))?;
    let bound = ownership::bound_elsewhere(ws, &ctx.stores.all_workspaces());
    match all.into_iter().find(|w| w.name.eq_ignore_ascii_case(name)) {
        Some(found) if !bound.contains(&found.id) => {
            status.workspace_id = Some(found.id.clone());
            report::event(ctx, ws, false, reasons::ADOPTED, format!("Bound existing Meshes workspace {} ({name}) by identity (meshes.io/rebind-by-identity)", found.id)).await;
            fetch_detail(ctx, &uid, creds, &found.id).await
        }
        _ => Err(name_conflict(ctx, creds, name).await),
    }
}

async fn name_conflict(ctx: &Context, creds: &Credentials, name: &str) -> Step {
    let existing = ctx
        .api
        .list_workspaces(creds)
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|w| w.name.eq_ignore_ascii_case(name)))
        .map(|w| format!(" (ID {})", w.id))
        .unwrap_or_default();
    Step::stalled(
        reasons::NAME_CONFLICT,
        format!(
            "A Meshes workspace named {name:?}{existing} already exists and was not created by this \
             object; set spec.adopt.id to manage it, or choose another spec.name"
        ),
    )
}

/// After a create whose outcome is unknown: find the workspace it may have made.
async fn claim_pending(
    ws: &MeshesWorkspace,
    ctx: &Context,
    status: &mut MeshesWorkspaceStatus,
    creds: &Credentials,
    pending: &PendingCreate,
) -> Result<WorkspaceDetail, Step> {
    let uid = ws.uid().unwrap_or_default();
    let name = decide::desired(&ws.spec, &ws.name_any(), false)
        .name
        .unwrap_or_else(|| ws.name_any());
    let all = ctx
        .api
        .list_workspaces(creds)
        .await
        .map_err(|e| api_error(ctx, &uid, "", e))?;
    match decide::claim(
        &all,
        &name,
        &pending.started_at,
        ctx.config.create_skew,
        &ownership::bound_elsewhere(ws, &ctx.stores.all_workspaces()),
    ) {
        Claim::Ours(found) => {
            status.pending_create = None;
            status.workspace_id = Some(found.id.clone());
            report::event(
                ctx,
                ws,
                false,
                reasons::CREATED,
                format!("Created Meshes workspace {} ({name}); claimed after a create whose response was lost", found.id),
            )
            .await;
            fetch_detail(ctx, &uid, creds, &found.id).await
        }
        Claim::Conflict(found) => {
            status.pending_create = None;
            Err(Step::stalled(
                reasons::NAME_CONFLICT,
                format!(
                    "A Meshes workspace named {name:?} (ID {}) already exists and was not created by \
                     this object; set spec.adopt.id to manage it, or choose another spec.name",
                    found.id
                ),
            ))
        }
        Claim::Absent => create(ws, ctx, status, creds).await,
    }
}

async fn write_output(
    ctx: &Context,
    ws: &MeshesWorkspace,
    status: &mut MeshesWorkspaceStatus,
    id: &str,
    key: &str,
) -> Result<(), Step> {
    let uid = ws.uid().unwrap_or_default();
    let name = output::secret_name(ws);
    if let Some(old) = status.publishable_key_secret_name.clone()
        && old != name
        && let Err(e) = output::remove(ctx, ws, &old).await
    {
        return Err(kube_transient(ctx, &uid, e));
    }
    let values: BTreeMap<String, String> = [
        (output::PUBLISHABLE_KEY.to_string(), key.to_string()),
        (output::WORKSPACE_ID.to_string(), id.to_string()),
        (
            output::EVENTS_URL.to_string(),
            ctx.config.events_url.clone(),
        ),
    ]
    .into();
    match output::ensure(ctx, ws, &name, &values).await {
        Ok(Written::NotOurs) => Err(Step::stalled(
            reasons::OWNERSHIP_CONFLICT,
            format!(
                "Secret {name} already exists and is not owned by this MeshesWorkspace; delete it or \
                 set spec.publishableKeySecret.name to another name"
            ),
        )),
        Ok(_) => {
            status.publishable_key_secret_name = Some(name);
            Ok(())
        }
        Err(e) => Err(kube_transient(ctx, &uid, e)),
    }
}

/// Deleting the CR releases the workspace (Meshes has no workspace delete): the output Secret
/// goes, and the credentials Secret is released when nothing else uses it.
async fn cleanup(ws: &MeshesWorkspace, ctx: &Context) -> Result<Action, Error> {
    let uid = ws.uid().unwrap_or_default();
    let ns = ws.namespace().unwrap_or_default();
    // Connections that inherit our credentials still need them to delete themselves (any
    // deletion order, namespace deletion included): wait for them, bounded.
    let waiting_children = ctx
        .stores
        .connections
        .as_ref()
        .map(|s| {
            s.state()
                .iter()
                .filter(|c| c.namespace().as_deref() == Some(ns.as_str()))
                .filter(|c| c.spec.credentials_ref.is_none())
                .filter(|c| {
                    c.spec
                        .workspace_ref
                        .as_ref()
                        .is_some_and(|r| r.name == ws.name_any())
                })
                .count()
        })
        .unwrap_or(0);
    if waiting_children > 0 && !step::release_timed_out(ws, ctx) {
        return Err(frame::wait_deleting(ws, ctx, Duration::from_secs(2), format!("Waiting for {waiting_children} MeshesConnection(s) using this workspace's credentials to be deleted first (released after the deletion timeout)")).await);
    }
    let name = ws
        .status
        .as_ref()
        .and_then(|s| s.publishable_key_secret_name.clone())
        .unwrap_or_else(|| output::secret_name(ws));
    output::remove(ctx, ws, &name).await?;
    if let Some(id) = ws.status.as_ref().and_then(|s| s.workspace_id.clone()) {
        report::event(
            ctx,
            ws,
            false,
            reasons::ORPHANED,
            format!("Released Meshes workspace {id}; it stays in Meshes (the API has no workspace delete)"),
        )
        .await;
    }
    ctx.forget(&uid);
    if let Ok(secret) = credentials::source(&ctx.config, &ns, ws.spec.credentials_ref.as_ref()) {
        let used = users::secret_in_use(ctx, &secret, &uid).await?;
        credentials::release_if_unused(ctx, &secret, used).await;
    }
    Ok(Action::await_change())
}
