//! Call counters: per route template (method + template), per access key (the token's `kid`,
//! even when the token is refused), per client identity (`User-Agent`) and per status code.
//! Every answer of the Meshes API surface is counted, including 4xx and injected faults.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// A snapshot of all counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Every request.
    pub total: u64,
    /// `"METHOD /route/template"` → count.
    pub routes: BTreeMap<String, u64>,
    /// Access key → count.
    pub keys: BTreeMap<String, u64>,
    /// User-Agent → count.
    pub clients: BTreeMap<String, u64>,
    /// Status code → count.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests being answered now.
    pub in_flight: u64,
    /// The most requests answered at once since the last reset (how tests see a client's
    /// concurrency cap at work).
    pub max_in_flight: u64,
}

/// Thread-safe counters.
#[derive(Debug, Default)]
pub struct Counters(Mutex<CounterSnapshot>);

/// Route label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

impl Counters {
    fn lock(&self) -> std::sync::MutexGuard<'_, CounterSnapshot> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one answered request.
    pub fn record(
        &self,
        method: &str,
        route: &str,
        key: Option<&str>,
        user_agent: Option<&str>,
        status: u16,
    ) {
        let mut c = self.lock();
        c.total += 1;
        *c.routes.entry(format!("{method} {route}")).or_default() += 1;
        if let Some(k) = key {
            *c.keys.entry(k.to_owned()).or_default() += 1;
        }
        if let Some(ua) = user_agent {
            *c.clients.entry(ua.to_owned()).or_default() += 1;
        }
        *c.statuses.entry(status).or_default() += 1;
    }

    /// Marks a request as being answered until the returned guard is dropped.
    pub fn start(&self) -> InFlight<'_> {
        let mut c = self.lock();
        c.in_flight += 1;
        c.max_in_flight = c.max_in_flight.max(c.in_flight);
        InFlight(self)
    }

    /// The most requests answered at once since the last reset.
    pub fn max_in_flight(&self) -> u64 {
        self.lock().max_in_flight
    }

    /// Calls of one route template.
    pub fn route(&self, method: &str, route: &str) -> u64 {
        let key = format!("{} {route}", method.to_ascii_uppercase());
        self.lock().routes.get(&key).copied().unwrap_or(0)
    }

    /// Calls by one access key.
    pub fn key(&self, access_key: &str) -> u64 {
        self.lock().keys.get(access_key).copied().unwrap_or(0)
    }

    /// Calls by one User-Agent.
    pub fn client(&self, user_agent: &str) -> u64 {
        self.lock().clients.get(user_agent).copied().unwrap_or(0)
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// Copy of everything.
    pub fn snapshot(&self) -> CounterSnapshot {
        self.lock().clone()
    }

    /// Zeroes everything (requests in flight stay counted as in flight).
    pub fn reset(&self) {
        let mut c = self.lock();
        let in_flight = c.in_flight;
        *c = CounterSnapshot {
            in_flight,
            max_in_flight: in_flight,
            ..CounterSnapshot::default()
        };
    }
}

/// A request being answered (see [`Counters::start`]).
#[derive(Debug)]
pub struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut c = self.0.lock();
        c.in_flight = c.in_flight.saturating_sub(1);
    }
}
