//! A connection's settings: `spec.metadata` merged with `spec.secretMetadata` values read from
//! Secrets at call time. Secret values exist only in the merged map sent to Meshes and inside the
//! hash recorded in status; never in status, logs, Events or errors.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::context::Context;
use super::credentials::Unavailable;
use super::outcome::Outcome;
use crate::resources::{MeshesConnectionSpec, reasons};

/// The merged settings. `Debug` prints keys only.
#[derive(Clone, Default)]
pub struct Settings {
    /// Everything sent as connection `metadata`.
    pub merged: Map<String, Value>,
    /// Keys whose values came from Secrets.
    pub secret_keys: Vec<String>,
    /// SHA-256 over name, hidden and the merged settings, hex.
    pub hash: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("keys", &self.merged.keys().collect::<Vec<_>>())
            .field("secret_keys", &self.secret_keys)
            .field("hash", &self.hash)
            .finish()
    }
}

/// The hash that decides whether a connection must be updated: over the name, `hidden`, the
/// plain settings, and for each secret setting *where its value comes from* (Secret, UID,
/// `resourceVersion`, key) — never the value itself, so `status.appliedHash` (readable by anyone
/// who can read the CR) is no offline oracle for a weak secret. Any change of a referenced
/// Secret changes its `resourceVersion`, so a rotated value still triggers one PUT.
pub fn settings_hash(
    name: &str,
    hidden: Option<bool>,
    plain: &Map<String, Value>,
    secret_sources: &BTreeMap<String, String>,
) -> String {
    // serde_json maps are ordered (BTreeMap without preserve_order), so this is canonical.
    let doc = serde_json::json!({
        "name": name, "hidden": hidden, "metadata": plain, "secrets": secret_sources
    });
    hex::encode(Sha256::digest(doc.to_string().as_bytes()))
}

fn stalled(message: String) -> Unavailable {
    Unavailable {
        outcome: Outcome::Stalled {
            reason: reasons::INVALID_SPEC,
            message,
        },
        requeue: None,
    }
}

/// Reads the secret settings and merges them. Each missing Secret is waited for during the grace
/// period (a timer per `uid` and Secret, separate from the credentials timer), then stalls;
/// missing keys and key collisions stall at once.
pub async fn resolve(
    ctx: &Context,
    uid: &str,
    namespace: &str,
    name: &str,
    spec: &MeshesConnectionSpec,
) -> Result<Settings, Unavailable> {
    let plain = spec.metadata.clone().unwrap_or_default();
    let mut merged = plain.clone();
    let mut secret_keys = Vec::new();
    let mut sources = BTreeMap::new();
    let mut cache: BTreeMap<String, Option<std::sync::Arc<Secret>>> = BTreeMap::new();
    for entry in spec.secret_metadata.iter().flatten() {
        let secret_name = &entry.secret_key_ref.name;
        if !cache.contains_key(secret_name) {
            let found = ctx
                .secrets
                .get(&ctx.client, namespace, secret_name)
                .await
                .map_err(|e| Unavailable {
                    outcome: Outcome::Transient {
                        message: format!("reading Secret {namespace}/{secret_name}: {e}"),
                    },
                    requeue: Some(ctx.next_backoff(uid)),
                })?;
            cache.insert(secret_name.clone(), found);
        }
        // A grace timer per Secret: the credentials check (its own timer) and other
        // secretMetadata Secrets being found must not restart this one.
        let timer = format!("secretMetadata/{secret_name}");
        let Some(secret) = cache.get(secret_name).and_then(Option::as_ref) else {
            let waited = ctx.waiting_for_since(uid, &timer).elapsed();
            let grace = ctx.config.secret_grace;
            if waited < grace {
                // No countdown in the message: it stays the same on every pass (no status churn).
                return Err(Unavailable {
                    outcome: Outcome::Progressing {
                        reason: reasons::WAITING_FOR_SECRET,
                        message: format!(
                            "Waiting for Secret {namespace}/{secret_name} (secretMetadata {}); \
                             stalls with InvalidSpec if it is still missing {}s after the wait began",
                            entry.key,
                            grace.as_secs()
                        ),
                    },
                    requeue: Some(grace - waited + Duration::from_millis(200)),
                });
            }
            return Err(stalled(format!(
                "Secret {namespace}/{secret_name} for secretMetadata {} not found after waiting {}s",
                entry.key,
                grace.as_secs()
            )));
        };
        ctx.stop_waiting_for(uid, &timer);
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&entry.secret_key_ref.key))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .ok_or_else(|| {
                stalled(format!(
                    "Secret {namespace}/{secret_name} has no UTF-8 key {} (for secretMetadata {})",
                    entry.secret_key_ref.key, entry.key
                ))
            })?;
        if merged.contains_key(&entry.key) {
            return Err(stalled(format!(
                "{} is set in both spec.metadata and spec.secretMetadata; keep one",
                entry.key
            )));
        }
        merged.insert(entry.key.clone(), Value::String(value));
        secret_keys.push(entry.key.clone());
        let meta = &secret.metadata;
        sources.insert(
            entry.key.clone(),
            format!(
                "{secret_name}/{}/{}/{}",
                meta.uid.as_deref().unwrap_or_default(),
                meta.resource_version.as_deref().unwrap_or_default(),
                entry.secret_key_ref.key
            ),
        );
    }
    ctx.stop_waiting_for_all(uid);
    let hash = settings_hash(name, spec.hidden, &plain, &sources);
    Ok(Settings {
        merged,
        secret_keys,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_changes_with_any_setting_and_is_order_independent() {
        let none = BTreeMap::new();
        let mut a = Map::new();
        a.insert("url".into(), Value::String("https://x".into()));
        a.insert("method".into(), Value::String("POST".into()));
        let mut b = Map::new();
        b.insert("method".into(), Value::String("POST".into()));
        b.insert("url".into(), Value::String("https://x".into()));
        assert_eq!(
            settings_hash("n", None, &a, &none),
            settings_hash("n", None, &b, &none)
        );
        b.insert("url".into(), Value::String("https://y".into()));
        assert_ne!(
            settings_hash("n", None, &a, &none),
            settings_hash("n", None, &b, &none)
        );
        assert_ne!(
            settings_hash("n", None, &a, &none),
            settings_hash("m", None, &a, &none)
        );
        assert_ne!(
            settings_hash("n", None, &a, &none),
            settings_hash("n", Some(true), &a, &none)
        );
    }

    /// `status.appliedHash` is public: a secret's value never enters it, its source does.
    #[test]
    fn secret_values_never_enter_the_hash_their_sources_do() {
        let plain = Map::new();
        let v1: BTreeMap<String, String> =
            [("signing_secret".into(), "hook/uid-1/41/secret".into())].into();
        let v2: BTreeMap<String, String> =
            [("signing_secret".into(), "hook/uid-1/42/secret".into())].into();
        let h1 = settings_hash("n", None, &plain, &v1);
        assert_ne!(
            h1,
            settings_hash("n", None, &plain, &v2),
            "a rotated Secret changes it"
        );
        // The value is not an input at all: guessing it cannot reproduce the hash.
        let mut guess = Map::new();
        guess.insert("signing_secret".into(), Value::String("password1".into()));
        assert_ne!(h1, settings_hash("n", None, &guess, &BTreeMap::new()));
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let mut m = Map::new();
        m.insert(
            "signing_secret".into(),
            Value::String("hunter2-secret".into()),
        );
        let s = Settings {
            hash: settings_hash("n", None, &Map::new(), &BTreeMap::new()),
            merged: m,
            secret_keys: vec!["signing_secret".into()],
        };
        let out = format!("{s:?}");
        assert!(
            out.contains("signing_secret") && !out.contains("hunter2"),
            "{out}"
        );
    }
}
