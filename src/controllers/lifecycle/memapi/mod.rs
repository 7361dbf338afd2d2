//! An in-memory [`MeshesApi`] for the unit tier: connections and rules of one org, scripted
//! outcomes per operation (commit-then-drop, 409, 404, 5xx, 422, an undecodable 2xx, a list that
//! misses an object), rule de-duplication modes as the emulator has them, and a call log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use crate::api::types::{
    Connection, CreateConnection, CreateRule, CreateWorkspace, DeletedConnection, DeletedRule,
    Integration, IntegrationType, Page, Rule, RuleFilter, UpdateConnection, UpdateWorkspace,
    Workspace, WorkspaceDetail,
};
use crate::api::{ApiError, Credentials, MeshesApi, Method, routes};

mod script;
pub use script::{Dedup, Fault, Op};
use script::{endpoint, fail};

#[derive(Debug)]
struct State {
    rules: BTreeMap<String, Rule>,
    connections: BTreeMap<String, Connection>,
    faults: Vec<(Op, VecDeque<Fault>)>,
    log: Vec<String>,
    keys: Vec<String>,
    dedup: Dedup,
    next: u64,
}

/// The in-memory Meshes.
#[derive(Debug)]
pub struct MemApi {
    state: Mutex<State>,
    catalog_gate: Mutex<Option<(String, std::sync::Arc<tokio::sync::Notify>)>>,
    catalog: Mutex<Vec<Integration>>,
    /// What [`MeshesApi::congested`] answers.
    congested: std::sync::atomic::AtomicBool,
}

impl MemApi {
    /// An empty Meshes with rule de-duplication `dedup`.
    pub fn new(dedup: Dedup) -> Self {
        Self {
            state: Mutex::new(State {
                rules: BTreeMap::new(),
                connections: BTreeMap::new(),
                faults: Vec::new(),
                log: Vec::new(),
                keys: Vec::new(),
                dedup,
                next: 0,
            }),
            catalog_gate: Mutex::new(None),
            catalog: Mutex::new(Vec::new()),
            congested: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Makes every key look busy (`true`) or idle to [`MeshesApi::congested`].
    pub fn set_congested(&self, busy: bool) {
        self.congested
            .store(busy, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets the integrations catalog.
    pub fn set_catalog(&self, catalog: Vec<Integration>) {
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = catalog;
    }

    /// Makes catalog lists of `org` wait until [`MemApi::release_catalog`] (a paused key).
    pub fn block_catalog(&self, org: &str) {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        *self.catalog_gate.lock().unwrap_or_else(|p| p.into_inner()) = Some((org.into(), notify));
    }

    /// Lets the blocked catalog list finish.
    pub fn release_catalog(&self) {
        if let Some((_, n)) = self
            .catalog_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            n.notify_waiters();
            n.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scripts the next call of `op`.
    pub fn script(&self, op: Op, fault: Fault) {
        let mut s = self.lock();
        match s.faults.iter_mut().find(|(o, _)| *o == op) {
            Some((_, q)) => q.push_back(fault),
            None => s.faults.push((op, VecDeque::from([fault]))),
        }
    }

    fn next_fault(s: &mut State, op: Op) -> Option<Fault> {
        s.faults
            .iter_mut()
            .find(|(o, _)| *o == op)
            .and_then(|(_, q)| q.pop_front())
    }

    /// The calls made so far, as `"POST rule r3"` lines.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// How many calls start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    /// Idempotency keys of every create, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys.clone()
    }

    /// The rules upstream.
    pub fn rules(&self) -> Vec<Rule> {
        self.lock().rules.values().cloned().collect()
    }

    /// The connections upstream.
    pub fn connections(&self) -> Vec<Connection> {
        self.lock().connections.values().cloned().collect()
    }

    /// Deletes rule `id` behind the operator's back.
    pub fn remove_rule(&self, id: &str) {
        self.lock().rules.remove(id);
    }

    /// Adds a connection made in the dashboard.
    pub fn seed_connection(&self, c: Connection) {
        self.lock().connections.insert(c.id.clone(), c);
    }

    fn id(s: &mut State, prefix: &str) -> String {
        s.next += 1;
        format!("{prefix}{}", s.next)
    }
}

fn duplicate(dedup: Dedup, existing: &Rule, body: &CreateRule) -> bool {
    let tuple = existing.connection == body.connection
        && existing.event == body.event
        && existing.resource == body.resource
        && existing.resource_id == body.resource_id
        && existing.metadata == body.metadata;
    match dedup {
        Dedup::Tuple => tuple,
        Dedup::Exact => {
            tuple
                && existing.active.unwrap_or(true) == body.active.unwrap_or(true)
                && existing.hidden.unwrap_or(false) == body.hidden.unwrap_or(false)
        }
        Dedup::None => false,
    }
}

fn page<T>(records: Vec<T>) -> Page<T> {
    Page {
        count: records.len() as u64,
        limit: 100,
        next_cursor: None,
        records,
    }
}

fn unsupported(route: &'static str) -> ApiError {
    ApiError::Local {
        endpoint: endpoint(Method::Get, route),
        message: "not supported by the in-memory API".into(),
    }
}

#[async_trait]
impl MeshesApi for MemApi {
    fn congested(&self, _: &Credentials) -> bool {
        self.congested.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn list_workspaces_page(
        &self,
        _: &Credentials,
        _: Option<&str>,
    ) -> Result<Page<Workspace>, ApiError> {
        Err(unsupported(routes::WORKSPACES))
    }

    async fn get_workspace(&self, _: &Credentials, _: &str) -> Result<WorkspaceDetail, ApiError> {
        Err(unsupported(routes::WORKSPACE))
    }

    async fn create_workspace(
        &self,
        _: &Credentials,
        _: &CreateWorkspace,
        _: Option<&str>,
    ) -> Result<Workspace, ApiError> {
        Err(unsupported(routes::WORKSPACES))
    }

    async fn update_workspace(
        &self,
        _: &Credentials,
        _: &str,
        _: &UpdateWorkspace,
    ) -> Result<Workspace, ApiError> {
        Err(unsupported(routes::WORKSPACE))
    }

    async fn list_workspace_connections_page(
        &self,
        _: &Credentials,
        ws: &str,
        _: Option<&str>,
    ) -> Result<Page<Connection>, ApiError> {
        let mut s = self.lock();
        s.log.push("LIST connections".into());
        let hidden = match Self::next_fault(&mut s, Op::ListConnections) {
            Some(Fault::Hide(id)) => Some(id),
            Some(f) => {
                return Err(fail(
                    &f,
                    endpoint(Method::Get, routes::WORKSPACE_CONNECTIONS),
                ));
            }
            None => None,
        };
        Ok(page(
            s.connections
                .values()
                .filter(|c| c.workspace == ws && Some(&c.id) != hidden.as_ref())
                .cloned()
                .collect(),
        ))
    }

    async fn list_workspace_rules_page(
        &self,
        _: &Credentials,
        ws: &str,
        _: &RuleFilter,
        _: Option<&str>,
    ) -> Result<Page<Rule>, ApiError> {
        let mut s = self.lock();
        s.log.push("LIST rules".into());
        let hidden = match Self::next_fault(&mut s, Op::ListRules) {
            Some(Fault::Hide(id)) => Some(id),
            Some(f) => return Err(fail(&f, endpoint(Method::Get, routes::WORKSPACE_RULES))),
            None => None,
        };
        Ok(page(
            s.rules
                .values()
                .filter(|r| r.workspace == ws && Some(&r.id) != hidden.as_ref())
                .cloned()
                .collect(),
        ))
    }

    async fn list_connections_page(
        &self,
        _: &Credentials,
        _: Option<&str>,
    ) -> Result<Page<Connection>, ApiError> {
        Err(unsupported(routes::CONNECTIONS))
    }

    async fn get_connection(&self, _: &Credentials, id: &str) -> Result<Connection, ApiError> {
        let ep = endpoint(Method::Get, routes::CONNECTION);
        let mut s = self.lock();
        s.log.push(format!("GET connection {id}"));
        if let Some(f) = Self::next_fault(&mut s, Op::GetConnection) {
            return Err(fail(&f, ep));
        }
        s.connections
            .get(id)
            .cloned()
            .ok_or_else(|| fail(&Fault::NotFound, ep))
    }

    async fn create_connection(
        &self,
        _: &Credentials,
        body: &CreateConnection,
        key: Option<&str>,
    ) -> Result<Connection, ApiError> {
        let ep = endpoint(Method::Post, routes::CONNECTIONS);
        let mut s = self.lock();
        s.log.push(format!("POST connection {}", body.name));
        s.keys.push(key.unwrap_or_default().to_string());
        let fault = Self::next_fault(&mut s, Op::CreateConnection);
        if let Some(f) = fault
            .as_ref()
            .filter(|f| !matches!(f, Fault::CommitThenDrop | Fault::Undecodable))
        {
            return Err(fail(f, ep));
        }
        if s.connections
            .values()
            .any(|c| c.workspace == body.workspace && c.name.eq_ignore_ascii_case(&body.name))
        {
            return Err(fail(&Fault::Conflict, ep));
        }
        let now = Utc::now();
        let c = Connection {
            id: Self::id(&mut s, "c"),
            workspace: body.workspace.clone(),
            kind: body.kind.clone(),
            name: body.name.clone(),
            metadata: body.metadata.clone(),
            action_data: None,
            active: Some(true),
            inactive_reason: None,
            hidden: body.hidden,
            created_by: None,
            created_at: now,
            updated_at: now,
        };
        s.connections.insert(c.id.clone(), c.clone());
        match fault {
            Some(f) => Err(fail(&f, ep)),
            None => Ok(c),
        }
    }

    async fn update_connection(
        &self,
        _: &Credentials,
        id: &str,
        body: &UpdateConnection,
    ) -> Result<Connection, ApiError> {
        let ep = endpoint(Method::Put, routes::CONNECTION);
        let mut s = self.lock();
        s.log.push(format!("PUT connection {id}"));
        if let Some(f) = Self::next_fault(&mut s, Op::UpdateConnection) {
            return Err(fail(&f, ep));
        }
        let c = s
            .connections
            .get_mut(id)
            .ok_or_else(|| fail(&Fault::NotFound, ep))?;
        c.name = body.name.clone();
        c.metadata = body.metadata.clone();
        c.hidden = body.hidden;
        Ok(c.clone())
    }

    async fn delete_connection(
        &self,
        _: &Credentials,
        id: &str,
        _: bool,
    ) -> Result<DeletedConnection, ApiError> {
        let ep = endpoint(Method::Delete, routes::CONNECTION);
        let mut s = self.lock();
        s.log.push(format!("DELETE connection {id}"));
        if let Some(f) = Self::next_fault(&mut s, Op::DeleteConnection) {
            return Err(fail(&f, ep));
        }
        let c = s
            .connections
            .remove(id)
            .ok_or_else(|| fail(&Fault::NotFound, ep))?;
        Ok(DeletedConnection {
            id: c.id,
            kind: c.kind,
        })
    }

    async fn list_rules_page(
        &self,
        _: &Credentials,
        _: &RuleFilter,
        _: Option<&str>,
    ) -> Result<Page<Rule>, ApiError> {
        Err(unsupported(routes::RULES))
    }

    async fn get_rule(&self, _: &Credentials, id: &str) -> Result<Rule, ApiError> {
        let ep = endpoint(Method::Get, routes::RULE);
        let mut s = self.lock();
        s.log.push(format!("GET rule {id}"));
        if let Some(f) = Self::next_fault(&mut s, Op::GetRule) {
            return Err(fail(&f, ep));
        }
        s.rules
            .get(id)
            .cloned()
            .ok_or_else(|| fail(&Fault::NotFound, ep))
    }

    async fn create_rule(
        &self,
        _: &Credentials,
        body: &CreateRule,
        key: Option<&str>,
    ) -> Result<Rule, ApiError> {
        let ep = endpoint(Method::Post, routes::RULES);
        let mut s = self.lock();
        s.keys.push(key.unwrap_or_default().to_string());
        let fault = Self::next_fault(&mut s, Op::CreateRule);
        if let Some(f) = fault
            .as_ref()
            .filter(|f| !matches!(f, Fault::CommitThenDrop | Fault::Undecodable))
        {
            s.log.push("POST rule refused".into());
            return Err(fail(f, ep));
        }
        let dedup = s.dedup;
        if s.rules.values().any(|r| duplicate(dedup, r, body)) {
            s.log.push("POST rule 409".into());
            return Err(fail(&Fault::Conflict, ep));
        }
        let now = Utc::now();
        let r = Rule {
            id: Self::id(&mut s, "r"),
            workspace: body.workspace.clone(),
            connection: body.connection.clone(),
            kind: IntegrationType::from("webhook"),
            event: body.event.clone(),
            resource: body.resource.clone(),
            resource_id: body.resource_id.clone(),
            metadata: body.metadata.clone(),
            active: Some(body.active.unwrap_or(true)),
            hidden: Some(body.hidden.unwrap_or(false)),
            created_by: None,
            created_at: now,
            updated_at: now,
        };
        s.log.push(format!("POST rule {}", r.id));
        s.rules.insert(r.id.clone(), r.clone());
        match fault {
            Some(f) => Err(fail(&f, ep)),
            None => Ok(r),
        }
    }

    async fn delete_rule(&self, _: &Credentials, id: &str) -> Result<DeletedRule, ApiError> {
        let ep = endpoint(Method::Delete, routes::RULE);
        let mut s = self.lock();
        s.log.push(format!("DELETE rule {id}"));
        if let Some(f) = Self::next_fault(&mut s, Op::DeleteRule) {
            return Err(fail(&f, ep));
        }
        let r = s
            .rules
            .remove(id)
            .ok_or_else(|| fail(&Fault::NotFound, ep))?;
        Ok(DeletedRule {
            id: r.id,
            connection: r.connection,
            kind: r.kind,
            event: r.event,
            resource: r.resource,
            resource_id: r.resource_id,
        })
    }

    async fn list_integrations_page(
        &self,
        creds: &Credentials,
        _: Option<&str>,
    ) -> Result<Page<Integration>, ApiError> {
        let gate = self
            .catalog_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|(org, _)| org == creds.org_id());
        if let Some((_, notify)) = gate {
            notify.notified().await;
        }
        Ok(page(
            self.catalog
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        ))
    }
}
