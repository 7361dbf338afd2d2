//! Namespaces the API server told us are being deleted. There the NamespaceLifecycle
//! admission refuses every new Event, so Events about objects being cleaned up in them are
//! not attempted (a refused request per cleanup spends the client's rate limit that the
//! finalizer patches of the namespace's other objects need), and a Warning is published on
//! the Namespace itself instead (its Events live in `default`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;

/// How long a namespace is remembered as terminating. A namespace deleted and re-created
/// with the same name within this window has its cleanup Events redirected to the
/// Namespace until then; nothing else depends on it.
const REMEMBERED: Duration = Duration::from_secs(600);

/// The namespaces known to be terminating, with when that was learnt.
#[derive(Debug, Default)]
pub struct TerminatingNamespaces {
    seen: Mutex<HashMap<String, Instant>>,
}

impl TerminatingNamespaces {
    /// Records that namespace `ns` refused new content because it is being deleted.
    pub fn learnt(&self, ns: &str, now: Instant) {
        if let Ok(mut m) = self.seen.lock() {
            m.retain(|_, at| now.duration_since(*at) < REMEMBERED);
            m.insert(ns.to_string(), now);
        }
    }

    /// Whether namespace `ns` was recently seen terminating.
    pub fn contains(&self, ns: &str, now: Instant) -> bool {
        self.seen.lock().is_ok_and(|m| {
            m.get(ns)
                .is_some_and(|at| now.duration_since(*at) < REMEMBERED)
        })
    }
}

/// Whether `e` is the API server refusing new content in a namespace being deleted.
pub fn refused_as_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("because it is being terminated"))
}

/// A reference to Namespace `ns`: Events regarding it are created in `default`, which is not
/// being deleted.
pub fn namespace_ref(ns: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Namespace".into()),
        name: Some(ns.to_string()),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, "Forbidden")
                .with_code(403)
                .boxed(),
        )
    }

    #[test]
    fn a_namespace_is_remembered_for_a_while_then_forgotten() {
        let t = TerminatingNamespaces::default();
        let now = Instant::now();
        assert!(!t.contains("a", now));
        t.learnt("a", now);
        assert!(t.contains("a", now + Duration::from_secs(599)));
        assert!(!t.contains("b", now));
        assert!(!t.contains("a", now + REMEMBERED));
        // Learning another namespace drops the expired ones.
        t.learnt("b", now + REMEMBERED);
        assert_eq!(t.seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn only_the_terminating_refusal_counts() {
        assert!(refused_as_terminating(&forbidden(
            "events.events.k8s.io \"x\" is forbidden: unable to create new content in \
             namespace a because it is being terminated"
        )));
        assert!(!refused_as_terminating(&forbidden(
            "events.events.k8s.io is forbidden: User \"x\" cannot create resource"
        )));
    }

    #[test]
    fn the_namespace_reference_has_no_namespace() {
        let r = namespace_ref("a");
        assert_eq!(r.namespace, None);
        assert_eq!(r.kind.as_deref(), Some("Namespace"));
    }
}
