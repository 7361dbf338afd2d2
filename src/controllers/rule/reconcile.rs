//! The rule reconcile: resolve (connection, credentials, action in the integrations catalog) →
//! observe (the workspace snapshot) → decide ([`super::decide`]) → act (create, adopt, replace,
//! recreate) → report. A spec change replaces the rule: the new one is created before the old
//! one is deleted (at-least-once delivery across the replace).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::decide::{self, Binding, Claim};
use crate::api::types::{CreateRule, Rule};
use crate::api::{ApiError, Credentials};
use crate::controllers::catalog::actions_of;
use crate::controllers::context::{Context, Memo, StallKey};
use crate::controllers::credentials::{self, Resolved};
use crate::controllers::error::Error;
use crate::controllers::outcome::{self, Drift, Outcome};
use crate::controllers::parents::{self, Parent};
use crate::controllers::step::{self, Step, api_error, is_stale, kube_transient, now};
use crate::controllers::{frame, ownership, report, users};
use crate::resources::annotations::{EXTERNAL_ID, RECONCILE_REQUESTED_AT};
use crate::resources::{
    DeletionPolicy, ManagementPolicy, MeshesRule, MeshesRuleStatus, PendingCreate, reasons,
};

/// Entry point for the controller runtime.
pub async fn reconcile(rule: Arc<MeshesRule>, ctx: Arc<Context>) -> Result<Action, Error> {
    frame::reconcile(rule, ctx, apply, cleanup).await
}

fn observe_only(r: &MeshesRule) -> bool {
    r.spec.management_policy == Some(ManagementPolicy::Observe)
}

async fn apply(rule: &MeshesRule, ctx: &Context) -> Result<Action, Error> {
    let mut status = rule.status.clone().unwrap_or_default();
    status.observed_generation = rule.metadata.generation;
    status.effective_deletion_policy = Some(decide::deletion_policy(
        &rule.spec,
        ctx.config.default_deletion_policy,
    ));
    frame::pass(rule, ctx, status, async |status, stall_key| {
        run(rule, ctx, status, stall_key).await
    })
    .await
}

struct Inputs {
    parent: Parent,
    resolved: Resolved,
    want: CreateRule,
    hash: String,
    requested: Option<String>,
}

/// Resolves the connection, workspace, integration type and credentials.
async fn resolve(
    rule: &MeshesRule,
    ctx: &Context,
    deleting: bool,
) -> Result<(Inputs, Option<String>), Step> {
    let uid = rule.uid().unwrap_or_default();
    let mut parent = parents::of_rule(ctx, rule, deleting).await?;
    let resolved = credentials::load(ctx, &uid, &parent.credentials)
        .await
        .map_err(Step::from)?;
    let connection_id = parent.connection_id.clone().unwrap_or_default();
    let mut kind = parent.connection_type.clone();
    if (parent.workspace_id.is_empty() || kind.is_none())
        && let Some((ws, k)) = ctx.connection_facts(&connection_id)
    {
        parent.workspace_id = ws;
        kind = Some(k);
    }
    if parent.workspace_id.is_empty() || kind.is_none() {
        // A raw connectionId: learn its workspace and type from Meshes (recorded in status).
        match ctx
            .api
            .get_connection(&resolved.creds, &connection_id)
            .await
        {
            Ok(c) => {
                ctx.remember_connection(&connection_id, &c.workspace, c.kind.as_str());
                parent.workspace_id = c.workspace.clone();
                kind = Some(c.kind.as_str().to_string());
            }
            Err(e) if e.is_not_found() => {
                return Err(Step::stalled(
                    reasons::INVALID_SPEC,
                    format!(
                        "spec.connectionId {connection_id} is not a Meshes connection visible to these credentials"
                    ),
                ));
            }
            Err(e) => return Err(api_error(ctx, &uid, &parent.credentials.to_string(), e)),
        }
    }
    let want = decide::desired(&rule.spec, &parent.workspace_id, &connection_id);
    let hash = decide::hash(&want);
    Ok((
        Inputs {
            parent,
            resolved,
            want,
            hash,
            requested: rule.annotations().get(RECONCILE_REQUESTED_AT).cloned(),
        },
        kind,
    ))
}

async fn check_action(
    rule: &MeshesRule,
    ctx: &Context,
    creds: &Credentials,
    kind: Option<&str>,
) -> Result<(), Step> {
    let uid = rule.uid().unwrap_or_default();
    let Some(kind) = kind else { return Ok(()) };
    let catalog = ctx
        .catalogs
        .get(ctx.api.as_ref(), creds)
        .await
        .map_err(|e| api_error(ctx, &uid, "", e))?;
    match actions_of(&catalog, kind) {
        Some(actions) if !actions.contains(&rule.spec.metadata.action) => Err(Step::stalled(
            reasons::INVALID_SPEC,
            format!(
                "spec.metadata.action {:?} is not an action of {kind} connections; valid actions: {}",
                rule.spec.metadata.action,
                actions.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

async fn run(
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    stall_key: &mut Option<StallKey>,
) -> Step {
    let uid = rule.uid().unwrap_or_default();
    let (inputs, kind) = match resolve(rule, ctx, false).await {
        Ok(i) => i,
        Err(step) => return step,
    };
    let creds = inputs.resolved.creds.clone();
    if let Some(step) = step::org_changed(
        ctx,
        rule,
        status.org_id.as_deref(),
        status.rule_id.is_some(),
        status.pending_create.is_some(),
        creds.org_id(),
        "rule",
        &format!("Secret {}", inputs.parent.credentials),
    )
    .await
    {
        return step;
    }
    let inputs_fp = u64::from_str_radix(inputs.hash.get(..16).unwrap_or("0"), 16).unwrap_or(0);
    let key = StallKey {
        generation: rule.metadata.generation,
        credentials: inputs.resolved.fingerprint ^ inputs_fp,
        requested_at: inputs.requested.clone(),
    };
    if ctx.stalled_with(&uid, &key) {
        return Step::quiet(None);
    }
    *stall_key = Some(key);
    if let Err(step) = check_action(rule, ctx, &creds, kind.as_deref()).await {
        return step;
    }
    status.workspace_id = Some(inputs.parent.workspace_id.clone());
    status.connection_id = inputs.parent.connection_id.clone();

    // A replace interrupted after the new rule was recorded: finish deleting the old one.
    if let (Some(prev), Some(_)) = (status.previous_rule_id.clone(), status.rule_id.clone())
        && status.pending_create.is_none()
        && let Err(step) = delete_previous(rule, ctx, status, &creds, &prev).await
    {
        return step;
    }

    let external_id = rule.annotations().get(EXTERNAL_ID).cloned();
    let binding = decide::binding(&rule.spec, Some(status), external_id.as_deref());
    // Anything but a recorded binding may be an artefact of a stale cache entry (our own last
    // write not seen yet): confirm with a fresh read before calling Meshes.
    if !matches!(binding, Binding::Bound(_)) {
        match is_stale(ctx, rule).await {
            Ok(false) => {}
            Ok(true) => return Step::quiet(Some(Duration::from_millis(300))),
            Err(e) => return kube_transient(ctx, &uid, e),
        }
    }
    let memo = ctx.memo(&uid);
    let unchanged = memo.as_ref().is_some_and(|m| {
        m.generation == rule.metadata.generation
            && m.credentials == inputs.resolved.fingerprint
            && m.inputs == inputs_fp
            && m.requested_at == inputs.requested
    });
    let mut written = false;
    let upstream: Rule = match binding {
        Binding::Bound(id) => {
            if status.applied_hash.as_deref() != Some(inputs.hash.as_str())
                && status.applied_hash.is_some()
                && !observe_only(rule)
            {
                match replace(rule, ctx, status, &inputs, &id).await {
                    Ok(r) => {
                        written = true;
                        r
                    }
                    Err(step) => return step,
                }
            } else if unchanged {
                let checked = memo.as_ref().map(|m| (m.checked_seq, m.written_at));
                match (ctx.snapshots.get(&inputs.parent.workspace_id), checked) {
                    (Some(snap), Some((seq, written_at)))
                        if snap.seq > seq && snap.taken_at > written_at =>
                    {
                        match snap.rules.iter().find(|r| r.id == id) {
                            Some(r) => r.clone(),
                            None => return upstream_deleted(rule, ctx, status, &inputs, &id).await,
                        }
                    }
                    _ => {
                        return Step {
                            outcome: frame::ready("rule", &id, observe_only(rule)),
                            drift: Drift::Unchanged,
                            requeue: None,
                            quiet: false,
                        };
                    }
                }
            } else {
                let snap = match ctx
                    .snapshots
                    .load(
                        ctx.api.as_ref(),
                        &creds,
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
                match snap.rules.iter().find(|r| r.id == id) {
                    Some(r) => r.clone(),
                    None => return upstream_deleted(rule, ctx, status, &inputs, &id).await,
                }
            }
        }
        Binding::Adopt(id) | Binding::Rebind(id) => match ctx.api.get_rule(&creds, &id).await {
            Ok(r) => {
                if Some(&r.connection) != inputs.parent.connection_id.as_ref() {
                    return Step::stalled(
                        reasons::INVALID_SPEC,
                        format!(
                            "Meshes rule {id} belongs to connection {}, not {}",
                            r.connection,
                            inputs.parent.connection_id.clone().unwrap_or_default()
                        ),
                    );
                }
                if let Some(owner) = ownership::other_owner(rule, &ctx.stores.all_rules(), &id) {
                    return Step::stalled(
                        reasons::ALREADY_MANAGED,
                        format!("Meshes rule {id} is already managed by MeshesRule {owner}"),
                    );
                }
                report::event(
                    ctx,
                    rule,
                    false,
                    reasons::ADOPTED,
                    format!("Bound Meshes rule {id} ({})", r.event),
                )
                .await;
                r
            }
            Err(e) if e.is_not_found() && rule.spec.adopt.is_none() => {
                match create(rule, ctx, status, &inputs, None).await {
                    Ok(r) => {
                        written = true;
                        r
                    }
                    Err(step) => return step,
                }
            }
            Err(e) if e.is_not_found() => {
                return Step::stalled(
                    reasons::REJECTED,
                    format!("spec.adopt.id {id} is not a Meshes rule visible to these credentials"),
                );
            }
            Err(e) => return api_error(ctx, &uid, &inputs.parent.credentials.to_string(), e),
        },
        Binding::ClaimPending(pending) => {
            match claim_pending(rule, ctx, status, &inputs, &pending).await {
                Ok(r) => {
                    written = true;
                    r
                }
                Err(step) => return step,
            }
        }
        Binding::Create => {
            // No silent takeover: an identical rule no CR manages is a conflict. Uses the
            // workspace snapshot when one exists; no extra list per create.
            let bound = bound_ids(ctx);
            let snapshot = if frame::rebind_by_identity(rule, ctx) {
                // Disaster recovery looks at a fresh list; otherwise only an existing snapshot
                // is consulted (no extra list per create).
                match ctx
                    .snapshots
                    .refresh(ctx.api.as_ref(), &creds, &inputs.parent.workspace_id)
                    .await
                {
                    Ok(s) => Some(s),
                    Err(e) => return api_error(ctx, &uid, "", e),
                }
            } else {
                ctx.snapshots.get(&inputs.parent.workspace_id)
            };
            if let Some(snap) = snapshot
                && let Some(twin) = decide::collision(&snap.rules, &inputs.want, &bound)
            {
                if frame::rebind_by_identity(rule, ctx) {
                    report::event(ctx, rule, false, reasons::ADOPTED, format!("Bound existing Meshes rule {} by identity (meshes.io/rebind-by-identity)", twin.id)).await;
                    let twin = twin.clone();
                    return finish(rule, ctx, status, &inputs, twin, false).await;
                }
                return Step::stalled(
                    reasons::NAME_CONFLICT,
                    format!(
                        "An identical Meshes rule {} exists and is not managed by any MeshesRule; set spec.adopt.id to manage it (or meshes.io/rebind-by-identity)",
                        twin.id
                    ),
                );
            }
            match create(rule, ctx, status, &inputs, None).await {
                Ok(r) => {
                    written = true;
                    r
                }
                Err(step) => return step,
            }
        }
    };
    finish(rule, ctx, status, &inputs, upstream, written).await
}

async fn finish(
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    inputs: &Inputs,
    upstream: Rule,
    written: bool,
) -> Step {
    let uid = rule.uid().unwrap_or_default();
    let id = upstream.id.clone();
    let mut drift = if observe_only(rule) {
        Drift::InSync
    } else {
        Drift::NotTracked
    };
    if !decide::matches(&upstream, &inputs.want) {
        if observe_only(rule) {
            drift = Drift::Drifted {
                reason: reasons::UPSTREAM_CHANGED,
                message: format!(
                    "Meshes rule {id} differs from the spec (event, resource or metadata)"
                ),
            };
        } else {
            // An adopted rule that differs: record nothing so the next pass replaces it.
            status.rule_id = Some(id.clone());
            status.applied_hash = Some(String::from("adopted"));
            return Step {
                outcome: Outcome::Progressing {
                    reason: reasons::REPLACING,
                    message: format!("Replacing adopted Meshes rule {id} to match the spec"),
                },
                drift,
                requeue: Some(Duration::from_millis(100)),
                quiet: false,
            };
        }
    }
    status.rule_id = Some(id.clone());
    status.org_id = Some(inputs.resolved.creds.org_id().to_string());
    status.pending_create = None;
    status.applied_hash = Some(inputs.hash.clone());
    if let Err(e) = report::annotate(ctx, rule, EXTERNAL_ID, &id).await {
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
            generation: rule.metadata.generation,
            credentials: inputs.resolved.fingerprint,
            requested_at: inputs.requested.clone(),
            snapshot: serde_json::Value::Null,
            written_at: if written {
                Instant::now()
            } else {
                prev_written.unwrap_or_else(Instant::now)
            },
            checked_seq: seq,
            inputs: u64::from_str_radix(inputs.hash.get(..16).unwrap_or("0"), 16).unwrap_or(0),
        },
    );
    Step {
        outcome: frame::ready("rule", &id, observe_only(rule)),
        drift,
        requeue: None,
        quiet: false,
    }
}

async fn upstream_deleted(
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    inputs: &Inputs,
    id: &str,
) -> Step {
    if observe_only(rule) || rule.spec.adopt.is_some() {
        return Step {
            outcome: Outcome::Stalled {
                reason: reasons::REJECTED,
                message: format!("Meshes rule {id} no longer exists upstream"),
            },
            drift: Drift::Drifted {
                reason: reasons::UPSTREAM_DELETED,
                message: format!("Meshes rule {id} was deleted upstream"),
            },
            requeue: None,
            quiet: false,
        };
    }
    report::event(
        ctx,
        rule,
        true,
        reasons::UPSTREAM_DELETED,
        format!("Meshes rule {id} was deleted upstream; creating it again"),
    )
    .await;
    status.rule_id = None;
    status.applied_hash = None;
    match create(rule, ctx, status, inputs, None).await {
        Ok(r) => {
            report::event(
                ctx,
                rule,
                false,
                reasons::DRIFT_CORRECTED,
                format!("Recreated Meshes rule as {}", r.id),
            )
            .await;
            finish(rule, ctx, status, inputs, r, true).await
        }
        Err(step) => step,
    }
}

/// Creates the new rule, then deletes the old one (`status.previousRuleId` in between).
async fn replace(
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    inputs: &Inputs,
    old: &str,
) -> Result<Rule, Step> {
    let new = create(rule, ctx, status, inputs, Some(old)).await?;
    let creds = inputs.resolved.creds.clone();
    // Persist the new ID before deleting the old rule: a crash now leaves both recorded.
    status.rule_id = Some(new.id.clone());
    status.applied_hash = Some(inputs.hash.clone());
    if let Err(e) = report::apply_status(ctx, rule, status).await {
        return Err(kube_transient(ctx, &rule.uid().unwrap_or_default(), e));
    }
    delete_previous(rule, ctx, status, &creds, old).await?;
    report::event(
        ctx,
        rule,
        false,
        reasons::REPLACED,
        format!(
            "Replaced Meshes rule {old} with {} (Meshes cannot update rules)",
            new.id
        ),
    )
    .await;
    Ok(new)
}

async fn delete_previous(
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    creds: &Credentials,
    prev: &str,
) -> Result<(), Step> {
    match ctx.api.delete_rule(creds, prev).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(api_error(ctx, &rule.uid().unwrap_or_default(), "", e)),
    }
    status.previous_rule_id = None;
    Ok(())
}

fn bound_ids(ctx: &Context) -> HashSet<String> {
    ctx.stores
        .rules
        .as_ref()
        .map(|s| {
            s.state()
                .iter()
                .flat_map(|r| {
                    let st = r.status.as_ref();
                    [
                        st.and_then(|s| s.rule_id.clone()),
                        st.and_then(|s| s.previous_rule_id.clone()),
                    ]
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

/// Creates the desired rule crash-safely (`pendingCreate` persisted first). `replacing`: the
/// rule being replaced, recorded as `previousRuleId` in the same status write.
async fn create(
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    inputs: &Inputs,
    replacing: Option<&str>,
) -> Result<Rule, Step> {
    let uid = rule.uid().unwrap_or_default();
    if observe_only(rule) {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            "managementPolicy Observe never creates; set spec.adopt.id".into(),
        ));
    }
    let started = now();
    status.pending_create = Some(PendingCreate {
        identity: format!("rule:{}", inputs.hash),
        started_at: started.clone(),
    });
    status.previous_rule_id = replacing
        .map(str::to_string)
        .or(status.previous_rule_id.take());
    status.org_id = Some(inputs.resolved.creds.org_id().to_string());
    let (reason, message) = match replacing {
        Some(old) => (
            reasons::REPLACING,
            format!("Replacing Meshes rule {old}: creating the new rule first"),
        ),
        None => (
            reasons::CREATING,
            format!("Creating Meshes rule for event {}", rule.spec.event),
        ),
    };
    outcome::apply(
        &mut status.conditions,
        &Outcome::Progressing { reason, message },
        &Drift::Unchanged,
        rule.metadata.generation,
        &started,
    );
    if let Err(e) = report::apply_status(ctx, rule, status).await {
        return Err(kube_transient(ctx, &uid, e));
    }
    let key = format!("{uid}-{}", started.0.as_millisecond());
    match ctx
        .api
        .create_rule(&inputs.resolved.creds, &inputs.want, Some(&key))
        .await
    {
        Ok(r) => {
            status.pending_create = None;
            if replacing.is_none() {
                status.rule_id = Some(r.id.clone());
                report::event(
                    ctx,
                    rule,
                    false,
                    reasons::CREATED,
                    format!("Created Meshes rule {} ({})", r.id, r.event),
                )
                .await;
            }
            Ok(r)
        }
        Err(ApiError::Conflict { message, .. }) => {
            status.pending_create = None;
            if status.rule_id.is_none() {
                status.org_id = None;
            }
            Err(Step::stalled(
                reasons::NAME_CONFLICT,
                format!(
                    "Meshes refused the rule as a conflict ({message}); an identical rule may exist: set spec.adopt.id to manage it"
                ),
            ))
        }
        Err(e) => {
            if !(e.is_transient() || matches!(e, ApiError::RateLimited { .. })) {
                status.pending_create = None;
                if status.rule_id.is_none() {
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
    rule: &MeshesRule,
    ctx: &Context,
    status: &mut MeshesRuleStatus,
    inputs: &Inputs,
    pending: &PendingCreate,
) -> Result<Rule, Step> {
    let uid = rule.uid().unwrap_or_default();
    let snap = ctx
        .snapshots
        .refresh(
            ctx.api.as_ref(),
            &inputs.resolved.creds,
            &inputs.parent.workspace_id,
        )
        .await
        .map_err(|e| api_error(ctx, &uid, "", e))?;
    match decide::claim(
        &snap.rules,
        &inputs.want,
        &pending.started_at,
        ctx.config.create_skew,
        &bound_ids(ctx),
    ) {
        Claim::Ours(r) => {
            status.pending_create = None;
            report::event(
                ctx,
                rule,
                false,
                reasons::CREATED,
                format!(
                    "Created Meshes rule {}; claimed after a create whose response was lost",
                    r.id
                ),
            )
            .await;
            if let Some(prev) = status.previous_rule_id.clone() {
                status.rule_id = Some(r.id.clone());
                status.applied_hash = Some(inputs.hash.clone());
                delete_previous(rule, ctx, status, &inputs.resolved.creds, &prev).await?;
            }
            Ok(*r)
        }
        Claim::Absent => {
            let prev = status.previous_rule_id.clone();
            match prev {
                Some(old) => {
                    let new = create(rule, ctx, status, inputs, Some(&old)).await?;
                    status.rule_id = Some(new.id.clone());
                    status.applied_hash = Some(inputs.hash.clone());
                    if let Err(e) = report::apply_status(ctx, rule, status).await {
                        return Err(kube_transient(ctx, &uid, e));
                    }
                    delete_previous(rule, ctx, status, &inputs.resolved.creds, &old).await?;
                    Ok(new)
                }
                None => create(rule, ctx, status, inputs, None).await,
            }
        }
    }
}

/// Deletion per policy (404 counts as done). Without credentials or parents the rule is
/// released after the bounded wait with a Warning.
async fn cleanup(rule: &MeshesRule, ctx: &Context) -> Result<Action, Error> {
    let uid = rule.uid().unwrap_or_default();
    let ns = rule.namespace().unwrap_or_default();
    let timed_out = step::release_timed_out(rule, ctx);
    let policy = decide::deletion_policy(&rule.spec, ctx.config.default_deletion_policy);
    let st = rule.status.as_ref();
    let ids: Vec<String> = [
        st.and_then(|s| s.rule_id.clone()),
        st.and_then(|s| s.previous_rule_id.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !ids.is_empty() && policy == DeletionPolicy::Delete {
        let creds = match parents::of_rule(ctx, rule, true).await {
            Ok(p) => credentials::load(ctx, &uid, &p.credentials)
                .await
                .ok()
                .map(|r| r.creds),
            Err(_) => None,
        };
        match creds {
            None if !timed_out => {
                return Err(frame::wait_deleting(rule, ctx, Duration::from_secs(2), "Waiting for the connection or credentials needed to delete the Meshes rule (released after the deletion timeout)".to_string()).await);
            }
            None => {
                report::event(ctx, rule, true, reasons::ORPHANED, format!("Released Meshes rule(s) {} without deleting: the connection or credentials are gone", ids.join(", "))).await;
            }
            Some(creds) => {
                for id in &ids {
                    match ctx.api.delete_rule(&creds, id).await {
                        Ok(_) => {
                            report::event(
                                ctx,
                                rule,
                                false,
                                reasons::DELETED,
                                format!("Deleted Meshes rule {id}"),
                            )
                            .await
                        }
                        Err(e) if e.is_not_found() => {}
                        Err(e) if e.is_transient() || matches!(e, ApiError::RateLimited { .. }) => {
                            return Err(frame::wait_deleting(
                                rule,
                                ctx,
                                ctx.next_backoff(&uid),
                                format!("Meshes is unavailable; retrying the delete of rule {id}"),
                            )
                            .await);
                        }
                        Err(e) if timed_out => {
                            report::event(
                                ctx,
                                rule,
                                true,
                                reasons::ORPHANED,
                                format!("Released Meshes rule {id} without deleting it: {e}"),
                            )
                            .await;
                        }
                        Err(_) => {
                            return Err(frame::wait_deleting(rule, ctx, Duration::from_secs(2), "Waiting for the connection or credentials needed to delete the Meshes rule (released after the deletion timeout)".to_string()).await);
                        }
                    }
                }
            }
        }
    } else if let Some(id) = ids.first() {
        report::event(
            ctx,
            rule,
            false,
            reasons::ORPHANED,
            format!("Released Meshes rule {id}; it stays in Meshes (deletionPolicy Orphan)"),
        )
        .await;
    }
    ctx.forget(&uid);
    if let Ok(p) = parents::of_rule(ctx, rule, true).await
        && p.credentials.namespace == ns
    {
        let used = users::secret_in_use(ctx, &p.credentials, &uid).await?;
        credentials::release_if_unused(ctx, &p.credentials, used).await;
    }
    Ok(Action::await_change())
}
