//! The one lifecycle every kind runs, written once (docs/reconcile-contract.md, "One lifecycle").
//!
//! A kind implements [`Kind`], the external-client contract in the spirit of Crossplane's
//! (observe / create / update or replace / delete) with Stackable's fetch → validate → build →
//! apply → status order: it supplies only what differs between kinds (how its inputs resolve,
//! its identity, spec → request, what counts as a difference, its outputs). Everything about
//! *when* to call Meshes and how to survive crashes lives here:
//!
//! - [`binding`]: which upstream object the CR is about this pass (pending create first).
//! - [`apply`]: the pass: org guard → stall memo → validate → bind → observe → plan → act →
//!   record (memo, external-id annotation) → outcome.
//! - [`create`]: the crash-safe create, the claim after an unknown outcome, the rule replace;
//!   [`claim`] decides which object a lost create made.
//! - [`delete`]: the cleanup ladder per deletion policy, pending creates included.
//! - [`host`]: the Kubernetes side of a pass (status writes, freshness, Events, annotations),
//!   behind a trait so the unit tier runs the whole lifecycle without an apiserver.
//! - `tests` (unit tier): an in-memory [`crate::api::MeshesApi`] with scripted outcomes and
//!   table tests over every branch and crash point.

pub mod apply;
pub mod binding;
pub mod claim;
pub mod create;
pub mod delete;
pub mod host;
#[cfg(test)]
pub(crate) mod memapi;
#[cfg(test)]
mod tests;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::config::SecretRef;
use super::context::{Context, Memo, MemoFacts};
use super::credentials::Resolved;
use super::frame::Reconciled;
use super::outcome::Outcome;
use super::ownership::Binds;
use super::snapshot::{self, Snapshot};
use super::step::Step;
use crate::api::ApiError;
use crate::resources::{DeletionPolicy, ManagementPolicy, PendingCreate};

/// The lifecycle fields of a kind's status, borrowed together.
#[derive(Debug)]
pub struct Core<'a> {
    /// The bound Meshes ID.
    pub id: &'a mut Option<String>,
    /// The org the object was bound (or is being created) in.
    pub org: &'a mut Option<String>,
    /// A create whose outcome is not known yet.
    pub pending: &'a mut Option<PendingCreate>,
    /// The object being replaced (kinds that replace instead of updating).
    pub previous: Option<&'a mut Option<String>>,
    /// The generation the status was written for.
    pub observed_generation: &'a mut Option<i64>,
    /// The deletion policy in effect, shown in status.
    pub deletion_policy: &'a mut Option<DeletionPolicy>,
    /// The hash of what was applied (kinds that keep one).
    pub applied: Option<&'a mut Option<String>>,
}

/// The [`Core`] of a status with fields `$id`, `org_id`, `pending_create`, `observed_generation`
/// and `effective_deletion_policy`; `$previous` and `$applied` name the replaced object's and
/// the applied hash's fields, if any.
#[macro_export]
macro_rules! lifecycle_core {
    ($s:expr, $id:ident, $previous:expr, $applied:expr) => {
        $crate::controllers::lifecycle::Core {
            id: &mut $s.$id,
            org: &mut $s.org_id,
            pending: &mut $s.pending_create,
            previous: $previous,
            observed_generation: &mut $s.observed_generation,
            deletion_policy: &mut $s.effective_deletion_policy,
            applied: $applied,
        }
    };
}

/// What a kind's checks before binding may use.
pub struct Pre<'a, K: Kind> {
    /// Shared state.
    pub ctx: &'a Context,
    /// The Kubernetes side (Events).
    pub host: &'a dyn host::Host<K>,
    /// The resolved inputs.
    pub inputs: &'a K::In,
}

impl<K: Kind> std::fmt::Debug for Pre<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pre")
    }
}

/// What the kind concludes from an upstream object compared with the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Upstream matches over the fields the spec manages.
    InSync,
    /// Upstream differs and an update can fix it: what differs.
    Update(Vec<String>),
    /// Upstream differs and only a replacement can fix it (Meshes cannot update the kind).
    Replace(Vec<String>),
    /// Upstream differs but the operator must not write it (e.g. a PUT would erase secret
    /// settings the spec does not carry): reported as drift.
    Report(Vec<String>),
}

/// What a look at the bound object without a Meshes call concluded.
#[derive(Debug)]
pub enum Recheck<U> {
    /// Nothing new to look at: report Ready from what is known; run again after the duration.
    Idle(Option<Duration>),
    /// A shared list taken after the object's last write holds it.
    Seen(U),
    /// A shared list taken after the object's last write does not hold it (to be confirmed).
    Missing,
    /// Time for a real observation.
    Due,
}

/// Why Meshes refused a delete, as the kind sees it.
#[derive(Debug)]
pub enum Refusal {
    /// Keep waiting (bounded by the deletion timeout), with this message.
    Wait(String),
    /// Release now with this Warning.
    Release(String),
}

/// A kind's part of the lifecycle.
#[async_trait]
pub trait Kind: Reconciled + Binds + Serialize + Send + Sync + 'static {
    /// The upstream object.
    type Up: Clone + Debug + Send + Sync;
    /// Everything resolved before talking to Meshes: parents, credentials, the desired request.
    type In: Send + Sync;

    /// The Meshes noun ("workspace", "connection", "rule").
    const NOUN: &'static str;

    /// The lifecycle fields of `status`.
    fn core(status: &mut Self::Status) -> Core<'_>;
    /// The generation `status` was written for.
    fn observed(status: &Self::Status) -> Option<i64> {
        *Self::core(&mut status.clone()).observed_generation
    }
    /// Prepares the status a pass starts from (observed generation, effective policies).
    fn prepare(&self, ctx: &Context, status: &mut Self::Status) {
        let policy = self.deletion_policy(ctx);
        let core = Self::core(status);
        *core.observed_generation = self.meta().generation;
        *core.deletion_policy = Some(policy);
    }

    /// A new object's quiet wait for its parent, from the caches alone (`parents::early_wait`):
    /// when to look again, before its finalizer is added. `None` (the default): run the pass.
    fn early_wait(&self, _ctx: &Context) -> Option<std::time::Duration> {
        None
    }

    /// Resolves parents, credentials and the desired object. `deleting`: only what a delete
    /// needs (settings Secrets may already be gone).
    async fn resolve(&self, ctx: &Context, deleting: bool) -> Result<Self::In, Step>;
    /// The credentials of `inputs`.
    fn resolved(inputs: &Self::In) -> &Resolved;
    /// A fingerprint of the kind-specific inputs (settings, desired rule), for memos and stalls.
    fn fingerprint(inputs: &Self::In) -> u64;
    /// Checks that need Meshes or the cluster but write nothing (a rule's action, a connection
    /// that would move between workspaces), and records parent IDs in `status`.
    async fn validate(&self, _pre: Pre<'_, Self>, _status: &mut Self::Status) -> Result<(), Step> {
        Ok(())
    }

    /// The upstream object's ID.
    fn up_id(up: &Self::Up) -> &str;
    /// The natural identity of what the spec asks to create, as recorded in `pendingCreate`.
    fn identity(&self, inputs: &Self::In) -> String;
    /// Whether `up` has the natural identity `identity` (a recorded or the current one).
    fn has_identity(up: &Self::Up, identity: &str) -> bool;
    /// When `up` was created, in Unix milliseconds.
    fn created_ms(up: &Self::Up) -> i64;

    /// GET by ID.
    async fn fetch(&self, ctx: &Context, inputs: &Self::In, id: &str)
    -> Result<Self::Up, ApiError>;
    /// GET by ID (`Ok(None)` on 404).
    async fn get(
        &self,
        ctx: &Context,
        inputs: &Self::In,
        id: &str,
    ) -> Result<Option<Self::Up>, ApiError> {
        match self.fetch(ctx, inputs, id).await {
            Ok(up) => Ok(Some(up)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// The objects of this kind in a workspace snapshot (children of a workspace).
    fn in_snapshot(_snap: &Snapshot) -> &[Self::Up] {
        &[]
    }
    /// A cheap re-check of a bound object whose inputs did not change (no Meshes call): for a
    /// child, a workspace snapshot newer than its last check and write.
    fn recheck(
        &self,
        ctx: &Context,
        inputs: &Self::In,
        id: &str,
        memo: &Memo,
    ) -> Recheck<Self::Up> {
        match Self::snapshot_of(inputs) {
            Some(ws) => snapshot::recheck(&ctx.snapshots, ws, memo, |s| find::<Self>(s, id)),
            None => Recheck::Due,
        }
    }
    /// Observes bound object `id` (a child: in a snapshot taken after `memo`'s last write; else
    /// a GET): `Ok(None)` when it is not there (the driver confirms absence with a GET).
    async fn observe(
        &self,
        ctx: &Context,
        inputs: &Self::In,
        id: &str,
        memo: Option<&Memo>,
    ) -> Result<Option<Self::Up>, ApiError> {
        let Some(ws) = Self::snapshot_of(inputs) else {
            return self.get(ctx, inputs, id).await;
        };
        let creds = &Self::resolved(inputs).creds;
        let written = memo.map(|m| m.written_at);
        let (api, max_age) = (ctx.api.as_ref(), ctx.config.resync_interval);
        snapshot::observe(&ctx.snapshots, api, creds, ws, max_age, written, |s| {
            find::<Self>(s, id)
        })
        .await
    }
    /// A fresh list of the upstream objects a claim or a collision check looks through (a
    /// child: a new snapshot of its workspace).
    async fn candidates(
        &self,
        ctx: &Context,
        inputs: &Self::In,
    ) -> Result<Vec<Self::Up>, ApiError> {
        let ws = Self::snapshot_of(inputs).unwrap_or_default();
        let creds = &Self::resolved(inputs).creds;
        let snap = ctx.snapshots.refresh(ctx.api.as_ref(), creds, ws).await?;
        Ok(Self::in_snapshot(&snap).to_vec())
    }
    /// An upstream object with the spec's identity that no CR manages, found without an extra
    /// call (a rule's twin in the latest workspace snapshot): creating would duplicate it.
    fn known_twin(&self, _ctx: &Context, _inputs: &Self::In) -> Option<Self::Up> {
        None
    }
    /// Whether `up` (an existing object bound by ID) may be bound by this CR at all.
    fn check_bind(&self, inputs: &Self::In, up: &Self::Up) -> Result<(), Step>;
    /// Creates the desired object with an idempotency key.
    async fn create(
        &self,
        ctx: &Context,
        inputs: &Self::In,
        key: &str,
    ) -> Result<Self::Up, ApiError>;
    /// Compares `up` with the spec. `status` is the status being built (applied hashes).
    fn plan(&self, inputs: &Self::In, status: &Self::Status, up: &Self::Up) -> Plan;
    /// Updates `up` to the spec (kinds that can; the body starts from `up`).
    async fn update(
        &self,
        ctx: &Context,
        inputs: &Self::In,
        up: &Self::Up,
    ) -> Result<Self::Up, ApiError>;
    /// Whether a replacement refused as a duplicate of `old` can only be made by deleting `old`
    /// first (the change is one Meshes' de-duplication ignores, e.g. `active` or `hidden`).
    fn delete_first(&self, _inputs: &Self::In, _old: &Self::Up) -> bool {
        false
    }
    /// Deletes `id` upstream (404 is reported as `NotFound`).
    async fn delete(&self, ctx: &Context, creds: &Resolved, id: &str) -> Result<(), ApiError>;
    /// What a 409 on a delete means for this kind.
    async fn refused(
        &self,
        ctx: &Context,
        inputs: &Self::In,
        id: &str,
        timed_out: bool,
    ) -> Refusal {
        let _ = (ctx, inputs);
        if timed_out {
            Refusal::Release(format!("Meshes refused to delete {} {id}", Self::NOUN))
        } else {
            Refusal::Wait(format!(
                "Meshes refused to delete {} {id}; retrying",
                Self::NOUN
            ))
        }
    }

    /// Writes the kind's Kubernetes-side outputs (a workspace's publishable-key Secret). `up` is
    /// `None` on the idle path (nothing new observed; `memo` has the facts); a kind may complete
    /// `up` (a key the create's answer lacked).
    async fn outputs(
        &self,
        _ctx: &Context,
        _inputs: &Self::In,
        _status: &mut Self::Status,
        _up: Option<&mut Self::Up>,
        _memo: Option<&Memo>,
    ) -> Result<(), Step> {
        Ok(())
    }
    /// Records what was observed in `status` and concludes (`up` is `None` on the idle path).
    fn conclude(&self, _status: &mut Self::Status, id: &str, _up: Option<&Self::Up>) -> Outcome {
        super::frame::ready(Self::NOUN, id, self.observe_only())
    }
    /// Facts kept in the memo for the idle path.
    fn facts(_up: &Self::Up) -> MemoFacts {
        MemoFacts::None
    }
    /// The hash of what the inputs ask to apply, recorded as `status.appliedHash` by kinds that
    /// keep one (a different hash is a change Meshes cannot show: secret settings, removed keys).
    fn applied_hash(_inputs: &Self::In) -> Option<&str> {
        None
    }
    /// Work after a settled pass: a workspace's resync tick (snapshot, children), a
    /// connection's rules. Returns when to run again.
    async fn settled(
        &self,
        _ctx: &Context,
        _inputs: &Self::In,
        _id: &str,
        _ticked: bool,
    ) -> Option<Duration> {
        None
    }
    /// The workspace whose shared snapshot this object is checked against, if any.
    fn snapshot_of(inputs: &Self::In) -> Option<&str>;
    /// When the next full observation is due.
    fn resync(&self, ctx: &Context) -> Duration {
        ctx.config.resync_interval
    }

    /// `spec.adopt.id` is set.
    fn adopted(&self) -> bool {
        self.adopt_id().is_some()
    }
    /// The deletion policy in effect: the spec's; else Orphan for what the operator did not
    /// create (adopted or observed); else the operator's default.
    fn deletion_policy(&self, ctx: &Context) -> DeletionPolicy {
        match self.explicit_deletion_policy() {
            Some(p) => p,
            None if self.observe_only() || self.adopted() => DeletionPolicy::Orphan,
            None => ctx.config.default_deletion_policy,
        }
    }
    /// The credentials Secret in the object's own namespace it uses, for the in-use finalizer.
    async fn credentials_secret(&self, ctx: &Context) -> Option<SecretRef>;
    /// Waits a cleanup must do before anything else (a workspace waits for the connections that
    /// inherit its credentials): the message while waiting.
    fn wait_before_delete(&self, _ctx: &Context) -> Option<String> {
        None
    }
    /// Whether what [`Kind::wait_before_delete`] waits for is itself retrying against Meshes
    /// (an outage): the wait then outlasts the deletion timeout, as theirs does. Releasing the
    /// parent instead would leave them without the credentials their delete needs, and they
    /// would be released too, left in Meshes.
    fn dependents_retrying(&self, _ctx: &Context) -> bool {
        false
    }
    /// Cleanup of Kubernetes-side outputs after the upstream part is done.
    async fn after_delete(&self, _ctx: &Context) -> Result<(), kube::Error> {
        Ok(())
    }

    /// Observe mode: never writes upstream.
    fn observe_only(&self) -> bool {
        self.management() == Some(ManagementPolicy::Observe)
    }
}

/// The controller runtime's entry for kind `K`: apply or cleanup under the frame.
pub async fn reconcile<K: Kind>(
    obj: std::sync::Arc<K>,
    ctx: std::sync::Arc<Context>,
) -> Result<kube::runtime::controller::Action, super::error::Error> {
    super::frame::reconcile(
        obj,
        ctx,
        |o: &K, c: &Context| o.early_wait(c),
        apply::entry::<K>,
        delete::entry::<K>,
    )
    .await
}

fn find<K: Kind>(snap: &Snapshot, id: &str) -> Option<K::Up> {
    K::in_snapshot(snap)
        .iter()
        .find(|u| K::up_id(u) == id)
        .cloned()
}

/// Records in `status` that what `inputs` ask for was applied.
pub fn mark_applied<K: Kind>(inputs: &K::In, status: &mut K::Status) {
    if let (Some(field), Some(hash)) = (K::core(status).applied, K::applied_hash(inputs)) {
        *field = Some(hash.to_string());
    }
}

/// The first 16 hex digits of a hash as a number (fingerprints for memos and stall keys).
pub fn fingerprint(hash: &str) -> u64 {
    u64::from_str_radix(hash.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}

/// Whether a failed write may have been applied (the client's one classification: network,
/// timeout, 5xx, or a response that cannot be read, a 2xx included). Such a create is claimed,
/// never repeated blindly.
pub fn outcome_unknown(e: &ApiError) -> bool {
    e.outcome_unknown()
}
