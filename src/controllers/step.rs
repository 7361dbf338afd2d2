//! One reconcile pass's conclusion ([`Step`]) and the mappings every controller shares: Meshes
//! errors to outcomes (transient → backoff, permanent → Stalled), Kubernetes failures, and the
//! bounded deletion wait. (The stale-cache check lives on the lifecycle's host.)

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;

use super::config::SecretRef;
use super::context::Context;
use super::credentials::Unavailable;
use super::outcome::{Drift, Outcome};
use crate::api::{ApiError, ErrorClass};
use crate::resources::reasons;

/// What one pass concluded.
#[derive(Debug)]
pub struct Step {
    /// The conclusion.
    pub outcome: Outcome,
    /// The Drifted condition.
    pub drift: Drift,
    /// When to run again without a watch event.
    pub requeue: Option<Duration>,
    /// Nothing was decided (a stale cache entry, or a stall whose inputs did not change):
    /// leave status untouched.
    pub quiet: bool,
}

impl Step {
    /// A stall with `reason` and an actionable `message`.
    pub fn stalled(reason: &'static str, message: String) -> Self {
        Self {
            outcome: Outcome::Stalled { reason, message },
            drift: Drift::Unchanged,
            requeue: None,
            quiet: false,
        }
    }

    /// The same step, with one more pass after `after`. For stalls whose inputs may have moved
    /// under the pass: that pass re-reads them, and is quiet if they are still the same.
    pub fn recheck_after(mut self, after: Duration) -> Self {
        self.requeue = Some(after);
        self
    }

    /// Decide nothing, write nothing.
    pub fn quiet(requeue: Option<Duration>) -> Self {
        Self {
            outcome: Outcome::Paused,
            drift: Drift::Unchanged,
            requeue,
            quiet: true,
        }
    }
}

impl From<Unavailable> for Step {
    fn from(u: Unavailable) -> Self {
        Self {
            outcome: u.outcome,
            drift: Drift::Unchanged,
            requeue: u.requeue,
            quiet: false,
        }
    }
}

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(Timestamp::now())
}

/// A transient Kubernetes API failure.
pub fn kube_transient(ctx: &Context, uid: &str, e: kube::Error) -> Step {
    Step {
        outcome: Outcome::Transient {
            message: format!("Kubernetes API: {e}"),
        },
        drift: Drift::Unchanged,
        requeue: Some(ctx.next_backoff(uid)),
        quiet: false,
    }
}

/// When a pass stalls on credentials Meshes refused (401/403), one more pass this much later.
/// A rotation can race a pass: it read the old key, the rotation revoked it while the pass ran,
/// and the refusal is concluded with the key the Secret no longer holds. The Secret watch wakes
/// the object for the new key, but a stall must not depend on that wake alone (the reliability
/// churn with rotations saw workspaces stay `InvalidCredentials` with a valid key in their
/// Secret). The extra pass re-reads the credentials: with the same key it is quiet (no Meshes
/// call, no status write, no further requeue), with another it tries again.
pub const CREDENTIALS_RECHECK: Duration = Duration::from_secs(30);

/// Maps a Meshes error to a step by the client's one classification ([`ErrorClass`]):
/// transient or unknown outcome → backoff (a write with an unknown outcome is claimed by the
/// lifecycle, never repeated blindly); 429 → the server's pause; everything else → Stalled,
/// since only a change (spec, credentials, upstream, operator version) can fix it.
pub fn api_error(ctx: &Context, uid: &str, secret: Option<&SecretRef>, e: ApiError) -> Step {
    let from_secret = secret
        .map(|s| format!(" in Secret {s}"))
        .unwrap_or_default();
    let retry = |requeue: Duration| Step {
        outcome: Outcome::Transient {
            message: e.to_string(),
        },
        drift: Drift::Unchanged,
        requeue: Some(requeue),
        quiet: false,
    };
    match e.class() {
        ErrorClass::Transient | ErrorClass::OutcomeUnknown => retry(ctx.next_backoff(uid)),
        ErrorClass::RateLimited => retry(
            e.retry_after()
                .unwrap_or_default()
                .max(ctx.next_backoff(uid)),
        ),
        ErrorClass::Unauthorized => Step::stalled(
            reasons::INVALID_CREDENTIALS,
            format!("Meshes refused the credentials{from_secret} ({e}); fix or rotate them"),
        )
        .recheck_after(CREDENTIALS_RECHECK),
        ErrorClass::Forbidden => Step::stalled(
            reasons::INVALID_CREDENTIALS,
            format!(
                "The access key{from_secret} may not do this ({e}); use a key with access to the workspace"
            ),
        )
        .recheck_after(CREDENTIALS_RECHECK),
        ErrorClass::Rejected | ErrorClass::Conflict | ErrorClass::NotFound => Step::stalled(
            reasons::REJECTED,
            format!("Meshes rejected the request: {e}"),
        ),
        ErrorClass::NotSent => Step::stalled(
            reasons::REJECTED,
            format!("The request to Meshes could not be sent ({e}); check the IDs in the spec"),
        ),
    }
}

/// Whether `obj` has been deleting for longer than the release timeout (bounded waits end).
pub fn release_timed_out<K: Resource>(obj: &K, ctx: &Context) -> bool {
    obj.meta()
        .deletion_timestamp
        .as_ref()
        .and_then(|t| Duration::try_from(Timestamp::now().duration_since(t.0)).ok())
        .is_some_and(|d| d >= ctx.config.deletion_release_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Endpoint, Method, TransientCause};
    use crate::controllers::context::{Stores, test_context};

    fn ep() -> Endpoint {
        Endpoint {
            method: Method::Post,
            route: "/api/v1/rules",
        }
    }

    #[tokio::test]
    async fn every_error_class_maps_to_retry_or_stall_as_the_client_classifies_it() {
        let ctx = test_context("http://127.0.0.1:9", Stores::default());
        let message = String::from("m");
        let cases = [
            (
                ApiError::Transient {
                    endpoint: ep(),
                    cause: TransientCause::Timeout,
                    message: message.clone(),
                },
                None,
            ),
            (
                ApiError::Unexpected {
                    endpoint: ep(),
                    status: Some(201),
                    message: message.clone(),
                    excerpt: String::new(),
                },
                None,
            ),
            (
                ApiError::RateLimited {
                    endpoint: ep(),
                    retry_after: None,
                    message: message.clone(),
                },
                None,
            ),
            (
                ApiError::Unauthorized {
                    endpoint: ep(),
                    message: message.clone(),
                },
                Some(reasons::INVALID_CREDENTIALS),
            ),
            (
                ApiError::Forbidden {
                    endpoint: ep(),
                    message: message.clone(),
                },
                Some(reasons::INVALID_CREDENTIALS),
            ),
            (
                ApiError::Conflict {
                    endpoint: ep(),
                    message: message.clone(),
                },
                Some(reasons::REJECTED),
            ),
            (
                ApiError::NotFound {
                    endpoint: ep(),
                    message: message.clone(),
                },
                Some(reasons::REJECTED),
            ),
            (
                ApiError::Invalid {
                    endpoint: ep(),
                    status: 422,
                    message: message.clone(),
                    fields: vec![],
                },
                Some(reasons::REJECTED),
            ),
            (
                ApiError::Local {
                    endpoint: ep(),
                    message: message.clone(),
                },
                Some(reasons::REJECTED),
            ),
        ];
        for (e, stalls) in cases {
            let class = e.class();
            let step = api_error(&ctx, "u", None, e);
            match (stalls, &step.outcome) {
                (None, Outcome::Transient { .. }) => assert!(step.requeue.is_some(), "{class:?}"),
                (Some(want), Outcome::Stalled { reason, .. }) => {
                    assert_eq!(*reason, want, "{class:?}");
                    // Refused credentials are looked at once more (a rotation may have raced
                    // the pass); other stalls wait for a change of their inputs.
                    let recheck = matches!(class, ErrorClass::Unauthorized | ErrorClass::Forbidden)
                        .then_some(CREDENTIALS_RECHECK);
                    assert_eq!(step.requeue, recheck, "{class:?}");
                }
                (want, got) => panic!("{class:?}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
