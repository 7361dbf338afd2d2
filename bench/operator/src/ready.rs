//! Watching Readiness: one watch per kind over the whole cluster, counting the custom resources
//! whose Ready condition is True for their current generation, with a timeline of that count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;

use crate::tenants::resource;

/// Ready custom resources over time.
#[derive(Debug, Default)]
struct State {
    ready: HashMap<String, bool>,
    count: usize,
    timeline: Vec<(f64, usize)>,
    /// When each kind's objects became Ready since the last reset (seconds, in order).
    by_kind: HashMap<&'static str, Vec<f64>>,
}

/// A running Readiness watch; stops when dropped.
#[derive(Debug)]
pub struct Readiness {
    state: Arc<Mutex<State>>,
    origin: Arc<Mutex<Instant>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn is_ready(obj: &DynamicObject) -> bool {
    let generation = obj.metadata.generation;
    obj.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c: &Value| {
            c["type"] == "Ready"
                && c["status"] == "True"
                && c["observedGeneration"].as_i64() == generation
        })
}

impl Readiness {
    /// Starts watching the three kinds; times are measured from `origin` (see [`Self::reset`]).
    pub fn start(client: &kube::Client) -> Readiness {
        let state = Arc::new(Mutex::new(State::default()));
        let origin = Arc::new(Mutex::new(Instant::now()));
        let tasks = ["MeshesWorkspace", "MeshesConnection", "MeshesRule"]
            .into_iter()
            .map(|kind| {
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource(kind));
                let (state, origin) = (state.clone(), origin.clone());
                tokio::spawn(async move {
                    let mut events = watcher(api, watcher::Config::default()).boxed();
                    while let Some(ev) = events.next().await {
                        let (obj, gone) = match ev {
                            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                                (o, false)
                            }
                            Ok(watcher::Event::Delete(o)) => (o, true),
                            _ => continue,
                        };
                        let key = format!(
                            "{kind}/{}/{}",
                            obj.metadata.namespace.clone().unwrap_or_default(),
                            obj.metadata.name.clone().unwrap_or_default()
                        );
                        let now = !gone && is_ready(&obj);
                        let t = origin
                            .lock()
                            .map(|o| o.elapsed().as_secs_f64())
                            .unwrap_or(0.0);
                        if let Ok(mut s) = state.lock() {
                            let was = s.ready.insert(key, now).unwrap_or(false);
                            if was != now {
                                if now {
                                    s.count += 1;
                                    s.by_kind.entry(kind).or_default().push(t);
                                } else {
                                    s.count -= 1;
                                }
                                let c = s.count;
                                s.timeline.push((t, c));
                            }
                        }
                    }
                })
            })
            .collect();
        Readiness {
            state,
            origin,
            tasks,
        }
    }

    /// Restarts the clock and the timeline (the count stays).
    pub fn reset(&self) {
        if let Ok(mut o) = self.origin.lock() {
            *o = Instant::now();
        }
        if let Ok(mut s) = self.state.lock() {
            s.timeline.clear();
            s.by_kind.clear();
        }
    }

    /// Ready custom resources now.
    pub fn count(&self) -> usize {
        self.state.lock().map(|s| s.count).unwrap_or(0)
    }

    /// The timeline since the last reset: (seconds, Ready count).
    pub fn timeline(&self) -> Vec<(f64, usize)> {
        self.state
            .lock()
            .map(|s| s.timeline.clone())
            .unwrap_or_default()
    }

    /// Per kind, when half, 90 % and all of the objects that became Ready since the last reset
    /// did (seconds): which kind a slow convergence waited for.
    pub fn by_kind(&self) -> Vec<(&'static str, [f64; 3])> {
        let Ok(s) = self.state.lock() else {
            return Vec::new();
        };
        let mut out: Vec<_> = s
            .by_kind
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(k, t)| {
                let at = |q: f64| t[((t.len() as f64 * q).ceil() as usize).clamp(1, t.len()) - 1];
                (*k, [at(0.5), at(0.9), at(1.0)])
            })
            .collect();
        out.sort_by_key(|(k, _)| *k);
        out
    }

    /// Waits until at least `n` are Ready; the time since the last reset, or `None` on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.count() >= n {
                return self.origin.lock().ok().map(|o| o.elapsed());
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
