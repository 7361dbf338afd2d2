//! `MeshesConnection`'s part of the lifecycle: its workspace and credentials, secret settings
//! merged at call time, the name within the workspace as identity, PUT for updates (starting from
//! the upstream settings, so keys the spec leaves unset stay as they are), and the connection's
//! own delete refusal while rules remain. Observation reads the workspace snapshot.

use async_trait::async_trait;
use kube::{Resource, ResourceExt};

use super::decide;
use crate::api::ApiError;
use crate::api::types::{
    Connection, CreateConnection, IntegrationType as WireType, UpdateConnection,
};
use crate::controllers::catalog::secret_keys_of;
use crate::controllers::config::SecretRef;
use crate::controllers::context::Context;
use crate::controllers::credentials::{self, Resolved};
use crate::controllers::index::Tag;
use crate::controllers::lifecycle::{Core, Kind, Plan, Pre, Refusal, fingerprint};
use crate::controllers::outcome::Outcome;
use crate::controllers::parents::{self, Parent};
use crate::controllers::settings::{self, Settings};
use crate::controllers::snapshot::Snapshot;
use crate::controllers::step::{Step, api_error};
use crate::controllers::{frame, references};
use crate::resources::{MeshesConnection, MeshesConnectionStatus, reasons};

/// A connection's resolved inputs.
#[derive(Debug)]
pub struct ConnectionInputs {
    /// Workspace and credentials Secret.
    pub parent: Parent,
    /// Credentials.
    pub resolved: Resolved,
    /// Settings merged with Secret values (empty when resolved for a delete).
    pub settings: Settings,
    /// The managed name (empty for an adopted connection without `spec.name`: unmanaged).
    pub name: String,
}

impl MeshesConnection {
    /// A setting the integration marks secret must come from a Secret (`spec.secretMetadata`):
    /// plain `spec.metadata` is stored and shown in clear text by the API server.
    async fn no_secret_in_plain_metadata(
        &self,
        ctx: &Context,
        i: &ConnectionInputs,
    ) -> Result<(), Step> {
        let Some(plain) = self.spec.metadata.as_ref().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        let uid = self.uid().unwrap_or_default();
        let catalog = ctx
            .catalogs
            .get(ctx.api.as_ref(), &i.resolved.creds)
            .await
            .map_err(|e| api_error(ctx, &uid, None, e))?;
        let secret = secret_keys_of(&catalog, self.spec.type_.as_str());
        match plain.keys().find(|k| secret.contains(k)) {
            Some(key) => Err(Step::stalled(
                reasons::INVALID_SPEC,
                format!(
                    "spec.metadata.{key} is a secret setting of {} connections: move it to \
                     spec.secretMetadata (a Secret); spec.metadata is stored in plain text",
                    self.spec.type_
                ),
            )),
            None => Ok(()),
        }
    }
}

fn parse_identity(identity: &str) -> Option<(&str, &str)> {
    identity.strip_prefix("connection:")?.split_once('/')
}

#[async_trait]
impl Kind for MeshesConnection {
    type Up = Connection;
    type In = ConnectionInputs;
    const NOUN: &'static str = "connection";

    fn core(s: &mut MeshesConnectionStatus) -> Core<'_> {
        crate::lifecycle_core!(s, connection_id, None, Some(&mut s.applied_hash))
    }

    fn early_wait(&self, ctx: &Context) -> Option<std::time::Duration> {
        let parent = self.spec.workspace_ref.as_ref()?;
        parents::early_wait(
            ctx,
            self,
            ctx.stores.workspaces.as_ref(),
            &parent.name,
            |w| w.status.as_ref().map(|s| &s.conditions),
        )
    }

    async fn resolve(&self, ctx: &Context, deleting: bool) -> Result<ConnectionInputs, Step> {
        let uid = self.uid().unwrap_or_default();
        let parent = parents::of_connection(ctx, self, deleting).await?;
        let conditions = self.status.as_ref().map(|s| s.conditions.as_slice());
        let priority = credentials::priority(1, &self.metadata, conditions);
        let resolved = credentials::load_for(ctx, self, &parent.credentials, priority)
            .await
            .map_err(Step::from)?;
        let name = decide::desired_name(&self.spec, &self.name_any()).unwrap_or_default();
        // A delete needs no settings (their Secrets may already be gone in a namespace deletion).
        let settings = if deleting {
            Settings::default()
        } else {
            let ns = self.namespace().unwrap_or_default();
            settings::resolve(ctx, &uid, &ns, &name, &self.spec)
                .await
                .map_err(Step::from)?
        };
        Ok(ConnectionInputs {
            parent,
            resolved,
            settings,
            name,
        })
    }

    fn resolved(i: &ConnectionInputs) -> &Resolved {
        &i.resolved
    }

    fn fingerprint(i: &ConnectionInputs) -> u64 {
        fingerprint(&i.settings.hash)
    }

    async fn validate(
        &self,
        p: Pre<'_, Self>,
        status: &mut MeshesConnectionStatus,
    ) -> Result<(), Step> {
        let (ctx, i) = (p.ctx, p.inputs);
        self.no_secret_in_plain_metadata(ctx, i).await?;
        let creating = status.connection_id.is_none() && status.pending_create.is_none();
        if creating && self.spec.adopt.is_none() && self.spec.type_.is_oauth() {
            let restored = self
                .annotations()
                .get(crate::resources::annotations::EXTERNAL_ID)
                .is_some_and(|v| !v.is_empty());
            if !restored {
                return Err(Step::stalled(
                    reasons::INVALID_SPEC,
                    format!(
                        "{} connections are created in the Meshes dashboard (OAuth); set spec.adopt.id to manage one",
                        self.spec.type_
                    ),
                ));
            }
        }
        if let (Some(old_ws), Some(id)) =
            (status.workspace_id.clone(), status.connection_id.clone())
            && old_ws != i.parent.workspace_id
        {
            // workspaceRef is immutable, so a new workspace ID means the workspace was created
            // again upstream: follow it when our connection went with the old one.
            let uid = self.uid().unwrap_or_default();
            match ctx.api.get_connection(&i.resolved.creds, &id).await {
                Err(e) if e.is_not_found() => {
                    p.host.event(
                        self,
                        true,
                        reasons::UPSTREAM_DELETED,
                        format!(
                            "Meshes connection {id} went with workspace {old_ws}; creating it in workspace {}",
                            i.parent.workspace_id
                        ),
                    )
                    .await;
                    status.connection_id = None;
                    status.applied_hash = None;
                    ctx.forget_memo(&uid);
                }
                Err(e) => return Err(api_error(ctx, &uid, Some(&i.parent.credentials), e)),
                Ok(_) => {
                    return Err(Step::stalled(
                        reasons::INVALID_SPEC,
                        format!(
                            "This connection is bound in Meshes workspace {old_ws}, but its workspace now resolves to {}; \
                             a connection cannot move between workspaces (delete and re-create it)",
                            i.parent.workspace_id
                        ),
                    ));
                }
            }
        }
        status.workspace_id = Some(i.parent.workspace_id.clone());
        Ok(())
    }

    fn up_id(up: &Connection) -> &str {
        &up.id
    }

    fn identity(&self, i: &ConnectionInputs) -> String {
        decide::identity(&i.parent.workspace_id, &i.name)
    }

    fn has_identity(up: &Connection, identity: &str) -> bool {
        parse_identity(identity)
            .is_some_and(|(ws, name)| up.workspace == ws && up.name.eq_ignore_ascii_case(name))
    }

    fn created_ms(up: &Connection) -> i64 {
        up.created_at.timestamp_millis()
    }

    async fn fetch(
        &self,
        ctx: &Context,
        i: &ConnectionInputs,
        id: &str,
    ) -> Result<Connection, ApiError> {
        ctx.api.get_connection(&i.resolved.creds, id).await
    }

    fn in_snapshot(snap: &Snapshot) -> &[Connection] {
        &snap.connections
    }

    fn check_bind(&self, i: &ConnectionInputs, up: &Connection) -> Result<(), Step> {
        if up.workspace != i.parent.workspace_id {
            return Err(Step::stalled(
                reasons::INVALID_SPEC,
                format!(
                    "Meshes connection {} belongs to workspace {}, not {}",
                    up.id, up.workspace, i.parent.workspace_id
                ),
            ));
        }
        if up.kind.as_str() != self.spec.type_.as_str() {
            return Err(Step::stalled(
                reasons::INVALID_SPEC,
                format!(
                    "Meshes connection {} is of type {}, but spec.type is {}",
                    up.id, up.kind, self.spec.type_
                ),
            ));
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Context,
        i: &ConnectionInputs,
        key: &str,
    ) -> Result<Connection, ApiError> {
        let body = CreateConnection {
            workspace: i.parent.workspace_id.clone(),
            kind: WireType::from(self.spec.type_.as_str()),
            name: i.name.clone(),
            metadata: i.settings.merged.clone(),
            hidden: self.spec.hidden,
        };
        ctx.api
            .create_connection(&i.resolved.creds, &body, Some(key))
            .await
    }

    fn plan(&self, i: &ConnectionInputs, status: &MeshesConnectionStatus, up: &Connection) -> Plan {
        let name = decide::desired_name(&self.spec, &self.name_any());
        let diffs = decide::drift(
            self.spec.metadata.as_ref(),
            name.as_deref(),
            self.spec.hidden,
            up,
        );
        if self.observe_only() || !decide::may_put(&self.spec) {
            return if diffs.is_empty() {
                Plan::InSync
            } else {
                Plan::Report(diffs)
            };
        }
        if !diffs.is_empty() {
            return Plan::Update(diffs);
        }
        // Secret settings are never echoed, so only the applied hash tells they changed; an
        // adopted connection whose spec carries them gets them applied once when first bound.
        let applied = status.applied_hash.as_deref();
        let changed = applied.is_some_and(|h| h != i.settings.hash);
        let unapplied = applied.is_none() && !i.settings.secret_keys.is_empty();
        if changed || unapplied {
            Plan::Update(vec!["settings changed".into()])
        } else {
            Plan::InSync
        }
    }

    async fn update(
        &self,
        ctx: &Context,
        i: &ConnectionInputs,
        up: &Connection,
    ) -> Result<Connection, ApiError> {
        // PUT is a full update: start from what Meshes has so unmanaged keys stay, then
        // overlay the spec (secret keys included; Meshes does not echo them back anyway).
        let mut metadata = up.metadata.clone();
        for (k, v) in &i.settings.merged {
            metadata.insert(k.clone(), v.clone());
        }
        let body = UpdateConnection {
            name: if i.name.is_empty() {
                up.name.clone()
            } else {
                i.name.clone()
            },
            metadata,
            hidden: self.spec.hidden,
        };
        ctx.api
            .update_connection(&i.resolved.creds, &up.id, &body)
            .await
    }

    async fn delete(&self, ctx: &Context, creds: &Resolved, id: &str) -> Result<(), ApiError> {
        ctx.api
            .delete_connection(&creds.creds, id, self.spec.force_delete_rules == Some(true))
            .await
            .map(|_| ())
    }

    async fn refused(
        &self,
        ctx: &Context,
        i: &ConnectionInputs,
        id: &str,
        timed_out: bool,
    ) -> Refusal {
        if !timed_out {
            return Refusal::Wait(format!(
                "Meshes refuses to delete connection {id} while rules remain; waiting for them \
                 (released with a Warning after the deletion timeout)"
            ));
        }
        let leftovers = ctx
            .api
            .list_workspace_rules(
                &i.resolved.creds,
                &i.parent.workspace_id,
                &Default::default(),
            )
            .await
            .map(|rules| {
                rules
                    .into_iter()
                    .filter(|r| r.connection == id)
                    .map(|r| r.id)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Refusal::Release(format!(
            "Released Meshes connection {id} without deleting it: Meshes still has rules on it ({}); \
             they were not force-deleted",
            leftovers.join(", ")
        ))
    }

    fn conclude(
        &self,
        status: &mut MeshesConnectionStatus,
        id: &str,
        up: Option<&Connection>,
    ) -> Outcome {
        if let Some(up) = up {
            status.active = Some(up.active.unwrap_or(true));
            status.inactive_reason = up.inactive_reason.as_ref().map(|r| r.as_str().to_string());
        }
        if status.active == Some(false) {
            let why = status
                .inactive_reason
                .clone()
                .unwrap_or_else(|| "unknown".into());
            return Outcome::Stalled {
                reason: reasons::CONNECTION_INACTIVE,
                message: format!(
                    "Meshes connection {id} is inactive upstream ({why}); reconnect it in the Meshes dashboard"
                ),
            };
        }
        frame::ready("connection", id, self.observe_only())
    }

    fn applied_hash(i: &ConnectionInputs) -> Option<&str> {
        Some(&i.settings.hash)
    }

    async fn settled(
        &self,
        ctx: &Context,
        _i: &ConnectionInputs,
        _id: &str,
        _ticked: bool,
    ) -> Option<std::time::Duration> {
        // Rules of this connection may be waiting for it.
        let rules = ctx.stores.rules.as_ref();
        for r in rules
            .map(|s| {
                references::referrers(
                    s,
                    self.namespace(),
                    Tag::Connection,
                    &self.name_any(),
                    references::names_connection,
                )
            })
            .unwrap_or_default()
        {
            ctx.triggers.rule(r);
        }
        None
    }

    fn snapshot_of(i: &ConnectionInputs) -> Option<&str> {
        Some(&i.parent.workspace_id)
    }

    async fn credentials_secret(&self, ctx: &Context) -> Option<SecretRef> {
        parents::own_namespace(self, parents::of_connection(ctx, self, true).await)
    }

    fn wait_before_delete(&self, ctx: &Context) -> Option<String> {
        // Meshes refuses to delete a connection that still has rules (409). While this
        // connection's rules are being deleted too (a namespace deletion), asking anyway would
        // spend the key's budget on refusals that the rules' own deletes need.
        (!self.deleting_rules(ctx).is_empty()).then(|| {
            "Waiting for the MeshesRules of this connection that are being deleted to go first \
             (then deleted; released after the deletion timeout, unless they are retrying \
             against an unavailable Meshes)"
                .to_string()
        })
    }

    fn dependents_retrying(&self, ctx: &Context) -> bool {
        self.deleting_rules(ctx)
            .iter()
            .any(|uid| ctx.in_backoff(uid))
    }
}

impl MeshesConnection {
    /// The UIDs of the rules of this connection that are being deleted, unless Meshes deletes
    /// them with the connection (`forceDeleteRules`).
    fn deleting_rules(&self, ctx: &Context) -> Vec<String> {
        if self.spec.force_delete_rules == Some(true) {
            return Vec::new();
        }
        let Some(store) = ctx.stores.rules.as_ref() else {
            return Vec::new();
        };
        let name = self.name_any();
        references::referring(
            store,
            self.namespace(),
            Tag::Connection,
            &name,
            |r, name| {
                r.meta().deletion_timestamp.is_some() && references::names_connection(r, name)
            },
        )
        .iter()
        .filter_map(|r| r.uid())
        .collect()
    }
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::controllers::context::Stores;
    use crate::resources::MeshesRule;

    fn rule(name: &str, uid: &str, connection: &str, deleting: bool) -> MeshesRule {
        let mut meta = json!({"name": name, "namespace": "a", "uid": uid});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
            meta["finalizers"] = json!(["meshes.io/finalizer"]);
        }
        serde_json::from_value(
            json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule",
            "metadata": meta, "spec": {"connectionRef": {"name": connection}, "event": "a.b",
            "metadata": {"action": "send_webhook"}}}),
        )
        .expect("rule")
    }

    fn context(rules: Vec<MeshesRule>) -> Context {
        let stores = Stores {
            rules: Some(crate::controllers::cache::Feed::of(rules)),
            ..Stores::default()
        };
        crate::controllers::context::test_context("http://127.0.0.1:9", stores)
    }

    fn connection(force: bool) -> MeshesConnection {
        serde_json::from_value(json!({"apiVersion": "meshes.io/v1alpha1",
            "kind": "MeshesConnection", "metadata": {"name": "hook", "namespace": "a"},
            "spec": {"workspaceRef": {"name": "ws"}, "type": "webhook",
                "metadata": {"url": "https://hooks.example"}, "forceDeleteRules": force}}))
        .expect("connection")
    }

    /// A connection being deleted waits (without calling Meshes) for its rules that are being
    /// deleted too, not for rules that stay, another connection's, or when Meshes deletes its
    /// rules with it; past the timeout only while one of them retries against Meshes.
    #[tokio::test]
    async fn a_connection_waits_for_its_rules_being_deleted() {
        let ctx = context(vec![
            rule("going", "u1", "hook", true),
            rule("staying", "u2", "hook", false),
            rule("elsewhere", "u3", "other", true),
        ]);
        let conn = connection(false);
        assert!(conn.wait_before_delete(&ctx).is_some(), "waits for `going`");
        assert_eq!(conn.deleting_rules(&ctx), ["u1"]);
        assert!(
            connection(true).wait_before_delete(&ctx).is_none(),
            "forceDeleteRules"
        );
        assert!(!conn.dependents_retrying(&ctx));
        ctx.next_backoff("u1");
        assert!(conn.dependents_retrying(&ctx), "`going` retries");

        let none = context(vec![rule("staying", "u2", "hook", false)]);
        assert!(
            conn.wait_before_delete(&none).is_none(),
            "rules that stay are not waited for"
        );
    }
}
