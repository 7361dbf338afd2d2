//! The `MeshesWorkspace` controller: wiring (watches and mappers) here; its part of the
//! lifecycle in [`kind`], its pure decisions in [`decide`], the output Secret in [`output`].

pub mod decide;
pub mod kind;
pub mod output;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;

use crate::controllers::cache::Cache;

use super::config::{OperatorConfig, SecretRef};
use super::credentials;
use super::index::{Key, Tag};
use crate::resources::MeshesWorkspace;

/// Workspaces (by UID) whose output Secret name saw a Secret event since their last pass.
///
/// A workspace stalled with `OwnershipConflict` (its output Secret name is taken by a foreign
/// Secret) is not retried while its stall inputs (generation, credentials, request token) are
/// unchanged; deleting the foreign Secret changes none of them. The Secret mapper records the
/// workspace here and the controller clears its stall memory at the start of the next pass
/// ([`OutputSecretEvents::take`]). Clearing there, not in the mapper, is what makes it
/// race-free: a pass already running when the event arrives may still remember its stall, and
/// the runtime starts the next pass of that object only after it ends.
#[derive(Debug, Clone, Default)]
pub struct OutputSecretEvents(Arc<Mutex<HashSet<String>>>);

impl OutputSecretEvents {
    fn record(&self, uid: String) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(uid);
        }
    }

    /// Whether workspace `uid` saw an output Secret event since its last pass (and forgets it).
    pub fn take(&self, uid: &str) -> bool {
        self.0.lock().map(|mut s| s.remove(uid)).unwrap_or(false)
    }
}

/// Workspaces to reconcile when Secret `secret` changes: those whose credentials it holds, the
/// one owning it as output Secret, and those whose output Secret has its name (a foreign
/// Secret blocking the output was created or deleted); the last two are recorded in
/// `outputs`.
pub fn secret_mapper(
    store: Cache<MeshesWorkspace>,
    config: OperatorConfig,
    outputs: OutputSecretEvents,
) -> impl Fn(PartialObjectMeta<Secret>) -> Vec<ObjectRef<MeshesWorkspace>> + Send + Sync + 'static {
    move |secret| {
        let ns = secret.namespace().unwrap_or_default();
        let name = secret.name_any();
        let changed = SecretRef {
            namespace: ns.clone(),
            name: name.clone(),
        };
        let mut candidates = store.filed_under(&Key::new(Tag::Secret, &ns, &name));
        if config.default_credentials.as_ref() == Some(&changed) {
            candidates.extend(store.filed_under(&Key::global(Tag::DefaultCredentials, "")));
        }
        let mut refs = Vec::new();
        for w in candidates {
            let wns = w.namespace().unwrap_or_default();
            let uses = credentials::source(&config, &wns, w.spec.credentials_ref.as_ref())
                .is_ok_and(|s| s == changed);
            let output = wns == ns
                && (output::secret_name(&w) == name
                    || w.status
                        .as_ref()
                        .and_then(|s| s.publishable_key_secret_name.as_deref())
                        == Some(name.as_str()));
            if output && let Some(uid) = w.uid() {
                outputs.record(uid);
            }
            if uses || output {
                refs.push(ObjectRef::from_obj(w.as_ref()));
            }
        }
        refs.extend(
            secret
                .owner_references()
                .iter()
                .filter(|o| o.kind == "MeshesWorkspace" && o.api_version.starts_with("meshes.io/"))
                .map(|o| ObjectRef::new(&o.name).within(&ns)),
        );
        refs
    }
}
