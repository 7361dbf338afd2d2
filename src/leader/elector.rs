//! The elector: reads and writes the Lease with its own Kubernetes client (never rate-limited
//! behind the controllers' requests, never fenced), and opens or closes the [`Fence`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

use super::LeaderConfig;
use super::fence::Fence;
use super::lease::{Decision, Observation, decide};

/// What the elector tells the probes and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// This replica holds the Lease (and its fence is open).
    pub leading: bool,
    /// The apiserver answered a Lease read within the last lease duration: a standby that
    /// could take over.
    pub healthy: bool,
}

/// Why a Lease round failed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("the Lease request timed out")]
    Timeout,
    #[error("the Lease changed under us (409)")]
    Conflict,
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

/// Campaigns for, holds and releases one Lease.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    config: LeaderConfig,
    fence: Arc<Fence>,
    observed: Option<Observation>,
    /// When the last successful acquisition or renewal was sent.
    renewed: Option<Instant>,
    /// When the apiserver last answered a read of the Lease.
    contact: Option<Instant>,
    status: watch::Sender<Status>,
}

impl Elector {
    /// An elector for `config` using `client` (give it a client of its own: see the module
    /// doc). Writes made through clients gated by `fence` stop when leadership may be lost.
    pub fn new(client: kube::Client, config: LeaderConfig, fence: Arc<Fence>) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        Self {
            api,
            config,
            fence,
            observed: None,
            renewed: None,
            contact: None,
            status: watch::Sender::new(Status::default()),
        }
    }

    /// The fence this elector opens and closes.
    pub fn fence(&self) -> &Arc<Fence> {
        &self.fence
    }

    /// The elector's status as it changes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// The configuration (Lease name, identity, timings).
    pub fn config(&self) -> &LeaderConfig {
        &self.config
    }

    /// Returns once this replica holds the Lease (fence open). Cancel-safe.
    pub async fn acquire(&mut self) {
        let mut waiting_logged = false;
        loop {
            match self.round().await {
                Ok(true) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired the leader Lease");
                    self.publish(true);
                    return;
                }
                Ok(false) => {
                    if !waiting_logged {
                        tracing::info!(lease = %self.config.name, "another replica leads; standing by");
                        waiting_logged = true;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Lease round failed"),
            }
            self.publish(false);
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews the Lease every retry period; returns when leadership is lost: another replica
    /// holds it, or no renewal succeeded within the renew deadline. The fence is closed by
    /// then (and by time alone at the deadline, even if this task never runs). Cancel-safe.
    pub async fn hold(&mut self) {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            match self.round().await {
                Ok(true) => continue,
                Ok(false) => {
                    tracing::warn!(lease = %self.config.name, "another replica took the leader Lease");
                    break;
                }
                Err(e) => {
                    let expired = self
                        .renewed
                        .is_none_or(|r| r.elapsed() >= self.config.renew_deadline);
                    if expired {
                        tracing::warn!(lease = %self.config.name, error = %e, "could not renew the leader Lease before the renew deadline");
                        break;
                    }
                    tracing::debug!(error = %e, "renewing the Lease failed; retrying");
                }
            }
        }
        self.fence.close();
        self.renewed = None;
        self.publish(false);
    }

    /// Gives the Lease up at shutdown so a standby takes over at its next retry instead of
    /// waiting out the lease duration. Closes the fence first.
    pub async fn release(&mut self) {
        self.fence.close();
        self.renewed = None;
        self.publish(false);
        let name = self.config.name.clone();
        let result = async {
            let Some(mut lease) = self.timed(self.api.get_opt(&name)).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(now_micro());
            self.timed(self.api.replace(&name, &PostParams::default(), &lease))
                .await?;
            Ok::<_, RoundError>(())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(lease = %self.config.name, "released the leader Lease"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release the leader Lease; a standby takes over when it expires")
            }
        }
    }

    /// One read and, when due, one write of the Lease. `Ok(true)`: we hold it now.
    async fn round(&mut self) -> Result<bool, RoundError> {
        let sent = Instant::now();
        let current = self.timed(self.api.get_opt(&self.config.name)).await?;
        let now = Instant::now();
        self.contact = Some(now);
        let version = current
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        let observed = Observation::after(self.observed.as_ref(), &version, now);
        self.observed = Some(observed.clone());
        let decision = decide(
            &self.config.identity,
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &observed,
            now,
            self.config.lease_duration,
        );
        let lease = match (decision, current) {
            (Decision::Wait, _) => return Ok(false),
            (Decision::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.held(None)),
                };
                self.timed(self.api.create(&PostParams::default(), &lease))
                    .await?
            }
            (_, None) => return Ok(false),
            (Decision::Renew, Some(mut lease)) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                spec.renew_time = Some(now_micro());
                spec.lease_duration_seconds = Some(self.config.lease_seconds());
                self.timed(
                    self.api
                        .replace(&self.config.name, &PostParams::default(), &lease),
                )
                .await?
            }
            (Decision::TakeOver, Some(mut lease)) => {
                lease.spec = Some(self.held(lease.spec.as_ref()));
                self.timed(
                    self.api
                        .replace(&self.config.name, &PostParams::default(), &lease),
                )
                .await?
            }
        };
        // Our own write is a record we have seen (a standby's clock starts no earlier).
        if let Some(v) = lease.metadata.resource_version {
            self.observed = Some(Observation::after(None, &v, Instant::now()));
        }
        self.renewed = Some(sent);
        self.fence.extend(sent, self.config.renew_deadline);
        Ok(true)
    }

    /// The spec of a Lease newly held by us, after `previous`.
    fn held(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        let had_holder = previous
            .and_then(|p| p.holder_identity.as_deref())
            .is_some_and(|h| !h.is_empty());
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_seconds()),
            acquire_time: Some(now_micro()),
            renew_time: Some(now_micro()),
            lease_transitions: Some(transitions.saturating_add(i32::from(had_holder))),
            ..LeaseSpec::default()
        }
    }

    /// A Lease request bounded by the retry period (at least a second), so a hung apiserver
    /// connection cannot hold a renewal past the renew deadline.
    async fn timed<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, RoundError> {
        let limit = self.config.retry_period.max(Duration::from_secs(1));
        match tokio::time::timeout(limit, request).await {
            Err(_) => Err(RoundError::Timeout),
            Ok(Err(kube::Error::Api(e))) if e.code == 409 => Err(RoundError::Conflict),
            Ok(r) => Ok(r?),
        }
    }

    fn publish(&self, leading: bool) {
        let healthy = self
            .contact
            .is_some_and(|c| c.elapsed() < self.config.lease_duration);
        self.status.send_if_modified(|s| {
            let next = Status { leading, healthy };
            let changed = *s != next;
            *s = next;
            changed
        });
    }
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}
