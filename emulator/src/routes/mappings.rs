//! `/api/v1/connections/{connection_id}/mappings/default`: the connection's default field
//! mapping. GET answers the stored mapping (`status: stored`) or one generated from the
//! destination field catalog (`status: generated`, version 0); PUT validates the MappingSchema
//! (422 with every problem listed), honours `expected_version` (409 on mismatch) and bumps the
//! version.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use chrono::Utc;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::connection_of;
use crate::auth::Principal;
use crate::catalog;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::request::{Fields, json_object};
use crate::server::App;
use crate::store::{Connection, Mapping};

const TRANSFORMS: [&str; 10] = [
    "to_string",
    "to_number",
    "to_boolean",
    "to_date",
    "to_datetime",
    "default",
    "trim",
    "lower",
    "upper",
    "substring",
];
const ON_ERROR: [&str; 3] = ["skip_field", "warn_action", "fail_action"];
const DEFAULT_NAME: &str = "Default mapping";

/// `^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)*$`, 1–128 chars.
fn is_path(s: &str) -> bool {
    if s.is_empty() || s.len() > 128 {
        return false;
    }
    let mut parts = s.split('.');
    let first_ok = parts.next().is_some_and(|p| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    first_ok
        && parts.all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

fn text_len(v: Option<&Value>, min: usize, max: usize) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| (min..=max).contains(&s.chars().count()))
}

fn check_transform(t: &Value, p: &str, errs: &mut Vec<FieldError>) {
    let Some(o) = t.as_object() else {
        errs.push(FieldError::new(p, "must be an object"));
        return;
    };
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    if !TRANSFORMS.contains(&kind) {
        errs.push(FieldError::new(
            format!("{p}.type"),
            format!("must be one of {}", TRANSFORMS.join(", ")),
        ));
        return;
    }
    match kind {
        "to_date" | "to_datetime"
            if o.contains_key("timezone") && !text_len(o.get("timezone"), 1, 64) =>
        {
            errs.push(FieldError::new(
                format!("{p}.timezone"),
                "must be 1-64 characters",
            ));
        }
        "default" => match o.get("value") {
            Some(Value::String(s)) if (1..=128).contains(&s.chars().count()) => {}
            Some(Value::Number(_) | Value::Bool(_) | Value::Null) => {}
            _ => errs.push(FieldError::new(
                format!("{p}.value"),
                "must be a string (1-128), number, boolean or null",
            )),
        },
        "substring" => {
            if o.get("start").and_then(Value::as_u64).is_none() {
                errs.push(FieldError::new(
                    format!("{p}.start"),
                    "must be an integer >= 0",
                ));
            }
            if o.contains_key("length")
                && o.get("length")
                    .and_then(Value::as_u64)
                    .is_none_or(|l| l == 0)
            {
                errs.push(FieldError::new(
                    format!("{p}.length"),
                    "must be an integer > 0",
                ));
            }
        }
        _ => {}
    }
}

fn check_field(field: &Value, p: &str, errs: &mut Vec<FieldError>) -> Option<String> {
    let Some(o) = field.as_object() else {
        errs.push(FieldError::new(p, "must be an object"));
        return None;
    };
    let dest = o.get("dest").and_then(Value::as_str).map(str::to_owned);
    if !text_len(o.get("dest"), 1, 128) {
        errs.push(FieldError::new(
            format!("{p}.dest"),
            "must be 1-128 characters",
        ));
    }
    match o.get("source").and_then(Value::as_object) {
        None => errs.push(FieldError::new(format!("{p}.source"), "is required")),
        Some(src) => match (src.get("type").and_then(Value::as_str), src.get("value")) {
            (Some("literal"), Some(Value::String(s))) if (1..=256).contains(&s.chars().count()) => {
            }
            (Some("literal"), Some(Value::Number(_) | Value::Bool(_) | Value::Null)) => {}
            (Some("literal"), _) => errs.push(FieldError::new(
                format!("{p}.source.value"),
                "must be a string (1-256), number, boolean or null",
            )),
            (Some("path"), Some(Value::String(s))) if is_path(s) => {}
            (Some("path"), _) => errs.push(FieldError::new(
                format!("{p}.source.value"),
                "must be a payload path like user.email",
            )),
            _ => errs.push(FieldError::new(
                format!("{p}.source.type"),
                "must be literal or path",
            )),
        },
    }
    if let Some(t) = o.get("transforms") {
        match t.as_array() {
            Some(a) if a.len() <= 10 => {
                for (i, t) in a.iter().enumerate() {
                    check_transform(t, &format!("{p}.transforms[{i}]"), errs);
                }
            }
            _ => errs.push(FieldError::new(
                format!("{p}.transforms"),
                "must be an array of at most 10 transforms",
            )),
        }
    }
    if let Some(e) = o.get("on_error")
        && !e.as_str().is_some_and(|e| ON_ERROR.contains(&e))
    {
        errs.push(FieldError::new(
            format!("{p}.on_error"),
            format!("must be one of {}", ON_ERROR.join(", ")),
        ));
    }
    if o.contains_key("notes") && !text_len(o.get("notes"), 1, 1024) {
        errs.push(FieldError::new(
            format!("{p}.notes"),
            "must be 1-1024 characters",
        ));
    }
    dest
}

/// Every problem of a MappingSchema (empty = valid).
pub fn schema_errors(schema: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(o) = schema.as_object() else {
        return vec![FieldError::new("schema", "must be an object")];
    };
    if o.get("schema_version").and_then(Value::as_u64) != Some(1) {
        errs.push(FieldError::new("schema.schema_version", "must be 1"));
    }
    match o.get("fields").and_then(Value::as_array) {
        None => errs.push(FieldError::new("schema.fields", "must be an array")),
        Some(a) if a.len() > 250 => {
            errs.push(FieldError::new(
                "schema.fields",
                "must have at most 250 fields",
            ));
        }
        Some(a) => {
            let mut seen = std::collections::HashSet::new();
            for (i, f) in a.iter().enumerate() {
                let p = format!("schema.fields[{i}]");
                if let Some(d) = check_field(f, &p, &mut errs)
                    && !seen.insert(d)
                {
                    errs.push(FieldError::new(format!("{p}.dest"), "is mapped twice"));
                }
            }
        }
    }
    if let Some(m) = o.get("meta") {
        match m.as_object() {
            Some(m) => {
                if m.contains_key("name") && !text_len(m.get("name"), 1, 64) {
                    errs.push(FieldError::new(
                        "schema.meta.name",
                        "must be 1-64 characters",
                    ));
                }
                if m.contains_key("notes") && !text_len(m.get("notes"), 1, 1024) {
                    errs.push(FieldError::new(
                        "schema.meta.notes",
                        "must be 1-1024 characters",
                    ));
                }
            }
            None => errs.push(FieldError::new("schema.meta", "must be an object")),
        }
    }
    errs
}

fn catalog_version(kind: &str) -> Option<String> {
    catalog::destination_fields(kind)
        .map(|f| hex::encode(&Sha256::digest(f.to_string().as_bytes())[..8]))
}

/// The mapping synthesized from the destination catalog: each field mapped from the payload
/// member of the same name.
fn generated(c: &Connection) -> Mapping {
    let fields: Vec<Value> = catalog::destination_fields(&c.kind)
        .and_then(|f| f.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["key"].as_str())
        .filter(|k| is_path(k))
        .map(|k| json!({ "dest": k, "source": { "type": "path", "value": k } }))
        .collect();
    // Stable ids without storing anything: derived from the connection id.
    let id = Uuid::from_u128(c.id.as_u128() ^ 0x6d61_7070_696e_6700_0000_0000_0000_0001);
    Mapping {
        id,
        mapping_id: id,
        version: 0,
        workspace_id: c.workspace,
        connection_id: c.id,
        integration_type: c.kind.clone(),
        name: DEFAULT_NAME.into(),
        schema: json!({ "schema_version": 1, "fields": fields }),
        catalog_version: catalog_version(&c.kind),
        created_by: None,
        created_at: c.created_at,
        updated_at: c.created_at,
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

/// `GET /api/v1/connections/{connection_id}/mappings/default`
pub async fn get_default(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    let c = connection_of(&world, &who, &id)?;
    require_active(c)?;
    let m = world
        .mappings
        .get(&c.id)
        .cloned()
        .unwrap_or_else(|| generated(c));
    Ok(Json(m.to_wire()))
}

/// `PUT /api/v1/connections/{connection_id}/mappings/default`
pub async fn put_default(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let obj: Map<String, Value> = json_object(&headers, body).await?;
    let mut f = Fields::new(&obj, "");
    let schema = f.get("schema").cloned();
    if schema.is_none() {
        f.fail("schema", "is required");
    }
    let workspace_id = f
        .get("workspace_id")
        .map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()));
    if workspace_id == Some(None) {
        f.fail("workspace_id", "must be a UUID");
    }
    let mapping_id = f
        .get("mapping_id")
        .map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()));
    if mapping_id == Some(None) {
        f.fail("mapping_id", "must be a UUID");
    }
    let expected = match f.get("expected_version") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                f.fail("expected_version", "must be an integer > 0");
                None
            }
        },
    };
    let name = f.optional_str("name");
    if name
        .as_ref()
        .is_some_and(|n| !(1..=64).contains(&n.chars().count()))
    {
        f.fail("name", "must be 1-64 characters");
    }
    f.finish()?;
    let schema = schema.unwrap_or(Value::Null);
    let errs = schema_errors(&schema);
    if !errs.is_empty() {
        return Err(ApiError {
            data: Some(errs),
            ..ApiError::unprocessable("Invalid mapping schema")
        });
    }
    let mut world = app.store.write();
    let c = connection_of(&world, &who, &id)?.clone();
    require_active(&c)?;
    if workspace_id.flatten().is_some_and(|w| w != c.workspace) {
        return Err(ApiError::invalid(
            "workspace_id",
            "does not match the connection's workspace",
        ));
    }
    let current = world
        .mappings
        .get(&c.id)
        .cloned()
        .unwrap_or_else(|| generated(&c));
    if mapping_id
        .flatten()
        .is_some_and(|m| m != current.mapping_id)
    {
        return Err(ApiError::invalid(
            "mapping_id",
            "does not match the connection's mapping",
        ));
    }
    if let Some(e) = expected
        && e != current.version
    {
        return Err(ApiError::conflict(format!(
            "Mapping version conflict: expected {e}, current {}",
            current.version
        )));
    }
    let now = Utc::now();
    let stored = Mapping {
        version: current.version + 1,
        name: name.unwrap_or(current.name),
        schema,
        catalog_version: catalog_version(&c.kind),
        created_by: Some(current.created_by.unwrap_or_else(|| who.user_id.clone())),
        created_at: if current.version == 0 {
            now
        } else {
            current.created_at
        },
        updated_at: now,
        ..current
    };
    world.mappings.insert(c.id, stored.clone());
    Ok(Json(stored.to_wire()))
}
