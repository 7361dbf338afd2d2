//! Which objects reference which: a connection names its workspace, a rule its connection, an
//! object its credentials Secret. Watch mappers, triggers and deletion waits all ask here; the
//! candidates come from each cache's index ([`crate::controllers::index`]) and are checked with
//! the predicates below. Every reference stays inside a namespace.

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use crate::controllers::cache::Cache;
use crate::controllers::index::{Key, Tag};

use crate::resources::{MeshesConnection, MeshesRule};

/// The objects in `store` in namespace `ns` for which `refers(object, name)` holds, among those
/// the cache's index files under `tag` = `name` (`refers` must imply that key).
pub fn referring<C>(
    store: &Cache<C>,
    ns: Option<String>,
    tag: Tag,
    name: &str,
    refers: impl Fn(&C, &str) -> bool,
) -> Vec<std::sync::Arc<C>>
where
    C: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let key = Key::new(tag, ns.as_deref().unwrap_or_default(), name);
    store
        .filed_under(&key)
        .into_iter()
        .filter(|c| c.namespace() == ns && refers(c, name))
        .collect()
}

/// [`referring`], as references.
pub fn referrers<C>(
    store: &Cache<C>,
    ns: Option<String>,
    tag: Tag,
    name: &str,
    refers: impl Fn(&C, &str) -> bool,
) -> Vec<ObjectRef<C>>
where
    C: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    referring(store, ns, tag, name, refers)
        .iter()
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// A watch mapper: when a `P` changes, the `C`s of its namespace for which `refers(c, name)`
/// holds, `name` being the `P`'s name (filed under `tag` = `name`).
pub fn of<P, C>(
    store: Cache<C>,
    tag: Tag,
    refers: fn(&C, &str) -> bool,
) -> impl Fn(P) -> Vec<ObjectRef<C>> + Send + Sync + 'static
where
    P: kube::Resource,
    C: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    move |parent| referrers(&store, parent.namespace(), tag, &parent.name_any(), refers)
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
