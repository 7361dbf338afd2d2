//! CLI wiring only: `run`, `import`, `crds`, `generate`, `version`.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use meshes_operator::api::{Gate, MeshesApi, MeshesClient};
use meshes_operator::cli::{RunArgs, init_logging};
use meshes_operator::controllers::run::run_until;
use meshes_operator::leader::{self, Elector, Fence};
use meshes_operator::ops::{self, Health, Metrics};
use meshes_operator::shutdown::Signals;

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
    /// Write manifests that adopt an existing Meshes account (`--out DIR`), or compare the
    /// account with an earlier import (`--diff DIR`, exit 2 on a difference).
    Import(Box<meshes_operator::cli::import::ImportArgs>),
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
    /// Write every generated file: the CRD YAML and the reference pages in `docs/reference/`
    /// (configuration from the flags and the chart's values, CRDs from the schema); with
    /// `--check` fail when any differs from the code.
    Generate {
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
        Command::Generate { check, root } => meshes_operator::cli::docs::command(check, &root)?,
        Command::Import(args) => {
            init_logging(meshes_operator::cli::LogFormat::Text, "warn")?;
            let same = tokio::runtime::Runtime::new()?
                .block_on(meshes_operator::cli::import::command(*args))?;
            if !same {
                // 1 is taken by errors (anyhow); a difference is not one.
                std::process::exit(2);
            }
        }
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
    let leader_elect = args.leader.leader_elect;
    let health = Arc::new(Health::new(leader_elect));
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
        let signals = Signals::install()?;
        let kube_config = kube::Config::infer().await?;
        let scope = args.scope();
        let election = args
            .leader
            .leader_config(
                &scope,
                std::env::var("POD_NAMESPACE").ok().filter(|s| !s.is_empty()),
                &host_name(),
                &kube_config.default_namespace,
            )
            .map_err(anyhow::Error::msg)?;
        // With an election, every write (Kubernetes and Meshes) passes the fence first.
        let fence = Arc::new(match election {
            Some(_) => Fence::closed(),
            None => Fence::always_open(),
        });
        let gated = election.is_some().then(|| fence.clone());
        let mut client_config = args.client_config();
        client_config.observer = Some(metrics.clone());
        client_config.gate = gated.clone().map(|f| Gate::new(f));
        let meshes: Arc<dyn MeshesApi> = Arc::new(MeshesClient::new(client_config)?);
        let kube = meshes_operator::kube_client::build(
            kube_config.clone(),
            args.leader.kube_limits(),
            gated,
        )?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            api = %args.api_url,
            leader_election = election.is_some(),
            "meshes-operator starting"
        );
        let config = args.operator_config();
        let controllers = {
            let health = health.clone();
            move |stop| {
                run_until(
                    kube.clone(),
                    meshes.clone(),
                    config.clone(),
                    scope.clone(),
                    Arc::clone(&metrics),
                    health.clone(),
                    stop,
                )
            }
        };
        let timeout = args.leader.shutdown_timeout;
        match election {
            Some(election) => {
                tracing::info!(lease = %election.name, namespace = %election.namespace, identity = %election.identity, "leader election on");
                // The Lease has a client of its own: never paced behind the controllers'
                // requests, never fenced.
                let lease_client = kube::Client::try_from(kube_config)?;
                let elector = Elector::new(lease_client, election, fence);
                // Probes and the leader gauge follow the elector.
                let mut status = elector.status();
                let follow = health.clone();
                tokio::spawn(async move {
                    loop {
                        let s = *status.borrow_and_update();
                        follow.set_leading(s.leading);
                        follow.set_standby_healthy(s.healthy);
                        if status.changed().await.is_err() {
                            break;
                        }
                    }
                });
                leader::lead(elector, signals, timeout, controllers).await
            }
            None => leader::run_alone(signals, timeout, controllers).await,
        }?;
        tracing::info!("meshes-operator stopped");
        Ok(())
    })
}

/// `POD_NAME`, else the kernel's host name, else a constant (the identity adds a random part).
fn host_name() -> String {
    std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "meshes-operator".to_owned())
}
