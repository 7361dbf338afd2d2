//! The flags of running as one of several replicas: leader election (the Lease, its timings,
//! this replica's identity), the drain on stop, and the pacing of the Kubernetes client.

use std::time::Duration;

use clap::Args;
use sha2::{Digest, Sha256};

use crate::controllers::durations::parse_flag;
use crate::controllers::run::Scope;
use crate::kube_client::KubeLimits;
use crate::leader::LeaderConfig;

/// Replica and Kubernetes client flags of `meshes-operator run`.
#[derive(Debug, Clone, Args)]
pub struct LeaderArgs {
    /// Elect one leader among the replicas of this scope through a coordination.k8s.io Lease;
    /// the others stand by (no Meshes call, no Kubernetes write) and take over when it stops.
    #[arg(
        long,
        env = "MESHES_LEADER_ELECT",
        help_heading = "Replicas, leader election and the Kubernetes client"
    )]
    pub leader_elect: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else the kubeconfig's namespace).
    #[arg(
        long,
        env = "MESHES_LEADER_ELECTION_NAMESPACE",
        help_heading = "Replicas, leader election and the Kubernetes client"
    )]
    pub leader_election_namespace: Option<String>,
    /// Name of the Lease (default: `meshes-operator`, plus a hash of --watch-namespace and
    /// --selector when they narrow the scope, so each shard elects its own leader).
    #[arg(
        long,
        env = "MESHES_LEADER_ELECTION_ID",
        help_heading = "Replicas, leader election and the Kubernetes client"
    )]
    pub leader_election_id: Option<String>,
    /// How long a Lease counts as held after its last renewal: the longest a standby waits
    /// when a leader dies without releasing it.
    #[arg(long, env = "MESHES_LEASE_DURATION", default_value = "15s", value_parser = parse_flag, help_heading = "Replicas, leader election and the Kubernetes client")]
    pub lease_duration: Duration,
    /// How long the leader keeps writing without a successful renewal; must be shorter than
    /// the lease duration (the difference is the margin between two writers).
    #[arg(long, env = "MESHES_RENEW_DEADLINE", default_value = "10s", value_parser = parse_flag, help_heading = "Replicas, leader election and the Kubernetes client")]
    pub renew_deadline: Duration,
    /// How often the Lease is renewed (leader) or read (standby); at most half the renew
    /// deadline.
    #[arg(long, env = "MESHES_RETRY_PERIOD", default_value = "2s", value_parser = parse_flag, help_heading = "Replicas, leader election and the Kubernetes client")]
    pub retry_period: Duration,
    /// On SIGTERM: how long passes in flight may take to finish before they are abandoned and
    /// the Lease is released (keep it below the pod's terminationGracePeriodSeconds).
    #[arg(long, env = "MESHES_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_flag, help_heading = "Replicas, leader election and the Kubernetes client")]
    pub shutdown_timeout: Duration,
    /// Sustained requests per second of the controllers' Kubernetes client (a token bucket:
    /// requests wait, they never fail). A guard against a runaway loop, set well above what
    /// the controllers need: the apiserver's API Priority and Fairness paces clients, and a
    /// client-side limit at the old 50 was the bottleneck of every convergence and namespace
    /// deletion measured (docs/performance.md). The Lease has a client of its own, never
    /// paced behind these.
    #[arg(long, env = "MESHES_KUBE_QPS", default_value_t = 500.0, value_parser = super::positive_rate, help_heading = "Replicas, leader election and the Kubernetes client")]
    pub kube_qps: f64,
    /// Requests above the sustained rate the Kubernetes client may send at once.
    #[arg(long, env = "MESHES_KUBE_BURST", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10000), help_heading = "Replicas, leader election and the Kubernetes client")]
    pub kube_burst: u32,
}

impl LeaderArgs {
    /// The Kubernetes client's pacing.
    pub fn kube_limits(&self) -> KubeLimits {
        KubeLimits {
            qps: self.kube_qps,
            burst: self.kube_burst,
        }
    }

    /// The election configuration, or `None` without `--leader-elect`. `pod_namespace` and
    /// `host` come from the environment (`POD_NAMESPACE`, `POD_NAME` or the host name);
    /// `fallback_namespace` is the kubeconfig's.
    pub fn leader_config(
        &self,
        scope: &Scope,
        pod_namespace: Option<String>,
        host: &str,
        fallback_namespace: &str,
    ) -> Result<Option<LeaderConfig>, String> {
        if !self.leader_elect {
            return Ok(None);
        }
        let config = LeaderConfig {
            namespace: self
                .leader_election_namespace
                .clone()
                .or(pod_namespace)
                .unwrap_or_else(|| fallback_namespace.to_owned()),
            name: self
                .leader_election_id
                .clone()
                .unwrap_or_else(|| lease_name(scope)),
            // Unique per process: a restarted container keeps its pod name, and must not
            // inherit a Lease it cannot know it still holds.
            identity: format!("{host}_{:08x}", rand::random::<u32>()),
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        };
        config.validate()?;
        Ok(Some(config))
    }
}

/// The default Lease name of a scope: shards (different namespaces or selectors) get
/// different Leases, replicas of one shard the same.
pub fn lease_name(scope: &Scope) -> String {
    if scope.namespaces.is_empty() && scope.label_selector.is_none() {
        return "meshes-operator".to_owned();
    }
    let mut namespaces = scope.namespaces.clone();
    namespaces.sort();
    namespaces.dedup();
    let mut h = Sha256::new();
    h.update(namespaces.join(","));
    h.update("\n");
    h.update(scope.label_selector.as_deref().unwrap_or(""));
    let digest = hex::encode(h.finalize());
    format!("meshes-operator-{}", &digest[..10])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        leader: LeaderArgs,
    }

    fn scope(ns: &[&str], sel: Option<&str>) -> Scope {
        Scope {
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
            label_selector: sel.map(str::to_owned),
        }
    }

    #[test]
    fn each_shard_gets_its_own_lease() {
        assert_eq!(lease_name(&scope(&[], None)), "meshes-operator");
        let a = lease_name(&scope(&[], Some("meshes.io/shard=a")));
        let b = lease_name(&scope(&[], Some("meshes.io/shard=b")));
        assert_ne!(a, b);
        assert!(a.starts_with("meshes-operator-") && a.len() <= 63, "{a}");
        // Replicas of one shard agree, whatever the flag order.
        assert_eq!(
            lease_name(&scope(&["x", "y"], None)),
            lease_name(&scope(&["y", "x", "y"], None))
        );
        assert_ne!(
            lease_name(&scope(&["x"], None)),
            lease_name(&scope(&["y"], None))
        );
    }

    #[test]
    fn election_flags_build_a_checked_configuration() {
        let off = T::parse_from(["x"]);
        assert!(
            off.leader
                .leader_config(&scope(&[], None), None, "h", "default")
                .unwrap()
                .is_none()
        );
        let on = T::parse_from([
            "x",
            "--leader-elect",
            "--lease-duration=6s",
            "--renew-deadline=4s",
            "--retry-period=1s",
        ]);
        let a = on
            .leader
            .leader_config(&scope(&[], None), Some("ops".into()), "pod-1", "default")
            .unwrap()
            .unwrap();
        let b = on
            .leader
            .leader_config(&scope(&[], None), Some("ops".into()), "pod-1", "default")
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.namespace.as_str(), a.name.as_str()),
            ("ops", "meshes-operator")
        );
        assert!(a.identity.starts_with("pod-1_"));
        assert_ne!(a.identity, b.identity, "identities are unique per process");
        assert_eq!(a.lease_seconds(), 6);
        assert_eq!(a.takeover_bound(), Duration::from_secs(7));
        for bad in [
            [
                "x",
                "--leader-elect",
                "--lease-duration=10s",
                "--renew-deadline=10s",
            ],
            [
                "x",
                "--leader-elect",
                "--renew-deadline=4s",
                "--retry-period=3s",
            ],
        ] {
            let t = T::parse_from(bad);
            assert!(
                t.leader
                    .leader_config(&scope(&[], None), None, "h", "d")
                    .is_err(),
                "{bad:?}"
            );
        }
        assert!(T::try_parse_from(["x", "--kube-qps=0"]).is_err());
        assert!(T::try_parse_from(["x", "--kube-burst=0"]).is_err());
    }
}
