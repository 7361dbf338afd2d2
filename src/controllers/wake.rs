//! Which changes of an object wake its own controller: whatever a user or another controller
//! can change (the spec through `generation`, labels, annotations, finalizers, deletion), never
//! a change of `status` alone. The operator writes status itself, often twice a pass; woken by
//! those writes, a failing object would run its next pass at once, defeating the error backoff
//! (a hot loop: 68 passes and as many Meshes calls in 12 s for one failing create, where the
//! backoff allows about 9). Retries come from the requeue the pass asked for.
//!
//! Watches of *other* kinds (a parent's status waking its children) are not filtered.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use kube::Resource;

/// A hash of everything but the status: equal hashes mean the change was the status alone.
pub fn changed_by_others<K: Resource>(obj: &K) -> Option<u64> {
    let m = obj.meta();
    let mut h = DefaultHasher::new();
    m.uid.hash(&mut h);
    m.generation.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
    m.labels.hash(&mut h);
    m.annotations.hash(&mut h);
    m.finalizers.hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::MeshesWorkspace;
    use serde_json::json;

    fn ws(extra: serde_json::Value) -> MeshesWorkspace {
        let mut obj = json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": "a", "namespace": "n", "uid": "u1", "generation": 1},
            "spec": {}});
        if let (Some(o), Some(e)) = (obj.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if k == "metadata" {
                    for (mk, mv) in v.as_object().into_iter().flatten() {
                        o["metadata"][mk] = mv.clone();
                    }
                } else {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value(obj).unwrap()
    }

    #[test]
    fn only_status_changes_are_quiet() {
        let base = changed_by_others(&ws(json!({})));
        let status = changed_by_others(&ws(json!({"status": {"workspaceId": "x"}})));
        assert_eq!(base, status, "a status-only change wakes the object");
        for change in [
            json!({"metadata": {"generation": 2}}),
            json!({"metadata": {"annotations": {"meshes.io/reconcile-requested-at": "1"}}}),
            json!({"metadata": {"labels": {"shard": "a"}}}),
            json!({"metadata": {"finalizers": ["meshes.io/finalizer"]}}),
            json!({"metadata": {"deletionTimestamp": "2026-12-01T00:00:00Z"}}),
        ] {
            assert_ne!(base, changed_by_others(&ws(change.clone())), "{change}");
        }
    }
}
