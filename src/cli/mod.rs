//! The command line, kept out of `main.rs` so it is unit-tested: the flags (and their
//! environment variables) of `meshes-operator run`, turned into the client, controller and
//! scope configurations, and [`crds`], the `meshes-operator crds` command (CRD files on disk).

pub mod crds;
pub mod docs;
pub mod import;
pub mod leader;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::api::{BudgetConfig, ClientConfig, ProxyConfig};
use crate::controllers::config::{NamespaceAllowList, OperatorConfig, SecretRef};
use crate::controllers::run::Scope;
use crate::ops::BindAddress;
use crate::resources::DeletionPolicy;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Deletion policy flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeletionPolicyArg {
    /// Delete upstream objects with their CRs.
    Delete,
    /// Leave upstream objects in Meshes.
    Orphan,
}

/// `meshes-operator run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Meshes management API base URL.
    ///
    /// `https://` always; `http://` only for loopback hosts (a local emulator). A trailing
    /// `/api/v1` is accepted.
    #[arg(
        long,
        env = "MESHES_API_URL",
        default_value = "https://api.meshes.io",
        help_heading = "Meshes API"
    )]
    pub api_url: String,
    /// Ingestion base (including `/api/v1`) written as `MESHES_EVENTS_URL` into each
    /// workspace's output Secret; the operator never calls it.
    #[arg(
        long,
        env = "MESHES_EVENTS_URL",
        default_value = "https://events.meshes.io/api/v1",
        help_heading = "Meshes API"
    )]
    pub events_url: String,
    /// Default credentials Secret as `NAMESPACE/NAME`, used by workspaces without
    /// `credentialsRef` (and inherited by their connections and rules).
    ///
    /// Default credentials never reach raw IDs: objects with `workspaceId`, `connectionId` or
    /// `adopt.id` must carry their own `credentialsRef`.
    #[arg(long, env = "MESHES_DEFAULT_CREDENTIALS", help_heading = "Credentials")]
    pub default_credentials: Option<SecretRef>,
    /// Namespaces allowed to use the default credentials (comma-separated; `*` allows all).
    ///
    /// Empty means none: the default credentials are never used implicitly.
    #[arg(
        long,
        env = "MESHES_DEFAULT_CREDENTIALS_NAMESPACES",
        value_delimiter = ',',
        help_heading = "Credentials"
    )]
    pub default_credentials_namespaces: Vec<String>,
    /// Watch only these namespaces (comma-separated; default: all namespaces).
    ///
    /// One watch per namespace, merged into one cache per kind: Roles in those namespaces are
    /// all the RBAC this needs.
    #[arg(
        long,
        env = "MESHES_WATCH_NAMESPACE",
        value_delimiter = ',',
        help_heading = "Scope"
    )]
    pub watch_namespace: Vec<String>,
    /// Watch only MeshesWorkspace/Connection/Rule objects matching this label selector
    /// (e.g. `meshes.io/shard=a`), to shard the work; Secrets are watched in the whole scope.
    #[arg(long, env = "MESHES_SELECTOR", help_heading = "Scope")]
    pub selector: Option<String>,
    /// Drift check period per workspace (±10 % jitter).
    ///
    /// One check reads the workspace and lists its connections and rules. Per workspace
    /// override: annotation `meshes.io/resync-interval`.
    #[arg(long, env = "MESHES_RESYNC_INTERVAL", default_value = "10m", value_parser = crate::controllers::durations::parse_flag, help_heading = "Timing and policy")]
    pub resync_interval: Duration,
    /// The shortest `meshes.io/resync-interval` a namespace owner may set (longer than a day is
    /// refused too); an out-of-range value is reported on the object and not applied.
    #[arg(long, env = "MESHES_MIN_RESYNC_INTERVAL", default_value = "10s", value_parser = crate::controllers::durations::parse_flag, help_heading = "Timing and policy")]
    pub min_resync_interval: Duration,
    /// Reconcile passes of one kind that run at once (1–1000): bounds the work, and paces the
    /// startup storm when every object is reconciled at once.
    #[arg(long, env = "MESHES_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1000), help_heading = "Timing and policy")]
    pub concurrency: u16,
    /// Watch events for one object closer together than this make one pass (0s to 10s).
    #[arg(long, env = "MESHES_DEBOUNCE", default_value = "100ms", value_parser = debounce, help_heading = "Timing and policy")]
    pub debounce: Duration,
    /// How long a missing credentials or `secretMetadata` Secret is waited for
    /// (`WaitingForSecret`) before the object stalls.
    #[arg(long, env = "MESHES_SECRET_GRACE", default_value = "2m", value_parser = crate::controllers::durations::parse_flag, help_heading = "Timing and policy")]
    pub secret_grace: Duration,
    /// Safety-net requeue while waiting for a parent CR (watches do the real work).
    #[arg(long, env = "MESHES_DEPENDENCY_REQUEUE", default_value = "5m", value_parser = crate::controllers::durations::parse_flag, help_heading = "Timing and policy")]
    pub dependency_requeue: Duration,
    /// How long a deletion waits for clean-up that cannot proceed (rules left on a
    /// connection, parent or credentials gone) before releasing the CR with a Warning Event
    /// naming the orphaned Meshes IDs.
    #[arg(long, env = "MESHES_DELETION_RELEASE_TIMEOUT", default_value = "30s", value_parser = crate::controllers::durations::parse_flag, help_heading = "Timing and policy")]
    pub deletion_release_timeout: Duration,
    /// Policy for connections and rules the operator created that do not set
    /// `spec.deletionPolicy`.
    ///
    /// Adopted and `Observe` objects default to `Orphan` regardless; workspaces are always
    /// released.
    #[arg(
        long,
        env = "MESHES_DEFAULT_DELETION_POLICY",
        value_enum,
        default_value = "delete",
        help_heading = "Timing and policy"
    )]
    pub default_deletion_policy: DeletionPolicyArg,
    /// Disaster recovery: bind upstream objects that already exist with an object's identity
    /// (workspace name, connection name in its workspace, rule tuple), unbound by any CR,
    /// instead of stalling with `NameConflict`.
    ///
    /// Per object: annotation `meshes.io/rebind-by-identity: "true"` (honoured only with the
    /// object's own `credentialsRef`).
    #[arg(long, env = "MESHES_REBIND_BY_IDENTITY", help_heading = "Meshes API")]
    pub rebind_by_identity: bool,
    /// Sustained Meshes calls per second per access key (more than 0, at most 10000).
    ///
    /// A 429 from Meshes pauses only the access key that got it, honouring `Retry-After`
    /// (capped at 5 min).
    #[arg(long, env = "MESHES_API_RATE", default_value_t = 10.0, value_parser = positive_rate, help_heading = "Meshes API")]
    pub api_rate: f64,
    /// Burst of Meshes calls per access key (at least 1).
    #[arg(
        long,
        env = "MESHES_API_BURST",
        default_value_t = 20,
        help_heading = "Meshes API"
    )]
    pub api_burst: u32,
    /// Meshes calls in flight at once per access key (at least 1).
    #[arg(
        long,
        env = "MESHES_API_CONCURRENCY",
        default_value_t = 8,
        help_heading = "Meshes API"
    )]
    pub api_concurrency: usize,
    /// Timeout of each Meshes call (the connect timeout is a fixed 5 s). GETs are retried
    /// after a 5xx or timeout (4 attempts); writes never are. Any call refused with a 429 is
    /// sent again after the access key's pause when that pause is at most 5 s.
    #[arg(long, env = "MESHES_API_TIMEOUT", default_value = "20s", value_parser = crate::controllers::durations::parse_flag, help_heading = "Meshes API")]
    pub api_timeout: Duration,
    /// HTTPS proxy URL for Meshes calls.
    ///
    /// Without it, `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` from the environment
    /// apply (loopback never uses a proxy).
    #[arg(long, env = "MESHES_PROXY", help_heading = "Meshes API")]
    pub proxy: Option<String>,
    /// Ignore the proxy environment variables; conflicts with `--proxy`.
    #[arg(
        long,
        env = "MESHES_NO_PROXY",
        conflicts_with = "proxy",
        help_heading = "Meshes API"
    )]
    pub no_proxy: bool,
    /// Extra PEM CA bundle trusted for Meshes calls in addition to the platform roots
    /// (TLS-inspecting egress).
    #[arg(long, env = "MESHES_CA_BUNDLE", help_heading = "Meshes API")]
    pub ca_bundle: Option<PathBuf>,
    /// Instance name (letters, digits, `-`, `_`, `.`) added to the User-Agent
    /// (`meshes-operator/<version> (instance=<id>)`) and to the Event reporter; use the shard
    /// name.
    #[arg(long, env = "MESHES_INSTANCE_ID", help_heading = "Meshes API")]
    pub instance_id: Option<String>,
    /// Address of the Prometheus `/metrics` server (`HOST:PORT`; port 0 picks a free port;
    /// `0` disables the server).
    #[arg(
        long,
        env = "MESHES_METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:8080",
        help_heading = "Metrics and health probes"
    )]
    pub metrics_bind_address: BindAddress,
    /// Address of the `/livez` and `/readyz` server (`HOST:PORT`; port 0 picks a free port;
    /// `0` disables the server).
    #[arg(
        long,
        env = "MESHES_HEALTH_PROBE_BIND_ADDRESS",
        default_value = "0.0.0.0:8081",
        help_heading = "Metrics and health probes"
    )]
    pub health_probe_bind_address: BindAddress,
    /// Log format, to stderr: `json` writes one object per line.
    #[arg(
        long,
        env = "MESHES_LOG_FORMAT",
        value_enum,
        default_value = "text",
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,
    /// Log filter in tracing `EnvFilter` syntax, e.g. `info,meshes_operator=debug` (`RUST_LOG`
    /// is not read).
    ///
    /// The Meshes API calls (span `meshes_api`, retries, 429 pauses) log under the target
    /// `meshes_client`, e.g. `info,meshes_client=debug`. No secret is logged at any level.
    #[arg(
        long,
        env = "MESHES_LOG",
        default_value = "info",
        help_heading = "Logging"
    )]
    pub log_level: String,
    /// Leader election, shutdown and Kubernetes client pacing.
    #[command(flatten)]
    pub leader: leader::LeaderArgs,
}

/// A calls-per-second rate: finite and more than zero (a zero rate would never call Meshes, and
/// its token period would be infinite).
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 10_000.0 => Ok(r),
        _ => Err(format!(
            "{text:?}: a rate per second more than 0 and at most 10000"
        )),
    }
}

/// A debounce: from zero to 10 s.
fn debounce(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if d > Duration::from_secs(10) {
        return Err(format!("{text:?}: at most 10s"));
    }
    Ok(d)
}

impl RunArgs {
    /// The Meshes client configuration.
    pub fn client_config(&self) -> ClientConfig {
        let proxy = match (&self.proxy, self.no_proxy) {
            (Some(url), _) => ProxyConfig::Explicit(url.clone()),
            (None, true) => ProxyConfig::Disabled,
            (None, false) => ProxyConfig::FromEnvironment,
        };
        ClientConfig {
            base_url: self.api_url.clone(),
            request_timeout: self.api_timeout,
            budget: BudgetConfig {
                rate_per_second: self.api_rate,
                burst: self.api_burst,
                max_concurrency: self.api_concurrency,
                ..BudgetConfig::default()
            },
            proxy,
            extra_ca_bundle: self.ca_bundle.clone(),
            instance_id: self.instance_id.clone(),
            ..ClientConfig::default()
        }
    }

    /// The controllers' configuration.
    pub fn operator_config(&self) -> OperatorConfig {
        OperatorConfig {
            default_credentials: self.default_credentials.clone(),
            default_credentials_namespaces: NamespaceAllowList::from_list(
                &self.default_credentials_namespaces,
            ),
            events_url: self.events_url.trim_end_matches('/').to_string(),
            resync_interval: self.resync_interval,
            min_resync_interval: self.min_resync_interval,
            concurrency: self.concurrency,
            debounce: self.debounce,
            secret_grace: self.secret_grace,
            dependency_requeue: self.dependency_requeue,
            deletion_release_timeout: self.deletion_release_timeout,
            default_deletion_policy: match self.default_deletion_policy {
                DeletionPolicyArg::Delete => DeletionPolicy::Delete,
                DeletionPolicyArg::Orphan => DeletionPolicy::Orphan,
            },
            instance_id: self.instance_id.clone(),
            rebind_by_identity: self.rebind_by_identity,
            watch_namespaces: self.scope().namespaces,
            ..OperatorConfig::default()
        }
    }

    /// Which objects this instance handles.
    pub fn scope(&self) -> Scope {
        Scope {
            namespaces: self
                .watch_namespace
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect(),
            label_selector: self.selector.clone(),
        }
    }
}

/// Installs the tracing subscriber for `format` and `filter`.
pub fn init_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn flags_map_onto_the_configurations() {
        let t = T::parse_from([
            "x",
            "--api-url=http://127.0.0.1:9000",
            "--default-credentials=ops/meshes",
            "--default-credentials-namespaces=acme,beta",
            "--resync-interval=30s",
            "--api-rate=2.5",
            "--no-proxy",
            "--selector=meshes.io/shard=a",
        ]);
        let client = t.run.client_config();
        assert_eq!(client.base_url, "http://127.0.0.1:9000");
        assert_eq!(client.budget.rate_per_second, 2.5);
        assert_eq!(client.proxy, ProxyConfig::Disabled);
        let op = t.run.operator_config();
        assert_eq!(op.resync_interval, Duration::from_secs(30));
        assert!(op.default_credentials_namespaces.allows("beta"));
        assert!(!op.default_credentials_namespaces.allows("gamma"));
        assert_eq!(op.default_credentials.unwrap().to_string(), "ops/meshes");
        assert_eq!(
            t.run.scope().label_selector.as_deref(),
            Some("meshes.io/shard=a")
        );
    }

    #[test]
    fn absurd_durations_and_rates_are_refused_at_startup() {
        for bad in [
            "--resync-interval=18000000000000000000s",
            "--api-timeout=0s",
            "--secret-grace=400days",
            "--min-resync-interval=nonsense",
            "--api-rate=0",
            "--api-rate=NaN",
            "--concurrency=0",
            "--debounce=1h",
            "--api-rate=1e300",
        ] {
            assert!(T::try_parse_from(["x", bad]).is_err(), "{bad} was accepted");
        }
        // Positive control: sane values parse.
        let ok = T::try_parse_from([
            "x",
            "--min-resync-interval=30s",
            "--api-rate=0.5",
            "--concurrency=4",
            "--debounce=0s",
        ])
        .unwrap();
        assert_eq!(ok.run.operator_config().concurrency, 4);
        assert_eq!(ok.run.operator_config().debounce, Duration::ZERO);
        assert_eq!(
            ok.run.operator_config().min_resync_interval,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn server_addresses_default_to_8080_and_8081_and_zero_disables() {
        let t = T::parse_from(["x"]);
        assert_eq!(
            t.run.metrics_bind_address,
            BindAddress::At("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(
            t.run.health_probe_bind_address,
            BindAddress::At("0.0.0.0:8081".parse().unwrap())
        );
        let t = T::parse_from([
            "x",
            "--metrics-bind-address=0",
            "--health-probe-bind-address=127.0.0.1:0",
        ]);
        assert_eq!(t.run.metrics_bind_address, BindAddress::Disabled);
        assert_eq!(
            t.run.health_probe_bind_address,
            BindAddress::At("127.0.0.1:0".parse().unwrap())
        );
        assert!(T::try_parse_from(["x", "--metrics-bind-address=:8080"]).is_err());
    }

    #[test]
    fn defaults_never_allow_default_credentials_anywhere() {
        let t = T::parse_from(["x"]);
        assert_eq!(
            t.run.operator_config().default_credentials_namespaces,
            NamespaceAllowList::None
        );
        assert_eq!(t.run.client_config().base_url, "https://api.meshes.io");
    }
}
