//! `kubectl meshes send` and `retry`: send an event the way an app does (publishable key and
//! ingestion URL from the workspace's output Secret, read with the user's rights), or ask for
//! a new delivery of one event through one rule; then follow the deliveries until they are
//! done or the timeout passes.

use std::io::Read as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use meshes_client::events::{Event, IngestKey, NewEvent};
use meshes_client::{Credentials, MeshesEvents};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::cli::{RetryArgs, SendArgs};
use crate::cluster::{Cluster, Kind, SecretError};
use crate::creds::{self, Resolver};
use crate::deliveries::{resolve, rule_names};
use crate::history::{self, Delivery, Outcome};
use crate::tree::read_views;
use crate::view::ObjView;

/// Key of the publishable key in the output Secret (the operator's constant).
pub const PUBLISHABLE_KEY: &str = "MESHES_PUBLISHABLE_KEY";
/// Key of the ingestion base URL in the output Secret.
pub const EVENTS_URL: &str = "MESHES_EVENTS_URL";

/// How often a followed event is polled.
const POLL: Duration = Duration::from_millis(300);

/// What `send` and `retry` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The Meshes event ID.
    pub event_id: String,
    /// The event type.
    pub event: String,
    /// Deliveries as last seen, with their attempts.
    pub deliveries: Vec<Delivery>,
    /// True when every followed delivery finished before the timeout.
    pub finished: bool,
    /// Why the deliveries were not followed, when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_followed: Option<String>,
}

impl Report {
    /// 0 when every delivery was made (or none was due), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let ok = self.not_followed.is_some()
            || (self.finished
                && self
                    .deliveries
                    .iter()
                    .all(|d| d.outcome == Outcome::Delivered));
        if ok { 0 } else { 1 }
    }
}

fn payload(args: &SendArgs) -> anyhow::Result<Map<String, Value>> {
    let text = match (&args.payload, &args.file) {
        (Some(p), _) => p.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the payload from stdin")?;
            s
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the payload from {}", path.display()))?,
        (None, None) => r#"{"source": "kubectl-meshes", "test": true}"#.to_owned(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        // serde's message gives the position only; the payload is not echoed.
        Ok(_) => bail!("the payload must be a JSON object"),
        Err(e) => bail!("the payload is not valid JSON: {e}"),
    }
}

/// Polls the event until `done` holds or the timeout passes; returns the last event seen
/// and whether `done` held.
async fn follow(
    api: &dyn MeshesEvents,
    creds: &Credentials,
    event_id: &str,
    timeout: Duration,
    done: impl Fn(&Event) -> bool,
) -> anyhow::Result<(Event, bool)> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let ev = api.get_event(creds, event_id).await?;
        if done(&ev) {
            return Ok((ev, true));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((ev, false));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn describe_all(
    api: &dyn MeshesEvents,
    creds: &Credentials,
    ev: &Event,
    views: &[ObjView],
    only_rule: Option<&str>,
) -> anyhow::Result<Vec<Delivery>> {
    let names = rule_names(views);
    let mut out = Vec::new();
    for re in ev
        .rule_events
        .iter()
        .filter(|re| only_rule.is_none_or(|r| r == re.rule))
    {
        let mut d = history::describe(api, creds, ev, re, true).await?;
        d.rule = names.get(&re.rule).cloned();
        out.push(d);
    }
    Ok(out)
}

/// Runs `send`.
pub async fn send(
    cluster: &Cluster,
    api: &dyn MeshesEvents,
    args: &SendArgs,
) -> anyhow::Result<Report> {
    let ns = cluster.namespace.clone();
    let Some(obj) = cluster
        .get(Kind::MeshesWorkspace, &ns, &args.workspace)
        .await?
    else {
        bail!(
            "MeshesWorkspace {} not found in namespace {ns}",
            args.workspace
        );
    };
    let ws = ObjView::from_dynamic(Kind::MeshesWorkspace, &obj);
    let body = NewEvent {
        event: args.event.clone(),
        payload: payload(args)?,
        resource: args.resource.clone(),
        resource_id: args.resource_id.clone(),
        workspace: None,
    };
    let data = cluster
        .secret(&ns, &ws.output_secret)
        .await
        .map_err(|e| match e {
            SecretError::Forbidden { .. } => anyhow::anyhow!(
                "cannot send: {e}; sending needs read access to the workspace's output Secret"
            ),
            SecretError::Missing { .. } => {
                anyhow::anyhow!("cannot send: {e} (is MeshesWorkspace {} Ready?)", ws.name)
            }
            SecretError::Other(m) => anyhow::anyhow!("cannot send: {m}"),
        })?;
    let (Some(key), Some(url)) = (data.get(PUBLISHABLE_KEY), data.get(EVENTS_URL)) else {
        bail!(
            "cannot send: Secret {ns}/{} lacks {PUBLISHABLE_KEY} or {EVENTS_URL}",
            ws.output_secret
        );
    };
    let created = api.ingest_event(url, &IngestKey::new(key), &body).await?;
    let mut report = Report {
        event_id: created.id.clone(),
        event: created.event.clone(),
        deliveries: Vec::new(),
        finished: false,
        not_followed: None,
    };
    if args.no_follow {
        report.not_followed = Some("--no-follow".into());
        return Ok(report);
    }
    // Following reads history, which needs the machine key of the workspace's credentials.
    let views = read_views(cluster, false).await?;
    let creds = match creds::source(&ws, &views) {
        Ok(secret) => {
            Resolver::default()
                .load(cluster, &secret, &ws.display_name())
                .await
        }
        Err(e) => Err(e),
    };
    let creds = match creds {
        Ok(c) => c,
        Err(e) => {
            report.not_followed = Some(e.0);
            return Ok(report);
        }
    };
    let (ev, finished) = follow(api, &creds, &created.id, args.timeout, |ev| {
        ev.status.is_terminal() && ev.rule_events.iter().all(|re| re.status.is_terminal())
    })
    .await?;
    report.finished = finished;
    report.deliveries = describe_all(api, &creds, &ev, &views, None).await?;
    Ok(report)
}

/// Runs `retry`.
pub async fn retry(
    cluster: &Cluster,
    api: &dyn MeshesEvents,
    args: &RetryArgs,
) -> anyhow::Result<Report> {
    let (rule, views, creds) = resolve(cluster, Kind::MeshesRule, &args.rule).await?;
    let Some(rule_id) = rule.meshes_id.clone() else {
        bail!(
            "{} has no Meshes rule ID yet (status.ruleId is empty)",
            rule.display_name()
        );
    };
    let before = api.retry_delivery(&creds, &args.event_id, &rule_id).await?;
    let (ev, finished) = follow(api, &creds, &args.event_id, args.timeout, |ev| {
        ev.rule_events.iter().any(|re| {
            re.rule == rule_id && re.status.is_terminal() && re.attempt_count > before.attempt_count
        })
    })
    .await?;
    Ok(Report {
        event_id: ev.id.clone(),
        event: ev.event.clone(),
        deliveries: describe_all(api, &creds, &ev, &views, Some(&rule_id)).await?,
        finished,
        not_followed: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    fn send_args(extra: &[&str]) -> SendArgs {
        let mut argv = vec!["kubectl-meshes", "send", "ws", "user.signup"];
        argv.extend(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Send(a) => a,
            _ => panic!(),
        }
    }

    #[test]
    fn payloads_must_be_objects_and_are_not_echoed_on_error() {
        assert!(payload(&send_args(&[])).unwrap().contains_key("test"));
        let p = payload(&send_args(&["--payload", r#"{"email":"a@b"}"#])).unwrap();
        assert_eq!(p["email"], "a@b");
        let err = payload(&send_args(&["--payload", "[1]"])).unwrap_err();
        assert!(err.to_string().contains("JSON object"));
        let err = payload(&send_args(&["--payload", r#"{"password": "hunter2""#])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn exit_codes() {
        let mut r = Report {
            event_id: "e".into(),
            event: "x".into(),
            deliveries: Vec::new(),
            finished: true,
            not_followed: None,
        };
        assert_eq!(r.exit_code(), 0, "no rule matched: nothing failed");
        r.finished = false;
        assert_eq!(r.exit_code(), 1, "timed out");
    }
}
