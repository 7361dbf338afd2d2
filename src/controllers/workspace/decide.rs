//! The pure decisions of the workspace controller: which upstream workspace the CR binds to, what
//! the spec wants, what must be updated, and which workspace a lost create produced.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::types::{UpdateWorkspace, Workspace};
use crate::resources::{MeshesWorkspaceSpec, MeshesWorkspaceStatus, PendingCreate};

/// How the CR finds its upstream workspace this time.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// Status records the workspace ID.
    Bound(String),
    /// `spec.adopt.id`: manage an existing workspace.
    Adopt(String),
    /// The `meshes.io/external-id` annotation of a restored or re-applied object.
    Rebind(String),
    /// A create was started and its outcome is unknown.
    ClaimPending(PendingCreate),
    /// Nothing exists yet: create.
    Create,
}

/// Chooses the binding path from status, spec and the external-id annotation.
pub fn binding(
    spec: &MeshesWorkspaceSpec,
    status: Option<&MeshesWorkspaceStatus>,
    external_id: Option<&str>,
) -> Binding {
    if let Some(id) = status.and_then(|s| s.workspace_id.clone()) {
        return Binding::Bound(id);
    }
    if let Some(adopt) = &spec.adopt {
        return Binding::Adopt(adopt.id.clone());
    }
    if let Some(id) = external_id.filter(|s| !s.is_empty()) {
        return Binding::Rebind(id.to_string());
    }
    if let Some(p) = status.and_then(|s| s.pending_create.clone()) {
        return Binding::ClaimPending(p);
    }
    Binding::Create
}

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

/// Result of looking for the workspace a lost create may have produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Created by our earlier attempt: bind it.
    Ours(Workspace),
    /// A workspace with that name exists but predates the attempt or is bound elsewhere.
    Conflict(Workspace),
    /// Nothing with that name: the create never happened; create again.
    Absent,
}

/// Finds the workspace named `name` in `upstream` and decides whether the pending create made
/// it: created no earlier than `started_at - skew` and bound by no other CR.
pub fn claim(
    upstream: &[Workspace],
    name: &str,
    started_at: &Time,
    skew: Duration,
    bound_elsewhere: &HashSet<String>,
) -> Claim {
    let wanted = name.to_lowercase();
    let Some(found) = upstream.iter().find(|w| w.name.to_lowercase() == wanted) else {
        return Claim::Absent;
    };
    let skew = i64::try_from(skew.as_millis()).unwrap_or(i64::MAX);
    let earliest_ms = started_at.0.as_millisecond().saturating_sub(skew);
    if found.created_at.timestamp_millis() >= earliest_ms && !bound_elsewhere.contains(&found.id) {
        Claim::Ours(found.clone())
    } else {
        Claim::Conflict(found.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::AdoptSpec;
    use chrono::{TimeZone, Utc};
    use k8s_openapi::jiff::Timestamp;

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
    fn binding_prefers_status_then_adopt_then_annotation_then_pending() {
        let mut s = spec();
        let mut st = MeshesWorkspaceStatus::default();
        assert_eq!(binding(&s, Some(&st), None), Binding::Create);
        st.pending_create = Some(PendingCreate {
            identity: "i".into(),
            started_at: Time(Timestamp::from_second(1).unwrap()),
        });
        assert!(matches!(
            binding(&s, Some(&st), None),
            Binding::ClaimPending(_)
        ));
        assert_eq!(
            binding(&s, Some(&st), Some("x")),
            Binding::Rebind("x".into())
        );
        s.adopt = Some(AdoptSpec { id: "a".into() });
        assert_eq!(
            binding(&s, Some(&st), Some("x")),
            Binding::Adopt("a".into())
        );
        st.workspace_id = Some("w".into());
        assert_eq!(
            binding(&s, Some(&st), Some("x")),
            Binding::Bound("w".into())
        );
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

    #[test]
    fn claim_only_takes_a_workspace_created_after_the_attempt_and_unbound() {
        let started = Time(Timestamp::from_second(1000).unwrap());
        let skew = Duration::from_secs(30);
        let none = HashSet::new();
        let fresh = ws("new", "Acme", 990, None);
        assert_eq!(
            claim(std::slice::from_ref(&fresh), "acme", &started, skew, &none),
            Claim::Ours(fresh.clone())
        );
        let old = ws("old", "Acme", 900, None);
        assert_eq!(
            claim(std::slice::from_ref(&old), "acme", &started, skew, &none),
            Claim::Conflict(old)
        );
        let bound: HashSet<String> = ["new".to_string()].into();
        assert!(matches!(
            claim(std::slice::from_ref(&fresh), "acme", &started, skew, &bound),
            Claim::Conflict(_)
        ));
        assert_eq!(
            claim(
                &[ws("x", "other", 990, None)],
                "acme",
                &started,
                skew,
                &none
            ),
            Claim::Absent
        );
    }
}
