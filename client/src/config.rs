//! Client configuration: base URL policy, timeouts, retry and budget settings, egress
//! (proxy, extra CA bundle) and the User-Agent.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

/// The production management API host.
pub const DEFAULT_BASE_URL: &str = "https://api.meshes.io";

/// Default cap on a response body: far above any page of the API (a list page of 100
/// connections is tens of KiB), far below what would hurt the operator's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The base URL could not be parsed.
    #[error("Meshes API URL {url:?} is not a valid URL: {reason}")]
    UnparsableUrl {
        /// The URL as given.
        url: String,
        /// The parser's explanation.
        reason: String,
    },
    /// The base URL breaks the transport policy (https, or http only to loopback).
    #[error("Meshes API URL {url:?} refused: {reason}")]
    RefusedUrl {
        /// The URL as given (never carries credentials: URLs with userinfo are refused
        /// before this text is built).
        url: String,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
    /// A numeric setting is out of range.
    #[error("invalid Meshes client setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting name.
        setting: &'static str,
        /// What is allowed.
        reason: String,
    },
    /// The extra CA bundle could not be read or parsed.
    #[error("extra CA bundle {path}: {reason}")]
    CaBundle {
        /// The file path.
        path: String,
        /// The I/O or PEM error.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend, proxy).
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// How outgoing requests find a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyConfig {
    /// Honour `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` (and lower-case forms)
    /// from the environment, as reqwest does by default. Loopback base URLs never use a proxy.
    #[default]
    FromEnvironment,
    /// Never use a proxy, whatever the environment says.
    Disabled,
    /// Send every request through this proxy URL (it may carry `user:password@`).
    Explicit(String),
}

/// Token-bucket and concurrency settings applied to each access key separately.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Sustained requests per second per access key.
    pub rate_per_second: f64,
    /// Requests that may go at once after an idle period.
    pub burst: u32,
    /// Requests in flight at once per access key.
    pub max_concurrency: usize,
    /// First pause after a 429 that carries no usable `Retry-After`; doubled on each
    /// consecutive 429 up to [`BudgetConfig::max_rate_limit_backoff`].
    pub rate_limit_backoff: Duration,
    /// Upper bound of any 429 pause, including a server-sent `Retry-After`.
    pub max_rate_limit_backoff: Duration,
    /// A key's budget unused for this long (no call waiting or in flight, no pause running)
    /// is forgotten, so that keys seen once are not kept forever. Never shorter, in effect,
    /// than the time the bucket takes to refill (`burst / rate_per_second`), so forgetting a
    /// key never hands out a fresh burst early.
    pub evict_idle_after: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            rate_per_second: 10.0,
            burst: 20,
            max_concurrency: 8,
            rate_limit_backoff: Duration::from_secs(1),
            max_rate_limit_backoff: Duration::from_secs(300),
            evict_idle_after: Duration::from_secs(600),
        }
    }
}

/// Retry settings. A GET is retried after a transient failure (5xx, timeout, network); a
/// write never is, since it may have been applied. Any call refused with a 429 (nothing was
/// applied) is sent again after the key's pause when that pause is at most `max_backoff`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Total attempts for one call, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further retry.
    pub initial_backoff: Duration,
    /// Upper bound of a single backoff.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Everything a [`super::MeshesClient`] needs besides per-call credentials.
///
/// Not `PartialEq`: the observer is a trait object (compare fields when a test needs to).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme and host of the management API, optionally with a path prefix; a trailing
    /// `/api/v1` is accepted and ignored. `https://` always; `http://` only for loopback
    /// hosts (127.0.0.0/8, ::1, `localhost`), which is what a local emulator uses.
    pub base_url: String,
    /// Limit on establishing a TCP+TLS connection.
    pub connect_timeout: Duration,
    /// Limit on one request, from sending to the end of the response body.
    pub request_timeout: Duration,
    /// Per-access-key request budget.
    pub budget: BudgetConfig,
    /// Retries of idempotent reads.
    pub retry: RetryConfig,
    /// Proxy selection (environment by default).
    pub proxy: ProxyConfig,
    /// PEM bundle of extra trusted CAs (for TLS-inspecting corporate egress), added to the
    /// platform roots.
    pub extra_ca_bundle: Option<PathBuf>,
    /// Optional instance identity added to the User-Agent (e.g. a shard name).
    pub instance_id: Option<String>,
    /// Safety cap on pages followed by the list helpers (guards against cursor loops).
    pub max_list_pages: usize,
    /// Largest response body read, in bytes ([`DEFAULT_MAX_RESPONSE_BYTES`] by default). The
    /// body is read in chunks and reading stops at the cap, so a larger body never sits in
    /// memory; such an answer is an [`crate::ApiError::Unexpected`] (for a write: outcome
    /// unknown), or, for an error status, the error that status means without its body.
    pub max_response_bytes: usize,
    /// Checked right before each request is sent; a closed gate fails the call with
    /// [`crate::TransientCause::NotSent`] and nothing leaves the process. `None`: always open.
    pub gate: Option<crate::Gate>,
    /// Told of every request, budget wait and 429 (metrics); `None` observes nothing. Its
    /// `Debug` is the observer's own (the trait requires one), which carries no secret.
    pub observer: Option<Arc<dyn crate::observe::CallObserver>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            budget: BudgetConfig::default(),
            retry: RetryConfig::default(),
            proxy: ProxyConfig::default(),
            extra_ca_bundle: None,
            instance_id: None,
            max_list_pages: 100,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            gate: None,
            observer: None,
        }
    }
}

impl ClientConfig {
    /// The User-Agent every request carries, e.g. `meshes-operator/0.1.0 (instance=shard-a)`.
    pub fn user_agent(&self) -> String {
        let base = concat!("meshes-operator/", env!("CARGO_PKG_VERSION"));
        match &self.instance_id {
            Some(id) => format!("{base} (instance={id})"),
            None => base.to_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let b = &self.budget;
        if !(b.rate_per_second.is_finite() && b.rate_per_second > 0.0) {
            return Err(invalid(
                "budget.rate_per_second",
                "must be a positive number",
            ));
        }
        if b.burst == 0 {
            return Err(invalid("budget.burst", "must be at least 1"));
        }
        if b.max_concurrency == 0 {
            return Err(invalid("budget.max_concurrency", "must be at least 1"));
        }
        if self.retry.max_attempts == 0 {
            return Err(invalid("retry.max_attempts", "must be at least 1"));
        }
        if self.max_list_pages == 0 {
            return Err(invalid("max_list_pages", "must be at least 1"));
        }
        if self.max_response_bytes == 0 {
            return Err(invalid("max_response_bytes", "must be at least 1"));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(invalid("timeouts", "must be greater than zero"));
        }
        if let Some(id) = &self.instance_id
            && (id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(invalid(
                "instance_id",
                "must be non-empty ASCII letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(())
    }
}

fn invalid(setting: &'static str, reason: &str) -> ConfigError {
    ConfigError::InvalidSetting {
        setting,
        reason: reason.to_owned(),
    }
}

/// Parses and checks a base URL against the transport policy and normalizes it to
/// `scheme://host[:port][/prefix]` without a trailing slash or `/api/v1`.
pub fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let refused = |reason| ConfigError::RefusedUrl {
        url: raw.to_owned(),
        reason,
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| ConfigError::UnparsableUrl {
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoing the URL here: it contains the credentials we refuse.
        return Err(ConfigError::RefusedUrl {
            url: "<redacted: URL with user info>".to_owned(),
            reason: "credentials must not be embedded in the URL",
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refused("a query string or fragment is not allowed"));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) {
                return Err(refused(
                    "plain http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://",
                ));
            }
        }
        _ => {
            return Err(refused(
                "the scheme must be https:// (or http:// to a loopback host)",
            ));
        }
    }
    if url.host().is_none() {
        return Err(refused("the URL has no host"));
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/api/v1").unwrap_or(path).to_owned();
    url.set_path(&path);
    Ok(url)
}

/// True when the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_on_loopback() {
        for ok in [
            "https://api.meshes.io",
            "https://api.meshes.io/",
            "http://127.0.0.1:8080",
            "http://127.9.8.7",
            "http://[::1]:9000",
            "http://localhost:3000",
            "http://LOCALHOST",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "http://api.meshes.io",
            "http://10.0.0.1",
            "http://[::2]",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "https://user:pw@api.meshes.io",
            "https://api.meshes.io/?x=1",
            "not a url",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad} should be refused");
        }
        let err = parse_base_url("http://api.meshes.io")
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn refused_userinfo_is_not_echoed() {
        let err = parse_base_url("https://user:hunter2@api.meshes.io")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("credentials"), "{err}");
    }

    #[test]
    fn api_prefix_and_trailing_slash_are_normalized() {
        let url = parse_base_url("https://api.meshes.io/api/v1/").unwrap();
        assert_eq!(url.as_str(), "https://api.meshes.io/");
        let url = parse_base_url("https://gw.example.com/meshes/").unwrap();
        assert_eq!(url.path(), "/meshes");
    }

    #[test]
    fn user_agent_names_operator_version_and_instance() {
        let mut cfg = ClientConfig::default();
        assert_eq!(
            cfg.user_agent(),
            format!("meshes-operator/{}", env!("CARGO_PKG_VERSION"))
        );
        cfg.instance_id = Some("shard-a".into());
        assert_eq!(
            cfg.user_agent(),
            format!(
                "meshes-operator/{} (instance=shard-a)",
                env!("CARGO_PKG_VERSION")
            )
        );
        cfg.instance_id = Some("bad id\r\n".into());
        assert!(cfg.validate().is_err());
    }
}
