//! The pagination envelope `{count, limit, next_cursor, records}` with opaque cursors.
//! Lists are ordered by insertion sequence and a cursor names the last sequence number
//! returned, so a walk never repeats or loses an object that existed when it started, however
//! many objects are inserted meanwhile (new ones land after the cursor).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 200;

/// `limit` and `cursor` query parameters, accepted on every list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Raw `limit` (validated in [`PageQuery::parse`]).
    pub limit: Option<String>,
    /// Opaque cursor from a previous `next_cursor`.
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page size.
    pub limit: usize,
    /// Return only objects with a larger sequence number.
    pub after: u64,
}

impl PageQuery {
    /// Validates `limit` (1–200) and decodes `cursor`.
    pub fn parse(&self) -> ApiResult<Page> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        "must be an integer between 1 and 200",
                    ));
                }
            },
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => decode_cursor(c)
                .ok_or_else(|| ApiError::invalid("cursor", "is not a valid cursor"))?,
        };
        Ok(Page { limit, after })
    }
}

/// The cursor naming position `seq`.
pub fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("c1:{seq}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = std::str::from_utf8(&raw).ok()?;
    s.strip_prefix("c1:")?.parse().ok()
}

/// Builds the envelope from a page already cut (`next` = position of the next cursor).
pub fn page_envelope(records: Vec<Value>, limit: usize, next: Option<u64>) -> Value {
    json!({ "count": records.len(), "limit": limit, "next_cursor": next.map(encode_cursor),
            "records": records })
}

/// Builds the envelope from `(seq, record)` pairs (any order, already filtered).
pub fn envelope(mut items: Vec<(u64, Value)>, page: Page) -> Value {
    items.retain(|(seq, _)| *seq > page.after);
    items.sort_by_key(|(seq, _)| *seq);
    let more = items.len() > page.limit;
    items.truncate(page.limit);
    let next_cursor = if more {
        items.last().map(|(seq, _)| encode_cursor(*seq))
    } else {
        None
    };
    let records: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
    json!({ "count": records.len(), "limit": page.limit, "next_cursor": next_cursor, "records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_in_order_and_cursor_round_trips() {
        let items: Vec<(u64, Value)> = (1..=5).map(|i| (i, json!(i))).collect();
        let first = envelope(items.clone(), Page { limit: 2, after: 0 });
        assert_eq!(first["records"], json!([1, 2]));
        let cursor = first["next_cursor"].as_str().map(str::to_owned);
        let q = PageQuery {
            limit: Some("2".into()),
            cursor,
        };
        let page = q.parse().ok();
        assert_eq!(page, Some(Page { limit: 2, after: 2 }));
        let last = envelope(
            items,
            Page {
                limit: 10,
                after: 4,
            },
        );
        assert_eq!(last["records"], json!([5]));
        assert_eq!(last["next_cursor"], Value::Null);
        assert!(
            PageQuery {
                limit: Some("0".into()),
                cursor: None
            }
            .parse()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: None,
                cursor: Some("!!".into())
            }
            .parse()
            .is_err()
        );
    }
}
