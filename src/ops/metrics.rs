//! [`Metrics`]: the operator's Prometheus registry (prometheus-client, OpenMetrics text) and the
//! in-process per-object reconcile counters the tests read.
//!
//! What is recorded where:
//! - reconciles (count by kind and result, duration, in flight, requeues pending): the
//!   controllers' entry in `controllers/run.rs`;
//! - Meshes requests, budget waits and 429s: the client, through [`CallObserver`];
//! - Events published and suppressed: `controllers/report.rs`;
//! - objects by kind and condition, the leader and cache gauges: computed at scrape time from
//!   the controllers' caches and [`Health`], so they are never stale bookkeeping.
//!
//! **Labels are low-cardinality by construction**: kinds and reasons are mapped onto the
//! operator's fixed vocabulary (anything else is `Other`), Meshes operations are route
//! templates, and a credential is the 8-hex-digit hash of its access key. No object name,
//! namespace, ID or secret is ever a label. `docs/operations.md` is the reference.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::health::Health;
use super::labels::{
    ConditionLabels, CredentialLabels, EventLabels, KINDS, KindLabels, OperationLabels,
    ReasonLabels, RequestLabels, ResultLabels, kind_label, status_label,
};
pub use super::labels::{PassResult, reason_label};
use crate::api::{CallObserver, Endpoint, StatusClass};
use crate::controllers::context::Stores;
use crate::resources::conditions::{self, Condition, ConditionStatus};

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 5 ms to about 41 s, doubling: reconcile passes (a pass may wait for Meshes' budget).
fn pass_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// 5 ms to about 20 s (the default request timeout), doubling: one HTTP request.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// One object, for the per-object counters and the requeue set.
type ObjectKey = (&'static str, String, String);

/// The registry and every metric in it. One per process; share it through an `Arc`.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histograms<KindLabels>,
    in_flight: Family<KindLabels, Gauge>,
    requeues_pending: Family<KindLabels, Gauge>,
    objects: Family<KindLabels, Gauge>,
    object_conditions: Family<ConditionLabels, Gauge>,
    not_ready: Family<ReasonLabels, Gauge>,
    events: Family<EventLabels, Counter>,
    leader: Gauge,
    caches_synced: Gauge,
    requests: Family<RequestLabels, Counter>,
    request_duration: Histograms<OperationLabels>,
    budget_waits: Family<CredentialLabels, Counter>,
    budget_wait_seconds: Family<CredentialLabels, Counter<f64, AtomicU64>>,
    rate_limited: Family<CredentialLabels, Counter>,
    /// Per-object pass counts: read by tests, never exported (object names are unbounded).
    per_object: Mutex<HashMap<ObjectKey, u64>>,
    /// Objects whose last pass asked the runtime for a timed requeue and which have not
    /// started another pass since.
    requeued: Mutex<HashSet<ObjectKey>>,
    stores: Mutex<Option<Stores>>,
    /// Scrapes refresh the computed gauges, then encode: one at a time.
    scrape: Mutex<()>,
    /// Each key's health, fed by the same observer calls (not exported: the controllers wake
    /// objects in backoff when a key recovers).
    outages: crate::controllers::outage::OutageWatch,
}

/// Short on purpose: the metrics sit in the client's configuration, whose `Debug` may be logged.
impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The health of each access key, as the client reported its requests.
    pub fn outages(&self) -> &crate::controllers::outage::OutageWatch {
        &self.outages
    }

    /// A registry with every metric registered (at zero).
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::default(),
            reconciles: Family::default(),
            reconcile_duration: Family::new_with_constructor(pass_buckets),
            in_flight: Family::default(),
            requeues_pending: Family::default(),
            objects: Family::default(),
            object_conditions: Family::default(),
            not_ready: Family::default(),
            events: Family::default(),
            leader: Gauge::default(),
            caches_synced: Gauge::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(request_buckets),
            budget_waits: Family::default(),
            budget_wait_seconds: Family::default(),
            rate_limited: Family::default(),
            per_object: Mutex::default(),
            requeued: Mutex::default(),
            stores: Mutex::default(),
            scrape: Mutex::default(),
            outages: Default::default(),
        };
        let r = &mut m.registry;
        r.register(
            "meshes_operator_reconciles",
            "Reconcile passes by kind and result (success: the pass ran, its outcome is in the object's status; error: a Kubernetes error, retried with backoff; waiting: a deletion waits)",
            m.reconciles.clone(),
        );
        r.register_with_unit(
            "meshes_operator_reconcile_duration",
            "Duration of reconcile passes by kind",
            Unit::Seconds,
            m.reconcile_duration.clone(),
        );
        r.register(
            "meshes_operator_reconciles_in_flight",
            "Reconcile passes running now, by kind (at most --concurrency each)",
            m.in_flight.clone(),
        );
        r.register(
            "meshes_operator_requeues_pending",
            "Objects whose last pass asked for a timed requeue (backoff, waits, resync) and that have not started another pass yet, by kind; the controller runtime's own queue is not observable",
            m.requeues_pending.clone(),
        );
        r.register(
            "meshes_operator_objects",
            "Objects in the operator's caches by kind (objects that cannot be decoded are not counted)",
            m.objects.clone(),
        );
        r.register(
            "meshes_operator_object_conditions",
            "Objects by kind, condition type and status; an object without a Ready condition counts as Ready=Unknown",
            m.object_conditions.clone(),
        );
        r.register(
            "meshes_operator_objects_not_ready",
            "Objects whose Ready condition is not True, by kind and Ready reason",
            m.not_ready.clone(),
        );
        r.register(
            "meshes_operator_events",
            "Kubernetes Events by kind, reason and result (published, or suppressed by the per-object rate limit)",
            m.events.clone(),
        );
        r.register(
            "meshes_operator_leader",
            "1 while this process is the leader (always 1 without leader election)",
            m.leader.clone(),
        );
        r.register(
            "meshes_operator_caches_synced",
            "1 once the caches of the three kinds have listed everything",
            m.caches_synced.clone(),
        );
        r.register(
            "meshes_api_requests",
            "HTTP requests sent to the Meshes API by method, route template and status class (each retry counts)",
            m.requests.clone(),
        );
        r.register_with_unit(
            "meshes_api_request_duration",
            "Latency of Meshes API requests, from sending to the end of the answer, by method and route template",
            Unit::Seconds,
            m.request_duration.clone(),
        );
        r.register(
            "meshes_api_budget_waits",
            "Meshes requests that waited for their access key's budget, by credential (first 8 hex digits of the SHA-256 of the access key)",
            m.budget_waits.clone(),
        );
        r.register_with_unit(
            "meshes_api_budget_wait",
            "Time Meshes requests spent waiting for their access key's budget, by credential",
            Unit::Seconds,
            m.budget_wait_seconds.clone(),
        );
        r.register(
            "meshes_api_rate_limited",
            "429 answers from Meshes by credential",
            m.rate_limited.clone(),
        );
        m
    }

    /// Lets scrapes count objects by condition from the controllers' caches.
    pub fn watch_stores(&self, stores: Stores) {
        *self.stores.lock().unwrap_or_else(PoisonError::into_inner) = Some(stores);
    }

    /// A pass of `kind` object `namespace/name` starts: counted per object (for tests) and in
    /// flight until [`Metrics::pass_finished`].
    pub fn pass_started(&self, kind: &str, namespace: &str, name: &str) {
        let kind = kind_label(kind);
        self.in_flight.get_or_create(&KindLabels { kind }).inc();
        let key = (kind, namespace.to_owned(), name.to_owned());
        self.requeued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
    }

    /// A pass started with [`Metrics::pass_started`] ended after `took`; `requeue`: it asked
    /// the runtime to run it again after a delay.
    pub fn pass_finished(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        result: PassResult,
        took: Duration,
        requeue: bool,
    ) {
        let kind = kind_label(kind);
        self.in_flight.get_or_create(&KindLabels { kind }).dec();
        self.reconciles
            .get_or_create(&ResultLabels {
                kind,
                result: result.as_str(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
        if requeue {
            self.requeued
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((kind, namespace.to_owned(), name.to_owned()));
        }
    }

    /// Counts one reconcile of `kind` object `namespace/name` (per object, for tests).
    pub fn reconciled(&self, kind: &str, namespace: &str, name: &str) {
        let key = (kind_label(kind), namespace.to_owned(), name.to_owned());
        *self
            .per_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_insert(0) += 1;
    }

    /// Whether the last pass of one object finished asking for a timed requeue and no pass of
    /// it has started since (for tests: the object is waiting out a delay).
    pub fn waiting_for_requeue(&self, kind: &str, namespace: &str, name: &str) -> bool {
        let key = (kind_label(kind), namespace.to_owned(), name.to_owned());
        self.requeued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&key)
    }

    /// Reconciles of one object so far.
    pub fn reconciles_of(&self, kind: &str, namespace: &str, name: &str) -> u64 {
        let key = (kind_label(kind), namespace.to_owned(), name.to_owned());
        self.per_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Reconciles of every object of `kind`.
    pub fn reconciles_of_kind(&self, kind: &str) -> u64 {
        let kind = kind_label(kind);
        self.per_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|((k, _, _), _)| *k == kind)
            .map(|(_, v)| v)
            .sum()
    }

    /// An Event of `kind` with `reason` was published (`true`) or suppressed by the rate limit.
    pub fn event(&self, kind: &str, reason: &str, published: bool) {
        self.events
            .get_or_create(&EventLabels {
                kind: kind_label(kind),
                reason: reason_label(reason),
                result: if published { "published" } else { "suppressed" },
            })
            .inc();
    }

    /// The OpenMetrics text of every metric, the computed gauges refreshed first from the
    /// caches and from `health` (without one, the leader and cache gauges stay 0).
    pub fn encode(&self, health: Option<&Health>) -> Result<String, std::fmt::Error> {
        let _one = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = health {
            self.leader.set(i64::from(h.is_leading()));
            self.caches_synced.set(i64::from(h.caches_synced()));
        }
        self.refresh_objects();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Recomputes the object gauges and prunes requeues of objects that left the caches.
    fn refresh_objects(&self) {
        let Some(stores) = self
            .stores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        self.objects.clear();
        self.object_conditions.clear();
        self.not_ready.clear();
        let mut present: HashSet<ObjectKey> = HashSet::new();
        let mut count = |kind: &'static str,
                         ns: Option<&String>,
                         name: Option<&String>,
                         conds: &[Condition]| {
            present.insert((
                kind,
                ns.cloned().unwrap_or_default(),
                name.cloned().unwrap_or_default(),
            ));
            self.count_object(kind, conds);
        };
        // The three kinds' status types differ only in type: one loop, written once.
        macro_rules! count_each {
            ($kind:expr, $objects:expr) => {
                for o in $objects {
                    let conds = o
                        .status
                        .as_ref()
                        .map(|s| s.conditions.as_slice())
                        .unwrap_or_default();
                    count(
                        $kind,
                        o.metadata.namespace.as_ref(),
                        o.metadata.name.as_ref(),
                        conds,
                    );
                }
            };
        }
        count_each!(KINDS[0], stores.all_workspaces());
        count_each!(KINDS[1], stores.all_connections());
        count_each!(KINDS[2], stores.all_rules());
        let mut requeued = self.requeued.lock().unwrap_or_else(PoisonError::into_inner);
        requeued.retain(|k| present.contains(k));
        self.requeues_pending.clear();
        for kind in KINDS {
            // Every kind has a series, zero included, so alerts see "0" rather than nothing.
            let _ = self.objects.get_or_create(&KindLabels { kind });
            let _ = self.requeues_pending.get_or_create(&KindLabels { kind });
        }
        for (kind, _, _) in requeued.iter() {
            self.requeues_pending
                .get_or_create(&KindLabels { kind })
                .inc();
        }
    }

    fn count_object(&self, kind: &'static str, conds: &[Condition]) {
        self.objects.get_or_create(&KindLabels { kind }).inc();
        let ready = conditions::find(conds, conditions::READY);
        for type_ in conditions::ALL_TYPES {
            let status = match conditions::find(conds, type_) {
                Some(c) => status_label(&c.status),
                None if type_ == conditions::READY => "Unknown",
                None => continue,
            };
            self.object_conditions
                .get_or_create(&ConditionLabels {
                    kind,
                    condition: type_,
                    status,
                })
                .inc();
        }
        if !ready.is_some_and(|c| c.status == ConditionStatus::True) {
            let reason = ready.map(|c| reason_label(&c.reason)).unwrap_or("None");
            self.not_ready
                .get_or_create(&ReasonLabels { kind, reason })
                .inc();
        }
    }
}

impl CallObserver for Metrics {
    fn request_finished(&self, endpoint: Endpoint, status: StatusClass, latency: Duration) {
        let (method, route) = (endpoint.method.as_str(), endpoint.route);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status_class: status.as_str(),
            })
            .inc();
        self.request_duration
            .get_or_create(&OperationLabels { method, route })
            .observe(latency.as_secs_f64());
    }

    fn budget_waited(&self, credential: &str, waited: Duration) {
        let labels = CredentialLabels {
            credential: credential.to_owned(),
        };
        self.budget_waits.get_or_create(&labels).inc();
        self.budget_wait_seconds
            .get_or_create(&labels)
            .inc_by(waited.as_secs_f64());
    }

    fn answered(&self, credential: &str, status: StatusClass) {
        self.outages.answered(credential, status);
    }

    fn rate_limited(&self, credential: &str) {
        self.outages.rate_limited(credential);
        self.rate_limited
            .get_or_create(&CredentialLabels {
                credential: credential.to_owned(),
            })
            .inc();
    }
}
