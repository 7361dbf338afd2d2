//! The `meshes-emulator` binary: flags → [`EmulatorConfig`], start, print the credentials and
//! a ready-to-apply Kubernetes Secret, serve until Ctrl-C / SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use meshes_emulator::{
    Credentials, DeliveryConfig, Emulator, EmulatorConfig, FaultSpec, RateLimit, RuleDedup, Seed,
};

/// A local Meshes API for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "meshes-emulator", version)]
struct Args {
    /// Management API listen address.
    #[arg(long, env = "MESHES_EMULATOR_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Second listener standing for the events host (ingestion only).
    #[arg(long, env = "MESHES_EMULATOR_EVENTS_LISTEN")]
    events_listen: Option<SocketAddr>,
    /// State file kept across restarts (atomic rewrite ~200 ms after changes).
    #[arg(long = "state", env = "MESHES_EMULATOR_STATE")]
    state: Option<PathBuf>,
    /// Automatic delivery attempts per rule event.
    #[arg(long, default_value_t = 5)]
    delivery_max_attempts: u32,
    /// Delay before the second attempt (doubled each time), e.g. `1s`, `50ms`.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    delivery_backoff_base: Duration,
    /// Largest delay between attempts.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    delivery_backoff_max: Duration,
    /// Per-attempt webhook timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    delivery_timeout: Duration,
    /// Webhook requests in flight at once.
    #[arg(long, default_value_t = 64)]
    delivery_concurrency: usize,
    /// Most events kept in history (oldest dropped).
    #[arg(long, default_value_t = 100_000)]
    max_events: usize,
    /// Access key of the start credential (`mk_…`); generated when absent.
    #[arg(long, env = "MESHES_EMULATOR_ACCESS_KEY", requires_all = ["secret_key", "org_id"])]
    access_key: Option<String>,
    /// Secret key of the start credential.
    #[arg(long, env = "MESHES_EMULATOR_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Organization UUID of the start credential.
    #[arg(long, env = "MESHES_EMULATOR_ORG_ID")]
    org_id: Option<String>,
    /// Seed file (YAML or JSON) with credentials and objects with fixed IDs.
    #[arg(long, env = "MESHES_EMULATOR_SEED")]
    seed: Option<PathBuf>,
    /// Per-access-key rate limit `RATE[/s][,BURST]`, e.g. `10/s,20`.
    #[arg(long, env = "MESHES_EMULATOR_RATE_LIMIT")]
    rate_limit: Option<RateLimit>,
    /// Fault `[METHOD] ROUTE ACTION [TRIGGER]`, repeatable, e.g.
    /// `--fault "POST /api/v1/workspaces status=503 next=2"`.
    #[arg(long = "fault")]
    faults: Vec<FaultSpec>,
    /// When creating a rule identical to an existing one answers 409: `tuple` (connection,
    /// event, resource, resource_id and metadata equal, whatever active/hidden), `exact` (also
    /// active and hidden equal), `none` (never).
    #[arg(long, env = "MESHES_EMULATOR_RULE_DEDUP", default_value_t = RuleDedup::Tuple)]
    rule_dedup: RuleDedup,
    /// Tolerated JWT clock skew in seconds.
    #[arg(long, default_value_t = 5)]
    clock_skew_secs: u64,
    /// Accept http:// webhook URLs pointing at loopback hosts.
    #[arg(long)]
    allow_insecure_loopback_webhooks: bool,
    /// Namespace of the printed Secret manifest.
    #[arg(long, default_value = "default")]
    secret_namespace: String,
    /// Name of the printed Secret manifest.
    #[arg(long, default_value = "meshes-credentials")]
    secret_name: String,
    /// Also write the Secret manifest to this file (for `kubectl apply -f FILE`).
    #[arg(long)]
    write_secret: Option<PathBuf>,
}

fn secret_manifest(c: &Credentials, name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: Opaque\nstringData:\n  MESHES_ACCESS_KEY: \"{}\"\n  MESHES_SECRET_KEY: \"{}\"\n  MESHES_ORG_ID: \"{}\"\n",
        c.access_key, c.secret_key, c.org_id
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = EmulatorConfig {
        listen: args.listen,
        rate_limit: args.rate_limit,
        faults: args.faults,
        clock_skew: Duration::from_secs(args.clock_skew_secs),
        allow_insecure_loopback_webhooks: args.allow_insecure_loopback_webhooks,
        events_listen: args.events_listen,
        state_path: args.state,
        max_events: args.max_events,
        rule_dedup: args.rule_dedup,
        delivery: DeliveryConfig {
            max_attempts: args.delivery_max_attempts.max(1),
            backoff_base: args.delivery_backoff_base,
            backoff_max: args.delivery_backoff_max,
            timeout: args.delivery_timeout,
            concurrency: args.delivery_concurrency.max(1),
        },
        ..EmulatorConfig::default()
    };
    if let (Some(access_key), Some(secret_key), Some(org_id)) =
        (args.access_key, args.secret_key, args.org_id)
    {
        config.credentials.push(Credentials {
            access_key,
            secret_key,
            org_id,
        });
    }
    if let Some(path) = &args.seed {
        config.seed = Some(Seed::from_path(path)?);
    }
    let emulator = Emulator::start(config).await?;
    let creds = emulator.credentials();
    // The credentials are printed on purpose: this is a local test double and its whole point
    // is to hand them to the operator under test. They go to stdout, logs go to stderr.
    // stdout is valid YAML as a whole: comments plus the Secret manifest.
    let manifest = secret_manifest(&creds, &args.secret_name, &args.secret_namespace);
    let out = format!(
        "# Meshes emulator listening on {base}\n# API base URL: {base}/api/v1\n# Events URL: {events}\n# Admin: {base}/_emulator/\n# MESHES_ACCESS_KEY={}\n# MESHES_SECRET_KEY={}\n# MESHES_ORG_ID={}\n{manifest}",
        creds.access_key,
        creds.secret_key,
        creds.org_id,
        base = emulator.base_url(),
        events = emulator.events_url(),
    );
    if let Some(path) = &args.write_secret {
        write_private(path, manifest.as_bytes())
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    drop(stdout);

    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await?;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

/// Writes a file holding a secret key: mode 0600, complete or absent (temp file + rename), so a
/// script polling for it never reads half a manifest.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_dedup_flag_defaults_to_tuple_and_parses_each_mode() {
        let parse = |extra: &[&str]| {
            Args::try_parse_from(["meshes-emulator"].iter().chain(extra)).map(|a| a.rule_dedup)
        };
        // The env var is not set in the test environment (it would change the default).
        if std::env::var_os("MESHES_EMULATOR_RULE_DEDUP").is_none() {
            assert_eq!(parse(&[]).ok(), Some(RuleDedup::Tuple));
        }
        assert_eq!(
            parse(&["--rule-dedup", "tuple"]).ok(),
            Some(RuleDedup::Tuple)
        );
        assert_eq!(
            parse(&["--rule-dedup", "exact"]).ok(),
            Some(RuleDedup::Exact)
        );
        assert_eq!(parse(&["--rule-dedup", "none"]).ok(), Some(RuleDedup::None));
        assert!(parse(&["--rule-dedup", "sometimes"]).is_err());
    }
}
