//! Dependencies between the kinds: a connection's workspace, a rule's connection, and the
//! credentials a child inherits from them, raw IDs included (docs/reconcile-contract.md,
//! "Credentials" and "Dependencies"): the one resolver of parents. Reads the
//! controllers' stores; every reference stays inside the object's namespace.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;

use super::cache::Cache;
use super::config::SecretRef;
use super::context::Context;
use super::credentials;
use super::index::{Key, Tag};
use super::outcome::Outcome;
use super::scope::Watched;
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

/// How long at most a child waits for a parent that is creating its Meshes object without
/// reporting the wait in its status, counted from the later of the child's first look and the
/// start of the parent's create. Objects applied together arrive together: without it every
/// child would write `WaitingForDependency` while its parent waits its turn, one status write
/// per child for nothing (the parent's change wakes the child when it is Ready). Short on
/// purpose: a child without status reads as `Current` to kstatus (Flux), so a create that takes
/// longer (Meshes slow or down) is reported by the child after this. A parent that reports any
/// other state (a failure, a wait of its own) is reported by the child at once.
pub const QUIET_WAIT: Duration = Duration::from_secs(10);

/// How long at most a child waits quietly for a parent the operator has not reached yet (no
/// `Ready` condition at all): in a mass apply, the parents' own passes queue behind each other
/// for longer than [`QUIET_WAIT`], and that parent, not the child, is where the wait shows.
pub const BACKLOG_WAIT: Duration = Duration::from_secs(120);

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
    match quiet_left(ctx, uid, parent, parent_conditions) {
        Some(left) => Step::quiet(Some(left)),
        None => waiting(message, ctx),
    }
}

/// While `parent` is on its way to Ready, when the child `uid` is to look again without having
/// reported the wait; `None` once the wait must be reported. On its way: not reached by the
/// operator yet (quiet for [`BACKLOG_WAIT`] from the child's first look), or creating its Meshes
/// object (quiet for [`QUIET_WAIT`] from the later of the child's first look and the start of
/// that create).
fn quiet_left<P: kube::Resource>(
    ctx: &Context,
    uid: &str,
    parent: Option<&P>,
    parent_conditions: Option<&Vec<crate::resources::Condition>>,
) -> Option<Duration> {
    if parent.is_none_or(|p| p.meta().deletion_timestamp.is_some()) {
        return None;
    }
    let child_waited = ctx.waiting_for_since(uid, PARENT_WAIT).elapsed();
    let (waited, limit) = match parent_conditions.and_then(|c| conditions::find(c, READY)) {
        None => (child_waited, BACKLOG_WAIT),
        Some(c) if c.reason == reasons::CREATING => {
            let since = c.last_transition_time.0.as_millisecond();
            let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
            let creating = Duration::from_millis(u64::try_from(now - since).unwrap_or(0));
            (child_waited.min(creating), QUIET_WAIT)
        }
        Some(_) => return None,
    };
    (waited < limit)
        .then(|| (limit - waited).min(Duration::from_secs(60)) + Duration::from_millis(200))
}

/// A new child's quiet wait for its parent, decided from complete caches alone before anything
/// is written: while the parent is on its way ([`quiet_left`]), the child's pass would end
/// quietly anyway, so it ends before its finalizer is added. The finalizer then goes on in the
/// pass that creates the child's Meshes object, whose answer spares that create its freshness
/// read; in a mass apply, the children's finalizer patches no longer crowd the API server while
/// the parents wait for their first writes. `None`: run the pass.
pub fn early_wait<P: Watched>(
    ctx: &Context,
    child: &impl kube::Resource,
    cache: Option<&Cache<P>>,
    parent_name: &str,
    parent_conditions: impl Fn(&P) -> Option<&Vec<crate::resources::Condition>>,
) -> Option<Duration> {
    if !ctx.stores.complete {
        return None;
    }
    let cache = cache.filter(|c| c.is_ready())?;
    let ns = child.meta().namespace.as_deref().unwrap_or_default();
    let parent = cache.get(&ObjectRef::new(parent_name).within(ns))?;
    let uid = child.meta().uid.as_deref().unwrap_or_default();
    quiet_left(ctx, uid, Some(parent.as_ref()), parent_conditions(&parent))
}

fn is_ready(conds: Option<&Vec<crate::resources::Condition>>) -> bool {
    conditions::is_true(conds.map(Vec::as_slice).unwrap_or_default(), READY)
}

/// Parent `name` in `ns`. With complete caches ([`super::context::Stores::complete`]) that
/// have listed, the cache's answer is the answer: a parent's change wakes its children only
/// once the cache has it (`fanout`), so a child that finds its parent missing or not Ready is
/// woken again when that changes. Otherwise (a label selector: the parent may be in another
/// shard; or the cache still filling at startup) a parent missing or not Ready in the cache is
/// read from the API server, so a cache that cannot tell never leaves the child waiting for
/// the (long) dependency requeue.
async fn find_parent<P>(
    ctx: &Context,
    cache: Option<&Cache<P>>,
    ns: &str,
    name: &str,
    ready: impl Fn(&P) -> bool,
) -> Option<Arc<P>>
where
    P: Watched,
{
    let key = ObjectRef::new(name).within(ns);
    let cached = cache.and_then(|c| c.get(&key));
    let final_answer = ctx.stores.complete && cache.is_some_and(Cache::is_ready);
    if final_answer || cached.as_deref().is_some_and(ready) {
        return cached;
    }
    let api: Api<P> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await {
        Ok(fresh) => fresh.map(Arc::new),
        Err(_) => cached,
    }
}

async fn find_workspace(ctx: &Context, ns: &str, name: &str) -> Option<Arc<MeshesWorkspace>> {
    find_parent(ctx, ctx.stores.workspaces.as_ref(), ns, name, |w| {
        is_ready(w.status.as_ref().map(|s| &s.conditions))
    })
    .await
}

async fn find_connection(ctx: &Context, ns: &str, name: &str) -> Option<Arc<MeshesConnection>> {
    find_parent(ctx, ctx.stores.connections.as_ref(), ns, name, |c| {
        is_ready(c.status.as_ref().map(|s| &s.conditions))
    })
    .await
}

fn workspace_by_id(ctx: &Context, ns: &str, id: &str) -> Option<Arc<MeshesWorkspace>> {
    ctx.stores
        .workspaces
        .as_ref()?
        .filed_under(&Key::new(Tag::WorkspaceId, ns, id))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::controllers::cache::Feed;
    use crate::controllers::context::Stores;

    fn workspace(ready: &str) -> serde_json::Value {
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": "ws", "namespace": "a", "uid": "u"},
            "spec": {"name": "WS"},
            "status": {"conditions": [{"type": "Ready", "status": ready,
                "reason": if ready == "True" { "Ready" } else { "Creating" },
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    /// An API server answering every request with the workspace Ready; counts the requests.
    async fn api_server(hits: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let body = workspace("True").to_string();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                hits.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = sock.read(&mut buf).await;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        url
    }

    fn ctx(url: &str, cache: Cache<MeshesWorkspace>, complete: bool) -> Context {
        let stores = Stores {
            workspaces: Some(cache),
            complete,
            ..Stores::default()
        };
        crate::controllers::context::test_context(url, stores)
    }

    fn ready(w: &Option<Arc<MeshesWorkspace>>) -> Option<bool> {
        w.as_ref()
            .map(|w| is_ready(w.status.as_ref().map(|s| &s.conditions)))
    }

    /// With complete caches (no label selector) a parent not Ready in a listed cache is taken
    /// as not Ready without asking the API server (its change wakes the child once the cache
    /// has it: `fanout`); a sharded instance, or a cache still filling, asks.
    #[tokio::test]
    async fn a_complete_cache_answers_for_the_parent() {
        let hits = Arc::new(AtomicUsize::new(0));
        let url = api_server(hits.clone()).await;
        let stale: MeshesWorkspace = serde_json::from_value(workspace("False")).unwrap();

        let complete = ctx(&url, Feed::of([stale.clone()]), true);
        let found = find_workspace(&complete, "a", "ws").await;
        assert_eq!(ready(&found), Some(false), "the cache's answer");
        let missing = find_workspace(&complete, "a", "other").await;
        assert!(missing.is_none());
        assert_eq!(hits.load(Ordering::SeqCst), 0, "no API server read");

        // Positive controls: the same lookups read the API server when the caches are not
        // complete (a label selector), or before the first list.
        let sharded = ctx(&url, Feed::of([stale]), false);
        assert_eq!(
            ready(&find_workspace(&sharded, "a", "ws").await),
            Some(true)
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let (filling, _feed) = Feed::<MeshesWorkspace>::new();
        let starting = ctx(&url, filling, true);
        assert_eq!(
            ready(&find_workspace(&starting, "a", "ws").await),
            Some(true)
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    /// A new child waits quietly, before anything is written, only while its parent is in a
    /// complete cache and on its way to Ready; any other answer runs the pass.
    #[tokio::test]
    async fn a_new_child_waits_early_only_for_a_parent_on_its_way() {
        let url = api_server(Arc::new(AtomicUsize::new(0))).await;
        let creating: MeshesWorkspace = serde_json::from_value(workspace("False")).unwrap();
        let ready_ws: MeshesWorkspace = serde_json::from_value(workspace("True")).unwrap();
        let child: MeshesConnection = serde_json::from_value(json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": "hook", "namespace": "a", "uid": "c1"},
            "spec": {"workspaceRef": {"name": "ws"}, "type": "webhook"}}))
        .unwrap();
        fn conds(w: &MeshesWorkspace) -> Option<&Vec<crate::resources::Condition>> {
            w.status.as_ref().map(|s| &s.conditions)
        }
        let wait = |ctx: &Context, name: &str| {
            early_wait(ctx, &child, ctx.stores.workspaces.as_ref(), name, conds)
        };
        let on_its_way = ctx(&url, Feed::of([creating.clone()]), true);
        let after = wait(&on_its_way, "ws").expect("waits while the parent is creating");
        assert!(
            after <= QUIET_WAIT + Duration::from_millis(200),
            "{after:?}"
        );
        assert_eq!(
            wait(&on_its_way, "other"),
            None,
            "a missing parent is reported"
        );
        assert_eq!(wait(&ctx(&url, Feed::of([ready_ws]), true), "ws"), None);
        assert_eq!(wait(&ctx(&url, Feed::of([creating]), false), "ws"), None);
    }

    /// A child stays quiet for a parent the operator has not reached (up to the backlog wait)
    /// and for one creating its Meshes object (up to the quiet wait from the later of the
    /// child's first look and the create's start); any other state of the parent is reported.
    #[tokio::test]
    async fn the_quiet_wait_follows_the_parent_progress() {
        let url = api_server(Arc::new(AtomicUsize::new(0))).await;
        let c = ctx(&url, Feed::of([]), true);
        let with = |conds: serde_json::Value, deleting: bool| {
            let mut w = workspace("False");
            w["status"]["conditions"] = conds;
            if deleting {
                w["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                w["metadata"]["finalizers"] = json!(["meshes.io/finalizer"]);
            }
            serde_json::from_value::<MeshesWorkspace>(w).unwrap()
        };
        let cond = |reason: &str, at: String| {
            json!([{"type": "Ready", "status": "False", "reason": reason, "message": "",
                "lastTransitionTime": at}])
        };
        let left = |uid: &str, w: &MeshesWorkspace| {
            quiet_left(&c, uid, Some(w), w.status.as_ref().map(|s| &s.conditions))
        };
        let now = k8s_openapi::jiff::Timestamp::now();
        let long_ago = (now - k8s_openapi::jiff::SignedDuration::from_secs(300)).to_string();

        let unreached = left("u1", &with(json!([]), false)).expect("quiet");
        assert!(unreached > QUIET_WAIT && unreached <= Duration::from_millis(60_200));
        let creating = left("u2", &with(cond("Creating", now.to_string()), false));
        assert!(creating.is_some_and(|d| d <= QUIET_WAIT + Duration::from_millis(200)));
        // A create under way for minutes: a child that only now looks waits its own quiet wait.
        assert!(left("u3", &with(cond("Creating", long_ago.clone()), false)).is_some());
        for (uid, parent) in [
            (
                "u4",
                with(cond("WaitingForSecret", long_ago.clone()), false),
            ),
            ("u5", with(cond("Creating", now.to_string()), true)),
        ] {
            assert_eq!(left(uid, &parent), None, "{uid}: reported at once");
        }
        assert_eq!(quiet_left::<MeshesWorkspace>(&c, "u6", None, None), None);
    }
}
