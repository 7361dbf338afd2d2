//! HTTP routes of the Meshes management API (paths exactly as Meshes documents them, listed in
//! `emulator/README.md`, "Meshes API served") and the lookups they share (org isolation → 404,
//! workspace scope of a key → 403).

pub mod admin;
mod connections;
mod events;
mod integrations;
mod mappings;
mod rules;
mod sessions;
mod workspaces;

use std::collections::HashMap;

use axum::Router;
use axum::extract::RawQuery;
use axum::routing::{get, post};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::request::path_uuid;
use crate::server::App;
use crate::store::{Connection, Rule, State, Workspace};

/// Every Meshes API route (without the middleware).
pub fn api_router() -> Router<App> {
    Router::new()
        .route(
            "/api/v1/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}",
            get(workspaces::get_one)
                .put(workspaces::update)
                .delete(method_not_allowed)
                .patch(method_not_allowed),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/connections",
            get(workspaces::connections),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/rules",
            get(workspaces::rules),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/event-types",
            get(workspaces::event_types),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/resources",
            get(workspaces::resources),
        )
        .route(
            "/api/v1/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/api/v1/connections/{connection_id}",
            get(connections::get_one)
                .put(connections::update)
                .delete(connections::delete),
        )
        .route(
            "/api/v1/connections/{connection_id}/actions",
            get(connections::actions),
        )
        .route(
            "/api/v1/connections/{connection_id}/fields",
            get(connections::fields),
        )
        .route("/api/v1/rules", get(rules::list).post(rules::create))
        .route(
            "/api/v1/rules/{rule_id}",
            get(rules::get_one)
                .delete(rules::delete)
                .put(method_not_allowed)
                .patch(method_not_allowed),
        )
        .route("/api/v1/integrations", get(integrations::list))
        .route(
            "/api/v1/workspaces/{workspace_id}/events",
            get(events::list_for_workspace),
        )
        .route(
            "/api/v1/connections/{connection_id}/mappings/default",
            get(mappings::get_default).put(mappings::put_default),
        )
        .route("/api/v1/events", get(events::list).post(events::ingest))
        .route("/api/v1/events/bulk", post(events::bulk))
        .route("/api/v1/events/{event_id}", get(events::get_one))
        .route("/api/v1/events/{event_id}/payload", get(events::payload))
        .route(
            "/api/v1/events/{event_id}/rules/{rule_id}/retry",
            post(events::retry),
        )
        .route(
            "/api/v1/events/{event_id}/rules/{rule_id}/attempts",
            get(events::attempts),
        )
        .route(
            "/api/v1/events/{event_id}/rules/{rule_id}/attempts/{attempt_id}",
            get(events::attempt),
        )
        .route(
            "/api/v1/sessions",
            get(sessions::list).post(sessions::create),
        )
        .route(
            "/api/v1/sessions/{sessionId}",
            axum::routing::delete(sessions::revoke),
        )
        .route(
            "/api/v1/sessions/{sessionId}/refresh",
            post(sessions::refresh),
        )
}

/// Routes of the events host: ingestion only.
pub fn events_host_router() -> Router<App> {
    Router::new()
        .route("/api/v1/events", post(events::ingest))
        .route("/api/v1/events/bulk", post(events::bulk))
}

/// Whether a request may authenticate with a publishable key.
pub fn is_ingestion(method: &str, route: &str) -> bool {
    method == "POST" && (route == "/api/v1/events" || route == "/api/v1/events/bulk")
}

/// Operations the API does not have (workspace delete, rule update).
async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Decoded query string (never fails: bad encodings are replaced, duplicates keep the last).
#[derive(Debug, Default)]
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    /// From the raw query.
    pub fn from_raw(raw: RawQuery) -> Self {
        Self(
            raw.0
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// One parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `limit` and `cursor`.
    pub fn page(&self) -> PageQuery {
        PageQuery {
            limit: self.0.get("limit").cloned(),
            cursor: self.0.get("cursor").cloned(),
        }
    }
}

/// A workspace of the caller's org; 404 when absent or foreign, 403 when out of key scope.
pub fn workspace_of<'a>(world: &'a State, who: &Principal, raw: &str) -> ApiResult<&'a Workspace> {
    let id = path_uuid(raw, "workspace_id")?;
    workspace_by_id(world, who, id)
}

/// Same as [`workspace_of`] for a parsed id.
pub fn workspace_by_id<'a>(
    world: &'a State,
    who: &Principal,
    id: Uuid,
) -> ApiResult<&'a Workspace> {
    let ws = world
        .workspaces
        .get(&id)
        .filter(|w| w.org_id == who.org_id)
        .ok_or_else(|| ApiError::not_found("Workspace"))?;
    if !who.may_access(&ws.id) {
        return Err(ApiError::forbidden(
            "access key is not allowed to use this workspace",
        ));
    }
    Ok(ws)
}

/// A connection of the caller's org.
pub fn connection_of<'a>(
    world: &'a State,
    who: &Principal,
    raw: &str,
) -> ApiResult<&'a Connection> {
    let id = path_uuid(raw, "connection_id")?;
    connection_by_id(world, who, id)
}

/// Same as [`connection_of`] for a parsed id.
pub fn connection_by_id<'a>(
    world: &'a State,
    who: &Principal,
    id: Uuid,
) -> ApiResult<&'a Connection> {
    let c = world
        .connections
        .get(&id)
        .filter(|c| c.org_id == who.org_id)
        .ok_or_else(|| ApiError::not_found("Connection"))?;
    if !who.may_access(&c.workspace) {
        return Err(ApiError::forbidden(
            "access key is not allowed to use this workspace",
        ));
    }
    Ok(c)
}

/// A rule of the caller's org.
pub fn rule_of<'a>(world: &'a State, who: &Principal, raw: &str) -> ApiResult<&'a Rule> {
    let id = path_uuid(raw, "rule_id")?;
    let r = world
        .rules
        .get(&id)
        .filter(|r| r.org_id == who.org_id)
        .ok_or_else(|| ApiError::not_found("Rule"))?;
    if !who.may_access(&r.workspace) {
        return Err(ApiError::forbidden(
            "access key is not allowed to use this workspace",
        ));
    }
    Ok(r)
}
