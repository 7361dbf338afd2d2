//! Watch mappers' common part: the objects of one kind in a namespace that refer to a name.
//! Each kind's `mod.rs` says only which of its fields refer to what.

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

/// The objects in `store` in namespace `ns` for which `refers(object, name)` holds.
pub fn referrers<C>(
    store: &Store<C>,
    ns: Option<String>,
    name: &str,
    refers: impl Fn(&C, &str) -> bool,
) -> Vec<ObjectRef<C>>
where
    C: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter(|c| c.namespace() == ns && refers(c, name))
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// A watch mapper: when a `P` changes, the `C`s of its namespace for which `refers(c, name)`
/// holds, `name` being the `P`'s name.
pub fn of<P, C>(
    store: Store<C>,
    refers: fn(&C, &str) -> bool,
) -> impl Fn(P) -> Vec<ObjectRef<C>> + Send + Sync + 'static
where
    P: kube::Resource,
    C: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    move |parent| referrers(&store, parent.namespace(), &parent.name_any(), refers)
}
