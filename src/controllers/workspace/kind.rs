//! `MeshesWorkspace`'s part of the lifecycle: credentials (its own or the default ones where
//! allowed), the name within the org as identity, PUT for updates, the publishable-key output
//! Secret, and the resync tick that lists the workspace's connections and rules once for all its
//! children. Meshes has no workspace delete: deleting the CR releases the workspace.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::decide;
use super::output::{self, Written};
use crate::api::ApiError;
use crate::api::types::{CreateWorkspace, PublishableKey, WorkspaceDetail};
use crate::controllers::config::SecretRef;
use crate::controllers::context::{Context, Memo, MemoFacts, jittered};
use crate::controllers::credentials::{self, Resolved};
use crate::controllers::durations;
use crate::controllers::index::{Key, Tag};
use crate::controllers::lifecycle::{Core, Kind, Plan, Pre, Recheck};
use crate::controllers::references;
use crate::controllers::step::{Step, api_error, kube_transient};
use crate::resources::annotations::RESYNC_INTERVAL;
use crate::resources::{DeletionPolicy, MeshesWorkspace, MeshesWorkspaceStatus, reasons};

fn parse_identity(identity: &str) -> Option<&str> {
    identity
        .strip_prefix("workspace:")?
        .split_once('/')
        .map(|(_, name)| name)
}

impl MeshesWorkspace {
    /// `meshes.io/resync-interval`, if set: within the operator's floor and a day, or why not.
    fn resync_annotation(&self, ctx: &Context) -> Option<Result<Duration, String>> {
        let text = self.annotations().get(RESYNC_INTERVAL)?;
        let floor = ctx.config.min_resync_interval;
        Some(durations::parse_annotation(RESYNC_INTERVAL, text, floor))
    }

    fn output_values(&self, ctx: &Context, id: &str, key: &str) -> BTreeMap<String, String> {
        [
            (output::PUBLISHABLE_KEY.to_string(), key.to_string()),
            (output::WORKSPACE_ID.to_string(), id.to_string()),
            (
                output::EVENTS_URL.to_string(),
                ctx.config.events_url.clone(),
            ),
        ]
        .into()
    }

    async fn write_output(
        &self,
        ctx: &Context,
        status: &mut MeshesWorkspaceStatus,
        id: &str,
        key: &str,
    ) -> Result<(), Step> {
        let uid = self.uid().unwrap_or_default();
        let name = output::secret_name(self);
        if let Some(old) = status.publishable_key_secret_name.clone()
            && old != name
            && let Err(e) = output::remove(ctx, self, &old).await
        {
            return Err(kube_transient(ctx, &uid, e));
        }
        let first = status.publishable_key_secret_name.as_deref() != Some(name.as_str());
        let values = self.output_values(ctx, id, key);
        match output::ensure(ctx, self, &name, &values, first).await {
            Ok(Written::NotOurs) => Err(Step::stalled(
                reasons::OWNERSHIP_CONFLICT,
                format!(
                    "Secret {name} already exists and is not owned by this MeshesWorkspace; delete it or \
                     set spec.publishableKeySecret.name to another name"
                ),
            )),
            Ok(_) => {
                status.publishable_key_secret_name = Some(name);
                Ok(())
            }
            Err(e) => Err(kube_transient(ctx, &uid, e)),
        }
    }

    /// Asks every connection and rule of workspace `id` to check the new snapshot.
    fn trigger_children(&self, ctx: &Context, id: &str) {
        let ns = self.namespace();
        let key = Key::new(Tag::WorkspaceId, ns.as_deref().unwrap_or_default(), id);
        let connections = ctx.stores.connections.as_ref();
        for c in connections.map(|s| s.filed_under(&key)).unwrap_or_default() {
            let in_ws = c.status.as_ref().and_then(|s| s.workspace_id.as_deref()) == Some(id);
            if c.namespace() == ns && in_ws {
                ctx.triggers.connection(ObjectRef::from_obj(c.as_ref()));
            }
        }
        let rules = ctx.stores.rules.as_ref();
        for r in rules.map(|s| s.filed_under(&key)).unwrap_or_default() {
            let in_ws = r.status.as_ref().and_then(|s| s.workspace_id.as_deref()) == Some(id);
            if r.namespace() == ns && in_ws {
                ctx.triggers.rule(ObjectRef::from_obj(r.as_ref()));
            }
        }
    }
}

#[async_trait]
impl Kind for MeshesWorkspace {
    type In = Resolved;
    const NOUN: &'static str = "workspace";
    type Up = WorkspaceDetail;

    fn core(s: &mut MeshesWorkspaceStatus) -> Core<'_> {
        crate::lifecycle_core!(s, workspace_id, None, None)
    }

    async fn resolve(&self, ctx: &Context, _deleting: bool) -> Result<Resolved, Step> {
        let _uid = self.uid().unwrap_or_default();
        let ns = self.namespace().unwrap_or_default();
        let secret = credentials::source(&ctx.config, &ns, self.spec.credentials_ref.as_ref())
            .map_err(Step::from)?;
        let conditions = self.status.as_ref().map(|s| s.conditions.as_slice());
        credentials::load_for(
            ctx,
            self,
            &secret,
            credentials::priority(0, &self.metadata, conditions),
        )
        .await
        .map_err(Step::from)
    }

    fn resolved(i: &Resolved) -> &Resolved {
        i
    }

    fn fingerprint(_i: &Resolved) -> u64 {
        0
    }

    fn up_id(up: &WorkspaceDetail) -> &str {
        &up.workspace.id
    }

    fn identity(&self, i: &Resolved) -> String {
        let want = decide::desired(&self.spec, &self.name_any(), false);
        decide::identity(
            i.creds.org_id(),
            &want.name.unwrap_or_else(|| self.name_any()),
        )
    }

    fn has_identity(up: &WorkspaceDetail, identity: &str) -> bool {
        parse_identity(identity).is_some_and(|name| up.workspace.name.eq_ignore_ascii_case(name))
    }

    fn created_ms(up: &WorkspaceDetail) -> i64 {
        up.workspace.created_at.timestamp_millis()
    }

    async fn fetch(
        &self,
        ctx: &Context,
        i: &Resolved,
        id: &str,
    ) -> Result<WorkspaceDetail, ApiError> {
        ctx.api.get_workspace(&i.creds, id).await
    }

    fn recheck(
        &self,
        ctx: &Context,
        _i: &Resolved,
        _id: &str,
        memo: &Memo,
    ) -> Recheck<WorkspaceDetail> {
        let interval = self.resync(ctx);
        match memo.due.checked_duration_since(Instant::now()) {
            // A memo from a longer interval than the current one is not trusted.
            Some(left) if left <= durations::scale(interval, 1.0 + ctx.config.resync_jitter) => {
                Recheck::Idle(Some(left))
            }
            _ => Recheck::Due,
        }
    }

    async fn observe(
        &self,
        ctx: &Context,
        i: &Resolved,
        id: &str,
        _memo: Option<&Memo>,
    ) -> Result<Option<WorkspaceDetail>, ApiError> {
        self.get(ctx, i, id).await
    }

    async fn candidates(
        &self,
        ctx: &Context,
        i: &Resolved,
    ) -> Result<Vec<WorkspaceDetail>, ApiError> {
        // The list has no publishable keys; `report` reads the bound one by ID.
        let all = ctx.api.list_workspaces(&i.creds).await?;
        Ok(all
            .into_iter()
            .map(|workspace| WorkspaceDetail {
                workspace,
                publishable_key: PublishableKey {
                    name: String::new(),
                    public_key: String::new(),
                },
            })
            .collect())
    }

    fn check_bind(&self, _i: &Resolved, _up: &WorkspaceDetail) -> Result<(), Step> {
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Context,
        i: &Resolved,
        key: &str,
    ) -> Result<WorkspaceDetail, ApiError> {
        let want = decide::desired(&self.spec, &self.name_any(), false);
        let body = CreateWorkspace {
            name: want.name.unwrap_or_else(|| self.name_any()),
            description: want.description.filter(|d| !d.is_empty()),
        };
        let created = ctx.api.create_workspace(&i.creds, &body, Some(key)).await?;
        Ok(WorkspaceDetail {
            workspace: created,
            publishable_key: PublishableKey {
                name: String::new(),
                public_key: String::new(),
            },
        })
    }

    fn plan(&self, _i: &Resolved, _status: &MeshesWorkspaceStatus, up: &WorkspaceDetail) -> Plan {
        let want = decide::desired(&self.spec, &self.name_any(), self.adopted());
        match decide::plan_update(&want, &up.workspace) {
            None => Plan::InSync,
            Some((_, diffs)) => Plan::Update(diffs),
        }
    }

    async fn update(
        &self,
        ctx: &Context,
        i: &Resolved,
        up: &WorkspaceDetail,
    ) -> Result<WorkspaceDetail, ApiError> {
        let want = decide::desired(&self.spec, &self.name_any(), self.adopted());
        let Some((body, _)) = decide::plan_update(&want, &up.workspace) else {
            return Ok(up.clone());
        };
        let workspace = ctx
            .api
            .update_workspace(&i.creds, &up.workspace.id, &body)
            .await?;
        Ok(WorkspaceDetail {
            workspace,
            publishable_key: up.publishable_key.clone(),
        })
    }

    async fn delete(&self, _ctx: &Context, _creds: &Resolved, _id: &str) -> Result<(), ApiError> {
        // Never called: the deletion policy of a workspace is always Orphan.
        Ok(())
    }

    async fn outputs(
        &self,
        ctx: &Context,
        i: &Resolved,
        status: &mut MeshesWorkspaceStatus,
        up: Option<&mut WorkspaceDetail>,
        memo: Option<&Memo>,
    ) -> Result<(), Step> {
        let id = status.workspace_id.clone().unwrap_or_default();
        let id = id.as_str();
        let mut key = match (&up, memo.map(|m| &m.facts)) {
            (Some(up), _) => up.publishable_key.public_key.clone(),
            (None, Some(MemoFacts::PublishableKey(k))) => k.clone(),
            _ => String::new(),
        };
        if key.is_empty() {
            // Created or claimed from a list: the key comes with the workspace's detail.
            let uid = self.uid().unwrap_or_default();
            let detail = ctx
                .api
                .get_workspace(&i.creds, id)
                .await
                .map_err(|e| api_error(ctx, &uid, None, e))?;
            key = detail.publishable_key.public_key.clone();
            if let Some(up) = up {
                up.publishable_key = detail.publishable_key;
            }
        }
        self.write_output(ctx, status, id, &key).await?;
        Ok(())
    }

    fn facts(up: &WorkspaceDetail) -> MemoFacts {
        MemoFacts::PublishableKey(up.publishable_key.public_key.clone())
    }

    async fn settled(
        &self,
        ctx: &Context,
        i: &Resolved,
        id: &str,
        ticked: bool,
    ) -> Option<Duration> {
        // The resync tick of a bound workspace: one list of its connections and one of its
        // rules, shared by every child for its drift check.
        if ticked {
            match ctx.snapshots.refresh(ctx.api.as_ref(), &i.creds, id).await {
                Ok(_) => self.trigger_children(ctx, id),
                Err(e) => {
                    tracing::debug!(workspace = %id, error = %e, "snapshot failed; retried at the next tick")
                }
            }
        }
        Some(jittered(
            self.resync(ctx),
            ctx.config.resync_jitter,
            rand::random(),
        ))
    }

    fn snapshot_of(_i: &Resolved) -> Option<&str> {
        None
    }

    fn resync(&self, ctx: &Context) -> Duration {
        self.resync_annotation(ctx)
            .and_then(Result::ok)
            .unwrap_or(ctx.config.resync_interval)
    }

    async fn validate(
        &self,
        p: Pre<'_, Self>,
        _status: &mut MeshesWorkspaceStatus,
    ) -> Result<(), Step> {
        // An out-of-range value is reported on the object and not applied.
        if let Some(Err(why)) = self.resync_annotation(p.ctx) {
            p.host.event(self, true, reasons::INVALID_SPEC, why).await;
        }
        Ok(())
    }

    fn deletion_policy(&self, _ctx: &Context) -> DeletionPolicy {
        DeletionPolicy::Orphan
    }

    async fn credentials_secret(&self, ctx: &Context) -> Option<SecretRef> {
        let ns = self.namespace().unwrap_or_default();
        credentials::source(&ctx.config, &ns, self.spec.credentials_ref.as_ref()).ok()
    }

    fn wait_before_delete(&self, ctx: &Context) -> Option<String> {
        // Connections that inherit our credentials still need them to delete themselves.
        let waiting = ctx
            .stores
            .connections
            .as_ref()
            .map(|s| {
                let inherit = references::inherits_from_workspace;
                references::referrers(
                    s,
                    self.namespace(),
                    Tag::Workspace,
                    &self.name_any(),
                    inherit,
                )
                .len()
            })
            .unwrap_or(0);
        (waiting > 0).then(|| {
            format!(
                "Waiting for {waiting} MeshesConnection(s) using this workspace's credentials to be \
                 deleted first (released after the deletion timeout, unless they are retrying \
                 against an unavailable Meshes)"
            )
        })
    }

    fn dependents_retrying(&self, ctx: &Context) -> bool {
        let Some(store) = ctx.stores.connections.as_ref() else {
            return false;
        };
        let inherit = references::inherits_from_workspace;
        references::referring(
            store,
            self.namespace(),
            Tag::Workspace,
            &self.name_any(),
            inherit,
        )
        .iter()
        .any(|c| c.uid().is_some_and(|uid| ctx.in_backoff(&uid)))
    }

    async fn after_delete(&self, ctx: &Context) -> Result<(), kube::Error> {
        let name = self
            .status
            .as_ref()
            .and_then(|s| s.publishable_key_secret_name.clone())
            .unwrap_or_else(|| output::secret_name(self));
        output::remove(ctx, self, &name).await
    }
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::controllers::context::Stores;
    use crate::resources::MeshesConnection;

    fn connection(name: &str, uid: &str, own_credentials: bool) -> MeshesConnection {
        let mut spec = json!({"workspaceRef": {"name": "ws"}, "type": "webhook",
            "metadata": {"url": "https://hooks.example"}});
        if own_credentials {
            spec["credentialsRef"] = json!({"name": "other"});
        }
        serde_json::from_value(json!({"apiVersion": "meshes.io/v1alpha1",
            "kind": "MeshesConnection",
            "metadata": {"name": name, "namespace": "a", "uid": uid}, "spec": spec}))
        .expect("connection")
    }

    /// A workspace being deleted waits for the connections that inherit its credentials past
    /// the deletion timeout only while one of them is retrying against Meshes (an outage).
    #[tokio::test]
    async fn the_wait_for_connections_outlasts_the_timeout_only_while_they_retry() {
        let store = crate::controllers::cache::Feed::of([
            connection("inherits", "u1", false),
            connection("own-key", "u2", true),
        ]);
        let stores = Stores {
            connections: Some(store),
            ..Stores::default()
        };
        let ctx = crate::controllers::context::test_context("http://127.0.0.1:9", stores);
        let ws: MeshesWorkspace =
            serde_json::from_value(json!({"apiVersion": "meshes.io/v1alpha1",
            "kind": "MeshesWorkspace", "metadata": {"name": "ws", "namespace": "a"},
            "spec": {"credentialsRef": {"name": "meshes-credentials"}}}))
            .expect("workspace");
        assert!(
            ws.wait_before_delete(&ctx).is_some(),
            "waits for `inherits`"
        );
        assert!(!ws.dependents_retrying(&ctx), "nobody retries yet");
        ctx.next_backoff("u2");
        assert!(
            !ws.dependents_retrying(&ctx),
            "a connection with its own credentials is not waited for"
        );
        ctx.next_backoff("u1");
        assert!(ws.dependents_retrying(&ctx), "`inherits` retries");
        ctx.reset_backoff("u1");
        assert!(!ws.dependents_retrying(&ctx), "its retry succeeded");
    }
}
