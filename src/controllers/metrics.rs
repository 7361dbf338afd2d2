//! In-process counters of controller work (reconciles per object and kind). Tests read them to
//! prove "watches, not polling"; the operations work will expose them to Prometheus.

use std::collections::HashMap;
use std::sync::Mutex;

/// Reconcile counters.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: Mutex<HashMap<String, u64>>,
}

impl Metrics {
    /// Counts one reconcile of `kind` object `namespace/name`.
    pub fn reconciled(&self, kind: &str, namespace: &str, name: &str) {
        if let Ok(mut m) = self.reconciles.lock() {
            *m.entry(format!("{kind}/{namespace}/{name}")).or_insert(0) += 1;
        }
    }

    /// Reconciles of one object so far.
    pub fn reconciles_of(&self, kind: &str, namespace: &str, name: &str) -> u64 {
        self.reconciles
            .lock()
            .map(|m| {
                m.get(&format!("{kind}/{namespace}/{name}"))
                    .copied()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// Reconciles of every object of `kind`.
    pub fn reconciles_of_kind(&self, kind: &str) -> u64 {
        let prefix = format!("{kind}/");
        self.reconciles
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_object_and_kind() {
        let m = Metrics::default();
        m.reconciled("MeshesRule", "a", "r1");
        m.reconciled("MeshesRule", "a", "r1");
        m.reconciled("MeshesRule", "a", "r2");
        m.reconciled("MeshesConnection", "a", "c");
        assert_eq!(m.reconciles_of("MeshesRule", "a", "r1"), 2);
        assert_eq!(m.reconciles_of_kind("MeshesRule"), 3);
        assert_eq!(m.reconciles_of("MeshesRule", "b", "r1"), 0);
    }
}
