//! Per-workspace snapshots of the upstream connections and rules, taken by the workspace's resync
//! tick (one list of each) and shared by every child for drift checks, so API cost grows with
//! workspaces, not with rules (docs/reconcile-contract.md, "Drift and resync"). Loading is
//! single-flight: many children asking at once cause one pair of list calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::types::{Connection, Rule, RuleFilter};
use crate::api::{ApiError, Credentials, MeshesApi};

/// What a workspace held upstream at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// The workspace's connections.
    pub connections: Vec<Connection>,
    /// The workspace's rules.
    pub rules: Vec<Rule>,
    /// When the lists were started (objects written after this may be missing from them).
    pub taken_at: Instant,
    /// Increases with every snapshot of any workspace.
    pub seq: u64,
}

/// The snapshot cache.
#[derive(Debug, Default)]
pub struct Snapshots {
    latest: Mutex<HashMap<String, Arc<Snapshot>>>,
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    seq: AtomicU64,
}

impl Snapshots {
    /// The latest snapshot of workspace `id`, if any.
    pub fn get(&self, id: &str) -> Option<Arc<Snapshot>> {
        self.latest.lock().ok()?.get(id).cloned()
    }

    /// A snapshot of workspace `id` taken no earlier than `max_age` ago, listing when needed.
    pub async fn load(
        &self,
        api: &dyn MeshesApi,
        creds: &Credentials,
        id: &str,
        max_age: Duration,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let asked_at = Instant::now();
        let fresh = |s: &Arc<Snapshot>| s.taken_at + max_age >= asked_at;
        if let Some(s) = self.get(id).filter(fresh) {
            return Ok(s);
        }
        let gate = self
            .loading
            .lock()
            .map(|mut m| m.entry(id.to_string()).or_default().clone())
            .unwrap_or_default();
        let _guard = gate.lock().await;
        // Whoever held the gate may have just loaded it.
        if let Some(s) = self.get(id).filter(fresh) {
            return Ok(s);
        }
        self.refresh(api, creds, id).await
    }

    /// Lists the workspace's connections and rules now and stores the snapshot.
    pub async fn refresh(
        &self,
        api: &dyn MeshesApi,
        creds: &Credentials,
        id: &str,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let taken_at = Instant::now();
        let connections = api.list_workspace_connections(creds, id).await?;
        let rules = api
            .list_workspace_rules(creds, id, &RuleFilter::default())
            .await?;
        let snap = Arc::new(Snapshot {
            connections,
            rules,
            taken_at,
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        });
        if let Ok(mut m) = self.latest.lock() {
            m.insert(id.to_string(), snap.clone());
        }
        Ok(snap)
    }

    /// Drops the snapshot of workspace `id`.
    pub fn forget(&self, id: &str) {
        if let Ok(mut m) = self.latest.lock() {
            m.remove(id);
        }
    }
}

/// The cheap re-check of a bound child (connection or rule) whose inputs did not change: a
/// workspace snapshot newer than both the memo's last check and the object's last write is
/// looked at (`pick` finds the object in it); otherwise nothing new is known.
pub fn recheck<U>(
    snapshots: &Snapshots,
    workspace: &str,
    memo: &crate::controllers::context::Memo,
    pick: impl Fn(&Snapshot) -> Option<U>,
) -> crate::controllers::lifecycle::Recheck<U> {
    use crate::controllers::lifecycle::Recheck;
    match snapshots.get(workspace) {
        Some(snap) if snap.seq > memo.checked_seq && snap.taken_at > memo.written_at => {
            match pick(&snap) {
                Some(found) => Recheck::Seen(found),
                None => Recheck::Missing,
            }
        }
        _ => Recheck::Idle(None),
    }
}

/// Observes a bound child in a snapshot of its workspace no older than `max_age` and taken
/// after the object's last write (an older list cannot hold it), listing when needed.
pub async fn observe<U>(
    snapshots: &Snapshots,
    api: &dyn MeshesApi,
    creds: &Credentials,
    workspace: &str,
    max_age: Duration,
    written_at: Option<Instant>,
    pick: impl Fn(&Snapshot) -> Option<U>,
) -> Result<Option<U>, ApiError> {
    let mut snap = snapshots.load(api, creds, workspace, max_age).await?;
    if written_at.is_some_and(|w| snap.taken_at <= w) {
        snap = snapshots.refresh(api, creds, workspace).await?;
    }
    Ok(pick(&snap))
}
