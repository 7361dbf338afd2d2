//! The send gate: one check made right before a request leaves the process, after its budget
//! wait and JWT. The operator closes it when its replica may no longer hold the leader Lease, so
//! a replica that lost leadership (or was paused past its renew deadline) sends nothing to
//! Meshes, however long its calls queued for a budget permit.

use std::fmt;
use std::sync::Arc;

/// Decides whether a request may be sent now.
pub trait SendGate: Send + Sync + 'static {
    /// True when a request may leave the process at this instant.
    fn may_send(&self) -> bool;
}

/// A shared [`SendGate`] as a [`crate::ClientConfig`] field (with a `Debug` that names it).
#[derive(Clone)]
pub struct Gate(Arc<dyn SendGate>);

impl Gate {
    /// Wraps a gate.
    pub fn new(gate: Arc<dyn SendGate>) -> Self {
        Self(gate)
    }

    /// See [`SendGate::may_send`].
    pub fn may_send(&self) -> bool {
        self.0.may_send()
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Gate")
    }
}
