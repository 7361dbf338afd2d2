//! `/api/v1/connections…`: list, create, get, update, delete (`force_delete`), live action data
//! and the destination field catalog. Metadata is checked against the integration's catalog
//! fields, gets server defaults, and never echoes password-type fields.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{QueryParams, connection_of, workspace_by_id};
use crate::auth::Principal;
use crate::catalog;
use crate::error::{ApiError, ApiResult};
use crate::pagination::envelope;
use crate::request::{Fields, is_name_charset, json_object, optional_json_object};
use crate::server::App;
use crate::store::{Connection, DeleteConnectionError, FieldCatalog, ts};

const NAME_MSG: &str = "must be 1-128 characters matching ^[a-zA-Z0-9 _-]+$";

fn check_name(f: &mut Fields<'_>) -> Option<String> {
    let name = f.required_str("name")?;
    if name.chars().count() > 128 || !is_name_charset(&name) {
        f.fail("name", NAME_MSG);
        return None;
    }
    Some(name)
}

fn conflict() -> ApiError {
    ApiError::conflict("connection already exists")
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Merges kept secrets, adds defaults and validates `metadata` for `kind`.
fn prepare_metadata(
    kind: &str,
    mut metadata: Map<String, Value>,
    prior: Option<&Map<String, Value>>,
    allow_insecure_loopback: bool,
) -> ApiResult<Map<String, Value>> {
    if let Some(prior) = prior {
        // Clients never see secrets, so an update that leaves one out means "keep it".
        for key in catalog::secret_keys(kind) {
            if metadata.get(key).is_none_or(Value::is_null)
                && let Some(v) = prior.get(key)
            {
                metadata.insert(key.to_owned(), v.clone());
            }
        }
    }
    catalog::apply_defaults(kind, &mut metadata);
    let mut f = Fields::new(&metadata, "metadata.");
    let mut insecure = None;
    for field in catalog::auth_fields(kind) {
        let applicable = field.depends_on.is_none_or(|(on, values)| {
            metadata
                .get(on)
                .and_then(Value::as_str)
                .is_some_and(|v| values.contains(&v))
        });
        if field.key == "custom_headers" {
            if let Some(v) = f.get(field.key) {
                let ok = v
                    .as_object()
                    .is_some_and(|m| m.len() <= 5 && m.values().all(Value::is_string));
                if !ok {
                    f.fail(field.key, "must be an object of at most 5 string headers");
                }
            }
            continue;
        }
        let value = f.get(field.key);
        let text = match value {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                f.fail(field.key, "must be a string");
                continue;
            }
        };
        match text {
            None | Some("") if applicable && field.required => f.fail(field.key, "is required"),
            None | Some("") => {}
            Some(t) => {
                if !field.options.is_empty() && !field.options.contains(&t) {
                    f.fail(
                        field.key,
                        format!("must be one of {}", field.options.join(", ")),
                    );
                } else if field.url {
                    match url::Url::parse(t) {
                        Ok(u) if u.scheme() == "https" => {}
                        Ok(u)
                            if u.scheme() == "http"
                                && allow_insecure_loopback
                                && is_loopback_host(&u) => {}
                        Ok(_) => insecure = Some(field.key),
                        Err(_) => f.fail(field.key, "must be a valid URL"),
                    }
                }
            }
        }
    }
    f.finish()?;
    if let Some(key) = insecure {
        return Err(ApiError::unprocessable(format!(
            "metadata.{key} must be an https:// URL"
        )));
    }
    Ok(metadata)
}

/// `GET /api/v1/connections`
pub async fn list(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::from_raw(raw).page().parse()?;
    let world = app.store.read();
    let items = world
        .connections
        .values()
        .filter(|c| c.org_id == who.org_id && who.may_access(&c.workspace))
        .map(|c| (c.seq, c.to_wire()))
        .collect();
    Ok(Json(envelope(items, page)))
}

/// `POST /api/v1/connections`
pub async fn create(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let obj = json_object(&headers, body).await?;
    let mut f = Fields::new(&obj, "");
    let workspace = f.required_uuid("workspace");
    let kind = f.required_str("type");
    if let Some(k) = &kind
        && !catalog::is_type(k)
    {
        f.fail(
            "type",
            format!("must be one of {}", catalog::TYPES.join(", ")),
        );
    }
    let name = check_name(&mut f);
    let metadata = f.required_object("metadata");
    let hidden = f.optional_bool("hidden");
    f.finish()?;
    let (Some(workspace), Some(kind), Some(name), Some(metadata)) =
        (workspace, kind, name, metadata)
    else {
        return Err(ApiError::bad_request("Validation failed"));
    };
    let allow_insecure = app
        .allow_insecure_loopback_webhooks
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut world = app.store.write();
    let ws = workspace_by_id(&world, &who, workspace)?.clone();
    if catalog::auth_type(&kind) == "oauth" {
        return Err(ApiError::unprocessable(format!(
            "{kind} connections use OAuth and must be connected in the Meshes dashboard"
        )));
    }
    let metadata = prepare_metadata(&kind, metadata, None, allow_insecure)?;
    if world.connection_name_taken(ws.id, &name, None) {
        return Err(conflict());
    }
    let now = Utc::now();
    let conn = Connection {
        id: Uuid::new_v4(),
        seq: world.next_seq(),
        org_id: ws.org_id.clone(),
        workspace: ws.id,
        kind,
        name,
        metadata,
        action_data: None,
        active: true,
        inactive_reason: None,
        hidden: hidden.unwrap_or(false),
        created_by: who.user_id.clone(),
        created_at: now,
        updated_at: now,
    };
    world.connections.insert(conn.id, conn.clone());
    Ok((
        StatusCode::CREATED,
        Json(json!({ "connection": conn.to_wire() })),
    ))
}

/// `GET /api/v1/connections/{connection_id}`
pub async fn get_one(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    Ok(Json(connection_of(&world, &who, &id)?.to_wire()))
}

/// `PUT /api/v1/connections/{connection_id}`: `name` and `metadata` required, `hidden` optional.
pub async fn update(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let obj = json_object(&headers, body).await?;
    let allow_insecure = app
        .allow_insecure_loopback_webhooks
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut world = app.store.write();
    let conn = connection_of(&world, &who, &id)?.clone();
    let mut f = Fields::new(&obj, "");
    let name = check_name(&mut f);
    let metadata = f.required_object("metadata");
    let hidden = f.optional_bool("hidden");
    f.finish()?;
    let (Some(name), Some(metadata)) = (name, metadata) else {
        return Err(ApiError::bad_request("Validation failed"));
    };
    let metadata = prepare_metadata(&conn.kind, metadata, Some(&conn.metadata), allow_insecure)?;
    if world.connection_name_taken(conn.workspace, &name, Some(conn.id)) {
        return Err(conflict());
    }
    let stored = world
        .connections
        .get_mut(&conn.id)
        .ok_or_else(|| ApiError::not_found("Connection"))?;
    stored.name = name;
    stored.metadata = metadata;
    if let Some(h) = hidden {
        stored.hidden = h;
    }
    stored.updated_at = Utc::now();
    Ok(Json(stored.to_wire()))
}

/// `DELETE /api/v1/connections/{connection_id}` with optional `{"force_delete": bool}`.
pub async fn delete(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let obj = optional_json_object(&headers, body).await?;
    let mut world = app.store.write();
    let conn_id = connection_of(&world, &who, &id)?.id;
    let mut f = Fields::new(&obj, "");
    let force = f.optional_bool("force_delete").unwrap_or(false);
    f.finish()?;
    match world.delete_connection(conn_id, force) {
        Ok(c) => Ok(Json(json!({ "id": c.id, "type": c.kind }))),
        Err(DeleteConnectionError::NotFound) => Err(ApiError::not_found("Connection")),
        Err(DeleteConnectionError::HasRules) => Err(ApiError::conflict(
            "Connection has rules; delete them first or set force_delete",
        )),
    }
}

fn require_active(c: &Connection) -> ApiResult<()> {
    if c.active {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "Connection is inactive ({})",
            c.inactive_reason.as_deref().unwrap_or("unknown reason")
        )))
    }
}

/// `GET /api/v1/connections/{connection_id}/actions`: the cached `action_data`, or synthetic
/// items per data kind when none is cached. 409 when the connection is inactive.
pub async fn actions(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    let c = connection_of(&world, &who, &id)?;
    require_active(c)?;
    Ok(Json(
        c.action_data
            .clone()
            .unwrap_or_else(|| catalog::default_action_data(&c.kind)),
    ))
}

/// `GET /api/v1/connections/{connection_id}/fields?refresh=bool`
pub async fn fields(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let q = QueryParams::from_raw(raw);
    let refresh = match q.get("refresh") {
        None => false,
        Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(ApiError::invalid("refresh", "must be true or false")),
    };
    let mut world = app.store.write();
    let c = connection_of(&world, &who, &id)?.clone();
    let Some(fields) = catalog::destination_fields(&c.kind) else {
        return Err(ApiError::unprocessable(format!(
            "{} connections have no destination field catalog",
            c.kind
        )));
    };
    require_active(&c)?;
    let now = Utc::now();
    let entry = world
        .field_catalogs
        .entry(c.id)
        .or_insert_with(|| FieldCatalog {
            id: Uuid::new_v4(),
            created_at: now,
            refreshed_at: now,
        });
    if refresh {
        entry.refreshed_at = now;
    }
    let digest = Sha256::digest(fields.to_string().as_bytes());
    let version = hex::encode(&digest[..8]);
    Ok(Json(json!({
        "id": entry.id, "workspace_id": c.workspace, "connection_id": c.id,
        "integration_type": c.kind, "catalog_version": version,
        "refreshed_at": ts(&entry.refreshed_at), "created_at": ts(&entry.created_at),
        "updated_at": ts(&entry.refreshed_at), "created_by": c.created_by, "fields": fields,
    })))
}
