//! The fence: whether this replica may write now. Open only while the last successful
//! acquisition or renewal of the Lease is younger than the renew deadline, measured on this
//! process's monotonic clock from the moment that request was sent.
//!
//! Why that bound keeps two writers apart: a standby takes the Lease over only after it has
//! seen the same Lease record, unchanged, for the whole lease duration on its own clock, and it
//! can first see a renewal only after the renewal was sent. With `renew deadline < lease
//! duration` the fence closes at least `lease duration − renew deadline` before any takeover,
//! whatever happens to this process in between: a partition, a slow apiserver, or a SIGSTOP
//! (the monotonic clock keeps running while a process is stopped, so the fence is found closed
//! the instant it resumes). That margin is also the longest a write already past the fence may
//! take to land; the request timeouts keep writes well inside it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api::SendGate;

/// Whether this replica may write (Kubernetes and Meshes).
#[derive(Debug)]
pub struct Fence {
    /// `None`: closed. `Some(t)`: open until `t`.
    until: Mutex<Option<Instant>>,
    /// Without leader election the fence never closes.
    always_open: bool,
}

impl Fence {
    /// A fence that never closes (leader election off: one replica by configuration).
    pub fn always_open() -> Self {
        Self {
            until: Mutex::new(None),
            always_open: true,
        }
    }

    /// A closed fence, opened by the elector once it holds the Lease.
    pub fn closed() -> Self {
        Self {
            until: Mutex::new(None),
            always_open: false,
        }
    }

    /// True when a write may be sent at this instant.
    pub fn is_open(&self) -> bool {
        self.always_open || self.open_at(Instant::now())
    }

    fn open_at(&self, now: Instant) -> bool {
        self.until
            .lock()
            .map(|u| u.is_some_and(|until| now < until))
            .unwrap_or(false)
    }

    /// Opens (or keeps open) the fence until `sent + renew_deadline`, where `sent` is when the
    /// successful acquisition or renewal was sent. Never moves the end backwards.
    pub(super) fn extend(&self, sent: Instant, renew_deadline: Duration) {
        let end = sent + renew_deadline;
        if let Ok(mut until) = self.until.lock() {
            *until = Some(until.map_or(end, |u| u.max(end)));
        }
    }

    /// Closes the fence now (leadership lost, or released at shutdown).
    pub(super) fn close(&self) {
        if let Ok(mut until) = self.until.lock() {
            *until = None;
        }
    }
}

impl SendGate for Fence {
    fn may_send(&self) -> bool {
        self.is_open()
    }
}

#[cfg(test)]
impl Fence {
    /// Opens the fence for `d` from now (tests of the layers it guards).
    pub(crate) fn extend_for_tests(&self, d: Duration) {
        self.extend(Instant::now(), d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_is_open_only_until_the_renew_deadline_after_the_send() {
        let f = Fence::closed();
        let t0 = Instant::now();
        assert!(!f.open_at(t0), "closed until the Lease is held");
        f.extend(t0, Duration::from_secs(10));
        assert!(f.open_at(t0 + Duration::from_secs(9)));
        assert!(
            !f.open_at(t0 + Duration::from_secs(10)),
            "closed at the deadline"
        );
        // A renewal sent earlier than the last one never shortens the window.
        f.extend(t0 - Duration::from_secs(5), Duration::from_secs(10));
        assert!(f.open_at(t0 + Duration::from_secs(9)));
        f.extend(t0 + Duration::from_secs(8), Duration::from_secs(10));
        assert!(f.open_at(t0 + Duration::from_secs(17)));
        f.close();
        assert!(!f.open_at(t0 + Duration::from_secs(1)), "closed at once");
        assert!(Fence::always_open().is_open());
    }
}
