//! Kubernetes requests of the operator, counted from the apiserver audit log (one JSON line per
//! request at stage ResponseComplete): writes by resource, refused (4xx) writes, Secret GETs.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// Counts of one user's requests in a window of the audit log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditCounts {
    /// Writes (create, update, patch, delete) by `resource[/subresource] verb`, Leases excluded.
    pub writes: BTreeMap<String, u64>,
    /// All writes (Leases excluded).
    pub write_total: u64,
    /// Writes answered with a 4xx status (Leases excluded).
    pub refused_writes: u64,
    /// Refused writes by `resource[/subresource] verb code`.
    pub refused: BTreeMap<String, u64>,
    /// `get` of a single Secret.
    pub secret_gets: u64,
    /// Lease writes (leader election), reported apart.
    pub lease_writes: u64,
    /// Every request of the user (reads, lists and watches included).
    pub requests: u64,
    /// Requests other than writes (get, list, watch) by `resource[/subresource] verb`: where
    /// the Kubernetes side's load comes from besides the writes.
    pub reads: BTreeMap<String, u64>,
}

/// The current length of the audit log: the start of a window.
pub fn mark(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Counts `user`'s requests in the audit log from byte `from` to the end.
pub fn count(path: &Path, from: u64, user: &str) -> anyhow::Result<AuditCounts> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let mut out = AuditCounts::default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["stage"] != "ResponseComplete" || v["user"]["username"] != user {
            continue;
        }
        out.requests += 1;
        let verb = v["verb"].as_str().unwrap_or_default();
        let resource = v["objectRef"]["resource"].as_str().unwrap_or_default();
        let sub = v["objectRef"]["subresource"].as_str();
        let code = v["responseStatus"]["code"].as_u64().unwrap_or(0);
        if verb == "get" && resource == "secrets" {
            out.secret_gets += 1;
        }
        let key = match sub {
            Some(s) => format!("{resource}/{s} {verb}"),
            None => format!("{resource} {verb}"),
        };
        if !matches!(verb, "create" | "update" | "patch" | "delete") {
            *out.reads.entry(key).or_default() += 1;
            continue;
        }
        if resource == "leases" {
            out.lease_writes += 1;
            continue;
        }
        *out.writes.entry(key.clone()).or_default() += 1;
        out.write_total += 1;
        if (400..500).contains(&code) {
            out.refused_writes += 1;
            *out.refused.entry(format!("{key} {code}")).or_default() += 1;
        }
    }
    Ok(out)
}
