//! The connection reconcile: resolve (workspace, credentials, secret settings) → observe (the
//! workspace snapshot, not a GET per connection) → decide ([`super::decide`]) → act (create,
//! adopt, update, recreate) → report. Deletion follows the deletion policy and never hangs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::decide::{self, Binding, Claim};
use crate::api::types::{
    Connection, CreateConnection, IntegrationType as WireType, UpdateConnection,
};
use crate::api::{ApiError, Credentials};
use crate::controllers::context::{Context, Memo, StallKey};
use crate::controllers::credentials::{self, Resolved};
use crate::controllers::error::Error;
use crate::controllers::outcome::{self, Drift, Outcome};
use crate::controllers::parents::{self, Parent};
use crate::controllers::settings::{self, Settings};
use crate::controllers::step::{self, Step, api_error, is_stale, kube_transient, now};
use crate::controllers::{frame, ownership, report, users};
use crate::resources::annotations::{EXTERNAL_ID, RECONCILE_REQUESTED_AT};
use crate::resources::{
    DeletionPolicy, ManagementPolicy, MeshesConnection, MeshesConnectionStatus, PendingCreate,
    reasons,
};

/// Entry point for the controller runtime.
pub async fn reconcile(conn: Arc<MeshesConnection>, ctx: Arc<Context>) -> Result<Action, Error> {
    frame::reconcile(conn, ctx, apply, cleanup).await
}

fn observe_only(c: &MeshesConnection) -> bool {
    c.spec.management_policy == Some(ManagementPolicy::Observe)
}

async fn apply(conn: &MeshesConnection, ctx: &Context) -> Result<Action, Error> {
    let mut status = conn.status.clone().unwrap_or_default();
    status.observed_generation = conn.metadata.generation;
    status.effective_deletion_policy = Some(decide::deletion_policy(
        &conn.spec,
        ctx.config.default_deletion_policy,
    ));
    frame::pass(conn, ctx, status, async |status, stall_key| {
        run(conn, ctx, status, stall_key).await
    })
    .await
}

/// Everything resolved before talking to Meshes.
struct Inputs {
    parent: Parent,
    resolved: Resolved,
    settings: Settings,
    name: String,
    requested: Option<String>,
}

async fn resolve(conn: &MeshesConnection, ctx: &Context, deleting: bool) -> Result<Inputs, Step> {
    let uid = conn.uid().unwrap_or_default();
    let ns = conn.namespace().unwrap_or_default();
    let parent = parents::of_connection(ctx, conn, deleting).await?;
    let resolved = credentials::load(ctx, &uid, &parent.credentials)
        .await
        .map_err(Step::from)?;
    // Empty for an adopted connection without spec.name: its name is unmanaged.
    let name = decide::desired_name(&conn.spec, &conn.name_any()).unwrap_or_default();
    let settings = settings::resolve(ctx, &uid, &ns, &name, &conn.spec)
        .await
        .map_err(Step::from)?;
    Ok(Inputs {
        parent,
        resolved,
        settings,
        name,
        requested: conn.annotations().get(RECONCILE_REQUESTED_AT).cloned(),
    })
}

async fn run(
    conn: &MeshesConnection,
    ctx: &Context,
    status: &mut MeshesConnectionStatus,
    stall_key: &mut Option<StallKey>,
) -> Step {
    let uid = conn.uid().unwrap_or_default();
    let inputs = match resolve(conn, ctx, false).await {
        Ok(i) => i,
        Err(step) => return step,
    };
    let creds = &inputs.resolved.creds;
    let inputs_fp = fingerprint(&inputs.settings.hash);
    if let Some(step) = step::org_changed(
        ctx,
        conn,
        status.org_id.as_deref(),
        status.connection_id.is_some(),
        status.pending_create.is_some(),
        creds.org_id(),
        "connection",
        &format!("Secret {}", inputs.parent.credentials),
    )
    .await
    {
        return step;
    }
    if status
        .workspace_id
        .as_ref()
        .is_some_and(|w| *w != inputs.parent.workspace_id)
        && status.connection_id.is_some()
    {
        return Step::stalled(
            reasons::INVALID_SPEC,
            format!(
                "This connection is bound in Meshes workspace {}, but its workspace now resolves to {}; \
                 a connection cannot move between workspaces (delete and re-create it)",
                status.workspace_id.clone().unwrap_or_default(),
                inputs.parent.workspace_id
            ),
        );
    }
    let key = StallKey {
        generation: conn.metadata.generation,
        credentials: inputs.resolved.fingerprint ^ inputs_fp,
        requested_at: inputs.requested.clone(),
    };
    if ctx.stalled_with(&uid, &key) {
        return Step::quiet(None);
    }
    *stall_key = Some(key);
    status.workspace_id = Some(inputs.parent.workspace_id.clone());

    let external_id = conn.annotations().get(EXTERNAL_ID).cloned();
    let binding = decide::binding(&conn.spec, Some(status), external_id.as_deref());
    // Anything but a recorded binding may be an artefact of a stale cache entry (our own last
    // write not seen yet): confirm with a fresh read before calling Meshes.
    if !matches!(binding, Binding::Bound(_)) {
        match is_stale(ctx, conn).await {
            Ok(false) => {}
            Ok(true) => return Step::quiet(Some(Duration::from_millis(300))),
            Err(e) => return kube_transient(ctx, &uid, e),
        }
    }

    let memo = ctx.memo(&uid);
    let unchanged_inputs = memo.as_ref().is_some_and(|m| {
        m.generation == conn.metadata.generation
            && m.credentials == inputs.resolved.fingerprint
            && m.inputs == inputs_fp
            && m.requested_at == inputs.requested
    });

    let mut written = false;
    let upstream: Connection = match binding {
        Binding::Bound(id) => {
            let settings_changed =
                status.applied_hash.as_deref() != Some(inputs.settings.hash.as_str());
            if unchanged_inputs && !settings_changed {
                // Nothing of ours changed: look only at a newer workspace snapshot, if any.
                let (checked_seq, written_at) = memo
                    .as_ref()
                    .map(|m| (m.checked_seq, m.written_at))
                    .unwrap_or((u64::MAX, Instant::now()));
                match ctx.snapshots.get(&inputs.parent.workspace_id) {
                    Some(snap) if snap.seq > checked_seq && snap.taken_at > written_at => {
                        match snap.connections.iter().find(|c| c.id == id) {
                            Some(c) => c.clone(),
                            None => return upstream_deleted(conn, ctx, status, &inputs, &id).await,
                        }
                    }
                    _ => {
                        return Step {
                            outcome: status_outcome(status, &id, observe_only(conn)),
                            drift: Drift::Unchanged,
                            requeue: None,
                            quiet: false,
                        };
                    }
                }
            } else if settings_changed && !observe_only(conn) && decide::may_put(&conn.spec) {
                match put(conn, ctx, creds, &id, &inputs).await {
                    Ok(c) => {
                        written = true;
                        c
                    }
                    Err(step) => return step,
                }
            } else {
                // Restart, rotated credentials, or a forced look: use the workspace snapshot
                // (one pair of lists per workspace, shared by its children).
                let snap = match ctx
                    .snapshots
                    .load(
                        ctx.api.as_ref(),
                        creds,
                        &inputs.parent.workspace_id,
                        ctx.config.resync_interval,
                    )
                    .await
                {
                    Ok(s) => s,
                    Err(e) => {
                        return api_error(ctx, &uid, &inputs.parent.credentials.to_string(), e);
                    }
                };
                match snap.connections.iter().find(|c| c.id == id) {
                    Some(c) => c.clone(),
                    None => return upstream_deleted(conn, ctx, status, &inputs, &id).await,
                }
            }
        }
        Binding::Adopt(id) | Binding::Rebind(id) => {
            match ctx.api.get_connection(creds, &id).await {
                Ok(c) => {
                    if c.workspace != inputs.parent.workspace_id {
                        return Step::stalled(
                            reasons::INVALID_SPEC,
                            format!(
                                "Meshes connection {id} belongs to workspace {}, not {}",
                                c.workspace, inputs.parent.workspace_id
                            ),
                        );
                    }
                    if c.kind.as_str() != conn.spec.type_.as_str() {
                        return Step::stalled(
                            reasons::INVALID_SPEC,
                            format!(
                                "Meshes connection {id} is of type {}, but spec.type is {}",
                                c.kind, conn.spec.type_
                            ),
                        );
                    }
                    if let Some(owner) =
                        ownership::other_owner(conn, &ctx.stores.all_connections(), &id)
                    {
                        return Step::stalled(
                            reasons::ALREADY_MANAGED,
                            format!(
                                "Meshes connection {id} is already managed by MeshesConnection {owner}"
                            ),
                        );
                    }
                    report::event(
                        ctx,
                        conn,
                        false,
                        reasons::ADOPTED,
                        format!("Bound Meshes connection {id} ({})", c.name),
                    )
                    .await;
                    c
                }
                Err(e) if e.is_not_found() && conn.spec.adopt.is_none() => {
                    match create(conn, ctx, status, creds, &inputs).await {
                        Ok(c) => {
                            written = true;
                            c
                        }
                        Err(step) => return step,
                    }
                }
                Err(e) if e.is_not_found() => {
                    return Step::stalled(
                        reasons::REJECTED,
                        format!(
                            "spec.adopt.id {id} is not a Meshes connection visible to these credentials"
                        ),
                    );
                }
                Err(e) => return api_error(ctx, &uid, &inputs.parent.credentials.to_string(), e),
            }
        }
        Binding::ClaimPending(pending) => {
            match claim_pending(conn, ctx, status, creds, &inputs, &pending).await {
                Ok(c) => {
                    written = true;
                    c
                }
                Err(step) => return step,
            }
        }
        Binding::Create => match create(conn, ctx, status, creds, &inputs).await {
            Ok(c) => {
                written = true;
                c
            }
            Err(step) => return step,
        },
    };
    finish(conn, ctx, status, &inputs, upstream, written).await
}

fn fingerprint(hash: &str) -> u64 {
    u64::from_str_radix(hash.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

fn status_outcome(status: &MeshesConnectionStatus, id: &str, observe: bool) -> Outcome {
    if status.active == Some(false) {
        let why = status
            .inactive_reason
            .clone()
            .unwrap_or_else(|| "unknown".into());
        return Outcome::Stalled {
            reason: reasons::CONNECTION_INACTIVE,
            message: format!(
                "Meshes connection {id} is inactive upstream ({why}); reconnect it in the Meshes dashboard"
            ),
        };
    }
    frame::ready("connection", id, observe)
}

/// Checks `upstream` against the spec (correcting or reporting drift), records it, reports.
async fn finish(
    conn: &MeshesConnection,
    ctx: &Context,
    status: &mut MeshesConnectionStatus,
    inputs: &Inputs,
    upstream: Connection,
    mut written: bool,
) -> Step {
    let uid = conn.uid().unwrap_or_default();
    let creds = &inputs.resolved.creds;
    let id = upstream.id.clone();
    let mut current = upstream;
    let mut drift = if observe_only(conn) {
        Drift::InSync
    } else {
        Drift::NotTracked
    };
    let name = decide::desired_name(&conn.spec, &conn.name_any());
    let diffs = decide::drift(
        conn.spec.metadata.as_ref(),
        name.as_deref(),
        conn.spec.hidden,
        &current,
    );
    if !diffs.is_empty() && !written {
        if observe_only(conn) || !decide::may_put(&conn.spec) {
            drift = Drift::Drifted {
                reason: reasons::UPSTREAM_CHANGED,
                message: diffs.join("; "),
            };
        } else {
            match put(conn, ctx, creds, &id, inputs).await {
                Ok(c) => {
                    report::event(
                        ctx,
                        conn,
                        false,
                        reasons::DRIFT_CORRECTED,
                        format!(
                            "Corrected upstream drift on Meshes connection {id}: {}",
                            diffs.join("; ")
                        ),
                    )
                    .await;
                    current = c;
                    written = true;
                }
                Err(step) => return step,
            }
        }
    }
    // Secret settings are never echoed, so drift cannot show them: an adopted connection whose
    // spec carries them gets them applied once, when first bound.
    let secrets_unapplied = status.applied_hash.is_none()
        && !written
        && !inputs.settings.secret_keys.is_empty()
        && !observe_only(conn)
        && decide::may_put(&conn.spec);
    if secrets_unapplied {
        match put(conn, ctx, creds, &id, inputs).await {
            Ok(c) => {
                current = c;
                written = true;
            }
            Err(step) => return step,
        }
    }
    status.connection_id = Some(id.clone());
    status.org_id = Some(creds.org_id().to_string());
    status.pending_create = None;
    status.active = Some(current.active.unwrap_or(true));
    status.inactive_reason = current
        .inactive_reason
        .as_ref()
        .map(|r| r.as_str().to_string());
    if written || status.applied_hash.is_none() {
        status.applied_hash = Some(inputs.settings.hash.clone());
    }
    if let Err(e) = report::annotate(ctx, conn, EXTERNAL_ID, &id).await {
        return kube_transient(ctx, &uid, e);
    }
    let seq = ctx
        .snapshots
        .get(&inputs.parent.workspace_id)
        .map(|s| s.seq)
        .unwrap_or(0);
    let prev_written = ctx.memo(&uid).map(|m| m.written_at);
    ctx.remember(
        &uid,
        Memo {
            due: Instant::now() + ctx.config.resync_interval,
            generation: conn.metadata.generation,
            credentials: inputs.resolved.fingerprint,
            requested_at: inputs.requested.clone(),
            snapshot: serde_json::Value::Null,
            written_at: if written {
                Instant::now()
            } else {
                prev_written.unwrap_or_else(Instant::now)
            },
            checked_seq: seq,
            inputs: fingerprint(&inputs.settings.hash),
        },
    );
    // Rules of this connection may be waiting for it.
    trigger_rules(ctx, conn);
    Step {
        outcome: status_outcome(status, &id, observe_only(conn)),
        drift,
        requeue: None,
        quiet: false,
    }
}

fn trigger_rules(ctx: &Context, conn: &MeshesConnection) {
    let Some(store) = &ctx.stores.rules else {
        return;
    };
    let ns = conn.namespace();
    for r in store.state() {
        if r.namespace() == ns
            && r.spec
                .connection_ref
                .as_ref()
                .is_some_and(|c| c.name == conn.name_any())
        {
            ctx.triggers
                .rule(kube::runtime::reflector::ObjectRef::from_obj(r.as_ref()));
        }
    }
}

async fn put(
    conn: &MeshesConnection,
    ctx: &Context,
    creds: &Credentials,
    id: &str,
    inputs: &Inputs,
) -> Result<Connection, Step> {
    let uid = conn.uid().unwrap_or_default();
    let name = if inputs.name.is_empty() {
        // Unmanaged name: PUT is a full update, so send back the current one.
        match ctx.api.get_connection(creds, id).await {
            Ok(c) => c.name,
            Err(e) => {
                return Err(api_error(
                    ctx,
                    &uid,
                    &inputs.parent.credentials.to_string(),
                    e,
                ));
            }
        }
    } else {
        inputs.name.clone()
    };
    let body = UpdateConnection {
        name,
        metadata: inputs.settings.merged.clone(),
        hidden: conn.spec.hidden,
    };
    match ctx.api.update_connection(creds, id, &body).await {
        Ok(c) => {
            report::event(
                ctx,
                conn,
                false,
                reasons::UPDATED,
                format!("Updated Meshes connection {id}"),
            )
            .await;
            Ok(c)
        }
        Err(ApiError::Conflict { message, .. }) => Err(Step::stalled(
            reasons::NAME_CONFLICT,
            format!(
                "Updating Meshes connection {id} was refused: {message}; choose another spec.name"
            ),
        )),
        Err(e) => Err(api_error(
            ctx,
            &uid,
            &inputs.parent.credentials.to_string(),
            e,
        )),
    }
}

async fn upstream_deleted(
    conn: &MeshesConnection,
    ctx: &Context,
    status: &mut MeshesConnectionStatus,
    inputs: &Inputs,
    id: &str,
) -> Step {
    if observe_only(conn) || conn.spec.adopt.is_some() {
        return Step {
            outcome: Outcome::Stalled {
                reason: reasons::REJECTED,
                message: format!("Meshes connection {id} no longer exists upstream"),
            },
            drift: Drift::Drifted {
                reason: reasons::UPSTREAM_DELETED,
                message: format!("Meshes connection {id} was deleted upstream"),
            },
            requeue: None,
            quiet: false,
        };
    }
    report::event(
        ctx,
        conn,
        true,
        reasons::UPSTREAM_DELETED,
        format!("Meshes connection {id} was deleted upstream; creating it again"),
    )
    .await;
    status.connection_id = None;
    status.applied_hash = None;
    let creds = inputs.resolved.creds.clone();
    match create(conn, ctx, status, &creds, inputs).await {
        Ok(c) => {
            report::event(
                ctx,
                conn,
                false,
                reasons::DRIFT_CORRECTED,
                format!("Recreated Meshes connection as {}", c.id),
            )
            .await;
            finish(conn, ctx, status, inputs, c, true).await
        }
        Err(step) => step,
    }
}

async fn create(
    conn: &MeshesConnection,
    ctx: &Context,
    status: &mut MeshesConnectionStatus,
    creds: &Credentials,
    inputs: &Inputs,
) -> Result<Connection, Step> {
    let uid = conn.uid().unwrap_or_default();
    if observe_only(conn) {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            "managementPolicy Observe never creates; set spec.adopt.id".into(),
        ));
    }
    if conn.spec.type_.is_oauth() {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            format!(
                "{} connections are created in the Meshes dashboard (OAuth); set spec.adopt.id to manage one",
                conn.spec.type_
            ),
        ));
    }
    let started = now();
    status.pending_create = Some(PendingCreate {
        identity: decide::identity(&inputs.parent.workspace_id, &inputs.name),
        started_at: started.clone(),
    });
    status.org_id = Some(creds.org_id().to_string());
    outcome::apply(
        &mut status.conditions,
        &Outcome::Progressing {
            reason: reasons::CREATING,
            message: format!("Creating Meshes connection {:?}", inputs.name),
        },
        &Drift::Unchanged,
        conn.metadata.generation,
        &started,
    );
    if let Err(e) = report::apply_status(ctx, conn, status).await {
        return Err(kube_transient(ctx, &uid, e));
    }
    let body = CreateConnection {
        workspace: inputs.parent.workspace_id.clone(),
        kind: WireType::from(conn.spec.type_.as_str()),
        name: inputs.name.clone(),
        metadata: inputs.settings.merged.clone(),
        hidden: conn.spec.hidden,
    };
    let key = format!("{uid}-{}", started.0.as_millisecond());
    match ctx.api.create_connection(creds, &body, Some(&key)).await {
        Ok(c) => {
            status.pending_create = None;
            status.connection_id = Some(c.id.clone());
            report::event(
                ctx,
                conn,
                false,
                reasons::CREATED,
                format!("Created Meshes connection {} ({})", c.id, c.name),
            )
            .await;
            Ok(c)
        }
        Err(ApiError::Conflict { .. }) => {
            status.pending_create = None;
            if frame::rebind_by_identity(conn, ctx) {
                let snap = ctx
                    .snapshots
                    .refresh(ctx.api.as_ref(), creds, &inputs.parent.workspace_id)
                    .await
                    .map_err(|e| api_error(ctx, &uid, "", e))?;
                let bound = ownership::bound_elsewhere(conn, &ctx.stores.all_connections());
                if let Some(found) = snap
                    .connections
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(&inputs.name) && !bound.contains(&c.id))
                {
                    status.connection_id = Some(found.id.clone());
                    report::event(ctx, conn, false, reasons::ADOPTED, format!("Bound existing Meshes connection {} ({}) by identity (meshes.io/rebind-by-identity)", found.id, found.name)).await;
                    return Ok(found.clone());
                }
            }
            Err(Step::stalled(
                reasons::NAME_CONFLICT,
                format!(
                    "A connection named {:?} already exists in Meshes workspace {} and was not created by \
                     this object; set spec.adopt.id to manage it, or choose another spec.name",
                    inputs.name, inputs.parent.workspace_id
                ),
            ))
        }
        Err(e) => {
            if !(e.is_transient() || matches!(e, ApiError::RateLimited { .. })) {
                status.pending_create = None;
                if status.connection_id.is_none() {
                    status.org_id = None;
                }
            }
            Err(api_error(
                ctx,
                &uid,
                &inputs.parent.credentials.to_string(),
                e,
            ))
        }
    }
}

async fn claim_pending(
    conn: &MeshesConnection,
    ctx: &Context,
    status: &mut MeshesConnectionStatus,
    creds: &Credentials,
    inputs: &Inputs,
    pending: &PendingCreate,
) -> Result<Connection, Step> {
    let uid = conn.uid().unwrap_or_default();
    let snap = ctx
        .snapshots
        .refresh(ctx.api.as_ref(), creds, &inputs.parent.workspace_id)
        .await
        .map_err(|e| api_error(ctx, &uid, "", e))?;
    match decide::claim(
        &snap.connections,
        &inputs.name,
        &pending.started_at,
        ctx.config.create_skew,
        &ownership::bound_elsewhere(conn, &ctx.stores.all_connections()),
    ) {
        Claim::Ours(c) => {
            status.pending_create = None;
            status.connection_id = Some(c.id.clone());
            report::event(
                ctx,
                conn,
                false,
                reasons::CREATED,
                format!(
                    "Created Meshes connection {}; claimed after a create whose response was lost",
                    c.id
                ),
            )
            .await;
            Ok(c)
        }
        Claim::Conflict(c) => {
            status.pending_create = None;
            Err(Step::stalled(
                reasons::NAME_CONFLICT,
                format!(
                    "A connection named {:?} (ID {}) already exists and was not created by this object; set spec.adopt.id to manage it",
                    inputs.name, c.id
                ),
            ))
        }
        Claim::Absent => create(conn, ctx, status, creds, inputs).await,
    }
}

/// Deletion per policy. A connection Meshes refuses to delete because rules remain waits while
/// those rules are operator-managed and being deleted, then (bounded) releases with a Warning
/// naming the leftover rule IDs. Never force-deletes rules.
async fn cleanup(conn: &MeshesConnection, ctx: &Context) -> Result<Action, Error> {
    let uid = conn.uid().unwrap_or_default();
    let ns = conn.namespace().unwrap_or_default();
    let timed_out = step::release_timed_out(conn, ctx);
    let policy = decide::deletion_policy(&conn.spec, ctx.config.default_deletion_policy);
    let id = conn.status.as_ref().and_then(|s| s.connection_id.clone());
    if let (Some(id), DeletionPolicy::Delete) = (&id, policy) {
        // Only the parent and credentials are needed to delete; secret settings are not (their
        // Secret may already be gone in a namespace deletion).
        let target = match parents::of_connection(ctx, conn, true).await {
            Ok(p) => credentials::load(ctx, &uid, &p.credentials)
                .await
                .ok()
                .map(|r| (p, r.creds)),
            Err(_) => None,
        };
        let target = match target {
            Some(t) => Some(t),
            None if timed_out => None,
            None => {
                return Err(frame::wait_deleting(conn, ctx, Duration::from_secs(2), "Waiting for the workspace or credentials needed to delete the Meshes connection (released after the deletion timeout)".to_string()).await);
            }
        };
        match target {
            None => {
                report::event(ctx, conn, true, reasons::ORPHANED, format!(
                    "Released Meshes connection {id} without deleting it: its workspace or credentials are gone"
                )).await;
            }
            Some((parent, creds)) => match ctx
                .api
                .delete_connection(&creds, id, conn.spec.force_delete_rules == Some(true))
                .await
            {
                Ok(_) => {
                    report::event(
                        ctx,
                        conn,
                        false,
                        reasons::DELETED,
                        format!("Deleted Meshes connection {id}"),
                    )
                    .await
                }
                Err(e) if e.is_not_found() => {}
                Err(ApiError::Conflict { .. }) => {
                    // Rules remain. Operator-managed rules being deleted go within seconds;
                    // others are never force-deleted: wait, bounded, then release.
                    if !timed_out {
                        let deleting = managed_rules(ctx, conn, id).iter().filter(|d| **d).count();
                        tracing::debug!(connection = %id, deleting, "waiting for rules before deleting the connection");
                        return Err(frame::wait_deleting(conn, ctx, Duration::from_secs(1), format!("Meshes refuses to delete connection {id} while rules remain; waiting for them (released with a Warning after the deletion timeout)")).await);
                    }
                    let leftovers = ctx
                        .api
                        .list_workspace_rules(&creds, &parent.workspace_id, &Default::default())
                        .await
                        .map(|rules| {
                            rules
                                .into_iter()
                                .filter(|r| r.connection == *id)
                                .map(|r| r.id)
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    report::event(ctx, conn, true, reasons::ORPHANED, format!(
                        "Released Meshes connection {id} without deleting it: Meshes still has rules on it ({}); they were not force-deleted",
                        leftovers.join(", ")
                    )).await;
                }
                Err(e) if e.is_transient() || matches!(e, ApiError::RateLimited { .. }) => {
                    return Err(frame::wait_deleting(
                        conn,
                        ctx,
                        ctx.next_backoff(&uid),
                        format!("Meshes is unavailable; retrying the delete of connection {id}"),
                    )
                    .await);
                }
                Err(e) if timed_out => {
                    report::event(
                        ctx,
                        conn,
                        true,
                        reasons::ORPHANED,
                        format!("Released Meshes connection {id} without deleting it: {e}"),
                    )
                    .await;
                }
                Err(_) => {
                    return Err(frame::wait_deleting(conn, ctx, Duration::from_secs(2), "Waiting for the workspace or credentials needed to delete the Meshes connection (released after the deletion timeout)".to_string()).await);
                }
            },
        }
    } else if let Some(id) = &id {
        report::event(
            ctx,
            conn,
            false,
            reasons::ORPHANED,
            format!("Released Meshes connection {id}; it stays in Meshes (deletionPolicy Orphan)"),
        )
        .await;
    }
    ctx.forget(&uid);
    if let Ok(parent) = parents::of_connection(ctx, conn, true).await {
        let used = users::secret_in_use(ctx, &parent.credentials, &uid).await?;
        if parent.credentials.namespace == ns {
            credentials::release_if_unused(ctx, &parent.credentials, used).await;
        }
    }
    Ok(Action::await_change())
}

/// Rule CRs bound to connection `id` (or referencing this CR), each as "being deleted?".
fn managed_rules(ctx: &Context, conn: &MeshesConnection, id: &str) -> Vec<bool> {
    let Some(store) = &ctx.stores.rules else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|r| r.namespace() == conn.namespace())
        .filter(|r| {
            r.status.as_ref().and_then(|s| s.connection_id.as_deref()) == Some(id)
                || r.spec
                    .connection_ref
                    .as_ref()
                    .is_some_and(|c| c.name == conn.name_any())
        })
        .map(|r| r.metadata.deletion_timestamp.is_some())
        .collect()
}
