//! The `MeshesRule` controller: wiring here; its part of the
//! lifecycle in [`kind`], its pure decisions in
//! [`decide`].

pub mod decide;
pub mod kind;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::resources::{MeshesConnection, MeshesRule};

/// Rules to reconcile when connection `conn` changes (it became Ready, was deleted, ...).
pub fn connection_mapper(
    store: Store<MeshesRule>,
) -> impl Fn(MeshesConnection) -> Vec<ObjectRef<MeshesRule>> + Send + Sync + 'static {
    move |conn| {
        let ns = conn.namespace();
        store
            .state()
            .iter()
            .filter(|r| r.namespace() == ns)
            .filter(|r| {
                r.spec
                    .connection_ref
                    .as_ref()
                    .is_some_and(|c| c.name == conn.name_any())
            })
            .map(|r| ObjectRef::from_obj(r.as_ref()))
            .collect()
    }
}

/// Rules to reconcile when Secret `secret` changes (those naming it in `credentialsRef`).
pub fn secret_mapper(
    store: Store<MeshesRule>,
) -> impl Fn(PartialObjectMeta<Secret>) -> Vec<ObjectRef<MeshesRule>> + Send + Sync + 'static {
    move |secret| {
        let ns = secret.namespace();
        let name = secret.name_any();
        store
            .state()
            .iter()
            .filter(|r| {
                r.namespace() == ns
                    && r.spec
                        .credentials_ref
                        .as_ref()
                        .is_some_and(|c| c.name == name)
            })
            .map(|r| ObjectRef::from_obj(r.as_ref()))
            .collect()
    }
}
