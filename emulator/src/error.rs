//! The Meshes error body `{message, error: {name, message, data?}}` and its HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// One validation failure, serialized as `{param, msg}` in `error.data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Offending parameter, dotted for nested members (`metadata.url`).
    pub param: String,
    /// What is wrong with it.
    pub msg: String,
}

impl FieldError {
    /// Shorthand constructor.
    pub fn new(param: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            msg: msg.into(),
        }
    }
}

/// An error answer of the Meshes API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Top-level `message`.
    pub message: String,
    /// `error.message`.
    pub detail: String,
    /// `error.data` (validation failures only).
    pub data: Option<Vec<FieldError>>,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Error whose top-level message and `error.message` are the same text.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            detail: message.clone(),
            message,
            data: None,
            retry_after: None,
        }
    }

    /// 400 with free text (malformed JSON, wrong content type, …).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "Bad Request".into(),
            detail: detail.into(),
            data: None,
            retry_after: None,
        }
    }

    /// 400 with `error.data` listing every failed field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            data: Some(errors),
            ..Self::bad_request("Validation failed")
        }
    }

    /// 400 for a single field.
    pub fn invalid(param: &str, msg: &str) -> Self {
        Self::validation(vec![FieldError::new(param, msg)])
    }

    /// 401 with a reason in `error.message`.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self {
            detail: reason.into(),
            ..Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
        }
    }

    /// 403 with a reason in `error.message`.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self {
            detail: reason.into(),
            ..Self::new(StatusCode::FORBIDDEN, "Forbidden")
        }
    }

    /// 404 `<what> not found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 422.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
        }
    }

    /// Any status, e.g. an injected 5xx.
    pub fn status(code: u16) -> Self {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let text = status.canonical_reason().unwrap_or("Error");
        Self::new(status, text)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({ "name": error_name(self.status), "message": self.detail });
        if let Some(data) = &self.data {
            error["data"] = json!(data);
        }
        json!({ "message": self.message, "error": error })
    }
}

fn error_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        422 => "UnprocessableEntity",
        425 => "TooEarly",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "Error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
