//! The `MeshesConnection` controller: wiring (watches and mappers) here; its part of the
//! lifecycle in [`kind`], its pure decisions in [`decide`].

pub mod decide;
pub mod kind;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::resources::{MeshesConnection, MeshesWorkspace};

/// Connections to reconcile when workspace `ws` changes (it became Ready, was deleted, ...).
pub fn workspace_mapper(
    store: Store<MeshesConnection>,
) -> impl Fn(MeshesWorkspace) -> Vec<ObjectRef<MeshesConnection>> + Send + Sync + 'static {
    move |ws| {
        let ns = ws.namespace();
        store
            .state()
            .iter()
            .filter(|c| c.namespace() == ns)
            .filter(|c| {
                c.spec
                    .workspace_ref
                    .as_ref()
                    .is_some_and(|r| r.name == ws.name_any())
            })
            .map(|c| ObjectRef::from_obj(c.as_ref()))
            .collect()
    }
}

/// Connections to reconcile when Secret `secret` changes: those reading secret settings from
/// it, naming it in `credentialsRef`, or inheriting it from their workspace.
pub fn secret_mapper(
    store: Store<MeshesConnection>,
    workspaces: Store<MeshesWorkspace>,
) -> impl Fn(PartialObjectMeta<Secret>) -> Vec<ObjectRef<MeshesConnection>> + Send + Sync + 'static
{
    move |secret| {
        let ns = secret.namespace();
        let name = secret.name_any();
        let inherits = |c: &MeshesConnection| {
            c.spec.credentials_ref.is_none()
                && c.spec.workspace_ref.as_ref().is_some_and(|w| {
                    workspaces.state().iter().any(|ws| {
                        ws.namespace() == ns
                            && ws.name_any() == w.name
                            && ws
                                .spec
                                .credentials_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                    })
                })
        };
        store
            .state()
            .iter()
            .filter(|c| c.namespace() == ns)
            .filter(|c| {
                c.spec
                    .credentials_ref
                    .as_ref()
                    .is_some_and(|r| r.name == name)
                    || c.spec
                        .secret_metadata
                        .iter()
                        .flatten()
                        .any(|e| e.secret_key_ref.name == name)
                    || inherits(c)
            })
            .map(|c| ObjectRef::from_obj(c.as_ref()))
            .collect()
    }
}
