//! Stop signals shared by every task that must wind down: a [`Stop`] is a cloneable future that
//! completes once, when its [`Trigger`] fires (or is dropped). [`Signals`] turns SIGTERM/SIGINT
//! into two of them: the first signal asks for a graceful stop, a second one for an immediate one.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::watch;

/// Completes when stopping was asked for. Cheap to clone; every clone sees the same stop.
#[derive(Clone)]
pub struct Stop(Shared<BoxFuture<'static, ()>>);

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// Fires a [`Stop`].
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    /// Asks every clone of the paired [`Stop`] to complete.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// A stop and its trigger. Dropping the trigger also stops.
    pub fn pair() -> (Trigger, Stop) {
        let (tx, mut rx) = watch::channel(false);
        let fut = async move {
            // An error means the trigger was dropped: nobody can stop us later, so stop now.
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
        .boxed()
        .shared();
        (Trigger(tx), Stop(fut))
    }

    /// A stop that never completes.
    pub fn never() -> Stop {
        Stop(futures::future::pending().boxed().shared())
    }

    /// A future completing on stop (`Send + Sync + 'static`, as the controller runtime's
    /// graceful shutdown asks).
    pub fn wait(&self) -> Shared<BoxFuture<'static, ()>> {
        self.0.clone()
    }

    /// Whether the stop has completed.
    pub fn is_stopped(&self) -> bool {
        self.0.peek().is_some()
    }
}

/// The process's stop signals.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The first SIGTERM or SIGINT: stop taking work, finish in-flight passes, hand over.
    pub graceful: Stop,
    /// A second signal: stop now.
    pub forced: Stop,
}

impl Signals {
    /// Listens for SIGTERM and SIGINT on a background task.
    pub fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (graceful_tx, graceful) = Stop::pair();
        let (forced_tx, forced) = Stop::pair();
        tokio::spawn(async move {
            let mut received = 0;
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                received += 1;
                if received == 1 {
                    tracing::info!(
                        "stop signal received; finishing in-flight work (send it again to stop at once)"
                    );
                    graceful_tx.fire();
                } else {
                    tracing::warn!("second stop signal; stopping at once");
                    forced_tx.fire();
                    // Keep the triggers alive: dropping them would also "stop", which is
                    // already the case.
                    std::future::pending::<()>().await;
                }
            }
        });
        Ok(Signals { graceful, forced })
    }

    /// Signals that never fire (for callers that stop by dropping the future).
    pub fn never() -> Signals {
        Signals {
            graceful: Stop::never(),
            forced: Stop::never(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_completes_for_every_clone_once_fired() {
        let (trigger, stop) = Stop::pair();
        let other = stop.clone();
        assert!(!stop.is_stopped());
        let waiting = tokio::spawn(other.wait());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "not before the trigger fires");
        trigger.fire();
        waiting.await.expect("the clone completes");
        stop.wait().await;
        assert!(stop.is_stopped());
        // Dropping a trigger stops too.
        let (trigger, stop) = Stop::pair();
        drop(trigger);
        stop.wait().await;
        assert!(Stop::never().wait().now_or_never().is_none());
    }
}
