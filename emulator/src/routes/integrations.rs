//! `GET /api/v1/integrations`: the catalog of all 15 integration types in the envelope.

use axum::Json;
use axum::extract::RawQuery;
use serde_json::Value;

use super::QueryParams;
use crate::catalog;
use crate::error::ApiResult;
use crate::pagination::envelope;

/// `GET /api/v1/integrations`
pub async fn list(raw: RawQuery) -> ApiResult<Json<Value>> {
    let page = QueryParams::from_raw(raw).page().parse()?;
    let items = catalog::all()
        .iter()
        .zip(1u64..)
        .map(|(v, i)| (i, v.clone()))
        .collect();
    Ok(Json(envelope(items, page)))
}
