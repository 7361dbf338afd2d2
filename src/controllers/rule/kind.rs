//! `MeshesRule`'s part of the lifecycle: its connection and credentials, the action checked
//! against the integrations catalog, the rule tuple as identity, and replacement (Meshes cannot
//! update a rule). Observation reads the workspace snapshot, never a GET per rule.

use async_trait::async_trait;
use kube::ResourceExt;

use super::decide;
use crate::api::ApiError;
use crate::api::types::{CreateRule, Rule};
use crate::controllers::catalog::actions_of;
use crate::controllers::config::SecretRef;
use crate::controllers::context::Context;
use crate::controllers::credentials::{self, Resolved};
use crate::controllers::index::{Key, Tag};
use crate::controllers::lifecycle::{Core, Kind, Plan, Pre, fingerprint};
use crate::controllers::parents::{self, Parent};
use crate::controllers::snapshot::Snapshot;
use crate::controllers::step::{Step, api_error};
use crate::resources::{MeshesRule, MeshesRuleStatus, reasons};

/// A rule's resolved inputs.
#[derive(Debug)]
pub struct RuleInputs {
    /// Connection, workspace and credentials Secret.
    pub parent: Parent,
    /// Credentials.
    pub resolved: Resolved,
    /// The rule the spec describes.
    pub want: CreateRule,
    /// Its hash (a different hash means a replace).
    pub hash: String,
    /// The connection's integration type, when known (for the action check).
    pub integration: Option<String>,
}

/// The recorded identity of a rule: its whole tuple.
fn identity_of(want: &CreateRule) -> String {
    format!("rule:{}", serde_json::to_string(want).unwrap_or_default())
}

/// Whether some cached rule records Meshes rule `id` (as its own or the one it replaces).
fn bound(ctx: &Context, id: &str) -> bool {
    let key = Key::global(Tag::RuleId, id);
    ctx.stores.rules.as_ref().is_some_and(|s| s.has(&key))
}

#[async_trait]
impl Kind for MeshesRule {
    const NOUN: &'static str = "rule";
    type In = RuleInputs;
    type Up = Rule;

    fn core(s: &mut MeshesRuleStatus) -> Core<'_> {
        crate::lifecycle_core!(
            s,
            rule_id,
            Some(&mut s.previous_rule_id),
            Some(&mut s.applied_hash)
        )
    }

    fn resolved(i: &RuleInputs) -> &Resolved {
        &i.resolved
    }

    fn fingerprint(i: &RuleInputs) -> u64 {
        fingerprint(&i.hash)
    }

    fn applied_hash(i: &RuleInputs) -> Option<&str> {
        Some(&i.hash)
    }

    fn early_wait(&self, ctx: &Context) -> Option<std::time::Duration> {
        let parent = self.spec.connection_ref.as_ref()?;
        parents::early_wait(
            ctx,
            self,
            ctx.stores.connections.as_ref(),
            &parent.name,
            |c| c.status.as_ref().map(|s| &s.conditions),
        )
    }

    async fn resolve(&self, ctx: &Context, deleting: bool) -> Result<RuleInputs, Step> {
        let uid = self.uid().unwrap_or_default();
        let mut parent = parents::of_rule(ctx, self, deleting).await?;
        let conditions = self.status.as_ref().map(|s| s.conditions.as_slice());
        let priority = credentials::priority(2, &self.metadata, conditions);
        let resolved = credentials::load_for(ctx, self, &parent.credentials, priority)
            .await
            .map_err(Step::from)?;
        parents::complete_raw_connection(ctx, &uid, &mut parent, &resolved.creds).await?;
        let connection_id = parent.connection_id.clone().unwrap_or_default();
        let integration = parent.connection_type.clone();
        let want = decide::desired(&self.spec, &parent.workspace_id, &connection_id);
        let hash = decide::hash(&want);
        Ok(RuleInputs {
            parent,
            resolved,
            want,
            hash,
            integration,
        })
    }

    async fn validate(&self, p: Pre<'_, Self>, status: &mut MeshesRuleStatus) -> Result<(), Step> {
        let (ctx, i) = (p.ctx, p.inputs);
        if let Some(kind) = i.integration.as_deref() {
            let uid = self.uid().unwrap_or_default();
            let catalog = ctx
                .catalogs
                .get(ctx.api.as_ref(), &i.resolved.creds)
                .await
                .map_err(|e| api_error(ctx, &uid, None, e))?;
            if let Some(actions) = actions_of(&catalog, kind)
                && !actions.contains(&self.spec.metadata.action)
            {
                return Err(Step::stalled(
                    reasons::INVALID_SPEC,
                    format!(
                        "spec.metadata.action {:?} is not an action of {kind} connections; valid actions: {}",
                        self.spec.metadata.action,
                        actions.join(", ")
                    ),
                ));
            }
        }
        status.workspace_id = Some(i.parent.workspace_id.clone());
        status.connection_id = i.parent.connection_id.clone();
        Ok(())
    }

    fn up_id(up: &Rule) -> &str {
        &up.id
    }

    fn identity(&self, i: &RuleInputs) -> String {
        identity_of(&i.want)
    }

    fn has_identity(up: &Rule, identity: &str) -> bool {
        identity
            .strip_prefix("rule:")
            .and_then(|doc| serde_json::from_str::<CreateRule>(doc).ok())
            .is_some_and(|want| decide::matches(up, &want))
    }

    fn created_ms(up: &Rule) -> i64 {
        up.created_at.timestamp_millis()
    }

    async fn fetch(&self, ctx: &Context, i: &RuleInputs, id: &str) -> Result<Rule, ApiError> {
        ctx.api.get_rule(&i.resolved.creds, id).await
    }

    fn in_snapshot(snap: &Snapshot) -> &[Rule] {
        &snap.rules
    }

    fn known_twin(&self, ctx: &Context, i: &RuleInputs) -> Option<Rule> {
        let snap = ctx.snapshots.get(&i.parent.workspace_id)?;
        decide::collision(&snap.rules, &i.want, |id| bound(ctx, id)).cloned()
    }

    fn check_bind(&self, i: &RuleInputs, up: &Rule) -> Result<(), Step> {
        if Some(&up.connection) != i.parent.connection_id.as_ref() {
            return Err(Step::stalled(
                reasons::INVALID_SPEC,
                format!(
                    "Meshes rule {} belongs to connection {}, not {}",
                    up.id,
                    up.connection,
                    i.parent.connection_id.clone().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    async fn create(&self, ctx: &Context, i: &RuleInputs, key: &str) -> Result<Rule, ApiError> {
        ctx.api
            .create_rule(&i.resolved.creds, &i.want, Some(key))
            .await
    }

    fn plan(&self, i: &RuleInputs, status: &MeshesRuleStatus, up: &Rule) -> Plan {
        let matches = decide::matches(up, &i.want);
        if self.observe_only() {
            return if matches {
                Plan::InSync
            } else {
                Plan::Report(vec![format!(
                    "Meshes rule {} differs from the spec (event, resource, metadata, active or hidden)",
                    up.id
                )])
            };
        }
        // A key removed from the spec still matches (metadata is compared over the spec's
        // keys), so a changed hash of what was applied also replaces.
        let spec_changed = status.applied_hash.as_deref().is_some_and(|h| h != i.hash);
        if !matches {
            Plan::Replace(vec!["upstream differs from the spec".into()])
        } else if spec_changed {
            Plan::Replace(vec!["the spec changed".into()])
        } else {
            Plan::InSync
        }
    }

    async fn update(&self, _ctx: &Context, _i: &RuleInputs, up: &Rule) -> Result<Rule, ApiError> {
        // Never planned: rules are replaced.
        Ok(up.clone())
    }

    fn delete_first(&self, i: &RuleInputs, old: &Rule) -> bool {
        let mut tuple = i.want.clone();
        tuple.active = None;
        tuple.hidden = None;
        decide::matches(old, &tuple)
    }

    async fn delete(&self, ctx: &Context, creds: &Resolved, id: &str) -> Result<(), ApiError> {
        ctx.api.delete_rule(&creds.creds, id).await.map(|_| ())
    }

    fn snapshot_of(i: &RuleInputs) -> Option<&str> {
        Some(&i.parent.workspace_id)
    }

    async fn credentials_secret(&self, ctx: &Context) -> Option<SecretRef> {
        parents::own_namespace(self, parents::of_rule(ctx, self, true).await)
    }
}
