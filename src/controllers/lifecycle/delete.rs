//! Cleanup of any kind per its deletion policy. Deletion never hangs: waits are bounded by the
//! deletion timeout except while Meshes itself is unavailable (retried with backoff). A create
//! whose outcome is unknown is claimed first, so what it committed is deleted (or named in the
//! Warning that releases it), never silently leaked.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::claim::{Claim, claim_in};
use super::host::{Host, KubeHost};
use super::{Kind, Refusal, outcome_unknown};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::{credentials, frame, ownership, step, users};
use crate::resources::{DeletionPolicy, reasons};

/// What a cleanup pass concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// The upstream part is done: the finalizer may go.
    Done,
    /// Keep the finalizer and look again.
    Wait {
        /// When.
        requeue: Duration,
        /// What for (shown as `Ready=False, Deleting`).
        message: String,
    },
}

impl Cleanup {
    fn wait(requeue: Duration, message: impl Into<String>) -> Self {
        Self::Wait {
            requeue,
            message: message.into(),
        }
    }
}

/// The controller runtime's cleanup entry for kind `K`.
pub async fn entry<K: Kind>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let host = KubeHost::new(ctx);
    match run(obj, ctx, &host).await {
        Cleanup::Wait { requeue, message } => {
            Err(frame::wait_deleting(obj, ctx, requeue, message).await)
        }
        Cleanup::Done => {
            let uid = obj.uid().unwrap_or_default();
            ctx.forget(&uid);
            ctx.stop_waiting_for_all(&uid);
            if let Some(secret) = obj.credentials_secret(ctx).await {
                let used = users::secret_in_use_or_keep(ctx, obj, &secret, &uid).await?;
                credentials::release_if_unused(ctx, &secret, used).await;
            }
            obj.after_delete(ctx).await?;
            Ok(Action::await_change())
        }
    }
}

/// The upstream part of a cleanup.
pub async fn run<K: Kind>(obj: &K, ctx: &Context, host: &dyn Host<K>) -> Cleanup {
    run_with(obj, ctx, host, async || obj.resolve(ctx, true).await).await
}

/// Whether the copy of `obj` a cleanup pass holds carries the status this process last wrote.
/// Without a write by this process (a restart) the answer is no: the read stays.
fn holds_own_last_write<K: Kind>(obj: &K, ctx: &Context, uid: &str) -> bool {
    let held = obj
        .current_status()
        .map(crate::controllers::report::status_hash);
    held.is_some() && held == ctx.last_written_status(uid)
}

/// The upstream part of a cleanup with the given resolution (the unit tier enters here).
pub async fn run_with<K: Kind>(
    obj: &K,
    ctx: &Context,
    host: &dyn Host<K>,
    resolve: impl AsyncFnOnce() -> Result<K::In, crate::controllers::step::Step>,
) -> Cleanup {
    let uid = obj.uid().unwrap_or_default();
    let timed_out = step::release_timed_out(obj, ctx);
    if let Some(message) = obj.wait_before_delete(ctx)
        && (!timed_out || obj.dependents_retrying(ctx))
    {
        return Cleanup::wait(Duration::from_secs(2), message);
    }
    // The cache may lag behind our own last write (a create that committed): decide on the
    // latest version only. A held copy showing the status this process wrote last is that
    // version as far as cleanup is concerned (writes by others before the deletion come
    // before it in the watch), so the read is saved (a namespace deletion cleans up every
    // object at once, and all share the client's rate limit).
    if !holds_own_last_write(obj, ctx, &uid) {
        match host.is_stale(obj).await {
            Ok(false) => {}
            Ok(true) => {
                return Cleanup::wait(Duration::from_millis(300), "Reading the latest version");
            }
            Err(e) => {
                return Cleanup::wait(ctx.next_backoff(&uid), format!("Kubernetes API: {e}"));
            }
        }
    }
    let mut status = obj.current_status().cloned().unwrap_or_default();
    let core = K::core(&mut status);
    let mut ids: Vec<String> = core.id.iter().cloned().collect();
    if let Some(prev) = core.previous.and_then(|p| p.clone())
        && !ids.contains(&prev)
    {
        ids.push(prev);
    }
    let pending = core.pending.clone();
    let policy = obj.deletion_policy(ctx);
    if ids.is_empty() && pending.is_none() {
        return Cleanup::Done;
    }
    if policy == DeletionPolicy::Orphan && pending.is_none() {
        let noun = K::NOUN;
        host.event(
            obj,
            false,
            reasons::ORPHANED,
            format!(
                "Released Meshes {noun} {}; it stays in Meshes (deletionPolicy Orphan)",
                ids.join(", ")
            ),
        )
        .await;
        return Cleanup::Done;
    }
    let inputs = match resolve().await {
        Ok(i) => i,
        Err(_) if !timed_out => {
            return Cleanup::wait(
                Duration::from_secs(2),
                format!(
                    "Waiting for the parent or credentials needed to delete the Meshes {} \
                     (released after the deletion timeout)",
                    K::NOUN
                ),
            );
        }
        Err(_) => {
            let what = describe(&ids, pending.as_ref().map(|p| p.identity.as_str()));
            host.event(
                obj,
                true,
                reasons::ORPHANED,
                format!("Released {what} without deleting: its parent or credentials are gone"),
            )
            .await;
            return Cleanup::Done;
        }
    };
    if let Some(p) = &pending {
        // A create whose outcome is unknown: find what it committed.
        match obj.candidates(ctx, &inputs).await {
            Ok(list) => {
                let elsewhere = ownership::bound_elsewhere(obj, &K::cached(ctx));
                let current = obj.identity(&inputs);
                if let Claim::Ours(up) =
                    claim_in::<K>(&list, p, &current, ctx.config.create_skew, &elsewhere, &ids)
                {
                    ids.push(K::up_id(&up).to_string());
                }
            }
            Err(e) if !timed_out => {
                return Cleanup::wait(
                    ctx.next_backoff(&uid),
                    format!("Looking for what an unfinished create made: {e}"),
                );
            }
            Err(e) => {
                host.event(
                    obj,
                    true,
                    reasons::ORPHANED,
                    format!(
                        "Released without deleting: a create of Meshes {} {} may have been \
                         committed and could not be checked ({e})",
                        K::NOUN,
                        p.identity
                    ),
                )
                .await;
            }
        }
    }
    if policy == DeletionPolicy::Orphan {
        if !ids.is_empty() {
            host.event(
                obj,
                false,
                reasons::ORPHANED,
                format!(
                    "Released Meshes {} {}; it stays in Meshes (deletionPolicy Orphan)",
                    K::NOUN,
                    ids.join(", ")
                ),
            )
            .await;
        }
        return Cleanup::Done;
    }
    let creds = K::resolved(&inputs);
    for id in &ids {
        match obj.delete(ctx, creds, id).await {
            Ok(()) => {
                host.event(
                    obj,
                    false,
                    reasons::DELETED,
                    format!("Deleted Meshes {} {id}", K::NOUN),
                )
                .await;
            }
            Err(e) if e.is_not_found() => {}
            Err(e) if e.is_conflict() => match obj.refused(ctx, &inputs, id, timed_out).await {
                Refusal::Wait(message) => return Cleanup::wait(Duration::from_secs(1), message),
                Refusal::Release(message) => {
                    host.event(obj, true, reasons::ORPHANED, message).await;
                }
            },
            // Meshes is unavailable: retried without bound (a release would leak the object).
            Err(e) if e.is_transient() || outcome_unknown(&e) => {
                return Cleanup::wait(
                    ctx.next_backoff(&uid),
                    format!(
                        "Meshes is unavailable; retrying the delete of {} {id}",
                        K::NOUN
                    ),
                );
            }
            Err(e) if timed_out => {
                host.event(
                    obj,
                    true,
                    reasons::ORPHANED,
                    format!("Released Meshes {} {id} without deleting it: {e}", K::NOUN),
                )
                .await;
            }
            Err(e) => {
                return Cleanup::wait(
                    Duration::from_secs(2),
                    format!(
                        "Meshes refused to delete {} {id} ({e}); retrying until the deletion \
                         timeout, then releasing it with a Warning",
                        K::NOUN
                    ),
                );
            }
        }
    }
    Cleanup::Done
}

fn describe(ids: &[String], pending: Option<&str>) -> String {
    let mut parts = Vec::new();
    if !ids.is_empty() {
        parts.push(format!("Meshes object(s) {}", ids.join(", ")));
    }
    if let Some(p) = pending {
        parts.push(format!(
            "an unfinished create ({p}) that may have been committed"
        ));
    }
    parts.join(" and ")
}
