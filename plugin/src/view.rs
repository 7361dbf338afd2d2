//! What the plugin reads from one custom resource, taken tolerantly from its JSON: a missing
//! or ill-typed field becomes `None`, so one odd object (or a cluster running an operator a
//! version apart) never hides the others.

use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

use crate::cluster::Kind;

/// One condition as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cond {
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True when written for an older generation than the object's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// The fields of a resource the plugin uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjView {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.creationTimestamp`.
    pub created: Option<DateTime<Utc>>,
    /// Ready.
    pub ready: Option<Cond>,
    /// Synced.
    pub synced: Option<Cond>,
    /// Stalled.
    pub stalled: Option<Cond>,
    /// The Meshes ID from status (`workspaceId`, `connectionId` or `ruleId`).
    pub meshes_id: Option<String>,
    /// A rule's `status.previousRuleId` during a replace.
    pub previous_id: Option<String>,
    /// `status.workspaceId` (connections and rules; the workspace's own ID for a workspace).
    pub workspace_id: Option<String>,
    /// `status.connectionId` of a rule.
    pub connection_id: Option<String>,
    /// The parent by name (`spec.workspaceRef.name` / `spec.connectionRef.name`).
    pub parent_ref: Option<String>,
    /// The parent by raw ID (`spec.workspaceId` / `spec.connectionId`).
    pub parent_id: Option<String>,
    /// `spec.credentialsRef.name`.
    pub credentials_ref: Option<String>,
    /// A workspace's output Secret (`status.publishableKeySecretName`, else the spec's, else
    /// `<name>-publishable-key`).
    pub output_secret: String,
    /// A rule's event type.
    pub event: Option<String>,
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn cond(status: &Value, type_: &str, generation: Option<i64>) -> Option<Cond> {
    let c = status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?;
    let observed = c.get("observedGeneration").and_then(Value::as_i64);
    Some(Cond {
        status: c
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_owned(),
        reason: text(c, &["reason"]),
        message: text(c, &["message"]),
        stale: matches!((observed, generation), (Some(o), Some(g)) if o < g),
    })
}

impl ObjView {
    /// Reads a dynamic object of `kind`.
    pub fn from_dynamic(kind: Kind, obj: &DynamicObject) -> ObjView {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let data = &obj.data;
        let status = data.get("status").cloned().unwrap_or(Value::Null);
        let spec = data.get("spec").cloned().unwrap_or(Value::Null);
        let generation = obj.metadata.generation;
        let (id_field, parent_ref, parent_id) = match kind {
            Kind::MeshesWorkspace => ("workspaceId", None, None),
            Kind::MeshesConnection => (
                "connectionId",
                text(&spec, &["workspaceRef", "name"]),
                text(&spec, &["workspaceId"]),
            ),
            Kind::MeshesRule => (
                "ruleId",
                text(&spec, &["connectionRef", "name"]),
                text(&spec, &["connectionId"]),
            ),
        };
        let output_secret = text(&status, &["publishableKeySecretName"])
            .or_else(|| text(&spec, &["publishableKeySecret", "name"]))
            .unwrap_or_else(|| format!("{name}-publishable-key"));
        ObjView {
            kind,
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            created: obj.metadata.creation_timestamp.as_ref().and_then(|t| {
                DateTime::from_timestamp(
                    t.0.as_second(),
                    t.0.subsec_nanosecond().try_into().unwrap_or(0),
                )
            }),
            ready: cond(&status, "Ready", generation),
            synced: cond(&status, "Synced", generation),
            stalled: cond(&status, "Stalled", generation),
            meshes_id: text(&status, &[id_field]),
            previous_id: text(&status, &["previousRuleId"]),
            workspace_id: text(&status, &["workspaceId"]),
            connection_id: text(&status, &["connectionId"]),
            parent_ref,
            parent_id,
            credentials_ref: text(&spec, &["credentialsRef", "name"]),
            output_secret,
            event: text(&spec, &["event"]),
            name,
        }
    }

    /// The reason to show: Stalled's when stalled, else Ready's.
    pub fn reason(&self) -> Option<&str> {
        match &self.stalled {
            Some(s) if s.status == "True" => s.reason.as_deref(),
            _ => self.ready.as_ref().and_then(|c| c.reason.as_deref()),
        }
    }

    /// The message worth a line of its own: the Stalled message, else a not-True Ready's, else
    /// a not-True Synced's.
    pub fn problem(&self) -> Option<&str> {
        fn not_true(c: &Option<Cond>) -> Option<&str> {
            c.as_ref()
                .filter(|c| c.status != "True")
                .and_then(|c| c.message.as_deref())
        }
        match &self.stalled {
            Some(s) if s.status == "True" => s.message.as_deref(),
            _ => not_true(&self.ready).or_else(|| not_true(&self.synced)),
        }
    }

    /// `kind/name` as kubectl spells it.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn obj(kind: Kind, v: Value) -> DynamicObject {
        let mut o: DynamicObject = serde_json::from_value(v).unwrap();
        o.types = None;
        let _ = kind;
        o
    }

    #[test]
    fn a_rule_is_read_with_its_conditions_and_parents() {
        let o = obj(
            Kind::MeshesRule,
            json!({"metadata": {"name": "r", "namespace": "acme", "generation": 3},
                "spec": {"connectionRef": {"name": "hook"}, "event": "user.signup"},
                "status": {"ruleId": "r-1", "connectionId": "c-1", "workspaceId": "w-1",
                    "conditions": [
                        {"type": "Ready", "status": "False", "reason": "InvalidSpec", "message": "bad action", "observedGeneration": 3},
                        {"type": "Stalled", "status": "True", "reason": "InvalidSpec", "message": "action x is not offered", "observedGeneration": 3},
                        {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "observedGeneration": 2}]}}),
        );
        let v = ObjView::from_dynamic(Kind::MeshesRule, &o);
        assert_eq!(v.meshes_id.as_deref(), Some("r-1"));
        assert_eq!(v.parent_ref.as_deref(), Some("hook"));
        assert_eq!(v.reason(), Some("InvalidSpec"));
        assert_eq!(v.problem(), Some("action x is not offered"));
        assert!(v.synced.as_ref().unwrap().stale);
        assert!(!v.ready.as_ref().unwrap().stale);
        assert_eq!(v.event.as_deref(), Some("user.signup"));
    }

    #[test]
    fn an_object_without_status_or_with_odd_types_is_still_read() {
        let o = obj(
            Kind::MeshesWorkspace,
            json!({"metadata": {"name": "w", "namespace": "acme"},
                "spec": {"credentialsRef": {"name": 7}}, "status": {"conditions": "nope"}}),
        );
        let v = ObjView::from_dynamic(Kind::MeshesWorkspace, &o);
        assert_eq!(v.ready, None);
        assert_eq!(v.credentials_ref, None);
        assert_eq!(v.output_secret, "w-publishable-key");
        assert_eq!(v.problem(), None);
    }
}
