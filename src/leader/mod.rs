//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas (a rolling
//! update runs two) exactly one reconciles.
//!
//! - [`Elector`] campaigns for, renews and releases the Lease with a Kubernetes client of its
//!   own, deciding on each read with [`lease::decide`] (expiry judged on this replica's clock).
//! - [`Fence`] is open only while the last renewal is younger than the renew deadline; every
//!   Kubernetes write of the controllers ([`crate::kube_client`]) and every Meshes call (the
//!   client's send gate) checks it right before it leaves the process. A replica that cannot
//!   renew (partition, slow apiserver, SIGSTOP) stops writing before its Lease can be taken.
//! - [`lead`] runs the controllers only while leading: a standby makes no Meshes call and no
//!   Kubernetes write; a lost Lease stops the controllers and the replica campaigns again; a stop
//!   signal drains in-flight passes within the shutdown timeout, then releases the Lease so the
//!   standby takes over at its next retry.

pub mod elector;
pub mod fence;
pub mod lease;

use std::future::Future;
use std::time::Duration;

pub use elector::{Elector, Status};
pub use fence::Fence;

use crate::shutdown::{Signals, Stop};

/// Where and how to elect.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (one per shard).
    pub name: String,
    /// This replica's identity, unique per process.
    pub identity: String,
    /// How long a Lease counts as held after its last renewal was seen.
    pub lease_duration: Duration,
    /// How long the leader keeps writing without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the Lease is read (standby) or renewed (leader).
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// Refuses timings that cannot keep two writers apart: the renew deadline must leave the
    /// fence closed for a margin before the Lease can expire, and renewals must be tried more
    /// than once within the deadline.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration < Duration::from_secs(2) {
            return Err("--lease-duration must be at least 2s".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "--renew-deadline ({:?}) must be shorter than --lease-duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.saturating_mul(2) > self.renew_deadline {
            return Err(format!(
                "--retry-period ({:?}) must be at most half of --renew-deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        if self.name.is_empty() || self.namespace.is_empty() || self.identity.is_empty() {
            return Err("the Lease name, namespace and identity must not be empty".into());
        }
        Ok(())
    }

    /// The lease duration in whole seconds, as the Lease records it (rounded up).
    pub fn lease_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }

    /// The longest a takeover can take after the leader dies without releasing: the standby
    /// must see the record unchanged for a lease duration, and notices only at its next read.
    pub fn takeover_bound(&self) -> Duration {
        self.lease_duration + self.retry_period
    }
}

/// Runs `controllers` only while this replica holds the Lease, until `signals` stop it.
///
/// `controllers` is called each time leadership is gained, with a [`Stop`] that fires on the
/// graceful signal; its future must finish its in-flight passes and return once that fires.
/// On a lost Lease the future is dropped at once (its writes are already fenced) and the
/// replica campaigns again. On the graceful signal, in-flight passes get `shutdown_timeout`
/// (or until the forced signal) before they are abandoned; then the fence closes and the
/// Lease is released.
pub async fn lead<F, Fut>(
    mut elector: Elector,
    signals: Signals,
    shutdown_timeout: Duration,
    mut controllers: F,
) -> anyhow::Result<()>
where
    F: FnMut(Stop) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    loop {
        tokio::select! {
            () = elector.acquire() => {}
            () = signals.graceful.wait() => {
                tracing::info!("stopping while standing by");
                return Ok(());
            }
        }
        let (drain, stop) = Stop::pair();
        let mut run = Box::pin(controllers(stop));
        let mut deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        let result = loop {
            tokio::select! {
                () = elector.hold() => break None,
                r = &mut run => break Some(r),
                () = signals.graceful.wait(), if deadline.is_none() => {
                    drain.fire();
                    deadline = Some(Box::pin(tokio::time::sleep(shutdown_timeout)));
                }
                () = async { if let Some(d) = deadline.as_mut() { d.await } }, if deadline.is_some() => {
                    tracing::warn!(timeout = ?shutdown_timeout, "in-flight passes did not finish within the shutdown timeout; abandoning them");
                    break Some(Ok(()));
                }
                () = signals.forced.wait(), if deadline.is_some() => {
                    tracing::warn!("abandoning in-flight passes");
                    break Some(Ok(()));
                }
            }
        };
        // Dropping the controllers' future aborts their passes (the controller runtime runs
        // each pass as a task that is aborted with it).
        drop(run);
        match result {
            None if deadline.is_none() => {
                tracing::warn!("leadership lost; controllers stopped, campaigning again");
                continue;
            }
            None => {
                tracing::warn!("leadership lost while stopping");
                return Ok(());
            }
            Some(r) => {
                elector.release().await;
                return r;
            }
        }
    }
}

/// Runs `controllers` without an election (one replica by configuration) until `signals` stop
/// it, with the same drain as [`lead`]: in-flight passes get `shutdown_timeout` (or until the
/// forced signal) to finish.
pub async fn run_alone<Fut>(
    signals: Signals,
    shutdown_timeout: Duration,
    controllers: impl FnOnce(Stop) -> Fut,
) -> anyhow::Result<()>
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let (drain, stop) = Stop::pair();
    let run = controllers(stop);
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => return r,
        () = signals.graceful.wait() => drain.fire(),
    }
    tokio::select! {
        r = &mut run => r,
        () = tokio::time::sleep(shutdown_timeout) => {
            tracing::warn!(timeout = ?shutdown_timeout, "in-flight passes did not finish within the shutdown timeout; abandoning them");
            Ok(())
        }
        () = signals.forced.wait() => {
            tracing::warn!("abandoning in-flight passes");
            Ok(())
        }
    }
}
