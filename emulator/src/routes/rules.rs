//! `/api/v1/rules…`: list (with `event`/`resource`/`resource_id` filters), create (type copied
//! from the connection; the event and resource keys join the workspace catalog; identical rules
//! refused or not according to the [`crate::config::RuleDedup`] mode), get, delete. There is no
//! update.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{QueryParams, connection_by_id, rule_of, workspace_by_id};
use crate::auth::Principal;
use crate::catalog;
use crate::error::{ApiError, ApiResult};
use crate::pagination::envelope;
use crate::request::{Fields, json_object};
use crate::server::App;
use crate::store::Rule;

fn valid_resource_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// `GET /api/v1/rules`
pub async fn list(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let q = QueryParams::from_raw(raw);
    let page = q.page().parse()?;
    let world = app.store.read();
    let items = world
        .rules
        .values()
        .filter(|r| {
            r.org_id == who.org_id
                && who.may_access(&r.workspace)
                && r.matches(q.get("event"), q.get("resource"), q.get("resource_id"))
        })
        .map(|r| (r.seq, r.to_wire()))
        .collect();
    Ok(Json(envelope(items, page)))
}

/// `POST /api/v1/rules`
pub async fn create(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let obj = json_object(&headers, body).await?;
    let mut f = Fields::new(&obj, "");
    let workspace = f.required_uuid("workspace");
    let connection = f.required_uuid("connection");
    let event = match f.get("event") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => {
            f.fail("event", "must be a non-empty string");
            None
        }
    };
    let metadata = f.required_object("metadata");
    if let Some(m) = &metadata {
        match m.get("action") {
            None | Some(Value::Null) => f.fail("metadata.action", "is required"),
            Some(Value::String(a)) if !a.is_empty() => {}
            Some(_) => f.fail("metadata.action", "must be a non-empty string"),
        }
    }
    let resource = match f.get("resource") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            f.fail("resource", "must be a non-empty string");
            None
        }
    };
    let resource_id = match f.get("resource_id") {
        None => None,
        Some(Value::String(s)) if valid_resource_id(s) => Some(s.clone()),
        Some(_) => {
            f.fail("resource_id", "must match ^[A-Za-z0-9._:-]{1,64}$");
            None
        }
    };
    let active = f.optional_bool("active").unwrap_or(true);
    let hidden = f.optional_bool("hidden").unwrap_or(false);
    f.finish()?;
    let (Some(workspace), Some(connection), Some(event), Some(metadata)) =
        (workspace, connection, event, metadata)
    else {
        return Err(ApiError::bad_request("Validation failed"));
    };

    let mut world = app.store.write();
    let ws = workspace_by_id(&world, &who, workspace)?.clone();
    let conn = connection_by_id(&world, &who, connection)?.clone();
    if conn.workspace != ws.id {
        return Err(ApiError::invalid(
            "connection",
            "does not belong to the given workspace",
        ));
    }
    let actions = catalog::action_keys(&conn.kind);
    let action = metadata.get("action").and_then(Value::as_str).unwrap_or("");
    if !actions.iter().any(|a| a == action) {
        return Err(ApiError::invalid(
            "metadata.action",
            &format!("must be one of {}", actions.join(", ")),
        ));
    }
    let dedup = app.rule_dedup();
    let duplicate = world.rules.values().any(|r| {
        let same_tuple = r.connection == conn.id
            && r.event == event
            && r.resource == resource
            && r.resource_id == resource_id
            && r.metadata == metadata;
        dedup.refuses(same_tuple, r.active == active, r.hidden == hidden)
    });
    if duplicate {
        return Err(ApiError::conflict("rule already exists"));
    }
    let now = Utc::now();
    let rule = Rule {
        id: Uuid::new_v4(),
        seq: world.next_seq(),
        org_id: ws.org_id.clone(),
        workspace: ws.id,
        connection: conn.id,
        kind: conn.kind.clone(),
        event,
        resource,
        resource_id,
        metadata,
        active,
        hidden,
        created_by: who.user_id.clone(),
        created_at: now,
        updated_at: now,
    };
    world.ensure_event_type(ws.id, &rule.event, Some(&who.user_id));
    if let Some(r) = &rule.resource {
        world.ensure_resource(ws.id, r, Some(&who.user_id));
    }
    world.rules.insert(rule.id, rule.clone());
    Ok((StatusCode::CREATED, Json(json!({ "rule": rule.to_wire() }))))
}

/// `GET /api/v1/rules/{rule_id}`
pub async fn get_one(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    Ok(Json(rule_of(&world, &who, &id)?.to_wire()))
}

/// `DELETE /api/v1/rules/{rule_id}`
pub async fn delete(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut world = app.store.write();
    let rid = rule_of(&world, &who, &id)?.id;
    let rule = world
        .rules
        .remove(&rid)
        .ok_or_else(|| ApiError::not_found("Rule"))?;
    Ok(Json(rule.to_deleted_wire()))
}
