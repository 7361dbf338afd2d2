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
}
