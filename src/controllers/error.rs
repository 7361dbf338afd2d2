//! Errors a reconcile returns to the controller runtime. Most problems are not errors but
//! outcomes written to status; these are the Kubernetes failures left over, retried with backoff.

/// A reconcile failure the runtime retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// Deletion is waiting for something (dependents, a refusal by Meshes) and must keep the
    /// finalizer: cleanup returns this instead of success. Not a failure.
    #[error("deletion waiting: {reason}")]
    Waiting {
        /// When to look again.
        requeue: std::time::Duration,
        /// What it waits for.
        reason: String,
    },
}

impl Error {
    /// A cleanup that must keep the finalizer and look again after `requeue`.
    pub fn waiting(requeue: std::time::Duration, reason: impl Into<String>) -> Self {
        Self::Waiting {
            requeue,
            reason: reason.into(),
        }
    }

    /// The requeue delay when this is a deliberate wait rather than a failure.
    pub fn waiting_for(&self) -> Option<std::time::Duration> {
        match self {
            Self::Waiting { requeue, .. } => Some(*requeue),
            Self::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::CleanupFailed(e) => e.waiting_for(),
                _ => None,
            },
            Self::Kube(_) => None,
        }
    }
}
