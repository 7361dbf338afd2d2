//! `/api/v1/sessions…`: embed sessions (`emulator/README.md`, "Embed sessions and mappings") —
//! mint (200, not 201), list by workspace, refresh (new access token, same session; 409 once
//! revoked), revoke. Access tokens are HS256 JWTs signed with a per-state secret; they
//! authorize nothing in the emulator.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use super::{QueryParams, workspace_by_id};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::pagination::envelope;
use crate::request::{Fields, json_object, path_uuid};
use crate::server::App;
use crate::store::{Session, State as World, ts};

const ROLES: [&str; 3] = ["member", "admin", "owner"];
const TYPES: [&str; 3] = ["workspace", "resource", "dashboard"];
const PAGES: [&str; 4] = ["dashboard", "connections", "rules", "events"];
const SCOPES: [&str; 1] = ["events.payload:read"];

fn one_of(f: &mut Fields<'_>, key: &str, allowed: &[&str], default: &str) -> String {
    match f.optional_str(key) {
        None => default.to_owned(),
        Some(v) if allowed.contains(&v.as_str()) => v,
        Some(_) => {
            f.fail(key, format!("must be one of {}", allowed.join(", ")));
            default.to_owned()
        }
    }
}

fn int_in(f: &mut Fields<'_>, key: &str, min: i64, max: i64, default: i64) -> i64 {
    match f.get(key) {
        None => default,
        Some(v) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                f.fail(key, format!("must be an integer between {min} and {max}"));
                default
            }
        },
    }
}

fn string_list(f: &mut Fields<'_>, key: &str, max: usize) -> Vec<String> {
    match f.get(key) {
        None => Vec::new(),
        Some(Value::Array(a)) if a.len() <= max && a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => {
            f.fail(key, format!("must be an array of at most {max} strings"));
            Vec::new()
        }
    }
}

fn is_origin(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.path() == "/"
            && u.query().is_none()
            && !s.ends_with("/")
    })
}

fn random(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// An HS256 access token for the session.
fn access_token(world: &World, s: &Session, now: DateTime<Utc>) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "iss": "meshes-emulator", "aud": "meshes-embed", "sub": s.session_id,
        "workspace_id": s.workspace_id, "org": s.org_id, "role": s.role,
        "session_type": s.session_type, "scopes": s.scopes, "jti": Uuid::new_v4(),
        "iat": now.timestamp(), "exp": s.expires_at.timestamp(),
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(world.session_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{header}.{payload}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{sig}")
}

fn session_of<'a>(world: &'a World, who: &Principal, id: &str) -> ApiResult<&'a Session> {
    let s = world
        .sessions
        .get(id)
        .filter(|s| s.org_id == who.org_id)
        .ok_or_else(|| ApiError::not_found("Session"))?;
    if !who.may_access(&s.workspace_id) {
        return Err(ApiError::forbidden(
            "access key is not allowed to use this workspace",
        ));
    }
    Ok(s)
}

/// `POST /api/v1/sessions`
pub async fn create(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let obj = json_object(&headers, body).await?;
    let mut f = Fields::new(&obj, "");
    let workspace = f.required_uuid("workspace_id");
    let role = one_of(&mut f, "role", &ROLES, "member");
    let session_type = one_of(&mut f, "session_type", &TYPES, "workspace");
    let external_user_id = f.optional_str("external_user_id");
    if external_user_id
        .as_ref()
        .is_some_and(|u| u.chars().count() > 255)
    {
        f.fail("external_user_id", "must be at most 255 characters");
    }
    let ttl = int_in(&mut f, "ttl_seconds", 300, 3600, 1800);
    let launch_ttl = int_in(&mut f, "launch_ttl_seconds", 15, 60, 30);
    let launch_page = one_of(&mut f, "launch_page", &PAGES, "dashboard");
    let resource = f.optional_str("resource").filter(|s| !s.is_empty());
    let resource_id = f.optional_str("resource_id").filter(|s| !s.is_empty());
    let origins = string_list(&mut f, "allowed_origins", 10);
    if origins.iter().any(|o| !is_origin(o)) {
        f.fail(
            "allowed_origins",
            "must be origins like https://app.example.com",
        );
    }
    let scopes = string_list(&mut f, "scopes", 20);
    if scopes.iter().any(|s| !SCOPES.contains(&s.as_str())) {
        f.fail("scopes", "must contain only events.payload:read");
    }
    if session_type == "resource" {
        if resource.is_none() || resource_id.is_none() {
            f.fail(
                "resource",
                "resource sessions require resource and resource_id",
            );
        }
        if launch_page == "connections" {
            f.fail(
                "launch_page",
                "resource sessions cannot launch on connections",
            );
        }
    }
    if session_type == "dashboard" && launch_page != "dashboard" {
        f.fail("launch_page", "dashboard sessions must launch on dashboard");
    }
    f.finish()?;
    let workspace = workspace.ok_or_else(|| ApiError::invalid("workspace_id", "is required"))?;
    let mut world = app.store.write();
    let ws = workspace_by_id(&world, &who, workspace)?.clone();
    let now = Utc::now();
    let session = Session {
        session_id: format!("sess_{}", Uuid::new_v4()),
        seq: world.next_seq(),
        org_id: ws.org_id.clone(),
        workspace_id: ws.id,
        role,
        session_type,
        external_user_id,
        resource,
        resource_id,
        launch_page,
        allowed_origins: origins,
        scopes,
        ttl_seconds: ttl,
        revoked: false,
        created_by: who.user_id.clone(),
        created_at: now,
        expires_at: now + chrono::Duration::seconds(ttl),
    };
    let token = access_token(&world, &session, now);
    world
        .sessions
        .insert(session.session_id.clone(), session.clone());
    let launch_token = format!("lt_{}", random(40));
    let launch_expires = now + chrono::Duration::seconds(launch_ttl);
    let mut v = session.token_wire(&token, now);
    v["launch_token"] = json!(launch_token);
    v["launch_url"] = json!(format!(
        "https://embed.meshes.io/workspace/{}?launch={launch_token}",
        session.launch_page
    ));
    v["launch_expires_at"] = json!(ts(&launch_expires));
    Ok(Json(v))
}

/// `GET /api/v1/sessions?workspace_id=…`
pub async fn list(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let q = QueryParams::from_raw(raw);
    let page = q.page().parse()?;
    let ws = match q.get("workspace_id") {
        Some(w) => path_uuid(w, "workspace_id")?,
        None => return Err(ApiError::invalid("workspace_id", "is required")),
    };
    let status = q.get("status");
    if status.is_some_and(|s| s != "active" && s != "revoked") {
        return Err(ApiError::invalid("status", "must be active or revoked"));
    }
    let world = app.store.read();
    let ws = workspace_by_id(&world, &who, ws)?.id;
    let now = Utc::now();
    let items = world
        .sessions
        .values()
        .filter(|s| {
            s.workspace_id == ws
                && status.is_none_or(|st| s.status() == st)
                && q.get("resource")
                    .is_none_or(|r| s.resource.as_deref() == Some(r))
                && q.get("resource_id")
                    .is_none_or(|r| s.resource_id.as_deref() == Some(r))
        })
        .map(|s| (s.seq, s.to_list_wire(now)))
        .collect();
    Ok(Json(envelope(items, page)))
}

/// `POST /api/v1/sessions/{sessionId}/refresh`
pub async fn refresh(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut world = app.store.write();
    let mut s = session_of(&world, &who, &id)?.clone();
    if s.revoked {
        return Err(ApiError::conflict("Session has been revoked"));
    }
    let now = Utc::now();
    s.expires_at = now + chrono::Duration::seconds(s.ttl_seconds);
    let token = access_token(&world, &s, now);
    let v = s.token_wire(&token, now);
    world.sessions.insert(s.session_id.clone(), s);
    Ok(Json(v))
}

/// `DELETE /api/v1/sessions/{sessionId}` (idempotent).
pub async fn revoke(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut world = app.store.write();
    let sid = session_of(&world, &who, &id)?.session_id.clone();
    if let Some(s) = world.sessions.get_mut(&sid) {
        s.revoked = true;
    }
    Ok(Json(json!({ "revoked": true })))
}
