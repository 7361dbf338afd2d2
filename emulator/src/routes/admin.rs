//! The admin surface under `/_emulator/` (not part of the Meshes API, no JWT): reset, seed,
//! counters, faults, rate limit, rule de-duplication mode, keys, object listing and dashboard-style mutations. Errors use
//! the Meshes error body for uniformity.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use serde_json::{Value, json};
use uuid::Uuid;

use super::QueryParams;
use crate::admin::Admin;
use crate::config::{RateLimit, RuleDedup};
use crate::error::{ApiError, ApiResult};
use crate::faults::{FaultId, FaultSpec, FaultSpecJson};
use crate::request::MAX_BODY_BYTES;
use crate::seed::Seed;
use crate::server::App;

/// Routes under `/_emulator`.
pub fn router() -> Router<App> {
    Router::new()
        .route(
            "/_emulator/health",
            get(|| async { Json(json!({"ok": true})) }),
        )
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/seed", post(seed))
        .route("/_emulator/state", get(state))
        .route("/_emulator/counters", get(counters).delete(reset_counters))
        .route(
            "/_emulator/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/_emulator/faults/{id}",
            get(get_fault).delete(remove_fault),
        )
        .route("/_emulator/rate-limit", put(set_rate_limit))
        .route(
            "/_emulator/rule-dedup",
            get(get_rule_dedup).put(set_rule_dedup),
        )
        .route("/_emulator/keys", post(add_key))
        .route("/_emulator/keys/{access_key}", delete(revoke_key))
        .route("/_emulator/workspaces", post(create_workspace))
        .route("/_emulator/workspaces/{id}", patch(patch_workspace))
        .route(
            "/_emulator/connections/{id}",
            patch(patch_connection).delete(delete_connection),
        )
        .route("/_emulator/rules/{id}", delete(delete_rule))
        .route(
            "/_emulator/deliveries",
            get(deliveries).delete(clear_deliveries),
        )
}

async fn deliveries(State(app): State<App>) -> Json<Value> {
    let records = admin(app).deliveries();
    let delivered = records.iter().filter(|d| d.success).count();
    Json(json!({ "total": records.len(), "delivered": delivered, "records": records }))
}

async fn clear_deliveries(State(app): State<App>) -> Json<Value> {
    admin(app).clear_deliveries();
    Json(json!({"cleared": true}))
}

fn admin(app: App) -> Admin {
    Admin { app }
}

async fn body_text(body: Body) -> ApiResult<String> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES * 8)
        .await
        .map_err(|_| ApiError::bad_request("body too large"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad_request("body must be UTF-8"))
}

async fn body_json(body: Body) -> ApiResult<Value> {
    let text = body_text(body).await?;
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(&text).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

async fn reset(State(app): State<App>) -> Json<Value> {
    admin(app).reset();
    Json(json!({"reset": true}))
}

async fn seed(State(app): State<App>, body: Body) -> ApiResult<Json<Value>> {
    let seed = Seed::from_text(&body_text(body).await?).map_err(ApiError::bad_request)?;
    admin(app).seed(&seed).map_err(ApiError::unprocessable)?;
    Ok(Json(json!({"seeded": true})))
}

async fn state(State(app): State<App>, raw: RawQuery) -> Json<Value> {
    let secrets = QueryParams::from_raw(raw).get("include_secrets") == Some("true");
    Json(admin(app).listing(secrets))
}

async fn counters(State(app): State<App>) -> Json<Value> {
    Json(json!(admin(app).counters()))
}

async fn reset_counters(State(app): State<App>) -> Json<Value> {
    admin(app).reset_counters();
    Json(json!({"reset": true}))
}

async fn list_faults(State(app): State<App>) -> Json<Value> {
    Json(json!({ "faults": admin(app).faults() }))
}

async fn add_fault(State(app): State<App>, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body_json(body).await?;
    let spec: FaultSpec = match v.get("spec").and_then(Value::as_str) {
        Some(s) => s.parse().map_err(ApiError::bad_request)?,
        None => serde_json::from_value::<FaultSpecJson>(v)
            .map_err(|e| ApiError::bad_request(e.to_string()))?
            .try_into()
            .map_err(ApiError::bad_request)?,
    };
    let id = admin(app).add_fault(spec);
    Ok((StatusCode::CREATED, Json(json!({ "id": id.0 }))))
}

async fn clear_faults(State(app): State<App>) -> Json<Value> {
    admin(app).clear_faults();
    Json(json!({"cleared": true}))
}

async fn get_fault(State(app): State<App>, Path(id): Path<u64>) -> Json<Value> {
    let a = admin(app);
    let installed = a.faults().into_iter().find(|f| f.id == FaultId(id));
    Json(json!({ "id": id, "hits": a.fault_hits(FaultId(id)), "installed": installed }))
}

async fn remove_fault(State(app): State<App>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    if admin(app).remove_fault(FaultId(id)) {
        Ok(Json(json!({"removed": id})))
    } else {
        Err(ApiError::not_found("Fault"))
    }
}

async fn set_rate_limit(State(app): State<App>, body: Body) -> ApiResult<Json<Value>> {
    let v = body_json(body).await?;
    let limit: Option<RateLimit> = if v.is_null() || v == json!({}) {
        None
    } else {
        Some(serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))?)
    };
    if limit.is_some_and(|l| !(l.per_second > 0.0 && l.burst > 0)) {
        return Err(ApiError::bad_request("per_second and burst must be > 0"));
    }
    admin(app).set_rate_limit(limit);
    Ok(Json(json!({ "rate_limit": limit })))
}

async fn get_rule_dedup(State(app): State<App>) -> Json<Value> {
    Json(json!({ "mode": admin(app).rule_dedup() }))
}

/// Body `{"mode": "tuple" | "exact" | "none"}`.
async fn set_rule_dedup(State(app): State<App>, body: Body) -> ApiResult<Json<Value>> {
    let v = body_json(body).await?;
    let mode: RuleDedup = v
        .get("mode")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("mode (tuple, exact or none) is required"))?
        .parse()
        .map_err(ApiError::bad_request)?;
    admin(app).set_rule_dedup(mode);
    Ok(Json(json!({ "mode": mode })))
}

async fn add_key(State(app): State<App>, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body_json(body).await?;
    let a = admin(app.clone());
    let org = match v.get("org_id").and_then(Value::as_str) {
        Some(o) if crate::config::valid_org_id(o) => o.to_owned(),
        Some(_) => return Err(ApiError::bad_request("org_id must be a UUID")),
        None => app
            .store
            .read()
            .keys
            .values()
            .next()
            .map(|k| k.org_id.clone())
            .unwrap_or_else(|| Uuid::new_v4().to_string()),
    };
    let creds = match v.get("workspaces") {
        Some(ws) => {
            let ids: Vec<Uuid> = serde_json::from_value(ws.clone())
                .map_err(|_| ApiError::bad_request("workspaces must be an array of UUIDs"))?;
            a.add_scoped_key(&org, &ids)
        }
        None => a.add_key(&org),
    };
    Ok((StatusCode::CREATED, Json(json!(creds))))
}

async fn revoke_key(State(app): State<App>, Path(key): Path<String>) -> ApiResult<Json<Value>> {
    if !app.store.read().keys.contains_key(&key) {
        return Err(ApiError::not_found("Key"));
    }
    admin(app).revoke_key(&key);
    Ok(Json(json!({"revoked": key})))
}

async fn create_workspace(
    State(app): State<App>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body_json(body).await?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let org = match v.get("org_id").and_then(Value::as_str) {
        Some(o) => o.to_owned(),
        None => app
            .store
            .read()
            .keys
            .values()
            .next()
            .map(|k| k.org_id.clone())
            .ok_or_else(|| ApiError::bad_request("org_id is required"))?,
    };
    let id = admin(app).create_workspace_direct(&org, name);
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

async fn patch_workspace(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let v = body_json(body).await?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    if admin(app).rename_workspace(&id, name) {
        Ok(Json(json!({"id": id, "name": name})))
    } else {
        Err(ApiError::not_found("Workspace"))
    }
}

async fn patch_connection(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let v = body_json(body).await?;
    let a = admin(app);
    let ok = match v.get("active").and_then(Value::as_bool) {
        Some(true) => a.set_connection_active(&id),
        Some(false) => {
            let reason = v
                .get("inactive_reason")
                .and_then(Value::as_str)
                .unwrap_or("manually_inactivated");
            if !crate::store::model::INACTIVE_REASONS.contains(&reason) {
                return Err(ApiError::bad_request("unknown inactive_reason"));
            }
            a.set_connection_inactive(&id, reason)
        }
        None => return Err(ApiError::bad_request("active (bool) is required")),
    };
    if ok {
        Ok(Json(json!({"id": id})))
    } else {
        Err(ApiError::not_found("Connection"))
    }
}

async fn delete_connection(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if admin(app).delete_connection(&id) {
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(ApiError::not_found("Connection"))
    }
}

async fn delete_rule(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if admin(app).delete_rule(&id) {
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(ApiError::not_found("Rule"))
    }
}
