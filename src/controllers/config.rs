//! Operator-wide settings the controllers read: default credentials and who may use them,
//! resync and grace periods, deletion defaults. Filled from flags by the CLI; never from a CR or
//! a tenant's Secret.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::resources::DeletionPolicy;

/// A Secret named by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl std::str::FromStr for SecretRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(format!("expected <namespace>/<name>, got {s:?}")),
        }
    }
}

/// Namespaces allowed to use the default credentials. Never implicitly all: `*` must be said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NamespaceAllowList {
    /// No namespace may use them (the default).
    #[default]
    None,
    /// Exactly these namespaces.
    Only(BTreeSet<String>),
    /// Every namespace (an explicit `*`).
    All,
}

impl NamespaceAllowList {
    /// Parses a list of namespace names; a lone `*` allows every namespace.
    pub fn from_list(items: &[String]) -> Self {
        let items: BTreeSet<String> = items
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if items.contains("*") {
            Self::All
        } else if items.is_empty() {
            Self::None
        } else {
            Self::Only(items)
        }
    }

    /// Whether `namespace` may use the default credentials.
    pub fn allows(&self, namespace: &str) -> bool {
        match self {
            Self::None => false,
            Self::Only(set) => set.contains(namespace),
            Self::All => true,
        }
    }
}

/// Settings shared by every controller.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Credentials used by workspaces without `credentialsRef`, in allowed namespaces only.
    pub default_credentials: Option<SecretRef>,
    /// Namespaces whose objects may use [`OperatorConfig::default_credentials`].
    pub default_credentials_namespaces: NamespaceAllowList,
    /// Event ingestion base including `/api/v1`, written to each workspace's output Secret.
    pub events_url: String,
    /// How often each workspace is checked for drift upstream.
    pub resync_interval: Duration,
    /// Passes of one kind run at once at most (0 would be unbounded; never used).
    pub concurrency: u16,
    /// Events for one object closer together than this make one pass.
    pub debounce: Duration,
    /// The shortest `meshes.io/resync-interval` a namespace owner may set.
    pub min_resync_interval: Duration,
    /// Fraction of the resync interval added or removed at random, so workspaces spread out.
    pub resync_jitter: f64,
    /// How long a missing credentials Secret is waited for before the object stalls.
    pub secret_grace: Duration,
    /// Requeue period while waiting for a dependency (watches do the real work).
    pub dependency_requeue: Duration,
    /// How long a deletion waits for upstream clean-up that cannot proceed (credentials gone,
    /// rules the operator does not manage) before releasing with a Warning Event.
    pub deletion_release_timeout: Duration,
    /// Deletion policy for created objects that do not set one.
    pub default_deletion_policy: DeletionPolicy,
    /// Allowed clock difference between Meshes and the cluster when claiming an object created
    /// by a create call whose response was lost.
    pub create_skew: Duration,
    /// Backoff after a transient error: first delay.
    pub error_backoff_min: Duration,
    /// Backoff after a transient error: ceiling.
    pub error_backoff_max: Duration,
    /// Bind existing upstream objects by natural identity instead of stalling with
    /// `NameConflict` (disaster recovery; per object with `meshes.io/rebind-by-identity`).
    pub rebind_by_identity: bool,
    /// Field manager and Event reporter name.
    pub manager_name: String,
    /// Distinguishes shards/replicas in Events.
    pub instance_id: Option<String>,
    /// The namespaces this instance is limited to (`--watch-namespace`; empty = all): the
    /// live lists of the credentials in-use bookkeeping stay inside them, so Roles in those
    /// namespaces are enough.
    pub watch_namespaces: Vec<String>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            default_credentials: None,
            default_credentials_namespaces: NamespaceAllowList::None,
            events_url: "https://events.meshes.io/api/v1".to_string(),
            resync_interval: Duration::from_secs(600),
            min_resync_interval: Duration::from_secs(10),
            concurrency: 16,
            debounce: Duration::from_millis(100),
            resync_jitter: 0.1,
            secret_grace: Duration::from_secs(120),
            dependency_requeue: Duration::from_secs(300),
            deletion_release_timeout: Duration::from_secs(30),
            default_deletion_policy: DeletionPolicy::Delete,
            create_skew: Duration::from_secs(10),
            error_backoff_min: Duration::from_secs(1),
            error_backoff_max: Duration::from_secs(300),
            rebind_by_identity: false,
            manager_name: "meshes-operator".to_string(),
            instance_id: None,
            watch_namespaces: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_credentials_are_never_implicitly_allowed() {
        assert!(!NamespaceAllowList::default().allows("acme"));
        assert!(!NamespaceAllowList::from_list(&[]).allows("acme"));
        let some = NamespaceAllowList::from_list(&["acme".into(), " beta ".into()]);
        assert!(some.allows("acme") && some.allows("beta") && !some.allows("gamma"));
        assert!(NamespaceAllowList::from_list(&["*".into()]).allows("anything"));
    }

    #[test]
    fn secret_ref_parses_namespace_and_name() {
        let r: SecretRef = "ops/meshes".parse().unwrap();
        assert_eq!(
            r,
            SecretRef {
                namespace: "ops".into(),
                name: "meshes".into()
            }
        );
        assert!("meshes".parse::<SecretRef>().is_err());
        assert!("a/b/c".parse::<SecretRef>().is_err());
        assert!("/b".parse::<SecretRef>().is_err());
    }
}
