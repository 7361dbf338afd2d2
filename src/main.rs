//! CLI wiring only: `run`, `crds`, `version`.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use meshes_operator::api::MeshesClient;
use meshes_operator::cli::{RunArgs, init_logging};
use meshes_operator::ops::{self, Health, Metrics};

/// Kubernetes operator for the Meshes event-routing API.
#[derive(Debug, Parser)]
#[command(name = "meshes-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers (uses in-cluster config or KUBECONFIG).
    Run(Box<RunArgs>),
    /// Print the version.
    Version,
    /// Write the generated CRD YAML into `crds/` and `charts/meshes-operator/crds/`, or with
    /// `--check` fail when those files differ from the Rust types.
    Crds {
        /// Only compare the files on disk with the generated ones; exit 1 when they differ.
        #[arg(long)]
        check: bool,
        /// Repository root holding `crds/` and `charts/`.
        #[arg(long, default_value = ".")]
        root: std::path::PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(*args)?,
        Command::Crds { check, root } => meshes_operator::cli::crds::command(check, &root)?,
        Command::Version => {
            #[allow(clippy::print_stdout)]
            {
                println!("meshes-operator {}", env!("CARGO_PKG_VERSION"));
            }
        }
    }
    Ok(())
}

/// The `run` subcommand.
fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format, &args.log_level)?;
    let health = Arc::new(Health::new(false));
    let metrics = Arc::new(Metrics::new());
    // Bound before anything starts: a port in use fails the start, and the probes answer
    // while the operator waits for the API server and its CRDs.
    let metrics_listener = ops::server::bind(args.metrics_bind_address)
        .map_err(|e| anyhow::anyhow!("--metrics-bind-address: {e}"))?;
    if let Some(listener) = ops::server::bind(args.health_probe_bind_address)
        .map_err(|e| anyhow::anyhow!("--health-probe-bind-address: {e}"))?
    {
        tracing::info!(addr = %listener.local_addr()?, "health probe server listening");
        ops::server::serve_probes(listener, health.clone())?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        health.spawn_heartbeat();
        if let Some(listener) = metrics_listener {
            tracing::info!(addr = %listener.local_addr()?, "metrics server listening");
            ops::server::serve_metrics(listener, metrics.clone(), health.clone())?;
        }
        let mut client_config = args.client_config();
        client_config.observer = Some(metrics.clone());
        let meshes = MeshesClient::new(client_config)?;
        let kube = kube::Client::try_default().await?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            api = %args.api_url,
            "meshes-operator starting"
        );
        meshes_operator::controllers::run::run_with_metrics(
            kube,
            Arc::new(meshes),
            args.operator_config(),
            args.scope(),
            metrics,
            health,
        )
        .await
    })
}
