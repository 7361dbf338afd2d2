//! `kubectl meshes deliveries (connection|rule)/NAME`: the recent events that went through a
//! connection or a rule, newest first, with every attempt's outcome code and response status.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use meshes_client::events::{Event, EventFilter};
use meshes_client::{Credentials, MeshesEvents};

use crate::cli::DeliveriesArgs;
use crate::cluster::{Cluster, Kind};
use crate::creds::{self, Resolver};
use crate::history::{self, Delivery};
use crate::tree::read_views;
use crate::view::ObjView;

/// Parses `kind/name`.
pub fn parse_target(target: &str) -> anyhow::Result<(Kind, String)> {
    let (kind, name) = target
        .split_once('/')
        .with_context(|| format!("{target:?}: expected connection/NAME or rule/NAME"))?;
    match Kind::from_prefix(kind) {
        Some(k @ (Kind::MeshesConnection | Kind::MeshesRule)) if !name.is_empty() => {
            Ok((k, name.to_owned()))
        }
        _ => bail!("{target:?}: expected connection/NAME or rule/NAME"),
    }
}

/// The object `kind/name` in the namespace, its views (for parents), and its credentials.
pub async fn resolve(
    cluster: &Cluster,
    kind: Kind,
    name: &str,
) -> anyhow::Result<(ObjView, Vec<ObjView>, Credentials)> {
    let views = read_views(cluster, false).await?;
    let Some(obj) = views
        .iter()
        .find(|v| v.kind == kind && v.name == name)
        .cloned()
    else {
        bail!(
            "{} {name} not found in namespace {}",
            kind.as_str(),
            cluster.namespace
        );
    };
    let secret = creds::source(&obj, &views).map_err(|e| anyhow::anyhow!("{e}"))?;
    let creds = Resolver::default()
        .load(cluster, &secret, &obj.display_name())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((obj, views, creds))
}

/// Names of the MeshesRules in view by Meshes rule ID (current and previous).
pub fn rule_names(views: &[ObjView]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for v in views.iter().filter(|v| v.kind == Kind::MeshesRule) {
        for id in [&v.meshes_id, &v.previous_id].into_iter().flatten() {
            m.insert(id.clone(), v.name.clone());
        }
    }
    m
}

/// Walks the workspace history newest first until events are older than `since`, keeping
/// those `keep` accepts, at most `limit`.
async fn recent(
    api: &dyn MeshesEvents,
    creds: &Credentials,
    workspace_id: &str,
    cutoff: DateTime<Utc>,
    limit: usize,
    keep: impl Fn(&Event) -> bool,
) -> anyhow::Result<Vec<Event>> {
    let filter = EventFilter {
        limit: Some(100),
        ..EventFilter::default()
    };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    // Bounded so that a server looping on cursors cannot keep us here.
    for _ in 0..meshes_client::DEFAULT_MAX_LIST_PAGES {
        let page = api
            .list_workspace_events_page(creds, workspace_id, &filter, cursor.as_deref())
            .await?;
        for ev in page.records {
            if ev.created_at < cutoff {
                return Ok(out);
            }
            if keep(&ev) {
                out.push(ev);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        match page.next_cursor.filter(|c| !c.is_empty()) {
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(out)
}

/// Runs the command; returns the exit status.
pub async fn run(
    cluster: &Cluster,
    api: &dyn MeshesEvents,
    args: &DeliveriesArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Delivery>> {
    let (kind, name) = parse_target(&args.target)?;
    let (obj, views, creds) = resolve(cluster, kind, &name).await?;
    let Some(workspace_id) = obj.workspace_id.clone() else {
        bail!(
            "{} has no Meshes workspace yet (status.workspaceId is empty): nothing was delivered through it",
            obj.display_name()
        );
    };
    let matches = |re: &meshes_client::events::RuleEvent| match kind {
        Kind::MeshesConnection => obj.meshes_id.as_ref() == Some(&re.connection),
        _ => [&obj.meshes_id, &obj.previous_id]
            .into_iter()
            .flatten()
            .any(|id| id == &re.rule),
    };
    // An absurd --since (say 1000000y) means "everything", not an overflow panic.
    let cutoff = chrono::Duration::from_std(args.since)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let events = recent(api, &creds, &workspace_id, cutoff, args.limit, |ev| {
        ev.rule_events.iter().any(matches)
    })
    .await?;
    let names = rule_names(&views);
    let mut out = Vec::new();
    for ev in &events {
        for re in ev.rule_events.iter().filter(|re| matches(re)) {
            let mut d = history::describe(api, &creds, ev, re, true).await?;
            d.rule = names.get(&re.rule).cloned();
            out.push(d);
        }
    }
    Ok(out)
}

/// Prints as JSON or YAML.
pub fn print_structured<T: serde::Serialize>(
    value: &T,
    yaml: bool,
    w: &mut dyn Write,
) -> anyhow::Result<()> {
    if yaml {
        w.write_all(serde_yaml_ng::to_string(value)?.as_bytes())?;
    } else {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets_parse_like_kubectl() {
        assert_eq!(
            parse_target("rule/x").unwrap(),
            (Kind::MeshesRule, "x".into())
        );
        assert_eq!(
            parse_target("meshesconnection/hook").unwrap(),
            (Kind::MeshesConnection, "hook".into())
        );
        assert!(parse_target("workspace/w").is_err());
        assert!(parse_target("rule/").is_err());
        assert!(parse_target("hook").is_err());
    }
}
