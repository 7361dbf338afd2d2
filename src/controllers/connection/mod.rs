//! The `MeshesConnection` controller: wiring (watches and mappers) here; its part of the
//! lifecycle in [`kind`], its pure decisions in [`decide`].

pub mod decide;
pub mod kind;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;

use crate::controllers::cache::Cache;
use crate::controllers::index::{Key, Tag};

use super::references::{self, connection_reads, referrers};

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
        let mut refs = referrers(&store, ns.clone(), Tag::Secret, &name, connection_reads);
        // Connections without credentials of their own inherit their workspace's.
        let key = Key::new(Tag::Secret, ns.as_deref().unwrap_or_default(), &name);
        for ws in workspaces.filed_under(&key) {
            let uses = ws
                .spec
                .credentials_ref
                .as_ref()
                .is_some_and(|r| r.name == name);
            if uses {
                let inherit = references::inherits_from_workspace;
                refs.extend(referrers(
                    &store,
                    ns.clone(),
                    Tag::Workspace,
                    &ws.name_any(),
                    inherit,
                ));
            }
        }
        refs.sort_by(|a, b| a.name.cmp(&b.name));
        refs.dedup();
        refs
    }
}
