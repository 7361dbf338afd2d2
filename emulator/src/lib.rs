//! meshes-emulator: a local implementation of the Meshes HTTP API for tests and demos.
//!
//! Start one in-process with [`Emulator::start`], point a client at [`Emulator::base_url`]
//! (append `/api/v1`), mint JWTs with [`Emulator::credentials`], and steer it through
//! [`Emulator::admin`] (keys, faults, counters, seed, rule de-duplication mode, dashboard-style
//! mutations).

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod counters;
pub mod delivery;
pub mod error;
pub mod faults;
pub mod pagination;
pub mod persist;
pub mod ratelimit;
pub mod request;
mod routes;
pub mod seed;
pub mod server;
pub mod store;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use admin::Admin;
pub use config::{Credentials, DeliveryConfig, EmulatorConfig, RateLimit, RuleDedup};
pub use counters::CounterSnapshot;
pub use delivery::DeliveryRecord;
pub use faults::{FaultAction, FaultId, FaultSpec, FaultStatus, Trigger};
pub use seed::Seed;

use crate::server::{ConnHandle, KillableListener, Shared};
use crate::store::{ApiKey, State};

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops it.
pub struct Emulator {
    addr: SocketAddr,
    events_addr: Option<SocketAddr>,
    credentials: Credentials,
    admin: Admin,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .field("events_addr", &self.events_addr)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Builds the start state: credentials (`reuse`, else generated, when none are configured)
/// and the seed.
fn initial_state(
    config: &EmulatorConfig,
    reuse: Option<Credentials>,
) -> anyhow::Result<(State, Credentials)> {
    let mut world = State::default();
    let mut creds = config.credentials.clone();
    let seed_creds = config
        .seed
        .as_ref()
        .map(|s| s.credentials.len())
        .unwrap_or(0);
    if creds.is_empty() && seed_creds == 0 {
        creds.push(reuse.unwrap_or_else(Credentials::generate));
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
    world.primary_access_key = Some(first.access_key.clone());
    world.session_secret = random_secret();
    Ok((world, first))
}

fn random_secret() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}

/// The start credential recorded in a loaded state file.
fn primary_of(state: &State) -> Option<Credentials> {
    let key = state.keys.get(state.primary_access_key.as_deref()?)?;
    Some(Credentials {
        access_key: key.access_key.clone(),
        secret_key: key.secret_key.clone(),
        org_id: key.org_id.clone(),
    })
}

async fn serve(
    listener: TcpListener,
    app: axum::Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let app = app.into_make_service_with_connect_info::<ConnHandle>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(KillableListener(listener), app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "emulator server failed");
        }
    })
}

impl Emulator {
    /// Binds `config.listen` (and `config.events_listen`), loads the state file or else
    /// credentials and seed, installs faults, resumes unfinished deliveries, and serves in the
    /// background.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let loaded = match &config.state_path {
            Some(p) => persist::load(p)?,
            None => None,
        };
        let (initial, credentials) = initial_state(&config, loaded.as_ref().and_then(primary_of))?;
        let world = match loaded {
            Some(mut w) => {
                for (k, v) in &initial.keys {
                    w.keys.entry(k.clone()).or_insert_with(|| v.clone());
                    w.ensure_org(&v.org_id);
                }
                if w.session_secret.is_empty() {
                    w.session_secret = initial.session_secret.clone();
                }
                w.primary_access_key = Some(credentials.access_key.clone());
                w
            }
            None => initial.clone(),
        };
        let shared = Arc::new(Shared {
            store: store::Store::default(),
            faults: faults::Faults::default(),
            counters: counters::Counters::default(),
            limiter: ratelimit::RateLimiter::new(config.rate_limit),
            clock_skew_secs: i64::try_from(config.clock_skew.as_secs()).unwrap_or(5),
            allow_insecure_loopback_webhooks: AtomicBool::new(
                config.allow_insecure_loopback_webhooks,
            ),
            initial: Mutex::new(initial),
            delivery: delivery::Delivery::new(config.delivery.clone())?,
            max_events: config.max_events,
            rule_dedup: AtomicU8::new(config.rule_dedup.to_u8()),
        });
        *shared.store.write() = world;
        for f in &config.faults {
            shared.faults.add(f.clone());
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("binding {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let events_listener = match config.events_listen {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .map_err(|e| anyhow::anyhow!("binding events listener {a}: {e}"))?,
            ),
            None => None,
        };
        let (stop, stopped) = watch::channel(false);
        let mut tasks =
            vec![serve(listener, server::router(shared.clone()), stopped.clone()).await];
        let mut events_addr = None;
        if let Some(l) = events_listener {
            events_addr = Some(l.local_addr()?);
            tasks.push(serve(l, server::events_router(shared.clone()), stopped.clone()).await);
        }
        if let Some(path) = &config.state_path {
            // Written once at start so the file exists (and is valid) from the first moment.
            let (s, p) = (shared.store.clone(), path.clone());
            tokio::task::spawn_blocking(move || persist::save(&s, &p))
                .await
                .map_err(|e| anyhow::anyhow!("saving state: {e}"))??;
            tasks.push(tokio::spawn(persist::run_snapshotter(
                shared.store.clone(),
                path.clone(),
                stopped,
            )));
        }
        delivery::resume_all(&shared);
        tracing::info!(%addr, ?events_addr, "meshes emulator listening");
        Ok(Emulator {
            addr,
            events_addr,
            credentials,
            admin: Admin { app: shared },
            stop,
            tasks,
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

    /// Ingestion base including `/api/v1` (`$URL/events` is the endpoint): the events
    /// listener when configured, else the management listener (which also ingests).
    pub fn events_url(&self) -> String {
        format!("http://{}/api/v1", self.events_addr.unwrap_or(self.addr))
    }

    /// Address of the events listener, when configured.
    pub fn events_addr(&self) -> Option<SocketAddr> {
        self.events_addr
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
    /// Delivery tasks stop at their next wait; with a state file, a last snapshot is written.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.admin.app.delivery.stop();
        for task in std::mem::take(&mut self.tasks) {
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
        self.admin.app.delivery.stop();
    }
}
