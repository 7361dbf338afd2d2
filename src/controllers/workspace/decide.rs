//! The pure decisions of the workspace controller: which upstream workspace the CR binds to, what
//! the spec wants, what must be updated, and which workspace a lost create produced.

use crate::api::types::{UpdateWorkspace, Workspace};
use crate::resources::MeshesWorkspaceSpec;

/// The fields the spec manages; `None` = unmanaged (left as upstream has it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// Managed name.
    pub name: Option<String>,
    /// Managed description (`Some("")` clears it).
    pub description: Option<String>,
}

/// What the spec wants. A created workspace is named `spec.name` or `metadata.name`; an adopted
/// one keeps its upstream name unless `spec.name` is set.
pub fn desired(spec: &MeshesWorkspaceSpec, metadata_name: &str, adopted: bool) -> Desired {
    let name = spec
        .name
        .clone()
        .or_else(|| (!adopted).then(|| metadata_name.to_string()));
    Desired {
        name,
        description: spec.description.clone(),
    }
}

/// The natural identity of a workspace to be created: its name within the org,
/// case-insensitively (Meshes enforces uniqueness that way).
pub fn identity(org_id: &str, name: &str) -> String {
    format!("workspace:{org_id}/{}", name.to_lowercase())
}

/// The differences between `desired` and `upstream`, in words, and the full update that fixes
/// them (PUT is a full update: unmanaged fields are sent back as upstream has them).
pub fn plan_update(
    desired: &Desired,
    upstream: &Workspace,
) -> Option<(UpdateWorkspace, Vec<String>)> {
    let mut diffs = Vec::new();
    if let Some(name) = &desired.name
        && *name != upstream.name
    {
        diffs.push(format!(
            "name is {:?}, spec wants {:?}",
            upstream.name, name
        ));
    }
    if let Some(d) = &desired.description {
        let current = upstream.description.as_deref().unwrap_or("");
        if current != d {
            diffs.push(format!("description is {current:?}, spec wants {d:?}"));
        }
    }
    if diffs.is_empty() {
        return None;
    }
    let description = match &desired.description {
        Some(d) if d.is_empty() => None,
        Some(d) => Some(d.clone()),
        None => upstream.description.clone(),
    };
    let body = UpdateWorkspace {
        name: desired
            .name
            .clone()
            .unwrap_or_else(|| upstream.name.clone()),
        description,
    };
    Some((body, diffs))
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{TimeZone, Utc};

    fn ws(id: &str, name: &str, created_secs: i64, description: Option<&str>) -> Workspace {
        Workspace {
            id: id.into(),
            name: name.into(),
            description: description.map(Into::into),
            created_at: Utc.timestamp_opt(created_secs, 0).unwrap(),
            updated_at: Utc.timestamp_opt(created_secs, 0).unwrap(),
        }
    }

    fn spec() -> MeshesWorkspaceSpec {
        serde_json::from_value(serde_json::json!({})).unwrap()
    }

    #[test]
    fn unset_fields_are_unmanaged() {
        let s = spec();
        assert_eq!(
            desired(&s, "acme-prod", false).name.as_deref(),
            Some("acme-prod")
        );
        assert_eq!(desired(&s, "acme-prod", true).name, None);
        let d = desired(&s, "acme-prod", true);
        assert_eq!(
            plan_update(&d, &ws("1", "Anything", 0, Some("whatever"))),
            None
        );
    }

    #[test]
    fn update_sends_unmanaged_fields_back_unchanged() {
        let d = Desired {
            name: None,
            description: Some("Production".into()),
        };
        let (body, diffs) = plan_update(&d, &ws("1", "Upstream Name", 0, Some("old"))).unwrap();
        assert_eq!(
            body,
            UpdateWorkspace {
                name: "Upstream Name".into(),
                description: Some("Production".into())
            }
        );
        assert_eq!(diffs.len(), 1);
        let d = Desired {
            name: Some("new".into()),
            description: None,
        };
        let (body, _) = plan_update(&d, &ws("1", "old", 0, Some("keep"))).unwrap();
        assert_eq!(body.description.as_deref(), Some("keep"));
    }

    #[test]
    fn empty_description_clears_and_matches_null() {
        let d = Desired {
            name: None,
            description: Some(String::new()),
        };
        assert_eq!(plan_update(&d, &ws("1", "n", 0, None)), None);
        let (body, _) = plan_update(&d, &ws("1", "n", 0, Some("x"))).unwrap();
        assert_eq!(body.description, None);
    }
}
