//! What the in-memory Meshes can be told to do instead of answering normally, and the errors
//! it answers with.

use crate::api::{ApiError, Endpoint, Method, TransientCause};

/// An operation a script can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    CreateRule,
    DeleteRule,
    GetRule,
    ListRules,
    CreateConnection,
    UpdateConnection,
    DeleteConnection,
    GetConnection,
    ListConnections,
}

/// What the next call of an operation does instead of answering normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Applies the write, then the answer is lost (a timeout).
    CommitThenDrop,
    /// Applies the write, then answers 201 with a body the client cannot decode.
    Undecodable,
    /// 503 without applying anything.
    Unavailable,
    /// 409.
    Conflict,
    /// 404.
    NotFound,
    /// 422.
    Invalid,
    /// A list that does not show object `id` (a page taken while it changed).
    Hide(String),
}

/// How rule creates are de-duplicated (the emulator's `--rule-dedup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    /// 409 for the same connection, event, resource, resource_id and metadata.
    Tuple,
    /// 409 only when `active` and `hidden` match too.
    Exact,
    /// Never.
    None,
}

pub(super) fn endpoint(method: Method, route: &'static str) -> Endpoint {
    Endpoint { method, route }
}

pub(super) fn fail(fault: &Fault, ep: Endpoint) -> ApiError {
    match fault {
        Fault::Unavailable | Fault::CommitThenDrop => ApiError::Transient {
            endpoint: ep,
            cause: TransientCause::Status(503),
            message: "unavailable".into(),
        },
        Fault::Undecodable => ApiError::Unexpected {
            endpoint: ep,
            status: Some(201),
            message: "body could not be decoded".into(),
            excerpt: String::new(),
        },
        Fault::Conflict => ApiError::Conflict {
            endpoint: ep,
            message: "conflict".into(),
        },
        Fault::NotFound => ApiError::NotFound {
            endpoint: ep,
            message: "not found".into(),
        },
        Fault::Invalid | Fault::Hide(_) => ApiError::Invalid {
            endpoint: ep,
            status: 422,
            message: "invalid".into(),
            fields: Vec::new(),
        },
    }
}
