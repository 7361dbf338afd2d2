//! A scripted loopback HTTP/1.1 server for the transport's unit tests: records every request
//! (method, path, headers, body) and answers from a queue, so headers and retry counts can be
//! checked without the emulator. It can also misbehave on purpose (for `hostile_tests.rs`):
//! stream a large generated body with or without a `content-length`, announce a length and
//! close early, or never answer; and it records how many body bytes the client accepted.

#![cfg(test)]
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// How a body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A `content-length` header (the whole length, even when `cut_at` closes early).
    ContentLength,
    /// No length: the body ends when the server closes the connection.
    CloseDelimited,
}

/// A large generated body: `len` copies of `byte`, written in 64 KiB chunks so that the
/// server never holds it whole either.
#[derive(Debug, Clone, Copy)]
pub struct Bulk {
    pub len: usize,
    pub byte: u8,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (to provoke timeouts).
    pub delay: Duration,
    /// Replaces `body` with a generated one.
    pub bulk: Option<Bulk>,
    pub framing: Framing,
    /// Close the connection after this many body bytes (a truncated answer).
    pub cut_at: Option<usize>,
    /// Send exactly these bytes instead of an HTTP response, then close.
    pub raw: Option<Vec<u8>>,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
            bulk: None,
            framing: Framing::ContentLength,
            cut_at: None,
            raw: None,
        }
    }

    /// These bytes, whatever they are, then the connection closes.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            raw: Some(bytes.into()),
            ..Self::json(200, "")
        }
    }

    /// `len` bytes of `byte` with the given framing.
    pub fn bulk(status: u16, len: usize, byte: u8, framing: Framing) -> Self {
        Self {
            bulk: Some(Bulk { len, byte }),
            framing,
            ..Self::json(status, "")
        }
    }

    fn body_len(&self) -> usize {
        self.bulk.map_or(self.body.len(), |b| b.len)
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    script: VecDeque<Reply>,
    /// Body bytes the client accepted, per answer, in order (recorded when an answer ends:
    /// fully written, cut, or refused by a closed connection).
    written: Vec<usize>,
}

/// The running server; dropped with the test's runtime.
#[derive(Clone)]
pub struct TestServer {
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    /// A server on another loopback address (e.g. `127.0.0.2`: another host for the client).
    pub async fn start_on(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        Self { base_url, state }
    }

    /// Queues answers; when the queue is empty the server answers `200 {}`.
    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Body bytes written per finished answer, waiting up to 10 s for `n` answers to finish.
    pub async fn written(&self, n: usize) -> Vec<usize> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let written = self.state.lock().unwrap().written.clone();
            if written.len() >= n || tokio::time::Instant::now() >= deadline {
                return written;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap().to_owned();
        let path = first.next().unwrap().to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);
        let reply = {
            let mut st = state.lock().unwrap();
            st.seen.push(Seen {
                method,
                path,
                headers,
                body,
            });
            st.script
                .pop_front()
                .unwrap_or_else(|| Reply::json(200, "{}"))
        };
        tokio::time::sleep(reply.delay).await;
        if let Some(raw) = &reply.raw {
            let ok = stream.write_all(raw).await.is_ok();
            state
                .lock()
                .unwrap()
                .written
                .push(if ok { raw.len() } else { 0 });
            let _ = stream.shutdown().await;
            return;
        }
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\n",
            reply.status
        );
        match reply.framing {
            Framing::ContentLength => {
                out.push_str(&format!("content-length: {}\r\n", reply.body_len()));
            }
            Framing::CloseDelimited => out.push_str("connection: close\r\n"),
        }
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        if stream.write_all(out.as_bytes()).await.is_err() {
            state.lock().unwrap().written.push(0);
            return;
        }
        let (written, complete) = write_body(&mut stream, &reply).await;
        state.lock().unwrap().written.push(written);
        let keep_open = complete && reply.framing == Framing::ContentLength;
        if !keep_open {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Writes the reply's body (up to `cut_at`); returns the bytes written and whether the whole
/// body went out.
async fn write_body(stream: &mut TcpStream, reply: &Reply) -> (usize, bool) {
    const CHUNK: usize = 64 * 1024;
    let total = reply.body_len();
    let limit = reply.cut_at.map_or(total, |c| c.min(total));
    let filler = reply.bulk.map(|b| vec![b.byte; CHUNK]);
    let mut written = 0;
    while written < limit {
        let n = CHUNK.min(limit - written);
        let chunk = match &filler {
            Some(f) => &f[..n],
            None => &reply.body.as_bytes()[written..written + n],
        };
        if stream.write_all(chunk).await.is_err() {
            return (written, false);
        }
        written += n;
    }
    (written, written == total)
}
