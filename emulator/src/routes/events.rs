//! `/api/v1/events…`: ingestion (single and bulk, publishable key or machine JWT), rule
//! matching and fan-out into rule events (delivery is handed to background tasks), history
//! (lists newest first with filters, get, payload, per-rule attempts) and the manual retry.

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{QueryParams, workspace_by_id, workspace_of};
use crate::auth::{Principal, PublishableCaller};
use crate::delivery;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{envelope, page_envelope};
use crate::request::{Fields, MAX_BODY_BYTES, path_uuid};
use crate::server::App;
use crate::store::history::STATUS_FILTERS;
use crate::store::{Event, RuleEvent, State as World, Status};

/// Most items in one bulk request.
pub const MAX_BULK: usize = 100;
/// `created_by` of events ingested with a publishable key.
pub const PUBLISHABLE_CREATOR: &str = "publishable_key";
/// A scheduled attempt this close is "imminent": the retry endpoint answers 425.
const IMMINENT: chrono::Duration = chrono::Duration::seconds(2);

/// Who is ingesting.
enum Caller {
    Machine(Principal),
    Publishable(PublishableCaller),
}

fn caller(
    who: Option<Extension<Principal>>,
    publishable: Option<Extension<PublishableCaller>>,
) -> ApiResult<Caller> {
    match (who, publishable) {
        (Some(Extension(p)), _) => Ok(Caller::Machine(p)),
        (None, Some(Extension(p))) => Ok(Caller::Publishable(p)),
        (None, None) => Err(ApiError::unauthorized("missing credentials")),
    }
}

/// A validated ingestion item.
struct NewEvent {
    workspace: Option<Uuid>,
    event: String,
    resource: Option<String>,
    resource_id: Option<String>,
    payload: Map<String, Value>,
}

fn valid_resource_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

fn non_empty_text(f: &mut Fields<'_>, key: &str, required: bool) -> Option<String> {
    match f.get(key) {
        None if required => {
            f.fail(key, "is required");
            None
        }
        None => None,
        Some(Value::String(s))
            if !s.trim().is_empty()
                && s.chars().count() <= 255
                && !s.chars().any(char::is_control) =>
        {
            Some(s.clone())
        }
        Some(_) => {
            f.fail(key, "must be a non-empty string of at most 255 characters");
            None
        }
    }
}

/// Checks one item's members (the `POST /events` body; `emulator/README.md`, "Events and
/// delivery", and item 11 of "Choices where the public contract is silent").
fn parse_item(item: &Value, caller: &Caller) -> ApiResult<NewEvent> {
    let Value::Object(obj) = item else {
        return Err(ApiError::bad_request("event must be a JSON object"));
    };
    let mut f = Fields::new(obj, "");
    let event = non_empty_text(&mut f, "event", true);
    let payload = match f.get("payload") {
        None => {
            f.fail("payload", "is required");
            None
        }
        Some(Value::Object(m)) if m.values().any(|v| !v.is_null()) => Some(m.clone()),
        Some(Value::Object(_)) => {
            f.fail("payload", "must have at least one non-null member");
            None
        }
        Some(_) => {
            f.fail("payload", "must be an object");
            None
        }
    };
    let resource = non_empty_text(&mut f, "resource", false);
    let resource_id = match f.get("resource_id") {
        None => None,
        Some(Value::String(s)) if valid_resource_id(s) => Some(s.clone()),
        Some(_) => {
            f.fail("resource_id", "must match ^[A-Za-z0-9._:-]{1,64}$");
            None
        }
    };
    if let Some(t) = f.get("type")
        && t != "event"
    {
        f.fail("type", "must be \"event\"");
    }
    let workspace = match caller {
        Caller::Machine(_) => f.required_uuid("workspace"),
        Caller::Publishable(p) => match f.get("workspace") {
            None => Some(p.workspace),
            Some(Value::String(s)) if Uuid::parse_str(s).ok() == Some(p.workspace) => {
                Some(p.workspace)
            }
            Some(_) => {
                f.fail(
                    "workspace",
                    "does not match the publishable key's workspace",
                );
                None
            }
        },
    };
    f.finish()?;
    let (Some(event), Some(payload)) = (event, payload) else {
        return Err(ApiError::bad_request("Validation failed"));
    };
    Ok(NewEvent {
        workspace,
        event,
        resource,
        resource_id,
        payload,
    })
}

/// Stores the event and its rule events; returns it and the rule events to schedule.
fn accept(
    world: &mut World,
    caller: &Caller,
    item: NewEvent,
    max_attempts: u32,
    max_events: usize,
) -> ApiResult<(Event, Vec<(Uuid, u64)>)> {
    let (ws_id, org, created_by) = match caller {
        Caller::Machine(p) => {
            let id = item
                .workspace
                .ok_or_else(|| ApiError::invalid("workspace", "is required"))?;
            let ws = workspace_by_id(world, p, id)?;
            (ws.id, ws.org_id.clone(), p.user_id.clone())
        }
        Caller::Publishable(p) => (
            p.workspace,
            p.org_id.clone(),
            PUBLISHABLE_CREATOR.to_owned(),
        ),
    };
    let now = Utc::now();
    let mut rules: Vec<_> = world
        .rules
        .values()
        .filter(|r| {
            r.workspace == ws_id
                && r.active
                && r.event == item.event
                && r.resource
                    .as_ref()
                    .is_none_or(|x| item.resource.as_ref() == Some(x))
                && r.resource_id
                    .as_ref()
                    .is_none_or(|x| item.resource_id.as_ref() == Some(x))
        })
        .collect();
    rules.sort_by_key(|r| r.seq);
    let rule_events: Vec<RuleEvent> = rules
        .iter()
        .map(|r| RuleEvent {
            id: Uuid::new_v4(),
            rule: r.id,
            connection: r.connection,
            integration_type: r.kind.clone(),
            status: Status::Pending,
            attempt_count: 0,
            started_at: None,
            completed_at: None,
            last_error: None,
            created_at: now,
            attempts: Vec::new(),
            in_flight: false,
            next_attempt_at: Some(now),
            attempts_left: max_attempts.max(1),
            generation: 0,
        })
        .collect();
    let jobs = rule_events.iter().map(|r| (r.id, r.generation)).collect();
    let mut event = Event {
        id: Uuid::new_v4(),
        seq: world.next_seq(),
        org_id: org,
        workspace: ws_id,
        event: item.event,
        resource: item.resource,
        resource_id: item.resource_id,
        payload: item.payload,
        status: Status::Pending,
        started_at: None,
        completed_at: None,
        created_by,
        created_at: now,
        rule_events,
    };
    event.refresh_status(now);
    // Event types and resources are created on first use (no API creates them).
    world.ensure_event_type(ws_id, &event.event, None);
    if let Some(r) = &event.resource {
        world.ensure_resource(ws_id, r, None);
    }
    world.insert_event(event.clone(), max_events);
    Ok((event, jobs))
}

async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> ApiResult<Value> {
    let ct_ok = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::bad_request("request body is too large or could not be read"))?;
    if !ct_ok {
        return Err(ApiError::bad_request(
            "Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
}

fn schedule_all(app: &App, event: Uuid, jobs: Vec<(Uuid, u64)>) {
    for (re, generation) in jobs {
        delivery::schedule(app, event, re, generation, std::time::Duration::ZERO);
    }
}

/// `POST /api/v1/events`
pub async fn ingest(
    State(app): State<App>,
    who: Option<Extension<Principal>>,
    publishable: Option<Extension<PublishableCaller>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(who, publishable)?;
    let v = read_json(&headers, body, MAX_BODY_BYTES).await?;
    if !v.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    let item = parse_item(&v, &caller)?;
    let (event, jobs) = {
        let mut world = app.store.write();
        accept(
            &mut world,
            &caller,
            item,
            app.delivery.config.max_attempts,
            app.max_events,
        )?
    };
    schedule_all(&app, event.id, jobs);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "event": event.to_created_wire() })),
    ))
}

/// `POST /api/v1/events/bulk`: a bare array of 1–100 events; 201 when all are accepted, 207
/// with per-item results (input order, failures carry `index`) otherwise.
pub async fn bulk(
    State(app): State<App>,
    who: Option<Extension<Principal>>,
    publishable: Option<Extension<PublishableCaller>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(who, publishable)?;
    let v = read_json(&headers, body, MAX_BODY_BYTES * 4).await?;
    let Value::Array(items) = v else {
        return Err(ApiError::bad_request(
            "request body must be a JSON array of events",
        ));
    };
    if items.is_empty() || items.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "request must contain between 1 and {MAX_BULK} events (got {})",
            items.len()
        )));
    }
    let parsed: Vec<ApiResult<NewEvent>> = items.iter().map(|i| parse_item(i, &caller)).collect();
    let mut records = Vec::with_capacity(parsed.len());
    let mut to_schedule = Vec::new();
    let mut errors = 0usize;
    {
        let mut world = app.store.write();
        for (index, item) in parsed.into_iter().enumerate() {
            let result = item.and_then(|i| {
                accept(
                    &mut world,
                    &caller,
                    i,
                    app.delivery.config.max_attempts,
                    app.max_events,
                )
            });
            match result {
                Ok((event, jobs)) => {
                    records.push(event.to_created_wire());
                    to_schedule.push((event.id, jobs));
                }
                Err(e) => {
                    errors += 1;
                    let mut body = e.body();
                    body["index"] = json!(index);
                    body["status"] = json!(e.status.as_u16());
                    records.push(body);
                }
            }
        }
    }
    for (event, jobs) in to_schedule {
        schedule_all(&app, event, jobs);
    }
    let accepted = records.len() - errors;
    let resp = if errors == 0 {
        (
            StatusCode::CREATED,
            Json(json!({ "count": accepted, "records": records })),
        )
    } else {
        (
            StatusCode::MULTI_STATUS,
            Json(json!({ "count": accepted, "error_count": errors, "records": records })),
        )
    };
    Ok(resp.into_response())
}

fn list_events(
    app: &App,
    who: &Principal,
    q: &QueryParams,
    workspace: Option<Uuid>,
) -> ApiResult<Value> {
    let page = q.page().parse()?;
    let status = q.get("status");
    if let Some(s) = status
        && !STATUS_FILTERS.contains(&s)
    {
        return Err(ApiError::invalid(
            "status",
            &format!("must be one of {}", STATUS_FILTERS.join(", ")),
        ));
    }
    let world = app.store.read();
    // Newest first: the cursor names the last position returned, the next page lies below.
    let upper = if page.after == 0 {
        u64::MAX
    } else {
        page.after
    };
    let mut records = Vec::new();
    let mut next = None;
    let mut last = 0;
    for (seq, ev) in world.events.range(..upper).rev() {
        if ev.org_id != who.org_id
            || !who.may_access(&ev.workspace)
            || workspace.is_some_and(|w| w != ev.workspace)
            || !ev.matches(
                q.get("event"),
                q.get("resource"),
                q.get("resource_id"),
                status,
            )
        {
            continue;
        }
        if records.len() == page.limit {
            next = Some(last);
            break;
        }
        records.push(ev.to_wire(false));
        last = *seq;
    }
    Ok(page_envelope(records, page.limit, next))
}

/// `GET /api/v1/events`
pub async fn list(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let q = QueryParams::from_raw(raw);
    let ws = match q.get("workspace") {
        Some(w) => Some(path_uuid(w, "workspace")?),
        None => None,
    };
    Ok(Json(list_events(&app, &who, &q, ws)?))
}

/// `GET /api/v1/workspaces/{workspace_id}/events`
pub async fn list_for_workspace(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let ws = {
        let world = app.store.read();
        workspace_of(&world, &who, &id)?.id
    };
    let q = QueryParams::from_raw(raw);
    Ok(Json(list_events(&app, &who, &q, Some(ws))?))
}

fn event_of<'a>(world: &'a World, who: &Principal, raw: &str) -> ApiResult<&'a Event> {
    let id = path_uuid(raw, "event_id")?;
    let ev = world
        .event(&id)
        .filter(|e| e.org_id == who.org_id)
        .ok_or_else(|| ApiError::not_found("Event"))?;
    if !who.may_access(&ev.workspace) {
        return Err(ApiError::forbidden(
            "access key is not allowed to use this workspace",
        ));
    }
    Ok(ev)
}

/// `GET /api/v1/events/{event_id}`
pub async fn get_one(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    Ok(Json(event_of(&world, &who, &id)?.to_wire(false)))
}

/// `GET /api/v1/events/{event_id}/payload`
pub async fn payload(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let world = app.store.read();
    Ok(Json(event_of(&world, &who, &id)?.to_wire(true)))
}

fn rule_event_of<'a>(ev: &'a Event, raw_rule: &str) -> ApiResult<&'a RuleEvent> {
    let rule = path_uuid(raw_rule, "rule_id")?;
    ev.rule_events
        .iter()
        .find(|r| r.rule == rule)
        .ok_or_else(|| ApiError::not_found("Rule event"))
}

/// `GET /api/v1/events/{event_id}/rules/{rule_id}/attempts`
pub async fn attempts(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((event_id, rule_id)): Path<(String, String)>,
    raw: RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::from_raw(raw).page().parse()?;
    let world = app.store.read();
    let ev = event_of(&world, &who, &event_id)?;
    let re = rule_event_of(ev, &rule_id)?;
    let items = re
        .attempts
        .iter()
        .map(|a| (u64::from(a.number), a.to_wire(ev, re)))
        .collect();
    Ok(Json(envelope(items, page)))
}

/// `GET /api/v1/events/{event_id}/rules/{rule_id}/attempts/{attempt_id}`
pub async fn attempt(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((event_id, rule_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let attempt_id = path_uuid(&attempt_id, "attempt_id")?;
    let world = app.store.read();
    let ev = event_of(&world, &who, &event_id)?;
    let re = rule_event_of(ev, &rule_id)?;
    re.attempts
        .iter()
        .find(|a| a.id == attempt_id)
        .map(|a| Json(a.to_wire(ev, re)))
        .ok_or_else(|| ApiError::not_found("Attempt"))
}

/// `POST /api/v1/events/{event_id}/rules/{rule_id}/retry`: starts a new cycle of automatic
/// attempts now. 425 when an attempt is running or due within 2 s; 409 when the connection
/// is gone or inactive.
pub async fn retry(
    State(app): State<App>,
    Extension(who): Extension<Principal>,
    Path((event_id, rule_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let now = Utc::now();
    let (ev_id, re_id, generation, wire) = {
        let mut world = app.store.write();
        let (ev_id, re) = {
            let ev = event_of(&world, &who, &event_id)?;
            (ev.id, rule_event_of(ev, &rule_id)?.clone())
        };
        if re.in_flight {
            return Err(ApiError::new(
                StatusCode::TOO_EARLY,
                "A delivery attempt for this rule is in flight",
            ));
        }
        if !re.status.is_terminal() && re.next_attempt_at.is_some_and(|t| t <= now + IMMINENT) {
            return Err(ApiError::new(
                StatusCode::TOO_EARLY,
                "A retry for this rule is already imminent",
            ));
        }
        match world.connections.get(&re.connection) {
            None => return Err(ApiError::conflict("The rule's connection no longer exists")),
            Some(c) if !c.active => {
                return Err(ApiError::conflict(format!(
                    "Connection is inactive ({})",
                    c.inactive_reason.as_deref().unwrap_or("unknown reason")
                )));
            }
            Some(_) => {}
        }
        let max_attempts = app.delivery.config.max_attempts.max(1);
        let ev = world
            .event_mut(&ev_id)
            .ok_or_else(|| ApiError::not_found("Event"))?;
        let Some(r) = ev.rule_events.iter_mut().find(|r| r.id == re.id) else {
            return Err(ApiError::not_found("Rule event"));
        };
        r.generation += 1;
        r.attempts_left = max_attempts;
        r.status = Status::Pending;
        r.completed_at = None;
        r.next_attempt_at = Some(now);
        let generation = r.generation;
        ev.completed_at = None;
        ev.refresh_status(now);
        let wire = ev
            .rule_events
            .iter()
            .find(|r| r.id == re.id)
            .map(|r| r.to_wire(ev))
            .unwrap_or(Value::Null);
        (ev_id, re.id, generation, wire)
    };
    delivery::schedule(&app, ev_id, re_id, generation, std::time::Duration::ZERO);
    Ok(Json(wire))
}
