//! Crash-safe creates, the claim after an unknown outcome, and replacement.
//!
//! Invariants (docs/reconcile-contract.md):
//! - `pendingCreate {identity, startedAt}` is persisted before the POST and cleared only when the
//!   outcome is known: created, claimed, or refused with nothing created. One Idempotency-Key per
//!   pending create (`{uid}-{startedAt}`), kept across its retries.
//! - After an unknown outcome the object is claimed: an upstream object with the recorded or the
//!   current identity, created no earlier than `startedAt` minus a skew, bound by no other CR. A
//!   409 while a create is pending is claimed the same way before it is called a conflict.
//! - A replacement is created before the object in service is deleted; `previous` names the
//!   object in service while its replacement is pending (`previous == id`) and the replaced one
//!   once the replacement is recorded (`previous != id`). Only the latter is ever deleted.
//! - Every create or replace starts from a version of the object confirmed fresh.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::apply::Pass;
use super::claim::{Claim, claim_in};
use super::{Kind, outcome_unknown};
use crate::api::ApiError;
use crate::controllers::frame;
use crate::controllers::outcome::{self, Drift, Outcome};
use crate::controllers::step::{Step, kube_transient};
use crate::resources::{PendingCreate, reasons};

impl<K: Kind> Pass<'_, K> {
    fn mine(&self, status: &mut K::Status) -> Vec<String> {
        let core = K::core(status);
        let mut ids: Vec<String> = core.id.iter().cloned().collect();
        if let Some(prev) = core.previous.and_then(|p| p.clone()) {
            ids.push(prev);
        }
        ids
    }

    fn restore_after_refusal(&self, status: &mut K::Status) {
        let core = K::core(status);
        *core.pending = None;
        if let Some(prev) = core.previous
            && prev.as_deref() == core.id.as_deref()
        {
            // The replacement was refused: the object in service stays recorded as it was.
            *prev = None;
        }
        if core.id.is_none() {
            *core.org = None;
        }
    }

    async fn persist(&self, status: &K::Status) -> Result<(), Step> {
        match self.host.persist(self.obj, status).await {
            Ok(()) => Ok(()),
            // The object changed since this pass read it: act on the new version instead.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                Err(Step::quiet(Some(std::time::Duration::from_millis(300))))
            }
            Err(e) => Err(kube_transient(self.ctx, &self.uid, e)),
        }
    }

    /// Nothing is bound: create, unless an identical object no CR manages is already known (no
    /// silent takeover) or the user opted into re-binding by identity.
    pub(super) async fn create_fresh(
        &self,
        status: &mut K::Status,
    ) -> Result<super::super::step::Step, Step> {
        let rebind = frame::rebind_by_identity(self.obj, self.ctx) && !self.shared();
        let twin = if rebind {
            self.twin_from_list(status).await?
        } else {
            self.obj.known_twin(self.ctx, self.inputs)
        };
        // The twin comes from the workspace snapshot, which can predate a delete (this
        // object's own replaced rule, deleted first when Meshes refused the replacement as its
        // duplicate): a stall that waits for a spec change must rest on an object that exists.
        let twin = match twin {
            Some(t) if !rebind => self.get(K::up_id(&t)).await?,
            t => t,
        };
        if let Some(twin) = twin {
            let id = K::up_id(&twin).to_string();
            if !rebind {
                return Err(Step::stalled(
                    reasons::NAME_CONFLICT,
                    format!(
                        "An identical Meshes {}{} exists and is not managed by any {}; set \
                         spec.adopt.id to manage it (or meshes.io/rebind-by-identity)",
                        K::NOUN,
                        self.foreign_id(&id),
                        K::kind(&())
                    ),
                ));
            }
            self.host
                .event(
                    self.obj,
                    false,
                    reasons::ADOPTED,
                    format!(
                        "Bound existing Meshes {} {id} by identity (meshes.io/rebind-by-identity)",
                        K::NOUN
                    ),
                )
                .await;
            return self.settle(status, twin, false, false).await;
        }
        let up = self.create(status, None).await?;
        self.settle(status, up, true, false).await
    }

    async fn twin_from_list(&self, status: &mut K::Status) -> Result<Option<K::Up>, Step> {
        let list = self
            .obj
            .candidates(self.ctx, self.inputs)
            .await
            .map_err(|e| self.api(e))?;
        let identity = self.obj.identity(self.inputs);
        let elsewhere =
            crate::controllers::ownership::bound_elsewhere(self.obj, &K::cached(self.ctx));
        let mine = self.mine(status);
        Ok(list.into_iter().find(|u| {
            K::has_identity(u, &identity)
                && !elsewhere.contains(K::up_id(u))
                && !mine.iter().any(|m| m == K::up_id(u))
        }))
    }

    /// Creates the desired object crash-safely. `replacing`: the object in service, recorded as
    /// `previous` in the same status write as the pending create.
    pub(super) async fn create(
        &self,
        status: &mut K::Status,
        replacing: Option<&K::Up>,
    ) -> Result<K::Up, Step> {
        if self.obj.observe_only() {
            return Err(Step::stalled(
                reasons::INVALID_SPEC,
                "managementPolicy Observe never creates; set spec.adopt.id".into(),
            ));
        }
        self.ensure_fresh().await?;
        let identity = self.obj.identity(self.inputs);
        let (pending, retry) = {
            let core = K::core(status);
            let (pending, retry) = match core.pending.clone() {
                // A retry of the same create keeps its start (the claim window) and its key.
                Some(p) if p.identity == identity => (p, true),
                _ => (
                    PendingCreate {
                        identity,
                        started_at: Time(Timestamp::now()),
                    },
                    false,
                ),
            };
            *core.pending = Some(pending.clone());
            *core.org = Some(K::resolved(self.inputs).creds.org_id().to_string());
            if let (Some(old), Some(prev)) = (replacing, core.previous) {
                *prev = Some(K::up_id(old).to_string());
            }
            (pending, retry)
        };
        let (reason, message) = match replacing {
            Some(old) => (
                reasons::REPLACING,
                format!(
                    "Replacing Meshes {} {}: creating the new one first",
                    K::NOUN,
                    K::up_id(old)
                ),
            ),
            None => (reasons::CREATING, format!("Creating Meshes {}", K::NOUN)),
        };
        outcome::apply(
            K::conditions_mut(status),
            &Outcome::Progressing { reason, message },
            &Drift::Unchanged,
            self.obj.meta().generation,
            &pending.started_at,
        );
        self.persist(status).await?;
        let key = format!("{}-{}", self.uid, pending.started_at.0.as_millisecond());
        match self.obj.create(self.ctx, self.inputs, &key).await {
            Ok(up) => {
                super::mark_applied::<K>(self.inputs, status);
                let core = K::core(status);
                *core.pending = None;
                // No `Created` Event: the Ready status that follows records the ID, and an
                // Event per create was a fifth of the operator's Kubernetes writes while it
                // converges (docs/performance.md). Only claims, adoptions and other
                // transitions status cannot tell get one.
                if replacing.is_none() {
                    *core.id = Some(K::up_id(&up).to_string());
                }
                Ok(up)
            }
            // It may have been applied: keep the pending create and claim it next pass.
            Err(e) if outcome_unknown(&e) => Err(self.api(e)),
            Err(ApiError::Conflict { message, .. }) => {
                self.after_conflict(status, replacing, &pending, retry, &message)
                    .await
            }
            Err(e) => {
                self.restore_after_refusal(status);
                Err(self.api(e))
            }
        }
    }

    /// A 409 on a create: on a retry, our own earlier attempt (claim it); a replacement Meshes
    /// refuses as a duplicate of the object in service (delete that first when the kind says it
    /// is safe); else a real conflict. A first attempt never claims: an object that existed
    /// before it is someone else's, however recent.
    async fn after_conflict(
        &self,
        status: &mut K::Status,
        replacing: Option<&K::Up>,
        pending: &PendingCreate,
        retry: bool,
        message: &str,
    ) -> Result<K::Up, Step> {
        let found = self.look_for(status, pending).await?;
        if retry && let Claim::Ours(up) = found {
            super::mark_applied::<K>(self.inputs, status);
            *K::core(status).pending = None;
            if replacing.is_none() {
                *K::core(status).id = Some(K::up_id(&up).to_string());
            }
            self.claimed_event(&up).await;
            return Ok(up);
        }
        if let Some(old) = replacing
            && self.obj.delete_first(self.inputs, old)
        {
            return self.delete_first(status, old, pending).await;
        }
        self.restore_after_refusal(status);
        let twin = match found {
            Claim::Conflict(u) | Claim::Ours(u) => self.foreign_id(K::up_id(&u)),
            Claim::Absent => String::new(),
        };
        Err(Step::stalled(
            reasons::NAME_CONFLICT,
            format!(
                "Meshes refused to create the {} as a conflict ({message}): one with the same \
                 identity{twin} exists and was not created by this object; set spec.adopt.id to \
                 manage it, or change the spec",
                K::NOUN
            ),
        ))
    }

    /// Lists the candidates afresh and decides which object the create at `pending` made.
    async fn look_for(
        &self,
        status: &mut K::Status,
        pending: &PendingCreate,
    ) -> Result<Claim<K::Up>, Step> {
        let list = self
            .obj
            .candidates(self.ctx, self.inputs)
            .await
            .map_err(|e| self.api(e))?;
        let elsewhere =
            crate::controllers::ownership::bound_elsewhere(self.obj, &K::cached(self.ctx));
        let (mine, current) = (self.mine(status), self.obj.identity(self.inputs));
        let skew = self.ctx.config.create_skew;
        Ok(claim_in::<K>(
            &list, pending, &current, skew, &elsewhere, &mine,
        ))
    }

    async fn claimed_event(&self, up: &K::Up) {
        self.host
            .event(
                self.obj,
                false,
                reasons::CREATED,
                format!(
                    "Created Meshes {} {}; claimed after a create whose response was lost",
                    K::NOUN,
                    K::up_id(up)
                ),
            )
            .await;
    }

    /// Meshes refuses the replacement as a duplicate of `old` and the change loses nothing when
    /// `old` goes first. The persisted pending create and `previous` make every crash point
    /// resumable: the next pass claims the replacement or creates it.
    async fn delete_first(
        &self,
        status: &mut K::Status,
        old: &K::Up,
        pending: &PendingCreate,
    ) -> Result<K::Up, Step> {
        let old_id = K::up_id(old).to_string();
        self.host
            .event(
                self.obj,
                false,
                reasons::REPLACING,
                format!(
                    "Meshes refuses the replacement as a duplicate of {} {old_id}; deleting it first",
                    K::NOUN
                ),
            )
            .await;
        match self
            .obj
            .delete(self.ctx, K::resolved(self.inputs), &old_id)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(self.api(e)),
        }
        let key = format!("{}-{}", self.uid, pending.started_at.0.as_millisecond());
        match self.obj.create(self.ctx, self.inputs, &key).await {
            Ok(up) => {
                *K::core(status).pending = None;
                Ok(up)
            }
            Err(e) if outcome_unknown(&e) => Err(self.api(e)),
            Err(e) => {
                // The old object is gone and the new one refused: nothing is in service.
                let core = K::core(status);
                *core.pending = None;
                *core.id = None;
                if let Some(prev) = core.previous {
                    *prev = None;
                }
                Err(self.api(e))
            }
        }
    }

    /// Replaces `old` (which Meshes cannot update): the new object first, recorded, then the
    /// old one deleted.
    pub(super) async fn replace(
        &self,
        status: &mut K::Status,
        old: &K::Up,
        diffs: &[String],
    ) -> Result<K::Up, Step> {
        let new = self.create(status, Some(old)).await?;
        *K::core(status).id = Some(K::up_id(&new).to_string());
        super::mark_applied::<K>(self.inputs, status);
        self.complete_replace(status, K::up_id(old), &new, diffs)
            .await?;
        Ok(new)
    }

    /// The replacement `new` exists: record it, then delete the replaced object.
    async fn complete_replace(
        &self,
        status: &mut K::Status,
        old: &str,
        new: &K::Up,
        diffs: &[String],
    ) -> Result<(), Step> {
        if let Some(prev) = K::core(status).previous {
            *prev = Some(old.to_string());
        }
        // A crash from here on leaves both recorded; the next pass deletes the old one.
        self.persist(status).await?;
        self.delete_previous(status, old).await?;
        self.host
            .event(
                self.obj,
                false,
                reasons::REPLACED,
                format!(
                    "Replaced Meshes {} {old} with {} ({}; Meshes cannot update it in place)",
                    K::NOUN,
                    K::up_id(new),
                    diffs.join("; ")
                ),
            )
            .await;
        Ok(())
    }

    async fn delete_previous(&self, status: &mut K::Status, old: &str) -> Result<(), Step> {
        match self
            .obj
            .delete(self.ctx, K::resolved(self.inputs), old)
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(self.api(e)),
        }
        if let Some(prev) = K::core(status).previous {
            *prev = None;
        }
        Ok(())
    }

    /// A replace interrupted after its new object was recorded: delete the replaced one. A
    /// `previous` equal to the recorded ID names the object in service (a refused replacement
    /// left it): never deleted, just forgotten.
    pub(super) async fn finish_interrupted_replace(
        &self,
        status: &mut K::Status,
        id: &str,
    ) -> Result<(), Step> {
        let prev = K::core(status).previous.and_then(|p| p.clone());
        match prev {
            Some(prev) if prev != id => {
                self.ensure_fresh().await?;
                self.delete_previous(status, &prev).await
            }
            Some(_) => {
                if let Some(p) = K::core(status).previous {
                    *p = None;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A create with an unknown outcome: claim what it made, or create again (with the same key).
    /// During a replace the object in service stays recorded until the replacement exists.
    pub(super) async fn claim(
        &self,
        status: &mut K::Status,
        pending: &PendingCreate,
    ) -> Result<(K::Up, bool), Step> {
        let replacing = K::core(status).previous.and_then(|p| p.clone());
        match self.look_for(status, pending).await? {
            Claim::Ours(up) => {
                *K::core(status).pending = None;
                self.claimed_event(&up).await;
                match replacing {
                    Some(old) => {
                        *K::core(status).id = Some(K::up_id(&up).to_string());
                        super::mark_applied::<K>(self.inputs, status);
                        self.complete_replace(status, &old, &up, &["claimed".to_string()])
                            .await?;
                    }
                    None => {
                        super::mark_applied::<K>(self.inputs, status);
                        *K::core(status).id = Some(K::up_id(&up).to_string());
                    }
                }
                Ok((up, true))
            }
            Claim::Conflict(up) if replacing.is_none() => {
                self.restore_after_refusal(status);
                Err(Step::stalled(
                    reasons::NAME_CONFLICT,
                    format!(
                        "A Meshes {} with the same identity{} exists and was not created by \
                         this object; set spec.adopt.id to manage it, or change the spec",
                        K::NOUN,
                        self.foreign_id(K::up_id(&up))
                    ),
                ))
            }
            _ => match replacing {
                Some(old) => match self.get(&old).await? {
                    Some(in_service) => {
                        let new = self.replace(status, &in_service, &[]).await?;
                        Ok((new, true))
                    }
                    None => {
                        // The object in service is already gone (a delete-first replace).
                        let core = K::core(status);
                        *core.id = None;
                        if let Some(p) = core.previous {
                            *p = None;
                        }
                        Ok((self.create(status, None).await?, true))
                    }
                },
                None => Ok((self.create(status, None).await?, true)),
            },
        }
    }
}
