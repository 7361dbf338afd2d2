//! [`Admin`]: the in-process control handle (keys, faults, counters, seed, reset, rule
//! de-duplication mode, object listings, and direct mutations that simulate changes made in the Meshes dashboard). The
//! HTTP admin surface in `routes::admin` calls the same methods.

use std::sync::atomic::Ordering;

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{Credentials, RateLimit, RuleDedup};
use crate::counters::CounterSnapshot;
use crate::delivery::DeliveryRecord;
use crate::faults::{FaultId, FaultSpec, FaultStatus};
use crate::seed::Seed;
use crate::server::App;
use crate::store::model::INACTIVE_REASONS;
use crate::store::{ApiKey, State};

/// Cheap, cloneable control handle of a running emulator; usable from any task or thread.
#[derive(Debug, Clone)]
pub struct Admin {
    pub(crate) app: App,
}

impl Admin {
    /// A new key for `org_id` (the org is created if unknown).
    pub fn add_key(&self, org_id: &str) -> Credentials {
        self.add_key_record(org_id, None)
    }

    /// A new key restricted to some workspaces of `org_id` (others answer 403).
    pub fn add_scoped_key(&self, org_id: &str, workspaces: &[Uuid]) -> Credentials {
        self.add_key_record(org_id, Some(workspaces.to_vec()))
    }

    fn add_key_record(&self, org_id: &str, workspaces: Option<Vec<Uuid>>) -> Credentials {
        let creds = Credentials::generate_for_org(org_id);
        self.app.store.write().add_key(ApiKey {
            access_key: creds.access_key.clone(),
            secret_key: creds.secret_key.clone(),
            org_id: org_id.to_owned(),
            user_id: Uuid::new_v4().to_string(),
            workspaces,
            revoked: false,
        });
        creds
    }

    /// Registers given credentials (format-checked).
    pub fn add_credentials(&self, creds: &Credentials) -> Result<(), String> {
        creds.validate()?;
        self.app.store.write().add_key(ApiKey {
            access_key: creds.access_key.clone(),
            secret_key: creds.secret_key.clone(),
            org_id: creds.org_id.clone(),
            user_id: Uuid::new_v4().to_string(),
            workspaces: None,
            revoked: false,
        });
        Ok(())
    }

    /// Revokes a key: its tokens are refused with 401 from now on.
    pub fn revoke_key(&self, access_key: &str) {
        if let Some(k) = self.app.store.write().keys.get_mut(access_key) {
            k.revoked = true;
        }
    }

    /// Installs a fault.
    pub fn add_fault(&self, spec: FaultSpec) -> FaultId {
        self.app.faults.add(spec)
    }

    /// Removes one fault; its hit count stays readable.
    pub fn remove_fault(&self, id: FaultId) -> bool {
        self.app.faults.remove(id)
    }

    /// Times a fault fired.
    pub fn fault_hits(&self, id: FaultId) -> u64 {
        self.app.faults.hits(id)
    }

    /// Removes every fault (hit counts stay readable).
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }

    /// Installed faults with hits and remaining firings.
    pub fn faults(&self) -> Vec<FaultStatus> {
        self.app.faults.list()
    }

    /// Replaces the per-key rate limit (`None` = off).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.app.limiter.set(limit);
    }

    /// Accepts or refuses `http://` webhook URLs on loopback hosts.
    pub fn set_allow_insecure_loopback_webhooks(&self, allow: bool) {
        self.app
            .allow_insecure_loopback_webhooks
            .store(allow, Ordering::Relaxed);
    }

    /// Changes when `POST /api/v1/rules` refuses a rule identical to an existing one; applies
    /// to the next creates. Kept by [`Admin::reset`].
    pub fn set_rule_dedup(&self, mode: RuleDedup) {
        self.app.set_rule_dedup(mode);
    }

    /// The rule de-duplication mode in force.
    pub fn rule_dedup(&self) -> RuleDedup {
        self.app.rule_dedup()
    }

    /// Answers for `method` + route template (e.g. `/api/v1/workspaces/{workspace_id}`),
    /// every status included.
    pub fn request_count(&self, method: &str, route: &str) -> u64 {
        self.app.counters.route(method, route)
    }

    /// Every answered Meshes API request.
    pub fn total_requests(&self) -> u64 {
        self.app.counters.total()
    }

    /// Requests whose token named this access key (`kid`), accepted or not.
    pub fn key_count(&self, access_key: &str) -> u64 {
        self.app.counters.key(access_key)
    }

    /// The most Meshes API requests answered at once since the counters were last reset.
    pub fn max_in_flight(&self) -> u64 {
        self.app.counters.max_in_flight()
    }

    /// Requests with this exact `User-Agent`.
    pub fn client_count(&self, user_agent: &str) -> u64 {
        self.app.counters.client(user_agent)
    }

    /// All counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.app.counters.snapshot()
    }

    /// Zeroes the counters only.
    pub fn reset_counters(&self) {
        self.app.counters.reset();
    }

    /// Back to the state right after start (start credentials and seed, no events), no faults,
    /// zero counters, no delivery records; rate limit, loopback-webhook switch and rule
    /// de-duplication mode kept. Pending deliveries of dropped
    /// events stop at their next attempt.
    pub fn reset(&self) {
        let initial = self
            .app
            .initial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        *self.app.store.write() = initial;
        self.app.faults.reset();
        self.app.counters.reset();
        self.app.delivery.clear();
    }

    /// Loads a seed on top of the current state (all or nothing).
    pub fn seed(&self, seed: &Seed) -> Result<(), String> {
        seed.apply(&mut self.app.store.write())
    }

    /// Copy of the whole stored state, secrets included (for in-process tests).
    pub fn state(&self) -> State {
        self.app.store.read().clone()
    }

    /// Every stored workspace (with `org_id`, `publishable_key`, `created_by`).
    pub fn workspaces(&self) -> Vec<Value> {
        let s = self.app.store.read();
        let mut v: Vec<_> = s.workspaces.values().collect();
        v.sort_by_key(|w| w.seq);
        v.into_iter().map(|w| json!(w)).collect()
    }

    /// Every stored connection, metadata as stored (secrets and defaults included).
    pub fn connections(&self) -> Vec<Value> {
        let s = self.app.store.read();
        let mut v: Vec<_> = s.connections.values().collect();
        v.sort_by_key(|c| c.seq);
        v.into_iter().map(|c| json!(c)).collect()
    }

    /// Every stored rule.
    pub fn rules(&self) -> Vec<Value> {
        let s = self.app.store.read();
        let mut v: Vec<_> = s.rules.values().collect();
        v.sort_by_key(|r| r.seq);
        v.into_iter().map(|r| json!(r)).collect()
    }

    /// Publishable key of a workspace.
    pub fn publishable_key(&self, workspace_id: &str) -> Option<String> {
        let id = Uuid::parse_str(workspace_id).ok()?;
        self.app
            .store
            .read()
            .workspaces
            .get(&id)
            .map(|w| w.publishable_key.clone())
    }

    /// Listing of every object, as served by `GET /_emulator/state`.
    pub fn listing(&self, include_secrets: bool) -> Value {
        let s = self.app.store.read();
        let keys: Vec<Value> = s
            .keys
            .values()
            .map(|k| {
                let mut v = json!({ "access_key": k.access_key, "org_id": k.org_id, "user_id": k.user_id,
                                    "workspaces": k.workspaces, "revoked": k.revoked });
                if include_secrets {
                    v["secret_key"] = json!(k.secret_key);
                }
                v
            })
            .collect();
        let connections: Vec<Value> = self
            .connections()
            .into_iter()
            .map(|mut c| {
                if !include_secrets
                    && let Some(kind) = c["type"].as_str().map(str::to_owned)
                    && let Some(m) = c["metadata"].as_object_mut()
                {
                    for k in crate::catalog::secret_keys(&kind) {
                        m.remove(k);
                    }
                }
                c
            })
            .collect();
        json!({
            "orgs": s.orgs.values().collect::<Vec<_>>(),
            "keys": keys,
            "workspaces": s.workspaces.values().collect::<Vec<_>>(),
            "connections": connections,
            "rules": s.rules.values().collect::<Vec<_>>(),
            "event_types": s.event_types.values().collect::<Vec<_>>(),
            "resources": s.resources.values().collect::<Vec<_>>(),
            "events": s.events.len(),
            "sessions": s.sessions.len(),
            "mappings": s.mappings.len(),
        })
    }

    /// Creates a workspace as the dashboard would (name uniqueness not enforced); returns its id.
    pub fn create_workspace_direct(&self, org_id: &str, name: &str) -> String {
        let mut s = self.app.store.write();
        let user = s
            .keys
            .values()
            .find(|k| k.org_id == org_id)
            .map(|k| k.user_id.clone())
            .unwrap_or_else(|| "dashboard".into());
        s.create_workspace(org_id, name, None, &user).id.to_string()
    }

    /// Renames a workspace (dashboard edit). `false` when unknown.
    pub fn rename_workspace(&self, id: &str, name: &str) -> bool {
        let Ok(id) = Uuid::parse_str(id) else {
            return false;
        };
        let mut s = self.app.store.write();
        match s.workspaces.get_mut(&id) {
            Some(w) => {
                w.name = name.to_owned();
                w.updated_at = Utc::now();
                true
            }
            None => false,
        }
    }

    /// Deletes a rule. `false` when unknown.
    pub fn delete_rule(&self, id: &str) -> bool {
        Uuid::parse_str(id)
            .ok()
            .and_then(|id| self.app.store.write().rules.remove(&id))
            .is_some()
    }

    /// Deletes a workspace with its connections and rules, as support staff could (the public
    /// API has no workspace delete). `false` when unknown.
    pub fn delete_workspace(&self, id: &str) -> bool {
        let Ok(id) = Uuid::parse_str(id) else {
            return false;
        };
        let mut world = self.app.store.write();
        world.rules.retain(|_, r| r.workspace != id);
        world.connections.retain(|_, c| c.workspace != id);
        world.workspaces.remove(&id).is_some()
    }

    /// Deletes a connection and its rules. `false` when unknown.
    pub fn delete_connection(&self, id: &str) -> bool {
        Uuid::parse_str(id)
            .ok()
            .is_some_and(|id| self.app.store.write().delete_connection(id, true).is_ok())
    }

    /// Marks a connection inactive with an `inactive_reason` (one of the four documented
    /// values). `false` when the connection is unknown or the reason invalid.
    pub fn set_connection_inactive(&self, id: &str, reason: &str) -> bool {
        if !INACTIVE_REASONS.contains(&reason) {
            return false;
        }
        self.update_connection(id, |c| {
            c.active = false;
            c.inactive_reason = Some(reason.to_owned());
        })
    }

    /// Marks a connection active again.
    pub fn set_connection_active(&self, id: &str) -> bool {
        self.update_connection(id, |c| {
            c.active = true;
            c.inactive_reason = None;
        })
    }

    /// Every finished delivery attempt (oldest first, last 100,000), simulated ones included.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.app.delivery.snapshot()
    }

    /// Successful deliveries (attempts that counted as delivered).
    pub fn delivered_count(&self) -> usize {
        self.app
            .delivery
            .snapshot()
            .iter()
            .filter(|d| d.success)
            .count()
    }

    /// Successful deliveries through one rule.
    pub fn delivered_count_for_rule(&self, rule_id: &str) -> usize {
        let Ok(id) = Uuid::parse_str(rule_id) else {
            return 0;
        };
        self.app
            .delivery
            .snapshot()
            .iter()
            .filter(|d| d.success && d.rule_id == id)
            .count()
    }

    /// Forgets the delivery records (history in the store is kept).
    pub fn clear_deliveries(&self) {
        self.app.delivery.clear();
    }

    /// Every stored event in wire form with `payload`, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.app
            .store
            .read()
            .events
            .values()
            .map(|e| e.to_wire(true))
            .collect()
    }

    /// One event in wire form with `payload` and `rule_events`.
    pub fn event(&self, id: &str) -> Option<Value> {
        let id = Uuid::parse_str(id).ok()?;
        self.app.store.read().event(&id).map(|e| e.to_wire(true))
    }

    /// Polls until the event's status is `completed` or `failed` (or `timeout` passes);
    /// returns the event as last seen.
    pub async fn wait_for_event(&self, id: &str, timeout: std::time::Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ev = self.event(id);
            let done = ev
                .as_ref()
                .and_then(|e| e["status"].as_str())
                .is_some_and(|s| s == "completed" || s == "failed");
            if done || tokio::time::Instant::now() >= deadline {
                return ev;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    fn update_connection(&self, id: &str, f: impl FnOnce(&mut crate::store::Connection)) -> bool {
        let Ok(id) = Uuid::parse_str(id) else {
            return false;
        };
        let mut s = self.app.store.write();
        match s.connections.get_mut(&id) {
            Some(c) => {
                f(c);
                c.updated_at = Utc::now();
                true
            }
            None => false,
        }
    }
}
