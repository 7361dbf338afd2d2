//! The `MeshesConnection` controller: wiring (watches and mappers) here; its part of the
//! lifecycle in [`kind`], its pure decisions in [`decide`].

pub mod decide;
pub mod kind;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;

use crate::controllers::cache::Cache;

use super::references::{connection_reads, referrers};

use crate::resources::{MeshesConnection, MeshesWorkspace};

/// Connections to reconcile when Secret `secret` changes: those reading secret settings from
/// it, naming it in `credentialsRef`, or inheriting it from their workspace.
pub fn secret_mapper(
    store: Cache<MeshesConnection>,
    workspaces: Cache<MeshesWorkspace>,
) -> impl Fn(PartialObjectMeta<Secret>) -> Vec<ObjectRef<MeshesConnection>> + Send + Sync + 'static
{
    move |secret| {
        let ns = secret.namespace();
        let name = secret.name_any();
        // One look-up per connection (not a scan of every workspace: a Secret event in a
        // large cluster would otherwise cost connections × workspaces).
        let inherits = |c: &MeshesConnection| {
            c.spec.credentials_ref.is_none()
                && c.spec.workspace_ref.as_ref().is_some_and(|w| {
                    let key = ObjectRef::new(&w.name).within(ns.as_deref().unwrap_or_default());
                    workspaces.get(&key).is_some_and(|ws| {
                        ws.spec
                            .credentials_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                    })
                })
        };
        referrers(&store, ns.clone(), &name, |c, name| {
            connection_reads(c, name) || inherits(c)
        })
    }
}
