//! The transport: one call = budget permit → fresh JWT → send → classify, with retries for
//! idempotent reads after a transient failure and for any call refused by a short 429 pause. Also builds the `reqwest::Client` (timeouts, proxy, extra CA,
//! User-Agent, no redirects).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use tracing::{Instrument, field};
use url::Url;

use super::budget::BudgetRegistry;
use super::config::{ClientConfig, ConfigError, ProxyConfig, is_loopback, parse_base_url};
use super::credentials::Credentials;
use super::error::{ApiError, Endpoint, Method, TransientCause};
use super::jwt;
use super::observe::{StatusClass, credential_label};
use super::response::{classify_oversized, classify_status, excerpt, parse_retry_after};

/// Header carrying the caller's create identity (harmless where Meshes ignores it).
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// The Meshes management API client. Cheap to clone; clones share the HTTP connection pool
/// and the per-access-key budgets. Credentials are passed per call, so one client serves
/// every tenant.
#[derive(Clone, Debug)]
pub struct MeshesClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    config: ClientConfig,
    budgets: BudgetRegistry,
}

/// One request to make, before authentication.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub endpoint: Endpoint,
    /// Path segments after `/api/v1`; IDs are percent-encoded as single segments.
    pub segments: Vec<&'a str>,
    pub query: Vec<(&'static str, String)>,
    /// Serialized JSON body.
    pub body: Option<Vec<u8>>,
    pub idempotency_key: Option<String>,
    /// The response may carry connection settings: keep it out of error text.
    pub redact_body: bool,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, route: &'static str, segments: Vec<&'a str>) -> Self {
        Self {
            endpoint: Endpoint { method, route },
            segments,
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            redact_body: false,
        }
    }
}

impl MeshesClient {
    /// Builds a client. Fails on a base URL that breaks the transport policy, an unreadable
    /// CA bundle, a bad proxy URL or out-of-range settings.
    ///
    /// Proxies: with [`ProxyConfig::FromEnvironment`] (the default) `HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are read once, here. A loopback base URL
    /// (a local emulator) never goes through a proxy.
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let base = parse_base_url(&config.base_url)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // The API never redirects; following one could leave the policed host.
            .redirect(reqwest::redirect::Policy::none());
        builder = match (&config.proxy, is_loopback(&base)) {
            (_, true) | (ProxyConfig::Disabled, _) => builder.no_proxy(),
            // reqwest's default: environment proxies (made explicit by this arm).
            (ProxyConfig::FromEnvironment, false) => builder,
            (ProxyConfig::Explicit(proxy), false) => {
                // Not echoing the proxy URL or reqwest's error: it may embed a password.
                let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(|_| {
                    ConfigError::HttpClient("the proxy URL is not valid".to_owned())
                })?;
                builder.proxy(proxy)
            }
        };
        if let Some(path) = &config.extra_ca_bundle {
            let ca_err = |reason: String| ConfigError::CaBundle {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ca_err(format!("not a PEM certificate bundle: {e}")))?;
            if certs.is_empty() {
                return Err(ca_err("no certificates found".to_owned()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ConfigError::HttpClient(error_chain(&e)))?;
        let budgets = BudgetRegistry::new(config.budget.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                config,
                budgets,
            }),
        })
    }

    /// The normalized base URL (without `/api/v1`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The per-key budgets this client draws from.
    pub fn budgets(&self) -> &BudgetRegistry {
        &self.inner.budgets
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, ApiError> {
        url_under(&self.inner.base, call)
    }

    /// The HTTP client (for calls with their own authentication, such as ingestion).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }
}

/// `base` + `/api/v1` + the call's segments and query.
pub(crate) fn url_under(base: &Url, call: &Call<'_>) -> Result<Url, ApiError> {
    let mut url = base.clone();
    {
        let mut segs = url.path_segments_mut().map_err(|()| ApiError::Local {
            endpoint: call.endpoint,
            message: "the base URL cannot carry a path".to_owned(),
        })?;
        segs.pop_if_empty()
            .extend(["api", "v1"])
            .extend(&call.segments);
    }
    if !call.query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

impl MeshesClient {
    /// Runs a call and decodes a 2xx body into `T`.
    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        creds: &Credentials,
        call: Call<'_>,
    ) -> Result<T, ApiError> {
        let endpoint = call.endpoint;
        let span = tracing::info_span!(
            "meshes_api",
            method = endpoint.method.as_str(),
            route = endpoint.route,
            access_key = creds.access_key(),
            share = creds.share().unwrap_or(""),
            status = field::Empty,
            attempts = field::Empty,
        );
        async {
            let url = self.url(&call)?;
            let retry = &self.inner.config.retry;
            let mut attempt: u32 = 0;
            loop {
                attempt += 1;
                tracing::Span::current().record("attempts", attempt);
                let result = self.attempt::<T>(creds, &call, &url).await;
                match result {
                    Err(ApiError::Transient { cause, .. })
                        if endpoint.method == Method::Get
                            && cause != TransientCause::NotSent
                            && attempt < retry.max_attempts =>
                    {
                        let delay = backoff(attempt, retry.initial_backoff, retry.max_backoff);
                        tracing::info!(%cause, attempt, delay_ms = delay.as_millis() as u64, "retrying idempotent read");
                        tokio::time::sleep(delay).await;
                    }
                    // A 429 is a refusal (nothing was applied), so any method may be sent
                    // again; the next attempt's permit waits out the key's pause. Only a short
                    // pause is waited here: a caller's pass that failed on every 429 grew its
                    // own backoff and, at a low call rate, outlived the faults by minutes;
                    // a long pause (a real storm) still ends the call and frees the caller.
                    Err(ApiError::RateLimited { .. })
                        if attempt < retry.max_attempts
                            && self.inner.budgets.pause_left(creds) <= retry.max_backoff =>
                    {
                        tracing::info!(attempt, "retrying after the rate limit's pause");
                    }
                    Err(err) => {
                        tracing::debug!(error = %err, "Meshes API call failed");
                        return Err(err);
                    }
                    Ok(v) => return Ok(v),
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        creds: &Credentials,
        call: &Call<'_>,
        url: &Url,
    ) -> Result<T, ApiError> {
        let endpoint = call.endpoint;
        let local = |message: String| ApiError::Local { endpoint, message };
        let queued = Instant::now();
        let permit = self.inner.budgets.acquire(creds).await;
        if permit.waited()
            && let Some(observer) = &self.inner.config.observer
        {
            observer.budget_waited(&credential_label(creds.access_key()), queued.elapsed());
        }
        // Minted only now, with the permit in hand, so queueing never ages the token.
        let token = jwt::mint(creds, jwt::now_unix()).map_err(|e| local(e.to_string()))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| local("the JWT is not a valid header value".to_owned()))?;
        auth.set_sensitive(true);

        let method = match endpoint.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut request = self
            .inner
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .timeout(self.inner.config.request_timeout);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(key) = &call.idempotency_key {
            let value = HeaderValue::from_str(key)
                .map_err(|_| local("the idempotency key is not a valid header value".to_owned()))?;
            request = request.header(IDEMPOTENCY_KEY_HEADER, value);
        }

        // Last, after every wait: a replica that lost the Lease while this call queued sends
        // nothing.
        if let Some(gate) = &self.inner.config.gate
            && !gate.may_send()
        {
            return Err(ApiError::Transient {
                endpoint,
                cause: TransientCause::NotSent,
                message: "the send gate is closed".to_owned(),
            });
        }
        let started = Instant::now();
        // Every request that was sent is reported once, however it ended.
        let finished = |class: StatusClass| {
            if let Some(observer) = &self.inner.config.observer {
                observer.request_finished(endpoint, class, started.elapsed());
                observer.answered(&credential_label(creds.access_key()), class);
            }
        };
        let response = request.send().await.map_err(|e| {
            finished(StatusClass::Transport);
            transport_error(endpoint, &e)
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let body = read_capped(response, self.inner.config.max_response_bytes)
            .await
            .map_err(|e| {
                finished(StatusClass::Transport);
                transport_error(endpoint, &e)
            })?;
        finished(StatusClass::of(status));
        drop(permit);
        tracing::Span::current().record("status", status);
        tracing::debug!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Meshes API response"
        );

        if (200..300).contains(&status) {
            self.inner.budgets.note_success(creds);
        }
        if status == 429 {
            if let Some(observer) = &self.inner.config.observer {
                observer.rate_limited(&credential_label(creds.access_key()));
            }
            let paused = self.inner.budgets.pause(creds, retry_after);
            tracing::warn!(
                pause_ms = paused.as_millis() as u64,
                "Meshes rate limit hit; pausing this access key"
            );
        }
        let Some(body) = body else {
            let limit = self.inner.config.max_response_bytes;
            tracing::warn!(
                status,
                limit,
                "Meshes API response body over the limit; not read"
            );
            return Err(classify_oversized(endpoint, status, limit, retry_after));
        };
        if (200..300).contains(&status) {
            // Not a refusal: the server says it did what was asked, the client cannot read
            // the result. For a write this must stay distinguishable from "nothing created".
            return serde_json::from_slice(&body).map_err(|e| {
                let detail = decode_message(&e, call.redact_body);
                let message = if endpoint.method == Method::Get {
                    detail
                } else {
                    format!("the request was accepted but its result cannot be read: {detail}")
                };
                ApiError::Unexpected {
                    endpoint,
                    status: Some(status),
                    message,
                    excerpt: excerpt(&body, call.redact_body),
                }
            });
        }
        Err(classify_status(
            endpoint,
            status,
            &body,
            retry_after,
            call.redact_body,
        ))
    }
}

/// Reads a response body chunk by chunk, stopping as soon as it would exceed `limit` bytes
/// (or at once when `content-length` already says so): `Ok(None)` then, and the rest of the
/// body is never read (dropping the response closes the connection). A larger body therefore
/// never sits in memory; the request timeout bounds a body that trickles in.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await? {
        if chunk.len() > limit - body.len() {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Describes a JSON decoding failure. Serde's text may quote the offending value, so for
/// bodies that can hold settings only the position and category are kept.
pub(crate) fn decode_message(e: &serde_json::Error, redact: bool) -> String {
    if redact {
        format!(
            "response body does not match the contract ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    } else {
        format!("response body does not match the contract: {e}")
    }
}

pub(crate) fn transport_error(endpoint: Endpoint, e: &reqwest::Error) -> ApiError {
    let cause = if e.is_timeout() {
        TransientCause::Timeout
    } else {
        TransientCause::Network
    };
    ApiError::Transient {
        endpoint,
        cause,
        message: error_chain(e),
    }
}

/// The error and its sources on one line (reqwest's top-level text hides the root cause).
/// These texts name URLs and I/O conditions, never request headers.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// Full-jitter-in-the-upper-half exponential backoff: `initial·2^(n-1)`, capped, times a
/// random factor in [0.5, 1] so that many readers do not retry in lockstep.
fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    base.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        for _ in 0..50 {
            let b1 = backoff(1, i, m);
            assert!(b1 >= Duration::from_millis(50) && b1 <= i, "{b1:?}");
            let b3 = backoff(3, i, m);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            assert!(backoff(30, i, m) <= m);
        }
    }

    #[test]
    fn urls_are_built_under_api_v1_with_encoded_ids() {
        let client = MeshesClient::new(ClientConfig {
            base_url: "http://127.0.0.1:9/prefix/api/v1/".into(),
            ..ClientConfig::default()
        })
        .unwrap();
        let mut call = Call::new(
            Method::Get,
            "/api/v1/workspaces/{workspace_id}/rules",
            vec!["workspaces", "../../x?y", "rules"],
        );
        call.query.push(("event", "user.signup".into()));
        let url = client.url(&call).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/prefix/api/v1/workspaces/..%2F..%2Fx%3Fy/rules?event=user.signup"
        );
    }

    #[test]
    fn bad_config_is_refused_with_a_clear_error() {
        let err = MeshesClient::new(ClientConfig {
            base_url: "http://api.meshes.io".into(),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = MeshesClient::new(ClientConfig {
            extra_ca_bundle: Some("/nonexistent/ca.pem".into()),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        // Positive control: the default configuration builds.
        assert!(MeshesClient::new(ClientConfig::default()).is_ok());
    }

    #[test]
    fn an_explicit_proxy_error_does_not_echo_its_password() {
        let err = MeshesClient::new(ClientConfig {
            proxy: ProxyConfig::Explicit("::not a url hunter2".into()),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    /// A throwaway self-signed CA (EC P-256), generated for this test only.
    const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBnDCCAUGgAwIBAgIUBHK4bPsoglDxGT6EWJle3YzRGjIwCgYIKoZIzj0EAwIw\nIjEgMB4GA1UEAwwXbWVzaGVzLW9wZXJhdG9yIHRlc3QgQ0EwIBcNMjYxMTI4MDEw\nNzU1WhgPMjEyNjExMDQwMTA3NTVaMCIxIDAeBgNVBAMMF21lc2hlcy1vcGVyYXRv\nciB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBWYZx6WvD1wkBzIx\nNJA+N02Io7v5aIZETtKF+Uj7d+FAaWCqykn//xLgJofY7asvobby616ZWrxkCGw3\nGk3NsKNTMFEwHQYDVR0OBBYEFJihX+kokcWL9n/Mv7esfYsgqoZlMB8GA1UdIwQY\nMBaAFJihX+kokcWL9n/Mv7esfYsgqoZlMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI\nzj0EAwIDSQAwRgIhAIVwqnbj4mfGO3McZ5IlMv6rp4aXk2zK7PFM7MP85nhCAiEA\n99dhOvL7W+/wgumEUC8oSxv7fTzJyqkDw63VVo0d2jM=\n-----END CERTIFICATE-----\n";

    #[test]
    fn an_extra_ca_bundle_is_loaded_and_garbage_is_refused() {
        let dir = std::env::temp_dir().join(format!("meshes-api-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("ca.pem");
        std::fs::write(&good, TEST_CA_PEM).unwrap();
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let with = |path: &std::path::Path| {
            MeshesClient::new(ClientConfig {
                extra_ca_bundle: Some(path.to_path_buf()),
                ..ClientConfig::default()
            })
        };
        let ok = with(&good);
        let refused = with(&bad);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(ok.is_ok(), "{:?}", ok.err());
        let err = refused.unwrap_err().to_string();
        assert!(err.contains("bad.pem"), "{err}");
    }
}
