//! meshes-emulator: a local implementation of the Meshes HTTP API for tests and demos.
//!
//! Start one in-process with [`Emulator::start`], point a client at [`Emulator::base_url`]
//! (append `/api/v1`), mint JWTs with [`Emulator::credentials`], and steer it through
//! [`Emulator::admin`] (keys, faults, counters, seed, dashboard-style mutations).

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod counters;
pub mod error;
pub mod faults;
pub mod pagination;
pub mod ratelimit;
pub mod request;
mod routes;
pub mod seed;
pub mod server;
pub mod store;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use admin::Admin;
pub use config::{Credentials, EmulatorConfig, RateLimit};
pub use counters::CounterSnapshot;
pub use faults::{FaultAction, FaultId, FaultSpec, FaultStatus, Trigger};
pub use seed::Seed;

use crate::server::{ConnHandle, KillableListener, Shared};
use crate::store::{ApiKey, State};

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops it.
pub struct Emulator {
    addr: SocketAddr,
    credentials: Credentials,
    admin: Admin,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Builds the start state: credentials (generated when none are configured) and the seed.
fn initial_state(config: &EmulatorConfig) -> anyhow::Result<(State, Credentials)> {
    let mut world = State::default();
    let mut creds = config.credentials.clone();
    let seed_creds = config
        .seed
        .as_ref()
        .map(|s| s.credentials.len())
        .unwrap_or(0);
    if creds.is_empty() && seed_creds == 0 {
        creds.push(Credentials::generate());
    }
    for c in &creds {
        c.validate().map_err(anyhow::Error::msg)?;
        world.add_key(ApiKey {
            access_key: c.access_key.clone(),
            secret_key: c.secret_key.clone(),
            org_id: c.org_id.clone(),
            user_id: Uuid::new_v4().to_string(),
            workspaces: None,
            revoked: false,
        });
    }
    if let Some(seed) = &config.seed {
        seed.apply(&mut world)
            .map_err(|e| anyhow::anyhow!("seed: {e}"))?;
    }
    let first = match creds.first() {
        Some(c) => c.clone(),
        None => config
            .seed
            .as_ref()
            .and_then(|s| s.credentials.first())
            .map(|c| Credentials {
                access_key: c.access_key.clone(),
                secret_key: c.secret_key.clone(),
                org_id: c.org_id.clone(),
            })
            .ok_or_else(|| anyhow::anyhow!("no credentials"))?,
    };
    Ok((world, first))
}

impl Emulator {
    /// Binds `config.listen`, loads credentials, seed and faults, and serves in the background.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let (world, credentials) = initial_state(&config)?;
        let shared = Arc::new(Shared {
            store: store::Store::default(),
            faults: faults::Faults::default(),
            counters: counters::Counters::default(),
            limiter: ratelimit::RateLimiter::new(config.rate_limit),
            clock_skew_secs: i64::try_from(config.clock_skew.as_secs()).unwrap_or(5),
            allow_insecure_loopback_webhooks: AtomicBool::new(
                config.allow_insecure_loopback_webhooks,
            ),
            initial: Mutex::new(world.clone()),
        });
        *shared.store.write() = world;
        for f in &config.faults {
            shared.faults.add(f.clone());
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("binding {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let app =
            server::router(shared.clone()).into_make_service_with_connect_info::<ConnHandle>();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(KillableListener(listener), app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "emulator server failed");
            }
        });
        tracing::info!(%addr, "meshes emulator listening");
        Ok(Emulator {
            addr,
            credentials,
            admin: Admin { app: shared },
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` — without `/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first start key.
    pub fn credentials(&self) -> Credentials {
        self.credentials.clone()
    }

    /// Control handle.
    pub fn admin(&self) -> Admin {
        self.admin.clone()
    }

    /// Stops accepting, lets open requests finish (up to 5 s), then stops.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Graceful: idle keep-alive connections close now, in-flight requests finish.
        let _ = self.stop.send(true);
    }
}
