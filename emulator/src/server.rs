//! The running server: shared state, the router, the middleware every Meshes API request goes
//! through (counting, faults, JWT auth, rate limit), and a listener whose connections a
//! commit-then-drop fault can reset after the handler ran.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::auth;
use crate::config::RuleDedup;
use crate::counters::{Counters, UNMATCHED_ROUTE};
use crate::error::ApiError;
use crate::faults::{FaultAction, Faults};
use crate::ratelimit::RateLimiter;
use crate::routes;
use crate::store::{State as World, Store};

/// State shared by handlers, middleware and the admin handle.
#[derive(Debug)]
pub struct Shared {
    /// The objects.
    pub store: Store,
    /// Installed faults.
    pub faults: Faults,
    /// Call counters.
    pub counters: Counters,
    /// Per-key token buckets.
    pub limiter: RateLimiter,
    /// Leeway for JWT time checks.
    pub clock_skew_secs: i64,
    /// Accept `http://` webhook URLs on loopback hosts.
    pub allow_insecure_loopback_webhooks: AtomicBool,
    /// State right after start (credentials + seed); `reset` restores it.
    pub initial: Mutex<World>,
    /// Delivery engine.
    pub delivery: crate::delivery::Delivery,
    /// Most events kept in history.
    pub max_events: usize,
    /// Current [`RuleDedup`] mode (its `to_u8` form); read through [`Shared::rule_dedup`].
    pub(crate) rule_dedup: AtomicU8,
}

impl Shared {
    /// The rule de-duplication mode in force.
    pub fn rule_dedup(&self) -> RuleDedup {
        RuleDedup::from_u8(self.rule_dedup.load(Ordering::Relaxed))
    }

    /// Changes the rule de-duplication mode for the next rule creates.
    pub fn set_rule_dedup(&self, mode: RuleDedup) {
        self.rule_dedup.store(mode.to_u8(), Ordering::Relaxed);
    }
}

/// Handle passed to handlers.
pub type App = Arc<Shared>;

/// Builds the full router (Meshes API + admin) over `app`.
pub fn router(app: App) -> Router {
    // The fallback is added before the layer so unmatched requests are counted too.
    let api =
        routes::api_router()
            .fallback(route_not_found)
            .layer(axum::middleware::from_fn_with_state(
                app.clone(),
                api_middleware,
            ));
    api.merge(routes::admin::router()).with_state(app)
}

/// Router of the events-host listener: ingestion only, same middleware.
pub fn events_router(app: App) -> Router {
    routes::events_host_router()
        .fallback(route_not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api_middleware,
        ))
        .with_state(app)
}

async fn route_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Route not found")
}

/// Counts, injects faults, authenticates and rate-limits every Meshes API request.
async fn api_middleware(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let req_path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let (user_agent, authorization) = {
        let header = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header(header::USER_AGENT), header(header::AUTHORIZATION))
    };
    let kid = auth::claimed_kid(authorization.as_deref());
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());

    let response = if route == UNMATCHED_ROUTE {
        next.run(req).await
    } else {
        let _in_flight = app.counters.start();
        guarded(&app, &method, &route, authorization, conn, req, next).await
    };
    if route == UNMATCHED_ROUTE && req_path.starts_with("/_emulator") {
        return response;
    }
    app.counters.record(
        &method,
        &route,
        kid.as_deref(),
        user_agent.as_deref(),
        response.status().as_u16(),
    );
    response
}

/// Faults, auth and rate limit around a matched route.
async fn guarded(
    app: &App,
    method: &str,
    route: &str,
    authorization: Option<String>,
    conn: Option<ConnHandle>,
    mut req: Request,
    next: Next,
) -> Response {
    let fault = app.faults.pick(method, route);
    match &fault {
        Some((id, FaultAction::Status(code))) => {
            tracing::info!(fault = id.0, %method, %route, code, "injecting status");
            return ApiError::status(*code).into_response();
        }
        Some((id, FaultAction::RateLimited { retry_after_secs })) => {
            tracing::info!(fault = id.0, %method, %route, "injecting 429");
            return ApiError::too_many_requests(*retry_after_secs).into_response();
        }
        Some((
            _,
            FaultAction::Latency {
                delay,
                after_commit: false,
            },
        )) => tokio::time::sleep(*delay).await,
        _ => {}
    }
    if let Err(e) = authorize(app, method, route, authorization.as_deref(), &mut req) {
        return e.into_response();
    }
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(header::CONTENT_TYPE)
    {
        resp = ApiError::method_not_allowed().into_response();
    }
    match fault {
        Some((
            _,
            FaultAction::Latency {
                delay,
                after_commit: true,
            },
        )) => tokio::time::sleep(delay).await,
        Some((id, FaultAction::CommitThenDrop)) => {
            tracing::info!(fault = id.0, %method, %route, "dropping connection after commit");
            if let Some(c) = &conn {
                c.kill();
            }
        }
        _ => {}
    }
    resp
}

/// Authenticates (machine JWT, or a publishable key on ingestion routes), rate-limits, and
/// stores the caller in the request extensions.
fn authorize(
    app: &App,
    method: &str,
    route: &str,
    authorization: Option<&str>,
    req: &mut Request,
) -> Result<(), ApiError> {
    if routes::is_ingestion(method, route) && authorization.is_none() {
        let key = req
            .headers()
            .get(crate::auth::PUBLISHABLE_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::unauthorized("missing publishable key or bearer token"))?;
        let caller = {
            let world = app.store.read();
            world
                .workspaces
                .values()
                .find(|w| w.publishable_key == key)
                .map(|w| crate::auth::PublishableCaller {
                    workspace: w.id,
                    org_id: w.org_id.clone(),
                })
        }
        .ok_or_else(|| ApiError::unauthorized("invalid publishable key"))?;
        app.limiter
            .take(&key)
            .map_err(ApiError::too_many_requests)?;
        req.extensions_mut().insert(caller);
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let principal = {
        let world = app.store.read();
        auth::authenticate(authorization, &world.keys, now, app.clock_skew_secs)
    }?;
    app.limiter
        .take(&principal.access_key)
        .map_err(ApiError::too_many_requests)?;
    req.extensions_mut().insert(principal);
    Ok(())
}

/// Per-connection handle (in `ConnectInfo`) that lets a handler reset its own connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    kill: Arc<AtomicBool>,
    /// Peer address.
    pub remote: SocketAddr,
}

impl ConnHandle {
    /// Makes the next write on the connection fail and the socket close with a reset.
    pub fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Self {
            kill: stream.io().kill.clone(),
            remote: *stream.remote_addr(),
        }
    }
}

/// TCP listener producing [`KillableStream`]s.
#[derive(Debug)]
pub struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => {
                    let _ = inner.set_nodelay(true);
                    let stream = KillableStream {
                        inner,
                        kill: Arc::new(AtomicBool::new(false)),
                    };
                    return (stream, addr);
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream whose writes fail once killed, so hyper drops the connection unanswered.
#[derive(Debug)]
pub struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> Option<io::Error> {
        if self.kill.load(Ordering::SeqCst) {
            // Zero linger turns the close into a RST, which is what "connection reset" means
            // to the client; it does not block because nothing is left to flush.
            let _ = self.inner.set_zero_linger();
            Some(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "dropped by fault",
            ))
        } else {
            None
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
