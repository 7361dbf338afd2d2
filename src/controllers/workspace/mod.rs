//! The `MeshesWorkspace` controller: wiring (watches and mappers) here; its part of the
//! lifecycle in [`kind`], its pure decisions in [`decide`], the output Secret in [`output`].

pub mod decide;
pub mod kind;
pub mod output;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use super::config::{OperatorConfig, SecretRef};
use super::credentials;
use crate::resources::MeshesWorkspace;

/// Workspaces to reconcile when Secret `secret` changes: those whose credentials it holds and
/// the one owning it as output Secret.
pub fn secret_mapper(
    store: Store<MeshesWorkspace>,
    config: OperatorConfig,
) -> impl Fn(PartialObjectMeta<Secret>) -> Vec<ObjectRef<MeshesWorkspace>> + Send + Sync + 'static {
    move |secret| {
        let ns = secret.namespace().unwrap_or_default();
        let changed = SecretRef {
            namespace: ns.clone(),
            name: secret.name_any(),
        };
        let mut refs: Vec<ObjectRef<MeshesWorkspace>> = store
            .state()
            .iter()
            .filter(|w| {
                let wns = w.namespace().unwrap_or_default();
                credentials::source(&config, &wns, w.spec.credentials_ref.as_ref())
                    .is_ok_and(|s| s == changed)
            })
            .map(|w| ObjectRef::from_obj(w.as_ref()))
            .collect();
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
