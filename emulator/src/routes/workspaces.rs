//! `/api/v1/workspaces…`: list, create, get (with `publishable_key`), update, and the
//! workspace sub-resources (connections, rules with filters, event types, resources).

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use super::{QueryParams, workspace_of};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::pagination::envelope;
use crate::request::{Fields, is_name_charset, json_object};
use crate::server::App;

const NAME_MSG: &str = "must be 3-50 characters matching ^[a-zA-Z0-9 _-]+$";

fn check_name(f: &mut Fields<'_>) -> Option<String> {
    let name = f.required_str("name")?;
    let len = name.chars().count();
    if !(3..=50).contains(&len) || !is_name_charset(&name) {
        f.fail("name", NAME_MSG);
        return None;
    }
    Some(name)
}

fn check_description(f: &mut Fields<'_>) -> Option<String> {
    let d = f.optional_str("description")?;
    if d.chars().count() > 1024 {
        f.fail("description", "must be at most 1024 characters");
        return None;
    }
    Some(d)
}

fn conflict() -> ApiError {
    ApiError::conflict("Workspace name already exists")
}

/// `GET /api/v1/workspaces`
pub async fn list(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::from_raw(raw).page().parse()?;
    let world = app.store.read();
    let items = world
        .workspaces
        .values()
        .filter(|w| w.org_id == who.org_id && who.may_access(&w.id))
        .map(|w| (w.seq, w.to_wire()))
        .collect();
    Ok(Json(envelope(items, page)))
}

/// `POST /api/v1/workspaces`
pub async fn create(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let obj = json_object(&headers, body).await?;
    let mut f = Fields::new(&obj, "");
    let name = check_name(&mut f);
    let description = check_description(&mut f);
    f.finish()?;
    let name = name.ok_or_else(|| ApiError::invalid("name", NAME_MSG))?;
    if who.workspaces.is_some() {
        return Err(ApiError::forbidden(
            "access key is restricted to specific workspaces",
        ));
    }
    let mut world = app.store.write();
    if world.workspace_name_taken(&who.org_id, &name, None) {
        return Err(conflict());
    }
    let ws = world.create_workspace(&who.org_id, &name, description, &who.user_id);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "workspace": ws.to_wire() })),
    ))
}

/// `GET /api/v1/workspaces/{workspace_id}`
pub async fn get_one(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    Ok(Json(workspace_of(&world, &who, &id)?.to_wire_with_key()))
}

/// `PUT /api/v1/workspaces/{workspace_id}`: `name` required; `description` null clears it,
/// absent keeps it.
pub async fn update(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let obj = json_object(&headers, body).await?;
    let mut world = app.store.write();
    let ws_id = workspace_of(&world, &who, &id)?.id;
    let mut f = Fields::new(&obj, "");
    let name = check_name(&mut f);
    let description = check_description(&mut f);
    let description_given = f.has("description");
    f.finish()?;
    let name = name.ok_or_else(|| ApiError::invalid("name", NAME_MSG))?;
    if world.workspace_name_taken(&who.org_id, &name, Some(ws_id)) {
        return Err(conflict());
    }
    let ws = world
        .workspaces
        .get_mut(&ws_id)
        .ok_or_else(|| ApiError::not_found("Workspace"))?;
    ws.name = name;
    if description_given {
        ws.description = description;
    }
    ws.updated_at = Utc::now();
    Ok(Json(ws.to_wire()))
}

/// `GET /api/v1/workspaces/{workspace_id}/connections`
pub async fn connections(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::from_raw(raw).page().parse()?;
    let world = app.store.read();
    let ws = workspace_of(&world, &who, &id)?;
    let items = world
        .connections
        .values()
        .filter(|c| c.workspace == ws.id)
        .map(|c| (c.seq, c.to_wire()))
        .collect();
    Ok(Json(envelope(items, page)))
}

/// `GET /api/v1/workspaces/{workspace_id}/rules?event&resource&resource_id`
pub async fn rules(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let q = QueryParams::from_raw(raw);
    let page = q.page().parse()?;
    let world = app.store.read();
    let ws = workspace_of(&world, &who, &id)?;
    let items = world
        .rules
        .values()
        .filter(|r| {
            r.workspace == ws.id
                && r.matches(q.get("event"), q.get("resource"), q.get("resource_id"))
        })
        .map(|r| (r.seq, r.to_wire()))
        .collect();
    Ok(Json(envelope(items, page)))
}

fn catalog_array<'a>(entries: impl Iterator<Item = &'a crate::store::CatalogEntry>) -> Value {
    let mut v: Vec<_> = entries.collect();
    v.sort_by_key(|e| e.seq);
    Value::Array(v.into_iter().map(|e| e.to_wire()).collect())
}

/// `GET /api/v1/workspaces/{workspace_id}/event-types` (bare array)
pub async fn event_types(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    let ws = workspace_of(&world, &who, &id)?.id;
    Ok(Json(catalog_array(
        world.event_types.values().filter(|e| e.workspace == ws),
    )))
}

/// `GET /api/v1/workspaces/{workspace_id}/resources` (bare array)
pub async fn resources(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    let ws = workspace_of(&world, &who, &id)?.id;
    Ok(Json(catalog_array(
        world.resources.values().filter(|e| e.workspace == ws),
    )))
}
