//! The one index of which objects reference which: a connection names its workspace, a rule
//! its connection, an object its credentials Secret; children record their parents' Meshes IDs.
//! Watch mappers, triggers and deletion waits all ask here. Every reference stays inside a
//! namespace.

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::controllers::cache::Cache;

use crate::resources::{MeshesConnection, MeshesRule};

/// The objects in `store` in namespace `ns` for which `refers(object, name)` holds.
pub fn referring<C>(
    store: &Cache<C>,
    ns: Option<String>,
    name: &str,
    refers: impl Fn(&C, &str) -> bool,
) -> Vec<std::sync::Arc<C>>
where
    C: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .into_iter()
        .filter(|c| c.namespace() == ns && refers(c, name))
        .collect()
}

/// [`referring`], as references.
pub fn referrers<C>(
    store: &Cache<C>,
    ns: Option<String>,
    name: &str,
    refers: impl Fn(&C, &str) -> bool,
) -> Vec<ObjectRef<C>>
where
    C: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    referring(store, ns, name, refers)
        .iter()
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// A watch mapper: when a `P` changes, the `C`s of its namespace for which `refers(c, name)`
/// holds, `name` being the `P`'s name.
pub fn of<P, C>(
    store: Cache<C>,
    refers: fn(&C, &str) -> bool,
) -> impl Fn(P) -> Vec<ObjectRef<C>> + Send + Sync + 'static
where
    P: kube::Resource,
    C: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    move |parent| referrers(&store, parent.namespace(), &parent.name_any(), refers)
}

/// Whether connection `c` names workspace `name`.
pub fn names_workspace(c: &MeshesConnection, name: &str) -> bool {
    c.spec
        .workspace_ref
        .as_ref()
        .is_some_and(|r| r.name == name)
}

/// Whether rule `r` names connection `name`.
pub fn names_connection(r: &MeshesRule, name: &str) -> bool {
    r.spec
        .connection_ref
        .as_ref()
        .is_some_and(|c| c.name == name)
}

/// Whether rule `r` names Secret `name` in `credentialsRef`.
pub fn names_credentials(r: &MeshesRule, name: &str) -> bool {
    r.spec
        .credentials_ref
        .as_ref()
        .is_some_and(|c| c.name == name)
}

/// Whether connection `c` reads Secret `name`: `credentialsRef` or a `secretMetadata` entry.
pub fn connection_reads(c: &MeshesConnection, name: &str) -> bool {
    c.spec
        .credentials_ref
        .as_ref()
        .is_some_and(|r| r.name == name)
        || c.spec
            .secret_metadata
            .iter()
            .flatten()
            .any(|e| e.secret_key_ref.name == name)
}

/// Whether connection `c` inherits the credentials of workspace `name` (names it, has none).
pub fn inherits_from_workspace(c: &MeshesConnection, name: &str) -> bool {
    c.spec.credentials_ref.is_none() && names_workspace(c, name)
}
