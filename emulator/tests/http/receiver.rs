//! A local webhook receiver (axum on 127.0.0.1:0) that records every request and answers
//! statuses from a script (then 200), plus an emulator configured to deliver to it quickly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use meshes_emulator::{DeliveryConfig, Emulator, EmulatorConfig};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<u16>,
    always: Option<u16>,
    received: Vec<Received>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

async fn handle(
    State(r): State<Receiver>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut g = r.inner.lock().unwrap();
    g.received.push(Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let code = g.script.pop_front().or(g.always).unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Receiver {
            url: format!("http://{addr}"),
            ..Receiver::default()
        };
        let app = axum::Router::new().fallback(handle).with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        r
    }

    /// The next answers, in order (then 200, or the `always` status).
    pub fn script(&self, codes: &[u16]) {
        self.inner.lock().unwrap().script.extend(codes);
    }

    pub fn always(&self, code: u16) {
        let mut g = self.inner.lock().unwrap();
        g.always = Some(code);
        g.script.clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().unwrap().received.len()
    }

    /// Waits until at least `n` requests arrived (generous ceiling).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1500 {
            if self.count() >= n {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("receiver got {} requests, expected {n}", self.count());
    }
}

/// An emulator that delivers to loopback http:// with a fast retry schedule (4 attempts).
pub async fn start_delivering() -> Emulator {
    Emulator::start(EmulatorConfig {
        allow_insecure_loopback_webhooks: true,
        delivery: DeliveryConfig::fast(),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}
