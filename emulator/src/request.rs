//! Reading request bodies (content type, 1 MiB cap, JSON object) and checking their members,
//! collecting every failure as `{param, msg}` so one 400 reports them all.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, FieldError};

/// Largest accepted body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn read_bytes(body: Body) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::bad_request("request body is larger than 1 MiB or could not be read")
        })
}

fn parse_object(bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "request body is not valid JSON: {e}"
        ))),
    }
}

/// A required JSON object body with `Content-Type: application/json`.
pub async fn json_object(headers: &HeaderMap, body: Body) -> ApiResult<Map<String, Value>> {
    let bytes = read_bytes(body).await?;
    if !is_json_content_type(headers) {
        return Err(ApiError::bad_request(
            "Content-Type must be application/json",
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("request body is required"));
    }
    parse_object(&bytes)
}

/// An optional JSON object body (DELETE): empty = `{}`.
pub async fn optional_json_object(
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Map<String, Value>> {
    let bytes = read_bytes(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if !is_json_content_type(headers) {
        return Err(ApiError::bad_request(
            "Content-Type must be application/json",
        ));
    }
    parse_object(&bytes)
}

/// Parses a path id; a non-UUID is a 400 on `param`.
pub fn path_uuid(raw: &str, param: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid(param, "must be a UUID"))
}

/// Member-by-member checks of one JSON object.
#[derive(Debug)]
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    /// Failures so far.
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Checks members of `obj`; `prefix` is prepended to params (`"metadata."`).
    pub fn new(obj: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            obj,
            prefix: prefix.to_owned(),
            errors: Vec::new(),
        }
    }

    /// Records a failure.
    pub fn fail(&mut self, key: &str, msg: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{key}", self.prefix), msg));
    }

    /// The raw member, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// Whether the member is present (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.obj.contains_key(key)
    }

    /// A required string.
    pub fn required_str(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            None => {
                self.fail(key, "is required");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    /// An optional string (absent and null are `None`).
    pub fn optional_str(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    /// An optional boolean.
    pub fn optional_bool(&mut self, key: &str) -> Option<bool> {
        match self.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(key, "must be a boolean");
                None
            }
        }
    }

    /// A required UUID string.
    pub fn required_uuid(&mut self, key: &str) -> Option<Uuid> {
        match self.get(key) {
            None => {
                self.fail(key, "is required");
                None
            }
            Some(Value::String(s)) => match Uuid::parse_str(s) {
                Ok(u) => Some(u),
                Err(_) => {
                    self.fail(key, "must be a UUID");
                    None
                }
            },
            Some(_) => {
                self.fail(key, "must be a UUID");
                None
            }
        }
    }

    /// A required object.
    pub fn required_object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.get(key) {
            None => {
                self.fail(key, "is required");
                None
            }
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => {
                self.fail(key, "must be an object");
                None
            }
        }
    }

    /// `Err(400)` when anything failed.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// Whether `s` is 1+ characters of letters, digits, space, `_` or `-`.
pub fn is_name_charset(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_' || c == '-')
}
