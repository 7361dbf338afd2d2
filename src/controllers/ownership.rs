//! Who owns an upstream object when several CRs point at it (docs/reconcile-contract.md, "No silent
//! takeover"): the CR whose status already records the binding wins, then the older
//! `creationTimestamp`, then the smaller UID. Deterministic, so a restart never flips ownership.
//! Pure.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::context::Context;
use crate::resources::{
    DeletionPolicy, ManagementPolicy, MeshesConnection, MeshesRule, MeshesWorkspace,
};

/// How a kind records its upstream binding, and the spec fields every kind shares.
pub trait Binds: kube::Resource<DynamicType = ()> + Sized {
    /// The Meshes ID recorded in status.
    fn bound_id(&self) -> Option<&str>;
    /// `spec.adopt.id`.
    fn adopt_id(&self) -> Option<&str>;
    /// `spec.managementPolicy`.
    fn management(&self) -> Option<ManagementPolicy>;
    /// `spec.deletionPolicy` (workspaces have none: Meshes cannot delete them).
    fn explicit_deletion_policy(&self) -> Option<DeletionPolicy>;
    /// Every cached object of the kind.
    fn cached(ctx: &Context) -> Vec<Arc<Self>>;
}

macro_rules! binds {
    ($kind:ty, $id:ident, $cached:ident, |$spec:ident| $deletion:expr) => {
        impl Binds for $kind {
            fn bound_id(&self) -> Option<&str> {
                self.status.as_ref()?.$id.as_deref()
            }
            fn adopt_id(&self) -> Option<&str> {
                self.spec.adopt.as_ref().map(|a| a.id.as_str())
            }
            fn management(&self) -> Option<ManagementPolicy> {
                self.spec.management_policy
            }
            fn explicit_deletion_policy(&self) -> Option<DeletionPolicy> {
                let $spec = &self.spec;
                $deletion
            }
            fn cached(ctx: &Context) -> Vec<Arc<Self>> {
                ctx.stores.$cached()
            }
        }
    };
}
binds!(MeshesWorkspace, workspace_id, all_workspaces, |_spec| None);
binds!(MeshesConnection, connection_id, all_connections, |spec| {
    spec.deletion_policy
});
binds!(MeshesRule, rule_id, all_rules, |spec| spec.deletion_policy);

fn claimant<K: Binds>(obj: &K, bound: bool) -> Claimant {
    Claimant {
        key: format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()),
        uid: obj.uid().unwrap_or_default(),
        created: obj.meta().creation_timestamp.clone(),
        bound,
    }
}

/// The CR (`namespace/name`) among `all` that owns upstream object `id` instead of `me`.
pub fn other_owner<K: Binds>(me: &K, all: &[Arc<K>], id: &str) -> Option<String> {
    let mine = claimant(me, me.bound_id() == Some(id));
    let others: Vec<Claimant> = all
        .iter()
        .filter(|o| o.uid() != me.uid() && o.meta().deletion_timestamp.is_none())
        .filter_map(|o| {
            let bound = o.bound_id() == Some(id);
            (bound || o.adopt_id() == Some(id)).then(|| claimant(o.as_ref(), bound))
        })
        .collect();
    winner_other_than(&mine, &others).map(|c| c.key.clone())
}

/// Upstream IDs bound by CRs other than `me`.
pub fn bound_elsewhere<K: Binds>(me: &K, all: &[Arc<K>]) -> HashSet<String> {
    all.iter()
        .filter(|o| o.uid() != me.uid())
        .filter_map(|o| o.bound_id().map(str::to_string))
        .collect()
}

/// One CR claiming an upstream ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// `namespace/name`, for messages.
    pub key: String,
    /// Object UID.
    pub uid: String,
    /// Creation time.
    pub created: Option<Time>,
    /// Whether its status already records the binding.
    pub bound: bool,
}

fn rank(a: &Claimant, b: &Claimant) -> Ordering {
    // bound first, then older, then smaller UID
    b.bound
        .cmp(&a.bound)
        .then_with(|| match (&a.created, &b.created) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.uid.cmp(&b.uid))
}

/// The claimant that owns the upstream object, if it is not `me`.
pub fn winner_other_than<'a>(me: &'a Claimant, others: &'a [Claimant]) -> Option<&'a Claimant> {
    let best = others
        .iter()
        .filter(|o| o.uid != me.uid)
        .min_by(|a, b| rank(a, b))?;
    (rank(best, me) == Ordering::Less).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn c(key: &str, uid: &str, secs: i64, bound: bool) -> Claimant {
        Claimant {
            key: key.into(),
            uid: uid.into(),
            created: Some(Time(Timestamp::from_second(secs).unwrap())),
            bound,
        }
    }

    #[test]
    fn recorded_binding_beats_age() {
        let me = c("a/new", "u2", 200, true);
        let old = c("b/old", "u1", 100, false);
        assert_eq!(winner_other_than(&me, std::slice::from_ref(&old)), None);
        assert_eq!(
            winner_other_than(&old, std::slice::from_ref(&me)),
            Some(&me)
        );
    }

    #[test]
    fn older_wins_then_smaller_uid() {
        let me = c("a/x", "u9", 200, false);
        let older = c("b/y", "u5", 100, false);
        assert_eq!(
            winner_other_than(&me, std::slice::from_ref(&older))
                .unwrap()
                .key,
            "b/y"
        );
        let twin = c("c/z", "u1", 200, false);
        assert_eq!(
            winner_other_than(&me, std::slice::from_ref(&twin))
                .unwrap()
                .key,
            "c/z"
        );
        assert_eq!(winner_other_than(&twin, std::slice::from_ref(&me)), None);
    }

    #[test]
    fn alone_or_only_self_means_no_conflict() {
        let me = c("a/x", "u1", 1, false);
        assert_eq!(winner_other_than(&me, &[]), None);
        assert_eq!(winner_other_than(&me, std::slice::from_ref(&me)), None);
    }
}
