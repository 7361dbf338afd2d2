//! Which objects use a credentials Secret; decides when the in-use finalizer can go. A release
//! is decided from live lists rather than the controllers' caches, so a cache that is still
//! filling (or a shard that sees only some objects) can never release a Secret another object
//! needs; the caches only answer "still in use" (the finalizer stays, the safe side).

use std::borrow::Borrow;
use std::collections::HashSet;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::config::{NamespaceAllowList, OperatorConfig, SecretRef};
use super::context::Context;
use super::{credentials, report};
use crate::resources::finalizers::{CREDENTIALS_IN_USE, FINALIZER};
use crate::resources::{Decoded, MeshesConnection, MeshesRule, MeshesWorkspace, reasons};

/// Where the objects that may use a Secret are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace: one cluster-wide list (an instance watching all namespaces).
    All,
    /// These namespaces, one list each (possibly none).
    Only(Vec<String>),
}

impl Namespaces {
    /// These namespaces narrowed to the instance's scope (`--watch-namespace`; empty = all):
    /// objects outside it belong to another instance, and its RBAC may not reach them.
    fn within(self, scope: &[String]) -> Self {
        if scope.is_empty() {
            return self;
        }
        match self {
            Self::All => Self::Only(scope.to_vec()),
            Self::Only(list) => {
                Self::Only(list.into_iter().filter(|n| scope.contains(n)).collect())
            }
        }
    }
}

/// Where the users of `secret` can be: workspaces in its namespace (by `credentialsRef`) and,
/// for the default credentials, in every namespace allowed to use them; connections and rules
/// only in its namespace (a child's own `credentialsRef` names a Secret of its namespace, and
/// an orphaned child counts for its namespace's Secrets). Both within the instance's scope.
pub fn user_namespaces(config: &OperatorConfig, secret: &SecretRef) -> (Namespaces, Namespaces) {
    let own = Namespaces::Only(vec![secret.namespace.clone()]);
    let workspaces = if config.default_credentials.as_ref() == Some(secret) {
        match &config.default_credentials_namespaces {
            NamespaceAllowList::All => Namespaces::All,
            NamespaceAllowList::Only(allowed) => {
                let mut list: Vec<String> = allowed.iter().cloned().collect();
                if !list.contains(&secret.namespace) {
                    list.push(secret.namespace.clone());
                }
                Namespaces::Only(list)
            }
            NamespaceAllowList::None => own.clone(),
        }
    } else {
        own.clone()
    };
    let scope = &config.watch_namespaces;
    (workspaces.within(scope), own.within(scope))
}

/// The objects of kind `K` in `namespaces` that decode, and whether another one that does not
/// decode (it may use any Secret in its namespace, so it keeps them all) still needs
/// credentials. Each object decodes on its own: one the operator cannot read never fails the
/// list.
async fn list<K>(
    ctx: &Context,
    namespaces: &Namespaces,
    exclude_uid: &str,
) -> Result<(Vec<K>, bool), kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let apis: Vec<Api<Decoded<K>>> = match namespaces {
        Namespaces::All => vec![Api::all(ctx.client.clone())],
        Namespaces::Only(list) => list
            .iter()
            .map(|ns| Api::namespaced(ctx.client.clone(), ns))
            .collect(),
    };
    let mut decoded = Vec::new();
    let mut unreadable_user = false;
    for api in apis {
        for obj in api.list(&ListParams::default()).await?.items {
            match obj.0 {
                // Fresh from the list: the only holder, so this takes it without a copy.
                Ok(k) => decoded.push(std::sync::Arc::unwrap_or_clone(k)),
                Err(_) => {
                    unreadable_user |=
                        obj.uid().as_deref() != Some(exclude_uid) && still_needs_credentials(&obj);
                }
            }
        }
    }
    Ok((decoded, unreadable_user))
}

/// Whether any object other than `exclude_uid` still uses `secret` for credentials. An object
/// the operator cannot decode counts as a user of every Secret it could use (its namespace's,
/// and the default credentials for a workspace): what it references is unknown.
pub async fn secret_in_use(
    ctx: &Context,
    secret: &SecretRef,
    exclude_uid: &str,
) -> Result<bool, kube::Error> {
    let (ws_namespaces, child_namespaces) = user_namespaces(&ctx.config, secret);
    let (workspaces, w_unreadable) =
        list::<MeshesWorkspace>(ctx, &ws_namespaces, exclude_uid).await?;
    let (connections, c_unreadable) =
        list::<MeshesConnection>(ctx, &child_namespaces, exclude_uid).await?;
    let (rules, r_unreadable) = list::<MeshesRule>(ctx, &child_namespaces, exclude_uid).await?;
    if w_unreadable || c_unreadable || r_unreadable {
        return Ok(true);
    }
    Ok(in_use(
        &ctx.config,
        secret,
        exclude_uid,
        &workspaces,
        &connections,
        &rules,
    ))
}

/// [`secret_in_use`] for `obj`'s release of its credentials Secret after its cleanup. A list
/// the operator's RBAC refuses (403: Roles narrower than what it must look at) keeps the
/// Secret's in-use finalizer (the safe answer: a finalizer kept too long is recoverable,
/// credentials lost before the last upstream delete are not) and says so with a Warning
/// Event on `obj`, instead of failing the deletion of `obj` forever.
pub async fn secret_in_use_or_keep<K>(
    ctx: &Context,
    obj: &K,
    secret: &SecretRef,
    exclude_uid: &str,
) -> Result<bool, kube::Error>
where
    K: Resource<DynamicType = ()>,
{
    if in_use_per_cache(ctx, secret, exclude_uid) {
        return Ok(true);
    }
    match secret_in_use(ctx, secret, exclude_uid).await {
        Err(kube::Error::Api(status)) if status.code == 403 => {
            report::event(
                ctx,
                obj,
                true,
                reasons::FORBIDDEN,
                format!(
                    "Kept the finalizer {CREDENTIALS_IN_USE} on Secret {secret}: the operator \
                     may not list what else uses it ({}); grant it list on the meshes.io \
                     kinds there, or remove the finalizer once nothing uses the Secret",
                    status.message
                ),
            )
            .await;
            Ok(true)
        }
        other => other,
    }
}

/// Whether the cached objects show another user of `secret` that still needs credentials.
/// Only a yes is taken without asking the API server: it keeps the finalizer, which is the
/// safe side, and the janitor re-checks from live lists once that user goes. A cleanup that
/// listed live every time (three lists) made a namespace deletion of 800 objects quadratic,
/// and starved the finalizer patches of the client's rate limit (docs/reliability.md).
pub fn in_use_per_cache(ctx: &Context, secret: &SecretRef, exclude_uid: &str) -> bool {
    in_use_of(
        &ctx.config,
        secret,
        exclude_uid,
        &ctx.stores.all_workspaces(),
        &ctx.stores.all_connections(),
        &ctx.stores.all_rules(),
    )
}

/// The janitor's look at one Secret: when it carries the in-use finalizer and no object uses
/// it any more (live lists, as [`secret_in_use`]), the finalizer is removed. `Ok(None)`: the
/// Secret is gone or does not carry the finalizer (nothing to watch); `Ok(Some(used))`: it
/// carried the finalizer and `used` says whether it was kept.
pub async fn recheck(ctx: &Context, secret: &SecretRef) -> Result<Option<bool>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &secret.namespace);
    let Some(meta) = api.get_metadata_opt(&secret.name).await? else {
        return Ok(None);
    };
    if !meta.finalizers().iter().any(|f| f == CREDENTIALS_IN_USE) {
        return Ok(None);
    }
    let used = secret_in_use(ctx, secret, "").await?;
    credentials::release_if_unused(ctx, secret, used).await;
    Ok(Some(used))
}

/// Whether `obj` can still need credentials: it is not being deleted, or it is and its own
/// upstream cleanup (the operator's finalizer) is not done yet. An object being deleted whose
/// `meshes.io/finalizer` is gone only waits for other finalizers and needs nothing more.
pub fn still_needs_credentials<K: Resource>(obj: &K) -> bool {
    let meta = obj.meta();
    meta.deletion_timestamp.is_none()
        || meta
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

/// The pure decision behind [`secret_in_use`]. Objects whose parent cannot be found count as
/// users of every Secret in their namespace: keeping a finalizer too long is recoverable,
/// losing the credentials a delete needs is not. An object being deleted counts until its own
/// finalizer is removed (its upstream cleanup may still need the credentials), and no longer
/// after that, also for covering its children.
pub fn in_use(
    config: &OperatorConfig,
    secret: &SecretRef,
    exclude_uid: &str,
    workspaces: &[MeshesWorkspace],
    connections: &[MeshesConnection],
    rules: &[MeshesRule],
) -> bool {
    in_use_of(config, secret, exclude_uid, workspaces, connections, rules)
}

/// [`in_use`] over owned or shared (cached) objects.
fn in_use_of<W, C, R>(
    config: &OperatorConfig,
    secret: &SecretRef,
    exclude_uid: &str,
    workspaces: &[W],
    connections: &[C],
    rules: &[R],
) -> bool
where
    W: Borrow<MeshesWorkspace>,
    C: Borrow<MeshesConnection>,
    R: Borrow<MeshesRule>,
{
    let workspaces: Vec<&MeshesWorkspace> = workspaces
        .iter()
        .map(Borrow::borrow)
        .filter(|o| still_needs_credentials(*o))
        .collect();
    let connections: Vec<&MeshesConnection> = connections
        .iter()
        .map(Borrow::borrow)
        .filter(|o| still_needs_credentials(*o))
        .collect();
    let rules: Vec<&MeshesRule> = rules
        .iter()
        .map(Borrow::borrow)
        .filter(|o| still_needs_credentials(*o))
        .collect();
    let other = |uid: Option<String>| uid.as_deref() != Some(exclude_uid);
    let same_ns = |ns: Option<String>| ns.as_deref() == Some(secret.namespace.as_str());
    let ws_uses = workspaces.iter().filter(|w| other(w.uid())).any(|w| {
        let ns = w.namespace().unwrap_or_default();
        credentials::source(config, &ns, w.spec.credentials_ref.as_ref())
            .is_ok_and(|s| &s == secret)
    });
    if ws_uses {
        return true;
    }
    // Name sets, built once: a look-up per child made a namespace's deletion (every child's
    // cleanup asks) cubic in its objects.
    let workspace_names: HashSet<String> = workspaces
        .iter()
        .filter(|w| other(w.uid()) && same_ns(w.namespace()))
        .map(|w| w.name_any())
        .collect();
    let connection_names: HashSet<String> = connections
        .iter()
        .filter(|c| other(c.uid()) && same_ns(c.namespace()))
        .map(|c| c.name_any())
        .collect();
    let conn_uses = connections
        .iter()
        .filter(|c| other(c.uid()) && same_ns(c.namespace()))
        .any(|c| match (&c.spec.credentials_ref, &c.spec.workspace_ref) {
            (Some(r), _) => r.name == secret.name,
            (None, Some(parent)) => !workspace_names.contains(&parent.name),
            (None, None) => false,
        });
    if conn_uses {
        return true;
    }
    rules
        .iter()
        .filter(|r| other(r.uid()) && same_ns(r.namespace()))
        .any(
            |r| match (&r.spec.credentials_ref, &r.spec.connection_ref) {
                (Some(c), _) => c.name == secret.name,
                (None, Some(parent)) => !connection_names.contains(&parent.name),
                (None, None) => false,
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ws(ns: &str, name: &str, uid: &str, creds: Option<&str>) -> MeshesWorkspace {
        let mut spec = json!({});
        if let Some(c) = creds {
            spec["credentialsRef"] = json!({"name": c});
        }
        serde_json::from_value(json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": name, "namespace": ns, "uid": uid}, "spec": spec
        }))
        .unwrap()
    }

    fn conn(ns: &str, uid: &str, workspace: &str) -> MeshesConnection {
        serde_json::from_value(json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
            "metadata": {"name": "c", "namespace": ns, "uid": uid},
            "spec": {"workspaceRef": {"name": workspace}, "type": "webhook"}
        }))
        .unwrap()
    }

    fn secret() -> SecretRef {
        SecretRef {
            namespace: "acme".into(),
            name: "creds".into(),
        }
    }

    fn only(list: &[&str]) -> Namespaces {
        Namespaces::Only(list.iter().map(|s| s.to_string()).collect())
    }

    /// The live lists stay inside the namespaces that can hold users and inside the scope, so
    /// Roles in the watched namespaces are enough (issue 13: under Role-only RBAC a
    /// cluster-wide list of workspaces was refused and deletions hung).
    #[test]
    fn users_are_listed_where_they_can_be_and_within_the_scope() {
        let default: SecretRef = "ops/meshes".parse().unwrap();
        let mut config = OperatorConfig {
            default_credentials: Some(default.clone()),
            ..OperatorConfig::default()
        };
        // A tenant's own Secret: its namespace only, whatever the allow list.
        assert_eq!(
            user_namespaces(&config, &secret()),
            (only(&["acme"]), only(&["acme"]))
        );
        // Default credentials allowed everywhere, cluster-wide instance: one cluster list.
        config.default_credentials_namespaces = NamespaceAllowList::All;
        assert_eq!(user_namespaces(&config, &default).0, Namespaces::All);
        // ... a namespaced instance: its namespaces, one list each; the Secret's own namespace
        // is outside the scope, so its children are not this instance's.
        config.watch_namespaces = vec!["a".into(), "b".into()];
        assert_eq!(
            user_namespaces(&config, &default),
            (only(&["a", "b"]), only(&[]))
        );
        // An explicit allow list, narrowed by the scope.
        config.default_credentials_namespaces =
            NamespaceAllowList::from_list(&["b".into(), "c".into()]);
        assert_eq!(user_namespaces(&config, &default).0, only(&["b"]));
        config.watch_namespaces.clear();
        assert_eq!(
            user_namespaces(&config, &default).0,
            only(&["b", "c", "ops"])
        );
        // Allowed nowhere: only workspaces of its own namespace can name it.
        config.default_credentials_namespaces = NamespaceAllowList::None;
        assert_eq!(user_namespaces(&config, &default).0, only(&["ops"]));
    }

    #[test]
    fn a_workspace_referencing_the_secret_keeps_it() {
        let config = OperatorConfig::default();
        let w = ws("acme", "prod", "u1", Some("creds"));
        assert!(in_use(
            &config,
            &secret(),
            "other",
            std::slice::from_ref(&w),
            &[],
            &[]
        ));
        assert!(!in_use(
            &config,
            &secret(),
            "u1",
            std::slice::from_ref(&w),
            &[],
            &[]
        ));
        let elsewhere = ws("beta", "prod", "u2", Some("creds"));
        assert!(!in_use(&config, &secret(), "x", &[elsewhere], &[], &[]));
    }

    fn deleting<K: Resource>(mut obj: K, own_finalizer: bool) -> K {
        let meta = obj.meta_mut();
        meta.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        let mut finalizers = vec!["foregroundDeletion".to_string()];
        if own_finalizer {
            finalizers.push(FINALIZER.to_string());
        }
        meta.finalizers = Some(finalizers);
        obj
    }

    #[test]
    fn a_deleting_user_counts_until_its_own_finalizer_is_gone() {
        let config = OperatorConfig::default();
        let cleaning = deleting(ws("acme", "prod", "u1", Some("creds")), true);
        assert!(in_use(&config, &secret(), "x", &[cleaning], &[], &[]));
        // Its cleanup is done; it lingers only for another finalizer.
        let done = deleting(ws("acme", "prod", "u1", Some("creds")), false);
        assert!(!in_use(
            &config,
            &secret(),
            "x",
            std::slice::from_ref(&done),
            &[],
            &[]
        ));
        // A parent in that state no longer covers its child: the child keeps every Secret.
        let child = conn("acme", "c1", "prod");
        assert!(in_use(&config, &secret(), "x", &[done], &[child], &[]));
    }

    #[test]
    fn an_orphaned_child_keeps_the_secret_until_it_is_gone() {
        let config = OperatorConfig::default();
        let child = conn("acme", "c1", "prod");
        assert!(in_use(
            &config,
            &secret(),
            "u1",
            &[],
            std::slice::from_ref(&child),
            &[]
        ));
        let parent = ws("acme", "prod", "u1", Some("other-secret"));
        // The parent exists (and uses another Secret): the child is covered by it.
        assert!(!in_use(&config, &secret(), "x", &[parent], &[child], &[]));
    }

    fn context(workspaces: Vec<MeshesWorkspace>) -> Context {
        let store = crate::controllers::cache::Feed::of(workspaces);
        // Nothing listens there: any request to the API server fails.
        let stores = crate::controllers::context::Stores {
            workspaces: Some(store),
            ..Default::default()
        };
        crate::controllers::context::test_context("http://127.0.0.1:9", stores)
    }

    /// A cleanup keeps the Secret without listing when its cache already shows another user
    /// (a namespace deletion cleans up every object of the namespace at once: three live lists
    /// each made it quadratic); without one in the cache it asks the API server.
    #[tokio::test]
    async fn another_user_in_the_cache_keeps_the_secret_without_listing() {
        let me = ws("acme", "mine", "u1", Some("creds"));
        let ctx = context(vec![me.clone(), ws("acme", "other", "u2", Some("creds"))]);
        assert!(
            secret_in_use_or_keep(&ctx, &me, &secret(), "u1")
                .await
                .unwrap(),
            "kept, and no request made (one would have failed)"
        );
        // Positive control: the cache shows no other user, so the answer comes from a live
        // list, which fails here.
        let ctx = context(vec![me.clone(), ws("acme", "other", "u2", Some("else"))]);
        assert!(
            secret_in_use_or_keep(&ctx, &me, &secret(), "u1")
                .await
                .is_err()
        );
    }
}
