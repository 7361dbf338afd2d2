//! Pure decisions of the connection controller: binding path, desired name, drift over the
//! keys the spec sets, whether a PUT is safe, and claiming a lost create.

use serde_json::{Map, Value};

use crate::api::types::Connection;
use crate::resources::MeshesConnectionSpec;

/// The managed name: `spec.name`, else `metadata.name` unless adopted (then unmanaged).
pub fn desired_name(spec: &MeshesConnectionSpec, metadata_name: &str) -> Option<String> {
    spec.name
        .clone()
        .or_else(|| spec.adopt.is_none().then(|| metadata_name.to_string()))
}

/// Whether a PUT may be sent. Meshes never echoes secret settings and a PUT is a full update,
/// so a connection whose spec carries no secret settings is never PUT unless the operator
/// created it (and so knows it has none).
pub fn may_put(spec: &MeshesConnectionSpec) -> bool {
    spec.adopt.is_none() || spec.secret_metadata.as_ref().is_some_and(|s| !s.is_empty())
}

/// Differences between the spec and `upstream`, over what the spec sets: plain `metadata` keys
/// (never secret ones, which Meshes does not echo), the name and `hidden`.
pub fn drift(
    spec_metadata: Option<&Map<String, Value>>,
    name: Option<&str>,
    hidden: Option<bool>,
    upstream: &Connection,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(n) = name
        && n != upstream.name
    {
        out.push(format!("name is {:?}, spec wants {n:?}", upstream.name));
    }
    if let Some(h) = hidden
        && upstream.hidden.unwrap_or(false) != h
    {
        out.push(format!(
            "hidden is {}, spec wants {h}",
            upstream.hidden.unwrap_or(false)
        ));
    }
    for (k, v) in spec_metadata.into_iter().flatten() {
        match upstream.metadata.get(k) {
            Some(u) if u == v => {}
            Some(u) => out.push(format!("metadata.{k} is {u}, spec wants {v}")),
            // Never the spec's value: a key Meshes does not echo may be a secret put in plain
            // metadata, and this text goes to conditions and Events.
            None => out.push(format!("metadata.{k} is unset upstream")),
        }
    }
    out
}

/// Natural identity of a connection to be created: its name within the workspace.
pub fn identity(workspace_id: &str, name: &str) -> String {
    format!("connection:{workspace_id}/{}", name.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn spec(v: Value) -> MeshesConnectionSpec {
        serde_json::from_value(v).unwrap()
    }

    fn upstream(metadata: Value, name: &str) -> Connection {
        serde_json::from_value(json!({
            "id": "c1", "workspace": "w1", "type": "webhook", "name": name,
            "metadata": metadata, "created_by": "u", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn drift_ignores_server_defaults_and_unmanaged_keys() {
        let s = spec(
            json!({"workspaceRef": {"name": "w"}, "type": "webhook", "metadata": {"url": "https://a"}}),
        );
        // Meshes added http_method and payload_mode: not in spec, not drift.
        let up = upstream(
            json!({"url": "https://a", "http_method": "POST", "payload_mode": "wrapped"}),
            "hook",
        );
        assert!(drift(s.metadata.as_ref(), Some("hook"), None, &up).is_empty());
        let up = upstream(json!({"url": "https://b"}), "hook");
        let d = drift(s.metadata.as_ref(), Some("hook"), None, &up);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("metadata.url"));
        let d = drift(
            s.metadata.as_ref(),
            Some("other"),
            Some(true),
            &upstream(json!({"url": "https://a"}), "hook"),
        );
        assert_eq!(d.len(), 2);
    }

    /// Drift text goes to conditions and Events: a key Meshes does not echo (perhaps a secret in
    /// plain metadata) is named, never its value.
    #[test]
    fn drift_never_prints_a_value_meshes_does_not_echo() {
        let s = spec(json!({"workspaceRef": {"name": "w"}, "type": "webhook",
            "metadata": {"url": "https://a", "api_token": "hunter2-token"}}));
        let d = drift(
            s.metadata.as_ref(),
            None,
            None,
            &upstream(json!({"url": "https://a"}), "hook"),
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains("api_token") && !d[0].contains("hunter2"),
            "{d:?}"
        );
    }

    #[test]
    fn adopted_connections_without_secret_settings_are_never_put() {
        let created = spec(json!({"workspaceRef": {"name": "w"}, "type": "webhook"}));
        assert!(may_put(&created));
        let adopted = spec(
            json!({"workspaceId": "x", "type": "slack", "adopt": {"id": "c"}, "credentialsRef": {"name": "c"}}),
        );
        assert!(!may_put(&adopted));
        let adopted_with_secret = spec(
            json!({"workspaceId": "x", "type": "webhook", "adopt": {"id": "c"}, "credentialsRef": {"name": "c"},
            "secretMetadata": [{"key": "signing_secret", "secretKeyRef": {"name": "s", "key": "k"}}]}),
        );
        assert!(may_put(&adopted_with_secret));
    }
}
