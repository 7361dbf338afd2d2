//! The election decision on one read of the Lease, kept pure: create it, renew it, take it
//! over, or wait. Expiry is judged the way client-go judges it, by how long *this* replica has
//! seen the same record unchanged on its own monotonic clock, never by comparing the
//! `renewTime` written by another machine with this machine's wall clock (clocks skew).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::LeaseSpec;

/// What to do after reading the Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it held by us.
    Create,
    /// We hold it: renew.
    Renew,
    /// Released, or expired by our observation: take it over.
    TakeOver,
    /// Another replica holds it.
    Wait,
}

/// When this replica first saw the current record of the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The record's `resourceVersion` (any write changes it).
    pub version: String,
    /// When we first saw it.
    pub since: Instant,
}

impl Observation {
    /// The observation after reading a record of `version` at `now`: unchanged records keep
    /// their first sighting.
    pub fn after(previous: Option<&Observation>, version: &str, now: Instant) -> Observation {
        match previous {
            Some(p) if p.version == version => p.clone(),
            _ => Observation {
                version: version.to_owned(),
                since: now,
            },
        }
    }
}

/// The decision for `me` on a read Lease (`None`: it does not exist), seen unchanged since
/// `observed.since`. A record without a duration counts as `fallback` long.
pub fn decide(
    me: &str,
    spec: Option<&LeaseSpec>,
    observed: &Observation,
    now: Instant,
    fallback: Duration,
) -> Decision {
    let Some(spec) = spec else {
        return Decision::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(h) if h == me => Decision::Renew,
        None | Some("") => Decision::TakeOver,
        Some(_) => {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(fallback, Duration::from_secs);
            if now.saturating_duration_since(observed.since) >= duration {
                Decision::TakeOver
            } else {
                Decision::Wait
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: Option<&str>, secs: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: secs,
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn decisions() {
        let t0 = Instant::now();
        let obs = Observation::after(None, "1", t0);
        let d = Duration::from_secs(15);
        assert_eq!(decide("me", None, &obs, t0, d), Decision::Create);
        let mine = held_by(Some("me"), Some(15));
        assert_eq!(decide("me", Some(&mine), &obs, t0, d), Decision::Renew);
        let released = held_by(None, Some(1));
        assert_eq!(
            decide("me", Some(&released), &obs, t0, d),
            Decision::TakeOver
        );
        let empty = held_by(Some(""), Some(1));
        assert_eq!(decide("me", Some(&empty), &obs, t0, d), Decision::TakeOver);
        let other = held_by(Some("other"), Some(15));
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(decide("me", Some(&other), &obs, at(14), d), Decision::Wait);
        assert_eq!(
            decide("me", Some(&other), &obs, at(15), d),
            Decision::TakeOver
        );
        // Without a duration on the record, ours counts.
        let no_duration = held_by(Some("other"), None);
        assert_eq!(
            decide("me", Some(&no_duration), &obs, at(14), d),
            Decision::Wait
        );
        assert_eq!(
            decide("me", Some(&no_duration), &obs, at(15), d),
            Decision::TakeOver
        );
    }

    /// Expiry counts from when the current record was first seen: a renewal by the holder
    /// (a new resourceVersion) restarts the count, rereading the same record does not.
    #[test]
    fn a_renewal_seen_restarts_the_count() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let other = held_by(Some("other"), Some(15));
        let d = Duration::from_secs(15);
        let first = Observation::after(None, "1", t0);
        let same = Observation::after(Some(&first), "1", at(10));
        assert_eq!(same.since, t0);
        let renewed = Observation::after(Some(&same), "2", at(10));
        assert_eq!(renewed.since, at(10));
        assert_eq!(
            decide("me", Some(&other), &same, at(16), d),
            Decision::TakeOver
        );
        assert_eq!(
            decide("me", Some(&other), &renewed, at(16), d),
            Decision::Wait
        );
        assert_eq!(
            decide("me", Some(&other), &renewed, at(25), d),
            Decision::TakeOver
        );
    }
}
