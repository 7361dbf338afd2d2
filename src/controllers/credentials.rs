//! Credentials resolution (docs/reconcile-contract.md, "Credentials"): which Secret an object uses,
//! reading it on demand, the `WaitingForSecret` grace period, and the in-use finalizer that keeps a
//! credentials Secret readable until the last object using it is gone.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::config::{OperatorConfig, SecretRef};
use super::context::Context;
use super::outcome::Outcome;
use crate::api::Credentials;
use crate::resources::conditions::{self, Condition};
use crate::resources::finalizers::CREDENTIALS_IN_USE;
use crate::resources::{LocalObjectReference, reasons};

/// Key holding the access key (`mk_...`).
pub const ACCESS_KEY: &str = "MESHES_ACCESS_KEY";
/// Key holding the secret key.
pub const SECRET_KEY: &str = "MESHES_SECRET_KEY";
/// Key holding the organization ID.
pub const ORG_ID: &str = "MESHES_ORG_ID";

/// Credentials read from a Secret.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The credentials (Debug redacts the secret key).
    pub creds: Credentials,
    /// The Secret they came from.
    pub secret: SecretRef,
    /// A fingerprint that changes when any of the three values changes; in memory only.
    pub fingerprint: u64,
}

/// Why credentials are not available, as the outcome to report and when to look again.
#[derive(Debug, Clone)]
pub struct Unavailable {
    /// The outcome to report.
    pub outcome: Outcome,
    /// When to reconcile again without a watch event (`None`: wait for a change).
    pub requeue: Option<Duration>,
}

/// The Secret an object in `namespace` uses: its own `credentialsRef`, else the operator's
/// default credentials if that namespace is allowed to use them.
pub fn source(
    config: &OperatorConfig,
    namespace: &str,
    credentials_ref: Option<&LocalObjectReference>,
) -> Result<SecretRef, Unavailable> {
    if let Some(r) = credentials_ref {
        return Ok(SecretRef {
            namespace: namespace.to_string(),
            name: r.name.clone(),
        });
    }
    match &config.default_credentials {
        Some(default) if config.default_credentials_namespaces.allows(namespace) => {
            Ok(default.clone())
        }
        Some(_) => Err(stalled(format!(
            "spec.credentialsRef is not set and namespace {namespace} is not allowed to use the \
             operator's default credentials; set spec.credentialsRef to a Secret with {ACCESS_KEY}, \
             {SECRET_KEY} and {ORG_ID}"
        ))),
        None => Err(stalled(format!(
            "spec.credentialsRef is not set and the operator has no default credentials; set \
             spec.credentialsRef to a Secret with {ACCESS_KEY}, {SECRET_KEY} and {ORG_ID}"
        ))),
    }
}

fn stalled(message: String) -> Unavailable {
    Unavailable {
        outcome: Outcome::Stalled {
            reason: reasons::INVALID_CREDENTIALS,
            message,
        },
        requeue: None,
    }
}

/// Reads credentials from `secret` for object `uid`. A missing Secret is waited for during the
/// grace period, then stalls; missing or malformed keys stall at once. Adds the in-use
/// finalizer to the Secret while it is not being deleted.
pub async fn load(ctx: &Context, uid: &str, secret: &SecretRef) -> Result<Resolved, Unavailable> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &secret.namespace);
    let found = match ctx
        .secrets
        .get(&ctx.client, &secret.namespace, &secret.name)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            return Err(Unavailable {
                outcome: Outcome::Transient {
                    message: format!("reading Secret {secret}: {e}"),
                },
                requeue: Some(ctx.next_backoff(uid)),
            });
        }
    };
    let Some(found) = found else {
        let waited = ctx.waiting_since(uid).elapsed();
        let grace = ctx.config.secret_grace;
        if waited < grace {
            let left = grace - waited;
            // No countdown in the message: it stays the same on every pass, so passes during
            // the wait do not rewrite status.
            return Err(Unavailable {
                outcome: Outcome::Progressing {
                    reason: reasons::WAITING_FOR_SECRET,
                    message: format!(
                        "Waiting for credentials Secret {secret} to be created; stalls with \
                         InvalidCredentials if it is still missing {}s after the wait began",
                        grace.as_secs()
                    ),
                },
                requeue: Some(left + Duration::from_millis(200)),
            });
        }
        return Err(stalled(format!(
            "Credentials Secret {secret} not found after waiting {}s; create it with keys \
             {ACCESS_KEY}, {SECRET_KEY} and {ORG_ID}",
            grace.as_secs()
        )));
    };
    ctx.stop_waiting(uid);
    let creds = parse(&found, secret).map_err(stalled)?;
    tracing::debug!(
        secret = %secret,
        object_uid = uid,
        resource_version = found.metadata.resource_version.as_deref().unwrap_or_default(),
        credential = %crate::api::credential_label(creds.access_key()),
        "credentials read"
    );
    let has = found
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == CREDENTIALS_IN_USE);
    if found.metadata.deletion_timestamp.is_none()
        && ctx
            .secrets
            .should_add_finalizer(&secret.namespace, &secret.name, has)
        && !ensure_in_use(&api, &found).await
    {
        ctx.secrets
            .finalizer_failed(&secret.namespace, &secret.name);
    }
    Ok(Resolved {
        fingerprint: fingerprint(&creds),
        creds,
        secret: secret.clone(),
    })
}

/// [`load`] for object `obj`: its UID keys the grace timer, its namespace the fair share, and
/// `priority` ([`priority`]) its place among the key's waiting calls.
pub async fn load_for<K: kube::Resource>(
    ctx: &Context,
    obj: &K,
    secret: &SecretRef,
    priority: u8,
) -> Result<Resolved, Unavailable> {
    let meta = obj.meta();
    let mut resolved = load(ctx, meta.uid.as_deref().unwrap_or_default(), secret).await?;
    resolved.creds = resolved.creds.with_priority(priority);
    Ok(for_namespace(
        ctx,
        resolved,
        meta.namespace.as_deref().unwrap_or_default(),
    ))
}

/// The budget priority of a pass over an object at `depth` (0 workspace, 1 connection, 2 rule)
/// with `meta` and status `conditions` (lower goes first among the calls waiting for a key):
/// - work a user asked for — an object new, changed (Ready not True for its generation) or
///   being deleted — before routine checks of objects already in sync (a restart's
///   verification, a resync), so a change made during a restart does not queue behind it;
/// - within each, parents before children: a parent's calls never wait behind its children's,
///   so a mass creation finishes its workspaces first and ends when its last call does, not a
///   chain of parent → connection → rules after it (`docs/performance.md`).
pub fn priority(depth: u8, meta: &ObjectMeta, conditions: Option<&[Condition]>) -> u8 {
    let settled = meta.deletion_timestamp.is_none()
        && conditions
            .and_then(|c| conditions::find(c, conditions::READY))
            .is_some_and(|c| c.is_true() && c.observed_generation == meta.generation);
    if settled { ROUTINE + depth } else { depth }
}

/// The first [`priority`] of routine work: checks of objects already in sync.
pub const ROUTINE: u8 = 3;

/// `resolved` as used by an object in `namespace`: on the operator's default credentials (one
/// key shared by every allowed namespace) calls draw from the namespace's fair share of the
/// key's budget, so one tenant cannot starve the others.
pub fn for_namespace(ctx: &Context, mut resolved: Resolved, namespace: &str) -> Resolved {
    if ctx.config.default_credentials.as_ref() == Some(&resolved.secret) {
        resolved.creds = resolved.creds.with_share(namespace);
    }
    resolved
}

/// Builds credentials from a Secret's data. Errors name the Secret and key, never a value.
pub fn parse(secret: &Secret, source: &SecretRef) -> Result<Credentials, String> {
    let value = |key: &str| -> Result<String, String> {
        let data = secret.data.as_ref().and_then(|d| d.get(key));
        let bytes = data.map(|b| b.0.clone()).ok_or_else(|| {
            format!("Credentials Secret {source} has no key {key}; it needs {ACCESS_KEY}, {SECRET_KEY} and {ORG_ID}")
        })?;
        String::from_utf8(bytes)
            .map_err(|_| format!("Credentials Secret {source}: key {key} is not UTF-8"))
    };
    let access = value(ACCESS_KEY)?;
    let secret_key = value(SECRET_KEY)?;
    let org = value(ORG_ID)?;
    Credentials::new(access, secret_key, org)
        .map_err(|e| format!("Credentials Secret {source} is malformed: {e}"))
}

fn fingerprint(creds: &Credentials) -> u64 {
    let mut h = DefaultHasher::new();
    creds.access_key().hash(&mut h);
    creds.org_id().hash(&mut h);
    creds.secret_key().expose_bytes().hash(&mut h);
    h.finish()
}

/// Adds the in-use finalizer to `secret` (a copy that lacks it); whether it is there now.
async fn ensure_in_use(api: &Api<Secret>, secret: &Secret) -> bool {
    let name = secret.metadata.name.clone().unwrap_or_default();
    // The copy may be the cache's, older than this process's own earlier patch: a patch guarded
    // by its resourceVersion would be refused (409). Read the current version first (once per
    // Secret and process: `should_add_finalizer`).
    let secret = match api.get(&name).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(secret = %name, error = %e, "reading the Secret for its in-use finalizer failed; retried next reconcile");
            return false;
        }
    };
    if secret
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == CREDENTIALS_IN_USE)
    {
        return true;
    }
    match super::frame::add_finalizer(api, &secret, CREDENTIALS_IN_USE).await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(secret = %name, error = %e, "adding the in-use finalizer failed; retried next reconcile");
            false
        }
    }
}

/// Removes the in-use finalizer from `secret` unless `still_used` says an object needs it.
pub async fn release_if_unused(ctx: &Context, secret: &SecretRef, still_used: bool) {
    if still_used {
        return;
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &secret.namespace);
    let Ok(Some(found)) = api.get_opt(&secret.name).await else {
        return;
    };
    let finalizers = found.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == CREDENTIALS_IN_USE) {
        return;
    }
    let kept: Vec<String> = finalizers
        .into_iter()
        .filter(|f| f != CREDENTIALS_IN_USE)
        .collect();
    let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": found.metadata.resource_version}});
    match api
        .patch(&secret.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => tracing::info!(%secret, "released credentials Secret (no object uses it)"),
        Err(e) => tracing::debug!(%secret, error = %e, "releasing the in-use finalizer failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::config::NamespaceAllowList;
    use k8s_openapi::ByteString;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn src() -> SecretRef {
        SecretRef {
            namespace: "acme".into(),
            name: "creds".into(),
        }
    }

    #[test]
    fn own_ref_wins_and_default_needs_an_allowed_namespace() {
        let mut config = OperatorConfig::default();
        let own = LocalObjectReference {
            name: "mine".into(),
        };
        assert_eq!(source(&config, "acme", Some(&own)).unwrap().name, "mine");
        assert!(source(&config, "acme", None).is_err());
        config.default_credentials = Some("ops/meshes".parse().unwrap());
        let refused = source(&config, "acme", None).unwrap_err();
        assert!(
            matches!(&refused.outcome, Outcome::Stalled { message, .. } if message.contains("not allowed"))
        );
        config.default_credentials_namespaces = NamespaceAllowList::from_list(&["acme".into()]);
        assert_eq!(
            source(&config, "acme", None).unwrap().to_string(),
            "ops/meshes"
        );
    }

    #[test]
    fn parse_names_the_missing_key_and_never_a_value() {
        let ok = secret(&[
            (ACCESS_KEY, "mk_abcdefghijklmnopqrstuv"),
            (
                SECRET_KEY,
                "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t",
            ),
            (ORG_ID, "5f0c8a36-8a8e-4c57-9d55-3d4f2b7c1e21"),
        ]);
        assert!(parse(&ok, &src()).is_ok());
        let missing = secret(&[(ACCESS_KEY, "mk_abcdefghijklmnopqrstuv"), (ORG_ID, "x")]);
        let err = parse(&missing, &src()).unwrap_err();
        assert!(
            err.contains(SECRET_KEY) && err.contains("acme/creds"),
            "{err}"
        );
        let bad = secret(&[
            (ACCESS_KEY, "mk_abcdefghijklmnopqrstuv"),
            (SECRET_KEY, "hunter2-hunter2"),
            (ORG_ID, ""),
        ]);
        let err = parse(&bad, &src()).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[cfg(test)]
mod share_tests {
    use std::sync::Arc;

    use super::*;
    use crate::controllers::config::OperatorConfig;
    use crate::controllers::context::{Stores, Triggers};

    fn resolved(ns: &str, name: &str) -> Resolved {
        let creds = Credentials::new("mk_shared", "secret-value", "org1").unwrap();
        Resolved {
            fingerprint: fingerprint(&creds),
            creds,
            secret: SecretRef {
                namespace: ns.into(),
                name: name.into(),
            },
        }
    }

    /// A pass over work a user asked for (new, changed, deleting) outranks a routine check of an
    /// object in sync, and a parent outranks its children within each.
    #[test]
    fn user_work_and_parents_go_first() {
        use crate::resources::conditions::{ConditionStatus, READY};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let meta = |generation: i64, deleting: bool| ObjectMeta {
            generation: Some(generation),
            deletion_timestamp: deleting.then(|| Time(k8s_openapi::jiff::Timestamp::now())),
            ..ObjectMeta::default()
        };
        let ready = |generation: i64, status: ConditionStatus| {
            vec![Condition::new(
                READY,
                status,
                "ReconcileSuccess",
                "",
                Some(generation),
                Time(k8s_openapi::jiff::Timestamp::now()),
            )]
        };
        let in_sync = ready(2, ConditionStatus::True);
        // Routine: in sync for the current generation.
        assert_eq!(priority(0, &meta(2, false), Some(&in_sync)), 3);
        assert_eq!(priority(2, &meta(2, false), Some(&in_sync)), 5);
        // Asked for: new, changed since, not Ready, or being deleted.
        assert_eq!(priority(0, &meta(1, false), None), 0);
        assert_eq!(priority(1, &meta(3, false), Some(&in_sync)), 1);
        assert_eq!(
            priority(2, &meta(2, false), Some(&ready(2, ConditionStatus::False))),
            2
        );
        assert_eq!(priority(1, &meta(2, true), Some(&in_sync)), 1);
    }

    /// Tenants on the shared default credentials draw from their namespace's share of the key's
    /// budget; a tenant's own credentials are not divided.
    #[tokio::test]
    async fn only_the_default_credentials_are_shared_per_namespace() {
        let config = OperatorConfig {
            default_credentials: Some(SecretRef {
                namespace: "ops".into(),
                name: "meshes".into(),
            }),
            ..OperatorConfig::default()
        };
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let api = Arc::new(crate::api::MeshesClient::new(Default::default()).unwrap());
        let ctx = Context::new(
            client,
            api,
            config,
            Stores::default(),
            Default::default(),
            Triggers::default(),
        );
        let shared = for_namespace(&ctx, resolved("ops", "meshes"), "tenant-a");
        assert_eq!(shared.creds.share(), Some("tenant-a"));
        let own = for_namespace(&ctx, resolved("tenant-a", "meshes"), "tenant-a");
        assert_eq!(own.creds.share(), None);
    }
}
