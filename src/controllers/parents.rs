//! Dependencies between the kinds: a connection's workspace, a rule's connection, and the
//! credentials a child inherits from them, raw IDs included (docs/reconcile-contract.md,
//! "Credentials" and "Dependencies"): the one resolver of parents. Reads the
//! controllers' stores; every reference stays inside the object's namespace.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;

use super::config::SecretRef;
use super::context::Context;
use super::credentials;
use super::outcome::Outcome;
use super::step::Step;
use crate::resources::conditions::{self, READY};
use crate::resources::{MeshesConnection, MeshesRule, MeshesWorkspace, reasons};

/// A child's resolved parent facts.
#[derive(Debug, Clone)]
pub struct Parent {
    /// Meshes workspace ID.
    pub workspace_id: String,
    /// Meshes connection ID (rules only).
    pub connection_id: Option<String>,
    /// Integration type of the connection (rules only), as its wire name.
    pub connection_type: Option<String>,
    /// The credentials Secret to use.
    pub credentials: SecretRef,
}

fn waiting(message: String, ctx: &Context) -> Step {
    Step {
        outcome: Outcome::Progressing {
            reason: reasons::WAITING_FOR_DEPENDENCY,
            message,
        },
        drift: super::outcome::Drift::Unchanged,
        // Watches on the parent do the real work; this is only a safety net.
        requeue: Some(ctx.config.dependency_requeue),
        quiet: false,
    }
}

/// How long at most a child waits for a parent on its way to Ready (one that has not reported
/// anything yet, or is creating its Meshes object) without reporting the wait in its status.
/// Objects applied together arrive together: without it every child would write
/// `WaitingForDependency` while its parent waits its turn, one status write per child for
/// nothing (the parent's watch wakes the child when it is Ready). Short on purpose: a child
/// without status reads as `Current` to kstatus (Flux), so a create that takes longer (Meshes
/// slow or down) is reported by the child after this. A parent that reports any other state (a
/// failure, a wait of its own) is reported by the child at once.
pub const QUIET_WAIT: Duration = Duration::from_secs(10);

/// The key of a child's quiet wait for its parent ([`Context::waiting_for_since`]).
const PARENT_WAIT: &str = "parent";

/// [`waiting`], kept out of status for up to [`QUIET_WAIT`] while `parent` is on its way to
/// Ready.
fn waiting_for<P: kube::Resource>(
    message: String,
    ctx: &Context,
    uid: &str,
    parent: Option<&P>,
    parent_conditions: Option<&Vec<crate::resources::Condition>>,
) -> Step {
    let ready = parent_conditions.and_then(|c| conditions::find(c, READY));
    let on_its_way = ready.is_none_or(|c| c.reason == reasons::CREATING);
    let in_progress = parent.is_some_and(|p| p.meta().deletion_timestamp.is_none()) && on_its_way;
    if in_progress {
        let waited = ctx.waiting_for_since(uid, PARENT_WAIT).elapsed();
        if waited < QUIET_WAIT {
            let left = (QUIET_WAIT - waited).min(Duration::from_secs(60));
            return Step::quiet(Some(left + Duration::from_millis(200)));
        }
    }
    waiting(message, ctx)
}

fn is_ready(conds: Option<&Vec<crate::resources::Condition>>) -> bool {
    conditions::is_true(conds.map(Vec::as_slice).unwrap_or_default(), READY)
}

/// The workspace from the cache; when it is missing or not Ready there, from the API server:
/// its watch event may reach this controller before the workspace controller's cache, and a
/// stale "not Ready" would leave the child waiting for a requeue that is far away.
async fn find_workspace(ctx: &Context, ns: &str, name: &str) -> Option<Arc<MeshesWorkspace>> {
    let cached = ctx
        .stores
        .workspaces
        .as_ref()
        .and_then(|s| s.get(&ObjectRef::new(name).within(ns)));
    if cached
        .as_ref()
        .is_some_and(|w| is_ready(w.status.as_ref().map(|s| &s.conditions)))
    {
        return cached;
    }
    let api: Api<MeshesWorkspace> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(fresh) => fresh.map(Arc::new),
        Err(_) => cached,
    }
}

/// The connection: cache first, the API server when the cache says not Ready (see
/// [`find_workspace`]).
async fn find_connection(ctx: &Context, ns: &str, name: &str) -> Option<Arc<MeshesConnection>> {
    let cached = ctx
        .stores
        .connections
        .as_ref()
        .and_then(|s| s.get(&ObjectRef::new(name).within(ns)));
    if cached
        .as_ref()
        .is_some_and(|c| is_ready(c.status.as_ref().map(|s| &s.conditions)))
    {
        return cached;
    }
    let api: Api<MeshesConnection> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(fresh) => fresh.map(Arc::new),
        Err(_) => cached,
    }
}

fn workspace_by_id(ctx: &Context, ns: &str, id: &str) -> Option<Arc<MeshesWorkspace>> {
    ctx.stores
        .workspaces
        .as_ref()?
        .state()
        .into_iter()
        .find(|w| {
            w.namespace().as_deref() == Some(ns)
                && w.status.as_ref().and_then(|s| s.workspace_id.as_deref()) == Some(id)
        })
}

fn own_secret(ns: &str, r: &crate::resources::LocalObjectReference) -> SecretRef {
    SecretRef {
        namespace: ns.to_string(),
        name: r.name.clone(),
    }
}

/// The credentials Secret of a workspace CR.
fn workspace_credentials(ctx: &Context, ws: &MeshesWorkspace) -> Result<SecretRef, Step> {
    let ns = ws.namespace().unwrap_or_default();
    credentials::source(&ctx.config, &ns, ws.spec.credentials_ref.as_ref()).map_err(Step::from)
}

/// Resolves a connection's workspace. `deleting`: the connection only needs enough to delete
/// itself, so a parent that is gone or not Ready is acceptable when status recorded the IDs.
pub async fn of_connection(
    ctx: &Context,
    conn: &MeshesConnection,
    deleting: bool,
) -> Result<Parent, Step> {
    let ns = conn.namespace().unwrap_or_default();
    let recorded = conn.status.as_ref().and_then(|s| s.workspace_id.clone());
    if conn.spec.credentials_ref.is_none() && conn.spec.adopt.is_some() {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            "spec.adopt.id names a raw Meshes ID and requires spec.credentialsRef: inherited credentials never reach raw IDs".into(),
        ));
    }
    if let Some(id) = &conn.spec.workspace_id {
        let Some(r) = &conn.spec.credentials_ref else {
            return Err(Step::stalled(
                reasons::INVALID_SPEC,
                "spec.workspaceId requires spec.credentialsRef".into(),
            ));
        };
        return Ok(Parent {
            workspace_id: id.clone(),
            connection_id: None,
            connection_type: None,
            credentials: own_secret(&ns, r),
        });
    }
    let Some(wref) = &conn.spec.workspace_ref else {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            "set exactly one of spec.workspaceRef or spec.workspaceId".into(),
        ));
    };
    let parent = find_workspace(ctx, &ns, &wref.name).await;
    let usable = parent.as_ref().filter(|w| {
        w.metadata.deletion_timestamp.is_none()
            && conditions::is_true(
                &w.status
                    .as_ref()
                    .map(|s| s.conditions.clone())
                    .unwrap_or_default(),
                READY,
            )
    });
    let workspace_id = match (
        usable.and_then(|w| w.status.as_ref()?.workspace_id.clone()),
        deleting,
        &recorded,
    ) {
        (Some(id), _, _) => id,
        (None, true, Some(id)) => id.clone(),
        (None, _, _) => {
            let why = if parent.is_none() {
                "not found"
            } else {
                "not Ready yet"
            };
            let message = format!("Waiting for MeshesWorkspace {} ({why})", wref.name);
            if deleting {
                return Err(waiting(message, ctx));
            }
            return Err(waiting_for(
                message,
                ctx,
                &conn.uid().unwrap_or_default(),
                parent.as_deref(),
                parent
                    .as_ref()
                    .and_then(|w| w.status.as_ref())
                    .map(|s| &s.conditions),
            ));
        }
    };
    ctx.stop_waiting_for(&conn.uid().unwrap_or_default(), PARENT_WAIT);
    let creds = match (&conn.spec.credentials_ref, parent.as_deref()) {
        (Some(r), _) => own_secret(&ns, r),
        (None, Some(w)) => workspace_credentials(ctx, w)?,
        (None, None) => match workspace_by_id(ctx, &ns, &workspace_id) {
            Some(w) => workspace_credentials(ctx, &w)?,
            None => {
                return Err(waiting(
                    format!(
                        "Waiting for MeshesWorkspace {} (not found; its credentials are needed)",
                        wref.name
                    ),
                    ctx,
                ));
            }
        },
    };
    Ok(Parent {
        workspace_id,
        connection_id: None,
        connection_type: None,
        credentials: creds,
    })
}

/// Resolves a rule's connection (and through it the workspace and credentials).
pub async fn of_rule(ctx: &Context, rule: &MeshesRule, deleting: bool) -> Result<Parent, Step> {
    let ns = rule.namespace().unwrap_or_default();
    let status = rule.status.as_ref();
    if rule.spec.credentials_ref.is_none() && rule.spec.adopt.is_some() {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            "spec.adopt.id names a raw Meshes ID and requires spec.credentialsRef: inherited credentials never reach raw IDs".into(),
        ));
    }
    if let Some(id) = &rule.spec.connection_id {
        let Some(r) = &rule.spec.credentials_ref else {
            return Err(Step::stalled(
                reasons::INVALID_SPEC,
                "spec.connectionId requires spec.credentialsRef".into(),
            ));
        };
        // The workspace and type are learned from Meshes by the rule controller.
        return Ok(Parent {
            workspace_id: status
                .and_then(|s| s.workspace_id.clone())
                .unwrap_or_default(),
            connection_id: Some(id.clone()),
            connection_type: None,
            credentials: own_secret(&ns, r),
        });
    }
    let Some(cref) = &rule.spec.connection_ref else {
        return Err(Step::stalled(
            reasons::INVALID_SPEC,
            "set exactly one of spec.connectionRef or spec.connectionId".into(),
        ));
    };
    let parent = find_connection(ctx, &ns, &cref.name).await;
    let ready = parent.as_ref().filter(|c| {
        c.metadata.deletion_timestamp.is_none()
            && conditions::is_true(
                &c.status
                    .as_ref()
                    .map(|s| s.conditions.clone())
                    .unwrap_or_default(),
                READY,
            )
    });
    let ids = ready.and_then(|c| {
        let st = c.status.as_ref()?;
        Some((st.connection_id.clone()?, st.workspace_id.clone()?))
    });
    let (connection_id, workspace_id) = match (ids, deleting) {
        (Some(ids), _) => ids,
        (None, true) => match (
            status.and_then(|s| s.connection_id.clone()),
            status.and_then(|s| s.workspace_id.clone()),
        ) {
            (Some(c), Some(w)) => (c, w),
            _ => {
                return Err(waiting(
                    format!("Waiting for MeshesConnection {}", cref.name),
                    ctx,
                ));
            }
        },
        (None, false) => {
            let why = if parent.is_none() {
                "not found"
            } else {
                "not Ready yet"
            };
            return Err(waiting_for(
                format!("Waiting for MeshesConnection {} ({why})", cref.name),
                ctx,
                &rule.uid().unwrap_or_default(),
                parent.as_deref(),
                parent
                    .as_ref()
                    .and_then(|c| c.status.as_ref())
                    .map(|s| &s.conditions),
            ));
        }
    };
    if !deleting {
        ctx.stop_waiting_for(&rule.uid().unwrap_or_default(), PARENT_WAIT);
    }
    let creds = match (&rule.spec.credentials_ref, parent.as_deref()) {
        (Some(r), _) => own_secret(&ns, r),
        (None, Some(c)) => Box::pin(of_connection(ctx, c, true)).await?.credentials,
        (None, None) => match workspace_by_id(ctx, &ns, &workspace_id) {
            Some(w) => workspace_credentials(ctx, &w)?,
            None => {
                return Err(waiting(
                    format!(
                        "Waiting for MeshesConnection {} (not found; its credentials are needed)",
                        cref.name
                    ),
                    ctx,
                ));
            }
        },
    };
    Ok(Parent {
        workspace_id,
        connection_id: Some(connection_id),
        connection_type: parent.map(|c| c.spec.type_.as_str().to_string()),
        credentials: creds,
    })
}

/// The credentials Secret of a resolved parent when it is in `obj`'s own namespace (the one
/// whose in-use finalizer `obj` may release).
pub fn own_namespace<K: kube::Resource>(
    obj: &K,
    parent: Result<Parent, Step>,
) -> Option<SecretRef> {
    let parent = parent.ok()?;
    (obj.meta().namespace.as_ref() == Some(&parent.credentials.namespace))
        .then_some(parent.credentials)
}

/// Completes a rule's parent named by a raw `connectionId`: its workspace and integration type
/// are learned from Meshes once (they never change) and remembered for every later pass.
pub async fn complete_raw_connection(
    ctx: &Context,
    uid: &str,
    parent: &mut Parent,
    creds: &crate::api::Credentials,
) -> Result<(), Step> {
    if !parent.workspace_id.is_empty() && parent.connection_type.is_some() {
        return Ok(());
    }
    let connection_id = parent.connection_id.clone().unwrap_or_default();
    let (workspace, kind) = match ctx.connection_facts(&connection_id) {
        Some(facts) => facts,
        None => match ctx.api.get_connection(creds, &connection_id).await {
            Ok(c) => {
                ctx.remember_connection(&connection_id, &c.workspace, c.kind.as_str());
                (c.workspace, c.kind.as_str().to_string())
            }
            Err(e) if e.is_not_found() => {
                return Err(Step::stalled(
                    reasons::INVALID_SPEC,
                    format!(
                        "spec.connectionId {connection_id} is not a Meshes connection visible to these credentials"
                    ),
                ));
            }
            Err(e) => {
                return Err(super::step::api_error(
                    ctx,
                    uid,
                    Some(&parent.credentials),
                    e,
                ));
            }
        },
    };
    parent.workspace_id = workspace;
    parent.connection_type = Some(kind);
    Ok(())
}
