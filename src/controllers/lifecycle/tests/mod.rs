//! The unit tier of the lifecycle: the real `MeshesRule` and `MeshesConnection` kinds driven
//! through every decision branch and crash point of create, replace and delete against the
//! in-memory Meshes, with a host that records status writes and Events. A "crash" keeps only what
//! was persisted and starts a new process (memos and snapshots lost).
//!
//! - this module: the recording host, the simulated process ([`Sim`]);
//! - `rules`: create, claim, replace and delete crash points of `MeshesRule`;
//! - `connections`: updates from upstream settings, 404 on PUT, conflicts of `MeshesConnection`.

mod connections;
mod rules;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::delete::{self, Cleanup};
use super::host::Host;
use super::memapi::{Dedup, Fault, MemApi, Op};
use super::{Kind, apply};
use crate::api::types::{Connection, IntegrationType};
use crate::api::{Credentials, MeshesApi};
use crate::controllers::config::{OperatorConfig, SecretRef};
use crate::controllers::connection::kind::ConnectionInputs;
use crate::controllers::context::{Context, Stores, Triggers};
use crate::controllers::credentials::Resolved;
use crate::controllers::metrics::Metrics;
use crate::controllers::outcome::Outcome;
use crate::controllers::parents::Parent;
use crate::controllers::rule::decide;
use crate::controllers::rule::kind::RuleInputs;
use crate::controllers::settings::{Settings, settings_hash};
use crate::controllers::step::Step;
use crate::resources::{MeshesConnection, MeshesRule, reasons};

/// Records what a pass does on the Kubernetes side; can crash right after a status write.
struct Recorder<K: Kind> {
    persisted: Mutex<Vec<K::Status>>,
    events: Mutex<Vec<(bool, String, String)>>,
    stale: Mutex<Vec<bool>>,
    crash_at: Mutex<Option<usize>>,
    crashed: Mutex<bool>,
}

impl<K: Kind> Recorder<K> {
    fn new() -> Self {
        Self {
            persisted: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
            stale: Mutex::new(Vec::new()),
            crash_at: Mutex::new(None),
            crashed: Mutex::new(false),
        }
    }

    fn reasons(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.1.clone())
            .collect()
    }
}

#[async_trait]
impl<K: Kind> Host<K> for Recorder<K> {
    async fn persist(&self, _obj: &K, status: &K::Status) -> Result<(), kube::Error> {
        let mut p = self.persisted.lock().unwrap();
        p.push(status.clone());
        if *self.crash_at.lock().unwrap() == Some(p.len()) {
            *self.crashed.lock().unwrap() = true;
            return Err(kube::Error::TlsRequired);
        }
        Ok(())
    }

    async fn is_stale(&self, _obj: &K) -> Result<bool, kube::Error> {
        Ok(self.stale.lock().unwrap().pop().unwrap_or(false))
    }

    async fn event(&self, _obj: &K, warning: bool, reason: &str, note: String) {
        self.events
            .lock()
            .unwrap()
            .push((warning, reason.to_string(), note));
    }
}

fn context(api: Arc<MemApi>) -> Context {
    let client =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    Context::new(
        client,
        api,
        OperatorConfig::default(),
        Stores::default(),
        Arc::new(Metrics::default()),
        Triggers::default(),
    )
}

fn resolved() -> Resolved {
    Resolved {
        creds: Credentials::new("mk_test", "secret-value", "org1").unwrap(),
        secret: SecretRef {
            namespace: "ns".into(),
            name: "creds".into(),
        },
        fingerprint: 7,
    }
}

/// One object, its upstream, and the process running it.
struct Sim<K: Kind> {
    api: Arc<MemApi>,
    ctx: Context,
    host: Recorder<K>,
    obj: K,
    inputs: fn(&K) -> K::In,
}

impl<K: Kind + SetStatus> Sim<K> {
    /// One pass; the frame's final status write happens unless the process crashed.
    async fn pass(&mut self) -> Step {
        let mut status = self.obj.current_status().cloned().unwrap_or_default();
        self.obj.prepare(&self.ctx, &mut status);
        let inputs = (self.inputs)(&self.obj);
        let mut stall = None;
        let step = apply::run_with(
            &self.obj,
            &self.ctx,
            &self.host,
            &inputs,
            &mut status,
            &mut stall,
        )
        .await;
        if std::mem::take(&mut *self.host.crashed.lock().unwrap()) {
            self.restart_from_persisted();
        } else if !step.quiet {
            self.set_status(status);
        }
        step
    }

    /// A pass after which the process dies before the final status write.
    async fn pass_then_crash(&mut self) -> Step {
        let before = self.obj.current_status().cloned();
        let mut status = before.clone().unwrap_or_default();
        self.obj.prepare(&self.ctx, &mut status);
        let inputs = (self.inputs)(&self.obj);
        let step = apply::run_with(
            &self.obj,
            &self.ctx,
            &self.host,
            &inputs,
            &mut status,
            &mut None,
        )
        .await;
        self.restart_from_persisted();
        step
    }

    fn crash_at_persist(&self, n: usize) {
        let done = self.host.persisted.lock().unwrap().len();
        *self.host.crash_at.lock().unwrap() = Some(done + n);
    }

    fn restart_from_persisted(&mut self) {
        let last = self.host.persisted.lock().unwrap().last().cloned();
        if let Some(last) = last {
            self.set_status(last);
        }
        self.ctx = context(self.api.clone());
    }

    async fn cleanup(&mut self) -> Cleanup {
        let inputs = (self.inputs)(&self.obj);
        delete::run_with(&self.obj, &self.ctx, &self.host, async || Ok(inputs)).await
    }
}

trait SetStatus: Kind {
    fn set(&mut self, status: Self::Status);
}
impl SetStatus for MeshesRule {
    fn set(&mut self, s: Self::Status) {
        self.status = Some(s);
    }
}
impl SetStatus for MeshesConnection {
    fn set(&mut self, s: Self::Status) {
        self.status = Some(s);
    }
}
impl<K: Kind + SetStatus> Sim<K> {
    fn set_status(&mut self, s: K::Status) {
        self.obj.set(s);
    }
}

fn ready(step: &Step) -> bool {
    matches!(step.outcome, Outcome::Ready { .. })
}
