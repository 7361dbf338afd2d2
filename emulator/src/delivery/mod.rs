//! Delivery engine: each rule event is worked by a background tokio task that takes a permit
//! (bounded concurrency across all events), runs one attempt (real HTTP for webhooks,
//! simulated success for OAuth and API-key integrations), records it, and sleeps the backoff
//! before the next automatic attempt. A manual retry bumps the rule event's generation, so a
//! sleeping automatic retry it supersedes exits when it wakes. Request handlers only spawn.

pub mod webhook;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::config::DeliveryConfig;
use crate::server::App;
use crate::store::{Attempt, Connection, Status};
use webhook::{EventSnapshot, Outcome};

/// Most delivery records kept for [`crate::Admin::deliveries`].
pub const MAX_RECORDS: usize = 100_000;

/// One finished attempt, as seen by tests through the admin handle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRecord {
    /// Event id.
    pub event_id: Uuid,
    /// Rule event id.
    pub rule_event_id: Uuid,
    /// Rule id.
    pub rule_id: Uuid,
    /// Connection id.
    pub connection_id: Uuid,
    /// Workspace id.
    pub workspace_id: Uuid,
    /// Event type key.
    pub event: String,
    /// Integration type.
    pub integration_type: String,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// Outcome code.
    pub outcome_code: String,
    /// Destination HTTP status.
    pub response_status: Option<u16>,
    /// Counted as delivered.
    pub success: bool,
    /// No HTTP request was made (OAuth / API-key integration).
    pub simulated: bool,
    /// When the attempt finished.
    pub at: chrono::DateTime<Utc>,
}

/// The engine's shared parts.
#[derive(Debug)]
pub struct Delivery {
    /// Schedule and limits.
    pub config: DeliveryConfig,
    http: reqwest::Client,
    permits: std::sync::Arc<Semaphore>,
    records: Mutex<VecDeque<DeliveryRecord>>,
    stop: watch::Sender<bool>,
}

impl Delivery {
    /// Builds the HTTP client (no redirects followed: a 3xx is itself a success; no proxy).
    pub fn new(config: DeliveryConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.timeout)
            .pool_max_idle_per_host(config.concurrency.max(1))
            .build()?;
        Ok(Self {
            permits: std::sync::Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            http,
            records: Mutex::new(VecDeque::new()),
            stop: watch::channel(false).0,
        })
    }

    /// Stops every delivery task at its next wait.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn records(&self) -> std::sync::MutexGuard<'_, VecDeque<DeliveryRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copy of the records, oldest first.
    pub fn snapshot(&self) -> Vec<DeliveryRecord> {
        self.records().iter().cloned().collect()
    }

    /// Forgets the records.
    pub fn clear(&self) {
        self.records().clear();
    }

    fn push(&self, r: DeliveryRecord) {
        let mut g = self.records();
        if g.len() >= MAX_RECORDS {
            g.pop_front();
        }
        g.push_back(r);
    }
}

/// What one attempt needs, copied out of the store so no lock is held during I/O.
struct Job {
    event_id: Uuid,
    rule_event_id: Uuid,
    rule_id: Uuid,
    workspace_id: Uuid,
    integration_type: String,
    number: u32,
    generation: u64,
    connection: Option<Connection>,
    snapshot: EventSnapshot,
}

/// Starts working a rule event after `delay` (background task; returns at once).
pub fn schedule(app: &App, event_id: Uuid, rule_event_id: Uuid, generation: u64, delay: Duration) {
    let app = app.clone();
    tokio::spawn(async move { run(app, event_id, rule_event_id, generation, delay).await });
}

async fn run(app: App, event_id: Uuid, rule_event_id: Uuid, generation: u64, first: Duration) {
    let mut stop = app.delivery.stop.subscribe();
    let mut delay = first;
    loop {
        if *stop.borrow() {
            return;
        }
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        let permit = tokio::select! {
            p = app.delivery.permits.clone().acquire_owned() => p,
            _ = stop.wait_for(|s| *s) => return,
        };
        let Ok(permit) = permit else { return };
        let Some(job) = begin(&app, event_id, rule_event_id, generation) else {
            return;
        };
        let started = Utc::now();
        let outcome = tokio::select! {
            o = attempt(&app, &job) => o,
            _ = stop.wait_for(|s| *s) => return,
        };
        drop(permit);
        match finish(&app, &job, started, outcome) {
            Some(d) => delay = d,
            None => return,
        }
    }
}

/// Marks the attempt as started; `None` when the rule event is gone, terminal, running, or
/// superseded by a manual retry.
fn begin(app: &App, event_id: Uuid, rule_event_id: Uuid, generation: u64) -> Option<Job> {
    let mut world = app.store.write();
    let connection_id = world
        .event(&event_id)?
        .rule_events
        .iter()
        .find(|r| r.id == rule_event_id)?
        .connection;
    let connection = world.connections.get(&connection_id).cloned();
    let now = Utc::now();
    let ev = world.event_mut(&event_id)?;
    let snapshot = EventSnapshot {
        id: ev.id,
        event: ev.event.clone(),
        resource: ev.resource.clone(),
        resource_id: ev.resource_id.clone(),
        payload: ev.payload.clone(),
        created_at: ev.created_at,
    };
    let workspace_id = ev.workspace;
    let re = ev.rule_events.iter_mut().find(|r| r.id == rule_event_id)?;
    if re.generation != generation || re.status.is_terminal() || re.in_flight {
        return None;
    }
    re.in_flight = true;
    re.status = Status::Processing;
    re.attempt_count += 1;
    re.attempts_left = re.attempts_left.saturating_sub(1);
    re.next_attempt_at = None;
    re.started_at.get_or_insert(now);
    let job = Job {
        event_id,
        rule_event_id,
        rule_id: re.rule,
        workspace_id,
        integration_type: re.integration_type.clone(),
        number: re.attempt_count,
        generation,
        connection,
        snapshot,
    };
    ev.refresh_status(now);
    Some(job)
}

async fn attempt(app: &App, job: &Job) -> Outcome {
    let Some(conn) = &job.connection else {
        return Outcome::failed("internal_error", "connection no longer exists");
    };
    if !conn.active {
        return Outcome::failed(
            "auth_failed",
            format!(
                "connection is inactive ({})",
                conn.inactive_reason.as_deref().unwrap_or("unknown reason")
            ),
        );
    }
    if conn.kind != "webhook" {
        return Outcome {
            success: true,
            code: "delivered",
            message: format!("simulated delivery to {}", conn.kind),
            status: None,
        };
    }
    let allow = app.allow_insecure_loopback_webhooks.load(Ordering::Relaxed);
    webhook::send(
        &app.delivery.http,
        app.delivery.config.timeout,
        allow,
        conn,
        &job.snapshot,
    )
    .await
}

/// Records the attempt; returns the delay before the next automatic attempt, if any.
fn finish(
    app: &App,
    job: &Job,
    started: chrono::DateTime<Utc>,
    outcome: Outcome,
) -> Option<Duration> {
    let now = Utc::now();
    let simulated = job.connection.as_ref().is_some_and(|c| c.kind != "webhook") && outcome.success;
    app.delivery.push(DeliveryRecord {
        event_id: job.event_id,
        rule_event_id: job.rule_event_id,
        rule_id: job.rule_id,
        connection_id: job.connection.as_ref().map(|c| c.id).unwrap_or_default(),
        workspace_id: job.workspace_id,
        event: job.snapshot.event.clone(),
        integration_type: job.integration_type.clone(),
        attempt: job.number,
        outcome_code: outcome.code.to_owned(),
        response_status: outcome.status,
        success: outcome.success,
        simulated,
        at: now,
    });
    let config = &app.delivery.config;
    let mut world = app.store.write();
    let ev = world.event_mut(&job.event_id)?;
    let re = ev
        .rule_events
        .iter_mut()
        .find(|r| r.id == job.rule_event_id)?;
    re.in_flight = false;
    re.attempts.push(Attempt {
        id: Uuid::new_v4(),
        number: job.number,
        started_at: started,
        completed_at: now,
        outcome_code: outcome.code.to_owned(),
        message: outcome.message.clone(),
        response_status: outcome.status,
    });
    let mut retry = None;
    if outcome.success {
        re.status = Status::Completed;
        re.completed_at = Some(now);
        re.last_error = None;
    } else {
        re.last_error = Some(outcome.message);
        if re.attempts_left > 0 && re.generation == job.generation {
            let delay = config.backoff(job.number);
            re.next_attempt_at = Some(now + chrono::Duration::from_std(delay).unwrap_or_default());
            retry = Some(delay);
        } else {
            re.status = Status::Failed;
            re.completed_at = Some(now);
        }
    }
    ev.refresh_status(now);
    retry
}

/// Re-schedules every unfinished rule event (after loading a state file): attempts that were
/// in flight when the process died are made again.
pub fn resume_all(app: &App) {
    let mut jobs = Vec::new();
    {
        let mut world = app.store.write();
        let now = Utc::now();
        for ev in world.events.values_mut() {
            for re in ev.rule_events.iter_mut() {
                if re.status.is_terminal() {
                    continue;
                }
                re.in_flight = false;
                if re.attempts_left == 0 {
                    re.attempts_left = 1;
                }
                let delay = re
                    .next_attempt_at
                    .and_then(|t| (t - now).to_std().ok())
                    .unwrap_or_default();
                jobs.push((ev.id, re.id, re.generation, delay));
            }
        }
    }
    for (e, r, g, d) in jobs {
        schedule(app, e, r, g, d);
    }
}
