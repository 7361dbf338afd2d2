//! One apply pass of any kind: resolve → org guard → stall memo → validate → bind → observe →
//! plan → act → record. Creating, claiming and replacing are in [`super::create`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::binding::{self, Binding};
use super::host::{Host, KubeHost};
use super::{Kind, Plan, Recheck};
use crate::api::ApiError;
use crate::controllers::context::{Context, Memo, StallKey};
use crate::controllers::error::Error;
use crate::controllers::outcome::{Drift, Outcome};
use crate::controllers::ownership;
use crate::controllers::step::{Step, api_error, kube_transient};
use crate::controllers::{credentials, durations, frame};

/// How long a routine check waits, at least, when the key is busy (up to twice as long, at
/// random, so the deferred checks spread).
const ROUTINE_RETRY: Duration = Duration::from_secs(1);
use crate::resources::annotations::{EXTERNAL_ID, RECONCILE_REQUESTED_AT};
use crate::resources::reasons;

/// The controller runtime's apply entry for kind `K` (under the frame: paused, stall memo, one
/// status write).
pub async fn entry<K: Kind>(obj: &K, ctx: &Context) -> Result<Action, Error> {
    let mut status = obj.current_status().cloned().unwrap_or_default();
    obj.prepare(ctx, &mut status);
    let host = KubeHost::new(ctx);
    frame::pass(obj, ctx, status, async |status, stall_key| {
        run(obj, ctx, &host, status, stall_key).await
    })
    .await
}

/// Resolves the inputs of `obj`, then runs the pass.
pub async fn run<K: Kind>(
    obj: &K,
    ctx: &Context,
    host: &dyn Host<K>,
    status: &mut K::Status,
    stall_key: &mut Option<StallKey>,
) -> Step {
    let inputs = match obj.resolve(ctx, false).await {
        Ok(i) => i,
        Err(step) => return step,
    };
    run_with(obj, ctx, host, &inputs, status, stall_key).await
}

/// The pass with resolved inputs (the unit tier enters here).
pub async fn run_with<K: Kind>(
    obj: &K,
    ctx: &Context,
    host: &dyn Host<K>,
    inputs: &K::In,
    status: &mut K::Status,
    stall_key: &mut Option<StallKey>,
) -> Step {
    let pass = Pass {
        obj,
        ctx,
        host,
        inputs,
        uid: obj.uid().unwrap_or_default(),
        fresh: AtomicBool::new(false),
    };
    pass.go(status, stall_key).await.unwrap_or_else(|step| step)
}

/// One pass's fixed facts.
pub(super) struct Pass<'a, K: Kind> {
    pub(super) obj: &'a K,
    pub(super) ctx: &'a Context,
    pub(super) host: &'a dyn Host<K>,
    pub(super) inputs: &'a K::In,
    pub(super) uid: String,
    /// The object was confirmed fresh against the API server during this pass.
    fresh: AtomicBool,
}

impl<K: Kind> Pass<'_, K> {
    async fn go(
        &self,
        status: &mut K::Status,
        stall_key: &mut Option<StallKey>,
    ) -> Result<Step, Step> {
        self.org_guard(status).await?;
        let key = StallKey {
            generation: self.obj.meta().generation,
            credentials: K::resolved(self.inputs).fingerprint ^ K::fingerprint(self.inputs),
            requested_at: self.requested(),
        };
        if self.ctx.stalled_with(&self.uid, &key) {
            return Ok(Step::quiet(None)); // same inputs, same refusal: wait for a change
        }
        *stall_key = Some(key);
        let pre = super::Pre {
            ctx: self.ctx,
            host: self.host,
            inputs: self.inputs,
        };
        self.obj.validate(pre, status).await?;

        // On shared credentials an annotation a namespace owner can write never binds an
        // existing upstream object (that needs the object's own credentialsRef, like adopt.id).
        let external_id = self
            .obj
            .annotations()
            .get(EXTERNAL_ID)
            .filter(|_| !self.shared())
            .cloned();
        let core = K::core(status);
        let binding = binding::choose(
            core.pending.as_ref(),
            core.id.as_deref(),
            self.obj.adopt_id(),
            external_id.as_deref(),
        );
        if !matches!(binding, Binding::Bound(_)) {
            self.ensure_fresh().await?;
        }
        match binding {
            Binding::Bound(id) => self.bound(status, &id).await,
            Binding::ClaimPending(pending) => {
                let (up, written) = self.claim(status, &pending).await?;
                self.settle(status, up, written, false).await
            }
            Binding::Adopt(id) => match self.get(&id).await? {
                Some(up) => {
                    self.bind_existing(&up, "spec.adopt.id").await?;
                    self.settle(status, up, false, false).await
                }
                None => Err(Step::stalled(
                    reasons::REJECTED,
                    format!(
                        "spec.adopt.id {id} is not a Meshes {} visible to these credentials; check the ID",
                        K::NOUN
                    ),
                )),
            },
            Binding::Rebind(id) => match self.get(&id).await? {
                Some(up) => {
                    self.bind_existing(&up, "the meshes.io/external-id annotation")
                        .await?;
                    self.settle(status, up, false, false).await
                }
                None => self.create_fresh(status).await,
            },
            Binding::Create => self.create_fresh(status).await,
        }
    }

    fn requested(&self) -> Option<String> {
        self.obj.annotations().get(RECONCILE_REQUESTED_AT).cloned()
    }

    /// Once bound in an org (or a create may have reached it), credentials for another org
    /// stall the object instead of re-creating everything there.
    async fn org_guard(&self, status: &mut K::Status) -> Result<(), Step> {
        let current = K::resolved(self.inputs).creds.org_id().to_string();
        let core = K::core(status);
        let bound = core.id.is_some();
        let Some(org) = core.org.clone().filter(|_| bound || core.pending.is_some()) else {
            return Ok(());
        };
        if org == current {
            return Ok(());
        }
        if !bound {
            // Only a pending create recorded the org: the refused create may have cleared it.
            self.ensure_fresh().await?;
        }
        Err(Step::stalled(
            reasons::CREDENTIALS_ORG_CHANGED,
            format!(
                "This {} was bound in Meshes org {org}, but its credentials (Secret {}) are now \
                 for org {current}; restore credentials for org {org} (the operator will not \
                 recreate it in another org)",
                K::NOUN,
                K::resolved(self.inputs).secret
            ),
        ))
    }

    /// Confirms the cache handed us the latest version (once per pass); a stale copy ends the
    /// pass quietly so the fresh one is reconciled instead.
    pub(super) async fn ensure_fresh(&self) -> Result<(), Step> {
        if self.fresh.load(Ordering::Relaxed) {
            return Ok(());
        }
        match self.host.is_stale(self.obj).await {
            Ok(false) => {
                self.fresh.store(true, Ordering::Relaxed);
                Ok(())
            }
            Ok(true) => Err(Step::quiet(Some(Duration::from_millis(300)))),
            Err(e) => Err(kube_transient(self.ctx, &self.uid, e)),
        }
    }

    /// The object runs on the operator's default credentials, shared by every allowed namespace:
    /// it may not reach upstream objects by ID or identity, and messages never name objects of
    /// other tenants.
    pub(super) fn shared(&self) -> bool {
        self.ctx.config.default_credentials.as_ref() == Some(&K::resolved(self.inputs).secret)
    }

    /// ` (ID x)` for a message about an upstream object this CR does not own, unless the
    /// credentials are shared (it may be another tenant's).
    pub(super) fn foreign_id(&self, id: &str) -> String {
        if self.shared() {
            String::new()
        } else {
            format!(" (ID {id})")
        }
    }

    /// No other CR owns upstream object `id` (see `ownership.rs`).
    fn not_owned_elsewhere(&self, id: &str) -> Result<(), Step> {
        let Some(owner) = ownership::other_owner(self.obj, &K::cached(self.ctx), id) else {
            return Ok(());
        };
        let by = if self.shared() {
            "another object".to_string()
        } else {
            format!("{} {owner}", K::kind(&()))
        };
        Err(Step::stalled(
            reasons::ALREADY_MANAGED,
            format!(
                "Meshes {}{} is already managed by {by}; each upstream object has one owner",
                K::NOUN,
                self.foreign_id(id)
            ),
        ))
    }

    /// Maps a Meshes error to the pass's step.
    pub(super) fn api(&self, e: ApiError) -> Step {
        api_error(
            self.ctx,
            &self.uid,
            Some(&K::resolved(self.inputs).secret),
            e,
        )
    }

    pub(super) async fn get(&self, id: &str) -> Result<Option<K::Up>, Step> {
        self.obj
            .get(self.ctx, self.inputs, id)
            .await
            .map_err(|e| self.api(e))
    }

    /// Checks an existing object found by ID before binding it: it must fit the spec's parents
    /// and no other CR may own it.
    async fn bind_existing(&self, up: &K::Up, via: &str) -> Result<(), Step> {
        self.obj.check_bind(self.inputs, up)?;
        let id = K::up_id(up);
        self.not_owned_elsewhere(id)?;
        self.host
            .event(
                self.obj,
                false,
                reasons::ADOPTED,
                format!("Bound Meshes {} {id} via {via}", K::NOUN),
            )
            .await;
        Ok(())
    }

    /// A recorded binding: finish an interrupted replace, then look at upstream as cheaply as
    /// the memo allows. Absence is always confirmed by a GET before anything is re-created.
    async fn bound(&self, status: &mut K::Status, id: &str) -> Result<Step, Step> {
        self.finish_interrupted_replace(status, id).await?;
        let memo = self.ctx.memo(&self.uid);
        let unchanged = memo.as_ref().filter(|m| {
            m.generation == self.obj.meta().generation
                && m.credentials == K::resolved(self.inputs).fingerprint
                && m.inputs == K::fingerprint(self.inputs)
                && m.requested_at == self.requested()
        });
        if let Some(m) = unchanged {
            match self.obj.recheck(self.ctx, self.inputs, id, m) {
                Recheck::Idle(requeue) => {
                    self.obj
                        .outputs(self.ctx, self.inputs, status, None, Some(m))
                        .await?;
                    let outcome = self.obj.conclude(status, id, None);
                    return Ok(Step {
                        outcome,
                        drift: Drift::Unchanged,
                        requeue,
                        quiet: false,
                    });
                }
                Recheck::Seen(up) => return self.settle(status, up, false, false).await,
                Recheck::Missing => {
                    return match self.get(id).await? {
                        Some(up) => self.settle(status, up, false, false).await,
                        None => self.upstream_deleted(status, id).await,
                    };
                }
                Recheck::Due => {}
            }
        }
        let creds = &K::resolved(self.inputs).creds;
        if creds.priority() >= credentials::ROUTINE && self.ctx.api.congested(creds) {
            // A routine check (a restart's first look, a resync) of an object in sync waits
            // for a lull instead of queueing for the key: it would hold one of the
            // controller's passes meanwhile, and a change a user makes would wait for a free
            // pass behind all of them (issue 16, reaction during a restart).
            return Err(Step::quiet(Some(durations::scale(
                ROUTINE_RETRY,
                1.0 + rand::random::<f64>(),
            ))));
        }
        let observed = self
            .obj
            .observe(self.ctx, self.inputs, id, memo.as_ref())
            .await
            .map_err(|e| self.api(e))?;
        let up = match observed {
            Some(up) => up,
            // A list may predate our write or miss an item; only a 404 on the ID is proof.
            None => match self.get(id).await? {
                Some(up) => up,
                None => return self.upstream_deleted(status, id).await,
            },
        };
        self.not_owned_elsewhere(id)?;
        self.settle(status, up, false, true).await
    }

    /// The bound object is confirmed gone upstream (404 on its ID). One the operator created is
    /// created again (its children follow); an adopted or observed one is reported, since the
    /// operator never invents an object the user pointed at.
    pub(super) async fn upstream_deleted(
        &self,
        status: &mut K::Status,
        id: &str,
    ) -> Result<Step, Step> {
        if self.obj.observe_only() || self.obj.adopted() {
            return Err(Step {
                outcome: Outcome::Stalled {
                    reason: reasons::REJECTED,
                    message: format!(
                        "Meshes {} {id} no longer exists upstream; it was adopted, so the operator \
                         does not create a replacement: delete this object, or create it again \
                         without spec.adopt.id",
                        K::NOUN
                    ),
                },
                drift: Drift::Drifted {
                    reason: reasons::UPSTREAM_DELETED,
                    message: format!("Meshes {} {id} was deleted upstream", K::NOUN),
                },
                requeue: None,
                quiet: false,
            });
        }
        self.host
            .event(
                self.obj,
                true,
                reasons::UPSTREAM_DELETED,
                format!(
                    "Meshes {} {id} was deleted upstream; creating it again",
                    K::NOUN
                ),
            )
            .await;
        *K::core(status).id = None;
        if let Some(applied) = K::core(status).applied {
            *applied = None;
        }
        let up = self.create(status, None).await?;
        self.host
            .event(
                self.obj,
                false,
                reasons::DRIFT_CORRECTED,
                format!("Recreated Meshes {} as {}", K::NOUN, K::up_id(&up)),
            )
            .await;
        self.settle(status, up, true, false).await
    }

    /// Compares `up` with the spec, corrects (Manage) or reports (Observe) differences, records
    /// the binding and the memo, and concludes.
    pub(super) async fn settle(
        &self,
        status: &mut K::Status,
        up: K::Up,
        mut written: bool,
        ticked: bool,
    ) -> Result<Step, Step> {
        let observe = self.obj.observe_only();
        let mut drift = if observe {
            Drift::InSync
        } else {
            Drift::NotTracked
        };
        let mut current = up;
        match self.obj.plan(self.inputs, status, &current) {
            Plan::InSync => {}
            Plan::Report(diffs) => drift = drifted(diffs),
            Plan::Update(diffs) | Plan::Replace(diffs) if observe => drift = drifted(diffs),
            Plan::Update(diffs) => {
                current = self.update(status, &current, &diffs).await?;
                written = true;
            }
            Plan::Replace(diffs) => {
                current = self.replace(status, &current, &diffs).await?;
                written = true;
            }
        }
        let id = K::up_id(&current).to_string();
        {
            let core = K::core(status);
            *core.id = Some(id.clone());
            *core.org = Some(K::resolved(self.inputs).creds.org_id().to_string());
            *core.pending = None;
        }
        super::mark_applied::<K>(self.inputs, status);
        self.obj
            .outputs(self.ctx, self.inputs, status, Some(&mut current), None)
            .await?;
        let outcome = self.obj.conclude(status, &id, Some(&current));
        let requeue = self.obj.settled(self.ctx, self.inputs, &id, ticked).await;
        self.remember(&current, written, requeue);
        Ok(Step {
            outcome,
            drift,
            requeue,
            quiet: false,
        })
    }

    fn remember(&self, up: &K::Up, written: bool, requeue: Option<Duration>) {
        let now = Instant::now();
        let previous = self.ctx.memo(&self.uid).map(|m| m.written_at);
        let checked_seq = K::snapshot_of(self.inputs)
            .and_then(|ws| self.ctx.snapshots.get(ws))
            .map(|s| s.seq)
            .unwrap_or(0);
        self.ctx.remember(
            &self.uid,
            Memo {
                due: durations::after(now, requeue.unwrap_or_else(|| self.obj.resync(self.ctx))),
                generation: self.obj.meta().generation,
                credentials: K::resolved(self.inputs).fingerprint,
                requested_at: self.requested(),
                facts: K::facts(up),
                written_at: if written {
                    now
                } else {
                    previous.unwrap_or(now)
                },
                checked_seq,
                inputs: K::fingerprint(self.inputs),
            },
        );
    }

    async fn update(
        &self,
        status: &mut K::Status,
        up: &K::Up,
        diffs: &[String],
    ) -> Result<K::Up, Step> {
        let id = K::up_id(up).to_string();
        match self.obj.update(self.ctx, self.inputs, up).await {
            Ok(updated) => {
                let spec_changed =
                    self.obj.current_status().and_then(K::observed) != self.obj.meta().generation;
                let (reason, what) = if spec_changed {
                    (reasons::UPDATED, "Updated")
                } else {
                    (reasons::DRIFT_CORRECTED, "Corrected upstream drift on")
                };
                self.host
                    .event(
                        self.obj,
                        false,
                        reason,
                        format!("{what} Meshes {} {id}: {}", K::NOUN, diffs.join("; ")),
                    )
                    .await;
                Ok(updated)
            }
            // Deleted between the observation and the PUT: forget what is known and look again
            // at once; the next pass confirms the absence by ID and re-creates or reports.
            Err(e) if e.is_not_found() => {
                let _ = status;
                self.ctx.forget_memo(&self.uid);
                if let Some(ws) = K::snapshot_of(self.inputs) {
                    self.ctx.snapshots.forget(ws);
                }
                Err(Step {
                    outcome: Outcome::Transient {
                        message: format!(
                            "Meshes {} {id} disappeared during the update; checking again",
                            K::NOUN
                        ),
                    },
                    drift: Drift::Unchanged,
                    requeue: Some(Duration::from_millis(500)),
                    quiet: false,
                })
            }
            Err(ApiError::Conflict { message, .. }) => Err(Step::stalled(
                reasons::NAME_CONFLICT,
                format!(
                    "Updating Meshes {} {id} was refused: {message}; choose another spec.name",
                    K::NOUN
                ),
            )),
            Err(e) => Err(self.api(e)),
        }
    }
}

fn drifted(diffs: Vec<String>) -> Drift {
    Drift::Drifted {
        reason: reasons::UPSTREAM_CHANGED,
        message: diffs.join("; "),
    }
}
