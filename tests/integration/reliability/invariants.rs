//! "Upstream holds exactly the expected objects" (DESIGN.md §4): the custom resources' status
//! IDs and specs against the emulator's store. An upstream object is *expected* when a CR's
//! status names its ID (or it is a released workspace the caller expects to stay), a
//! *duplicate* when it is not expected but has the identity of an expected one (same workspace
//! name; same workspace + connection name; same connection + event), an *orphan* otherwise. A
//! CR without an ID, or whose ID is not upstream, is *missing*; an expected object whose
//! upstream fields differ from the spec is *mismatched*.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::ListParams;
use meshes_emulator::Admin;
use serde_json::Value;

use super::tenants::{KINDS, api};

/// What the comparison found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Upstream objects with the identity of an expected one.
    pub duplicates: Vec<String>,
    /// Upstream objects nothing expects.
    pub orphans: Vec<String>,
    /// CRs without an upstream object.
    pub missing: Vec<String>,
    /// Expected objects whose upstream fields differ from the spec.
    pub mismatched: Vec<String>,
    /// Objects compared (the positive control: not zero).
    pub compared: usize,
}

impl Counts {
    /// `duplicates=0 orphans=0 missing=0 mismatched=0` fields for the report line.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("objects", self.compared.to_string()),
            ("duplicates", self.duplicates.len().to_string()),
            ("orphans", self.orphans.len().to_string()),
            ("missing", self.missing.len().to_string()),
            ("mismatched", self.mismatched.len().to_string()),
        ]
    }

    /// Panics with the details unless all four are empty and something was compared.
    pub fn assert_clean(&self, context: &str) {
        assert!(self.compared > 0, "{context}: nothing compared");
        assert!(
            self.duplicates.is_empty()
                && self.orphans.is_empty()
                && self.missing.is_empty()
                && self.mismatched.is_empty(),
            "{context}: upstream differs from the CRs: {self:#?}"
        );
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Compares the CRs of `namespaces` with `admin`'s store. `released` are workspace IDs expected
/// upstream without a CR (workspaces are always orphaned on deletion).
pub async fn check(
    client: &kube::Client,
    namespaces: &[String],
    admin: &Admin,
    released: &BTreeSet<String>,
) -> Counts {
    let mut c = Counts::default();
    // Expected: id -> (identity key, wanted fields).
    let mut expected: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for ns in namespaces {
        for kind in KINDS {
            let list = api(client, ns, kind)
                .list(&ListParams::default())
                .await
                .unwrap();
            for o in list.items {
                let v = serde_json::to_value(&o).unwrap();
                let name = format!("{kind}/{ns}/{}", s(&v["metadata"]["name"]));
                let (id, key, want) = match kind {
                    "MeshesWorkspace" => (
                        s(&v["status"]["workspaceId"]),
                        format!(
                            "ws:{}",
                            v["spec"]["name"]
                                .as_str()
                                .unwrap_or(&s(&v["metadata"]["name"]))
                        ),
                        serde_json::json!({"name": v["spec"]["name"].as_str().unwrap_or(&s(&v["metadata"]["name"]))}),
                    ),
                    "MeshesConnection" => (
                        s(&v["status"]["connectionId"]),
                        format!(
                            "conn:{}:{}",
                            s(&v["status"]["workspaceId"]),
                            v["spec"]["name"]
                                .as_str()
                                .unwrap_or(&s(&v["metadata"]["name"]))
                        ),
                        serde_json::json!({"name": v["spec"]["name"].as_str().unwrap_or(&s(&v["metadata"]["name"])),
                            "workspace": v["status"]["workspaceId"]}),
                    ),
                    _ => (
                        s(&v["status"]["ruleId"]),
                        format!(
                            "rule:{}:{}",
                            s(&v["status"]["connectionId"]),
                            s(&v["spec"]["event"])
                        ),
                        serde_json::json!({"event": v["spec"]["event"], "connection": v["status"]["connectionId"],
                            "active": v["spec"]["active"].as_bool().unwrap_or(true),
                            "hidden": v["spec"]["hidden"].as_bool().unwrap_or(false)}),
                    ),
                };
                c.compared += 1;
                if id.is_empty() {
                    c.missing.push(format!("{name} (no ID in status)"));
                    continue;
                }
                if expected.insert(id.clone(), (key, want)).is_some() {
                    c.duplicates
                        .push(format!("{name}: ID {id} claimed by two CRs"));
                }
            }
        }
    }
    let mut upstream: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for w in admin.workspaces() {
        let key = format!("ws:{}", s(&w["name"]));
        upstream.insert(s(&w["id"]), (key, w));
    }
    for conn in admin.connections() {
        let key = format!("conn:{}:{}", s(&conn["workspace"]), s(&conn["name"]));
        upstream.insert(s(&conn["id"]), (key, conn));
    }
    for r in admin.rules() {
        let key = format!("rule:{}:{}", s(&r["connection"]), s(&r["event"]));
        upstream.insert(s(&r["id"]), (key, r));
    }
    let expected_keys: BTreeSet<&String> = expected.values().map(|(k, _)| k).collect();
    for (id, (key, obj)) in &upstream {
        if let Some((_, want)) = expected.get(id) {
            let wrong: Vec<String> = want
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| obj[k.as_str()] != **v)
                .map(|(k, v)| format!("{k}: want {v}, upstream {}", obj[k.as_str()]))
                .collect();
            if !wrong.is_empty() {
                c.mismatched
                    .push(format!("{key} {id}: {}", wrong.join("; ")));
            }
        } else if released.contains(id) {
            // A released workspace: expected to stay.
        } else if expected_keys.contains(key) {
            c.duplicates.push(format!("{key} {id}"));
        } else {
            c.orphans.push(format!("{key} {id}"));
        }
    }
    for (id, (key, _)) in &expected {
        if !upstream.contains_key(id) {
            c.missing.push(format!("{key} {id} (ID not upstream)"));
        }
    }
    for id in released {
        if !upstream.contains_key(id) {
            c.missing
                .push(format!("released workspace {id} (not upstream)"));
        }
    }
    c
}
