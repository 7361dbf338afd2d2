//! The two HTTP servers (axum), each on its own port:
//!
//! - **metrics** (`--metrics-bind-address`, default `0.0.0.0:8080`): `GET /metrics`, the
//!   OpenMetrics text of [`Metrics`]; served on the main runtime.
//! - **probes** (`--health-probe-bind-address`, default `0.0.0.0:8081`): `GET /livez` and
//!   `GET /readyz` from [`Health`]; served from a dedicated OS thread with its own
//!   single-threaded runtime, so that a wedged main runtime cannot stop the probe from
//!   answering — `/livez` then answers 503 because the main runtime's heartbeat went stale.
//!
//! Listeners are bound by the caller before anything starts ([`bind`]), so a port in use fails
//! the start at once, and the bound address (port 0 picks a free one) can be logged.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::health::Health;
use super::metrics::{CONTENT_TYPE, Metrics};

/// Where a server listens: an address, or nowhere (`0` on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAddress {
    /// The server is not started.
    Disabled,
    /// Listen here (port 0: any free port).
    At(SocketAddr),
}

impl FromStr for BindAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "0" {
            return Ok(Self::Disabled);
        }
        s.parse::<SocketAddr>().map(Self::At).map_err(|e| {
            format!("{s:?}: expected HOST:PORT (e.g. 0.0.0.0:8080) or 0 to disable: {e}")
        })
    }
}

/// Binds `addr` (non-blocking, ready for tokio), or `None` when disabled.
pub fn bind(addr: BindAddress) -> std::io::Result<Option<std::net::TcpListener>> {
    match addr {
        BindAddress::Disabled => Ok(None),
        BindAddress::At(a) => {
            let listener = std::net::TcpListener::bind(a)?;
            listener.set_nonblocking(true)?;
            Ok(Some(listener))
        }
    }
}

/// Serves `/metrics` on the current (main) runtime until the process ends.
pub fn serve_metrics(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, health));
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    }))
}

async fn scrape(State((metrics, health)): State<(Arc<Metrics>, Arc<Health>)>) -> Response {
    match metrics.encode(Some(&health)) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "encoding the metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed\n",
            )
                .into_response()
        }
    }
}

/// Serves `/livez` and `/readyz` from a new OS thread with a runtime of its own, independent
/// of the main runtime whose health it reports. Runs until the process ends.
pub fn serve_probes(
    listener: std::net::TcpListener,
    health: Arc<Health>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("health-probes".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "the health probe server cannot start a runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "the health probe server cannot listen");
                        return;
                    }
                };
                let app = Router::new()
                    .route("/livez", get(livez))
                    .route("/readyz", get(readyz))
                    .with_state(health);
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "the health probe server stopped");
                }
            });
        })
}

async fn livez(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    let age = health.since_last_beat();
    if health.is_live() {
        (StatusCode::OK, "ok\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the main runtime has not ticked for {:.1}s: it is wedged\n",
                age.as_secs_f64()
            ),
        )
    }
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    if health.is_ready() {
        return (StatusCode::OK, "ok\n".into());
    }
    let why = if health.is_leading() {
        "leader: the caches of MeshesWorkspace, MeshesConnection and MeshesRule have not synced (can the operator list and watch them?)"
    } else {
        "standby: not healthy"
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("not ready: {why}\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// A plain blocking HTTP GET (no runtime involved): (status, body).
    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        (status, body)
    }

    fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn bind_addresses_parse_and_zero_disables() {
        assert_eq!("0".parse::<BindAddress>(), Ok(BindAddress::Disabled));
        assert_eq!(
            "127.0.0.1:0".parse::<BindAddress>(),
            Ok(BindAddress::At("127.0.0.1:0".parse().unwrap()))
        );
        assert!("8080".parse::<BindAddress>().is_err());
        assert!("localhost:8080".parse::<BindAddress>().is_err());
        assert!(bind(BindAddress::Disabled).unwrap().is_none());
    }

    /// A main runtime whose only worker is blocked stops ticking: `/livez` turns 503 while the
    /// probe thread keeps answering, and 200 again once the runtime recovers. `/readyz`
    /// follows the caches.
    #[test]
    fn livez_fails_while_the_main_runtime_is_wedged_and_readyz_follows_the_caches() {
        let health = Arc::new(
            Health::new(false)
                .with_heartbeat(Duration::from_millis(20), Duration::from_millis(300)),
        );
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap().unwrap();
        let addr = listener.local_addr().unwrap();
        serve_probes(listener, health.clone()).unwrap();

        let main = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let _beat = {
            let _in = main.enter();
            health.spawn_heartbeat()
        };

        // Positive control: a working runtime is live; not ready before the caches synced.
        wait_for("livez 200", || get(addr, "/livez").0 == 200);
        let (code, body) = get(addr, "/readyz");
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("have not synced"), "{body}");
        health.set_caches_synced(true);
        assert_eq!(get(addr, "/readyz").0, 200);

        // Wedge the only worker of the main runtime for 2 s.
        main.spawn(async { std::thread::sleep(Duration::from_secs(2)) });
        wait_for("livez 503", || get(addr, "/livez").0 == 503);
        let (_, body) = get(addr, "/livez");
        assert!(body.contains("wedged"), "{body}");
        // Unwedged: live again.
        wait_for("livez 200 again", || get(addr, "/livez").0 == 200);
        assert_eq!(get(addr, "/nope").0, 404);
    }

    #[test]
    fn metrics_are_served_as_openmetrics_text() {
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::new(false));
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap().unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { serve_metrics(listener, metrics, health) })
            .unwrap();
        let (code, body) = std::thread::spawn(move || get(addr, "/metrics"))
            .join()
            .unwrap();
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("meshes_operator_leader 1"), "{body}");
        assert!(body.trim_end().ends_with("# EOF"), "{body}");
    }
}
