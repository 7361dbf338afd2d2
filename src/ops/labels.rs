//! The label sets of [`super::metrics`] and the fixed vocabularies their values come from:
//! kinds, reasons, pass results and condition statuses. Nothing here takes a free-form value
//! except the credential label, which the client computes as a short hash.

use prometheus_client::encoding::EncodeLabelSet;

use crate::resources::conditions::ConditionStatus;
use crate::resources::reasons;

/// The kinds, as label values.
pub(super) const KINDS: [&str; 3] = ["MeshesWorkspace", "MeshesConnection", "MeshesRule"];

/// `kind` as one of the three label values, or `Other`.
pub(super) fn kind_label(kind: &str) -> &'static str {
    KINDS.into_iter().find(|k| *k == kind).unwrap_or("Other")
}

/// `reason` as a label value from the operator's vocabulary, or `Other` (a status written by
/// someone else cannot add series).
pub fn reason_label(reason: &str) -> &'static str {
    std::iter::once(reasons::AVAILABLE)
        .chain(reasons::PROGRESSING)
        .chain(reasons::STALLING)
        .chain(reasons::SYNC)
        .chain(reasons::DRIFT)
        .chain(reasons::EVENT_ONLY)
        .find(|r| *r == reason)
        .unwrap_or("Other")
}

/// How a reconcile pass ended, as the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassResult {
    /// The pass returned normally (its outcome, Ready or not, is in the object's status).
    Success,
    /// The pass failed with a Kubernetes error and is retried with backoff.
    Error,
    /// A deletion is waiting (dependents, a refusal by Meshes); not a failure.
    Waiting,
}

impl PassResult {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Waiting => "waiting",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct KindLabels {
    pub(super) kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabels {
    pub(super) kind: &'static str,
    pub(super) result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OperationLabels {
    pub(super) method: &'static str,
    pub(super) route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub(super) method: &'static str,
    pub(super) route: &'static str,
    pub(super) status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CredentialLabels {
    pub(super) credential: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ConditionLabels {
    pub(super) kind: &'static str,
    pub(super) condition: &'static str,
    pub(super) status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) kind: &'static str,
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EventLabels {
    pub(super) kind: &'static str,
    pub(super) reason: &'static str,
    pub(super) result: &'static str,
}

pub(super) fn status_label(s: &ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}
