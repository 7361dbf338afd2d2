//! The typed calls the controllers use, as the mockable [`MeshesApi`] trait, its HTTP
//! implementation on [`MeshesClient`], and the cursor-walking list helpers.

use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;
use serde::Serialize;

use super::client::{Call, MeshesClient};
use super::credentials::Credentials;
use super::error::{ApiError, Endpoint, Method};
use super::types::{
    Connection, ConnectionEnvelope, CreateConnection, CreateRule, CreateWorkspace,
    DeleteConnection, DeletedConnection, DeletedRule, Integration, Page, Rule, RuleEnvelope,
    RuleFilter, UpdateConnection, UpdateWorkspace, Workspace, WorkspaceDetail, WorkspaceEnvelope,
};

/// Pages a list helper follows before giving up, when the implementation does not say.
pub const DEFAULT_MAX_LIST_PAGES: usize = 100;

/// Route templates, as they appear in errors, traces and emulator counters.
pub mod routes {
    /// `/api/v1/workspaces`
    pub const WORKSPACES: &str = "/api/v1/workspaces";
    /// `/api/v1/workspaces/{workspace_id}`
    pub const WORKSPACE: &str = "/api/v1/workspaces/{workspace_id}";
    /// `/api/v1/workspaces/{workspace_id}/connections`
    pub const WORKSPACE_CONNECTIONS: &str = "/api/v1/workspaces/{workspace_id}/connections";
    /// `/api/v1/workspaces/{workspace_id}/rules`
    pub const WORKSPACE_RULES: &str = "/api/v1/workspaces/{workspace_id}/rules";
    /// `/api/v1/connections`
    pub const CONNECTIONS: &str = "/api/v1/connections";
    /// `/api/v1/connections/{connection_id}`
    pub const CONNECTION: &str = "/api/v1/connections/{connection_id}";
    /// `/api/v1/rules`
    pub const RULES: &str = "/api/v1/rules";
    /// `/api/v1/rules/{rule_id}`
    pub const RULE: &str = "/api/v1/rules/{rule_id}";
    /// `/api/v1/integrations`
    pub const INTEGRATIONS: &str = "/api/v1/integrations";
}

/// Every Meshes call the operator makes. Implemented over HTTP by [`MeshesClient`]; mock it
/// to test controllers. Credentials are per call: the implementation budgets by access key.
///
/// `*_page` methods fetch one page (`cursor: None` = first page). The list helpers without
/// `_page` follow `next_cursor` to the end, up to [`MeshesApi::max_list_pages`] pages.
/// Creates take an optional idempotency key (a random UUID is sent when `None`).
#[async_trait]
pub trait MeshesApi: Send + Sync {
    /// Page cap for the list helpers (guards against a server returning cursors forever).
    fn max_list_pages(&self) -> usize {
        DEFAULT_MAX_LIST_PAGES
    }

    /// Whether a call with `creds` made now would wait behind others (see
    /// [`crate::BudgetRegistry::congested`]); `false` where nothing is budgeted.
    fn congested(&self, _creds: &Credentials) -> bool {
        false
    }

    /// `GET /workspaces`, one page.
    async fn list_workspaces_page(
        &self,
        creds: &Credentials,
        cursor: Option<&str>,
    ) -> Result<Page<Workspace>, ApiError>;

    /// `GET /workspaces/{id}`: the workspace with its publishable key.
    async fn get_workspace(
        &self,
        creds: &Credentials,
        workspace_id: &str,
    ) -> Result<WorkspaceDetail, ApiError>;

    /// `POST /workspaces`.
    async fn create_workspace(
        &self,
        creds: &Credentials,
        body: &CreateWorkspace,
        idempotency_key: Option<&str>,
    ) -> Result<Workspace, ApiError>;

    /// `PUT /workspaces/{id}` (full update).
    async fn update_workspace(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        body: &UpdateWorkspace,
    ) -> Result<Workspace, ApiError>;

    /// `GET /workspaces/{id}/connections`, one page.
    async fn list_workspace_connections_page(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        cursor: Option<&str>,
    ) -> Result<Page<Connection>, ApiError>;

    /// `GET /workspaces/{id}/rules` with filters, one page.
    async fn list_workspace_rules_page(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        filter: &RuleFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Rule>, ApiError>;

    /// `GET /connections` (whole org), one page.
    async fn list_connections_page(
        &self,
        creds: &Credentials,
        cursor: Option<&str>,
    ) -> Result<Page<Connection>, ApiError>;

    /// `GET /connections/{id}`.
    async fn get_connection(
        &self,
        creds: &Credentials,
        connection_id: &str,
    ) -> Result<Connection, ApiError>;

    /// `POST /connections`.
    async fn create_connection(
        &self,
        creds: &Credentials,
        body: &CreateConnection,
        idempotency_key: Option<&str>,
    ) -> Result<Connection, ApiError>;

    /// `PUT /connections/{id}`.
    async fn update_connection(
        &self,
        creds: &Credentials,
        connection_id: &str,
        body: &UpdateConnection,
    ) -> Result<Connection, ApiError>;

    /// `DELETE /connections/{id}`; `force_delete` also removes a connection that has rules.
    async fn delete_connection(
        &self,
        creds: &Credentials,
        connection_id: &str,
        force_delete: bool,
    ) -> Result<DeletedConnection, ApiError>;

    /// `GET /rules` (whole org) with filters, one page.
    async fn list_rules_page(
        &self,
        creds: &Credentials,
        filter: &RuleFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Rule>, ApiError>;

    /// `GET /rules/{id}`.
    async fn get_rule(&self, creds: &Credentials, rule_id: &str) -> Result<Rule, ApiError>;

    /// `POST /rules`.
    async fn create_rule(
        &self,
        creds: &Credentials,
        body: &CreateRule,
        idempotency_key: Option<&str>,
    ) -> Result<Rule, ApiError>;

    /// `DELETE /rules/{id}`.
    async fn delete_rule(
        &self,
        creds: &Credentials,
        rule_id: &str,
    ) -> Result<DeletedRule, ApiError>;

    /// `GET /integrations`, one page.
    async fn list_integrations_page(
        &self,
        creds: &Credentials,
        cursor: Option<&str>,
    ) -> Result<Page<Integration>, ApiError>;

    /// Every workspace of the org.
    async fn list_workspaces(&self, creds: &Credentials) -> Result<Vec<Workspace>, ApiError> {
        walk_pages(
            self.max_list_pages(),
            endpoint_get(routes::WORKSPACES),
            |c| async move { self.list_workspaces_page(creds, c.as_deref()).await },
        )
        .await
    }

    /// Every connection of a workspace.
    async fn list_workspace_connections(
        &self,
        creds: &Credentials,
        workspace_id: &str,
    ) -> Result<Vec<Connection>, ApiError> {
        let ep = endpoint_get(routes::WORKSPACE_CONNECTIONS);
        walk_pages(self.max_list_pages(), ep, |c| async move {
            self.list_workspace_connections_page(creds, workspace_id, c.as_deref())
                .await
        })
        .await
    }

    /// Every rule of a workspace matching `filter`.
    async fn list_workspace_rules(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        filter: &RuleFilter,
    ) -> Result<Vec<Rule>, ApiError> {
        let ep = endpoint_get(routes::WORKSPACE_RULES);
        walk_pages(self.max_list_pages(), ep, |c| async move {
            self.list_workspace_rules_page(creds, workspace_id, filter, c.as_deref())
                .await
        })
        .await
    }

    /// Every connection of the org.
    async fn list_connections(&self, creds: &Credentials) -> Result<Vec<Connection>, ApiError> {
        walk_pages(
            self.max_list_pages(),
            endpoint_get(routes::CONNECTIONS),
            |c| async move { self.list_connections_page(creds, c.as_deref()).await },
        )
        .await
    }

    /// Every rule of the org matching `filter`.
    async fn list_rules(
        &self,
        creds: &Credentials,
        filter: &RuleFilter,
    ) -> Result<Vec<Rule>, ApiError> {
        walk_pages(
            self.max_list_pages(),
            endpoint_get(routes::RULES),
            |c| async move { self.list_rules_page(creds, filter, c.as_deref()).await },
        )
        .await
    }

    /// The whole integrations catalog.
    async fn list_integrations(&self, creds: &Credentials) -> Result<Vec<Integration>, ApiError> {
        walk_pages(
            self.max_list_pages(),
            endpoint_get(routes::INTEGRATIONS),
            |c| async move { self.list_integrations_page(creds, c.as_deref()).await },
        )
        .await
    }
}

fn endpoint_get(route: &'static str) -> Endpoint {
    Endpoint {
        method: Method::Get,
        route,
    }
}

/// Follows `next_cursor` until it is null (or empty), collecting every record. Stops with
/// [`ApiError::Unexpected`] after `max_pages` pages or when a cursor repeats, because either
/// means the server is looping and an operator must not spin on it.
pub async fn walk_pages<T, F, Fut>(
    max_pages: usize,
    endpoint: Endpoint,
    mut fetch: F,
) -> Result<Vec<T>, ApiError>
where
    F: FnMut(Option<String>) -> Fut + Send,
    Fut: Future<Output = Result<Page<T>, ApiError>> + Send,
    T: Send,
{
    let mut all = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let page = fetch(cursor.take()).await?;
        all.extend(page.records);
        match page.next_cursor.filter(|c| !c.is_empty()) {
            None => return Ok(all),
            Some(next) => {
                if !seen.insert(next.clone()) {
                    return Err(ApiError::Unexpected {
                        endpoint,
                        status: None,
                        message: "pagination returned a cursor it had already returned".into(),
                        excerpt: String::new(),
                    });
                }
                cursor = Some(next);
            }
        }
    }
    Err(ApiError::Unexpected {
        endpoint,
        status: None,
        message: format!("pagination did not end within {max_pages} pages"),
        excerpt: String::new(),
    })
}

/// Checks a caller-supplied ID before it becomes a path segment: `.` and `..` would be
/// dropped by URL normalization and turn `GET /workspaces/..` into a list call.
fn id(endpoint: Endpoint, value: &str) -> Result<&str, ApiError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(ApiError::Local {
            endpoint,
            message: format!("{value:?} is not a valid Meshes ID"),
        });
    }
    Ok(value)
}

fn json_body<B: Serialize>(endpoint: Endpoint, body: &B) -> Result<Vec<u8>, ApiError> {
    // serde_json's error text describes positions and types; the body's values are not in it
    // for these plain structs (they cannot fail on data, only on non-string map keys).
    serde_json::to_vec(body).map_err(|e| ApiError::Local {
        endpoint,
        message: format!("could not encode the request body: {e}"),
    })
}

fn idempotency(key: Option<&str>) -> String {
    key.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

fn with_cursor(call: &mut Call<'_>, cursor: Option<&str>) {
    if let Some(c) = cursor {
        call.query.push(("cursor", c.to_owned()));
    }
}

#[async_trait]
impl MeshesApi for MeshesClient {
    fn max_list_pages(&self) -> usize {
        self.config().max_list_pages
    }

    fn congested(&self, creds: &Credentials) -> bool {
        self.budgets().congested(creds)
    }

    async fn list_workspaces_page(
        &self,
        creds: &Credentials,
        cursor: Option<&str>,
    ) -> Result<Page<Workspace>, ApiError> {
        let mut call = Call::new(Method::Get, routes::WORKSPACES, vec!["workspaces"]);
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn get_workspace(
        &self,
        creds: &Credentials,
        workspace_id: &str,
    ) -> Result<WorkspaceDetail, ApiError> {
        let mut call = Call::new(Method::Get, routes::WORKSPACE, vec!["workspaces"]);
        call.segments.push(id(call.endpoint, workspace_id)?);
        self.execute(creds, call).await
    }

    async fn create_workspace(
        &self,
        creds: &Credentials,
        body: &CreateWorkspace,
        idempotency_key: Option<&str>,
    ) -> Result<Workspace, ApiError> {
        let mut call = Call::new(Method::Post, routes::WORKSPACES, vec!["workspaces"]);
        call.body = Some(json_body(call.endpoint, body)?);
        call.idempotency_key = Some(idempotency(idempotency_key));
        let created: WorkspaceEnvelope = self.execute(creds, call).await?;
        Ok(created.workspace)
    }

    async fn update_workspace(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        body: &UpdateWorkspace,
    ) -> Result<Workspace, ApiError> {
        let mut call = Call::new(Method::Put, routes::WORKSPACE, vec!["workspaces"]);
        call.segments.push(id(call.endpoint, workspace_id)?);
        call.body = Some(json_body(call.endpoint, body)?);
        self.execute(creds, call).await
    }

    async fn list_workspace_connections_page(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        cursor: Option<&str>,
    ) -> Result<Page<Connection>, ApiError> {
        let mut call = Call::new(
            Method::Get,
            routes::WORKSPACE_CONNECTIONS,
            vec!["workspaces"],
        );
        call.segments.push(id(call.endpoint, workspace_id)?);
        call.segments.push("connections");
        call.redact_body = true;
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn list_workspace_rules_page(
        &self,
        creds: &Credentials,
        workspace_id: &str,
        filter: &RuleFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Rule>, ApiError> {
        let mut call = Call::new(Method::Get, routes::WORKSPACE_RULES, vec!["workspaces"]);
        call.segments.push(id(call.endpoint, workspace_id)?);
        call.segments.push("rules");
        call.query = filter.query_pairs();
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn list_connections_page(
        &self,
        creds: &Credentials,
        cursor: Option<&str>,
    ) -> Result<Page<Connection>, ApiError> {
        let mut call = Call::new(Method::Get, routes::CONNECTIONS, vec!["connections"]);
        call.redact_body = true;
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn get_connection(
        &self,
        creds: &Credentials,
        connection_id: &str,
    ) -> Result<Connection, ApiError> {
        let mut call = Call::new(Method::Get, routes::CONNECTION, vec!["connections"]);
        call.segments.push(id(call.endpoint, connection_id)?);
        call.redact_body = true;
        self.execute(creds, call).await
    }

    async fn create_connection(
        &self,
        creds: &Credentials,
        body: &CreateConnection,
        idempotency_key: Option<&str>,
    ) -> Result<Connection, ApiError> {
        let mut call = Call::new(Method::Post, routes::CONNECTIONS, vec!["connections"]);
        call.body = Some(json_body(call.endpoint, body)?);
        call.idempotency_key = Some(idempotency(idempotency_key));
        call.redact_body = true;
        let created: ConnectionEnvelope = self.execute(creds, call).await?;
        Ok(created.connection)
    }

    async fn update_connection(
        &self,
        creds: &Credentials,
        connection_id: &str,
        body: &UpdateConnection,
    ) -> Result<Connection, ApiError> {
        let mut call = Call::new(Method::Put, routes::CONNECTION, vec!["connections"]);
        call.segments.push(id(call.endpoint, connection_id)?);
        call.body = Some(json_body(call.endpoint, body)?);
        call.redact_body = true;
        self.execute(creds, call).await
    }

    async fn delete_connection(
        &self,
        creds: &Credentials,
        connection_id: &str,
        force_delete: bool,
    ) -> Result<DeletedConnection, ApiError> {
        let mut call = Call::new(Method::Delete, routes::CONNECTION, vec!["connections"]);
        call.segments.push(id(call.endpoint, connection_id)?);
        // Like the Go SDK, always send a JSON body (`{}` when not forcing).
        call.body = Some(json_body(
            call.endpoint,
            &DeleteConnection { force_delete },
        )?);
        self.execute(creds, call).await
    }

    async fn list_rules_page(
        &self,
        creds: &Credentials,
        filter: &RuleFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Rule>, ApiError> {
        let mut call = Call::new(Method::Get, routes::RULES, vec!["rules"]);
        call.query = filter.query_pairs();
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }

    async fn get_rule(&self, creds: &Credentials, rule_id: &str) -> Result<Rule, ApiError> {
        let mut call = Call::new(Method::Get, routes::RULE, vec!["rules"]);
        call.segments.push(id(call.endpoint, rule_id)?);
        self.execute(creds, call).await
    }

    async fn create_rule(
        &self,
        creds: &Credentials,
        body: &CreateRule,
        idempotency_key: Option<&str>,
    ) -> Result<Rule, ApiError> {
        let mut call = Call::new(Method::Post, routes::RULES, vec!["rules"]);
        call.body = Some(json_body(call.endpoint, body)?);
        call.idempotency_key = Some(idempotency(idempotency_key));
        let created: RuleEnvelope = self.execute(creds, call).await?;
        Ok(created.rule)
    }

    async fn delete_rule(
        &self,
        creds: &Credentials,
        rule_id: &str,
    ) -> Result<DeletedRule, ApiError> {
        let mut call = Call::new(Method::Delete, routes::RULE, vec!["rules"]);
        call.segments.push(id(call.endpoint, rule_id)?);
        self.execute(creds, call).await
    }

    async fn list_integrations_page(
        &self,
        creds: &Credentials,
        cursor: Option<&str>,
    ) -> Result<Page<Integration>, ApiError> {
        let mut call = Call::new(Method::Get, routes::INTEGRATIONS, vec!["integrations"]);
        with_cursor(&mut call, cursor);
        self.execute(creds, call).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn page(records: Vec<u32>, next: Option<&str>) -> Page<u32> {
        Page {
            count: records.len() as u64,
            limit: 2,
            next_cursor: next.map(str::to_owned),
            records,
        }
    }

    const EP: Endpoint = Endpoint {
        method: Method::Get,
        route: routes::WORKSPACES,
    };

    #[tokio::test]
    async fn walk_follows_cursors_to_the_end() {
        let calls = AtomicUsize::new(0);
        let all = walk_pages(10, EP, |cursor| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(match cursor.as_deref() {
                    None => page(vec![1, 2], Some("c1")),
                    Some("c1") => page(vec![3, 4], Some("c2")),
                    Some("c2") => page(vec![5], None),
                    Some(other) => panic!("unexpected cursor {other}"),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(all, vec![1, 2, 3, 4, 5]);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn walk_stops_on_a_loop_or_at_the_page_cap() {
        let looped = walk_pages(10, EP, |_| async { Ok(page(vec![1], Some("same"))) }).await;
        assert!(looped.unwrap_err().to_string().contains("already returned"));

        let counter = AtomicUsize::new(0);
        let capped = walk_pages(3, EP, |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(page(vec![1], Some(&format!("c{n}")))) }
        })
        .await;
        assert!(capped.unwrap_err().to_string().contains("3 pages"));
        assert_eq!(counter.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_trait_is_usable_as_a_shared_object() {
        let client = MeshesClient::new(crate::ClientConfig::default()).unwrap();
        let api: std::sync::Arc<dyn MeshesApi> = std::sync::Arc::new(client);
        assert_eq!(api.max_list_pages(), DEFAULT_MAX_LIST_PAGES);
    }

    #[test]
    fn dot_ids_are_refused() {
        assert!(id(EP, "..").is_err());
        assert!(id(EP, "").is_err());
        assert_eq!(id(EP, "5f0c-uuid").unwrap(), "5f0c-uuid");
    }
}
