//! The command line: `kubectl meshes tree | deliveries | send | retry | completion`, with the
//! kubectl-style global flags (`--kubeconfig`, `--context`, `-n`, `-A`) that kubectl passes
//! through to a plugin untouched.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-meshes",
    bin_name = "kubectl meshes",
    version,
    about = "See meshes-operator's workspaces, connections and rules, their health and their deliveries",
    long_about = "See meshes-operator's workspaces, connections and rules as a tree with their health \
and the outcome of their latest deliveries, list delivery history, send test events and retry \
deliveries.\n\nEverything runs with your kubeconfig and your rights only: the custom resources are \
read from the cluster, Meshes is called with the credentials Secret the resource references (read \
with your rights), and events are sent with the workspace's publishable key from its output Secret. \
No secret value is ever printed.",
    after_help = "Examples:\n  kubectl meshes tree -n acme\n  kubectl meshes tree acme-prod -n acme --watch\n  \
kubectl meshes tree -A -o json\n  kubectl meshes deliveries rule/signup-to-hook -n acme --since 1h\n  \
kubectl meshes send acme-prod user.signup -n acme --payload '{\"email\":\"ada@example.com\"}'\n  \
kubectl meshes retry 4c3b2a19-5e0f-4d0c-9a8b-7c6d5e4f3a21 signup-to-hook -n acme\n  \
source <(kubectl meshes completion bash)"
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts (before or after the command name).
#[derive(Debug, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Meshes API base URL: the operator's `--api-url` (it is operator configuration, not in
    /// any resource).
    #[arg(
        long,
        global = true,
        env = "MESHES_API_URL",
        default_value = meshes_client::DEFAULT_BASE_URL,
        value_name = "URL"
    )]
    pub api_url: String,
    /// Never colour the output (also when NO_COLOR is set or the output is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Pretend the time is this RFC 3339 instant when showing ages (for reproducible output).
    #[arg(long, global = true, hide = true, value_name = "RFC3339")]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Workspace → connections → rules with Ready / Synced / reason, Meshes IDs, ages and each
    /// rule's latest deliveries.
    #[command(
        after_help = "Examples:\n  kubectl meshes tree -n acme\n  kubectl meshes tree acme-prod -n acme\n  \
kubectl meshes tree -A -o yaml\n  kubectl meshes tree acme-prod -n acme --watch"
    )]
    Tree(TreeArgs),
    /// Recent events of a connection or rule: per-rule status, attempts, outcome codes and the
    /// destination's response status, newest first.
    #[command(
        after_help = "Examples:\n  kubectl meshes deliveries rule/signup-to-hook -n acme\n  \
kubectl meshes deliveries connection/signup-hook -n acme --since 30m --limit 5 -o json"
    )]
    Deliveries(DeliveriesArgs),
    /// Send an event with the workspace's publishable key, then follow its deliveries.
    #[command(
        after_help = "Examples:\n  kubectl meshes send acme-prod user.signup -n acme\n  \
kubectl meshes send acme-prod payment.failed -n acme --payload '{\"amount_cents\":4200}'\n  \
kubectl meshes send acme-prod user.signup -n acme -f event.json --timeout 1m\n\n\
Exit status: 0 when every matched rule delivered it (or none matched), 1 when a delivery failed \
or did not finish within --timeout."
    )]
    Send(SendArgs),
    /// Ask Meshes to deliver one event through one rule again, then follow it.
    #[command(
        after_help = "Example:\n  kubectl meshes retry 4c3b2a19-5e0f-4d0c-9a8b-7c6d5e4f3a21 signup-to-hook -n acme"
    )]
    Retry(RetryArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  source <(kubectl meshes completion bash)\n  \
kubectl meshes completion zsh > \"${fpath[1]}/_kubectl-meshes\"\n  \
kubectl meshes completion fish > ~/.config/fish/completions/kubectl-meshes.fish"
    )]
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// `tree` options.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Only this MeshesWorkspace (default: every workspace of the namespace).
    pub workspace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
    /// Redraw whenever a resource changes (and every --interval for deliveries).
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// How often --watch refreshes deliveries from Meshes.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Deliveries shown per rule.
    #[arg(long, default_value_t = 3)]
    pub deliveries: usize,
    /// Events of each workspace's history to look through for them.
    #[arg(long, default_value_t = 50)]
    pub events: usize,
    /// Stop --watch after this many frames (for tests).
    #[arg(long, hide = true)]
    pub max_frames: Option<usize>,
}

/// `deliveries` options.
#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// `connection/NAME` or `rule/NAME` (also `meshesconnection/…`, `meshesrule/…`).
    pub target: String,
    /// Only events received within this long (e.g. 30m, 1h, 2d).
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub since: Duration,
    /// At most this many events.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
}

/// `send` options.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The MeshesWorkspace.
    pub workspace: String,
    /// The event type, e.g. `user.signup`.
    pub event: String,
    /// The payload, a JSON object (default: a small test payload).
    #[arg(long, conflicts_with = "file", value_name = "JSON")]
    pub payload: Option<String>,
    /// Read the payload from this file (`-` for stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The event's resource.
    #[arg(long)]
    pub resource: Option<String>,
    /// The event's resource ID.
    #[arg(long)]
    pub resource_id: Option<String>,
    /// Stop following the deliveries after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Only send; do not follow the deliveries.
    #[arg(long)]
    pub no_follow: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
}

/// `retry` options.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The Meshes event ID.
    pub event_id: String,
    /// The MeshesRule (its name in the namespace).
    pub rule: String,
    /// Stop following the delivery after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Format,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 30s, 5m, 1h: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_before_and_after_the_command_as_kubectl_passes_them() {
        let a =
            Cli::try_parse_from(["kubectl-meshes", "-n", "acme", "tree", "-o", "json"]).unwrap();
        let b =
            Cli::try_parse_from(["kubectl-meshes", "tree", "-n", "acme", "-o", "json"]).unwrap();
        assert_eq!(a.global.namespace.as_deref(), Some("acme"));
        assert_eq!(b.global.namespace.as_deref(), Some("acme"));
        let Command::Tree(t) = b.command else {
            panic!()
        };
        assert_eq!(t.output, Format::Json);
        assert!(
            Cli::try_parse_from(["kubectl-meshes", "deliveries", "rule/x", "--since", "soon"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "kubectl-meshes",
                "send",
                "ws",
                "e",
                "--payload",
                "{}",
                "-f",
                "x"
            ])
            .is_err(),
            "--payload and -f are exclusive"
        );
    }
}
