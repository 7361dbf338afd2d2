//! CLI wiring only: `run`, `crds`, `version`.

use std::sync::Arc;

use clap::{Parser, Subcommand};
use meshes_operator::api::MeshesClient;
use meshes_operator::cli::{RunArgs, init_logging};

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
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let meshes = MeshesClient::new(args.client_config())?;
        let kube = kube::Client::try_default().await?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            api = %args.api_url,
            "meshes-operator starting"
        );
        meshes_operator::controllers::run::run(
            kube,
            Arc::new(meshes),
            args.operator_config(),
            args.scope(),
        )
        .await
    })
}
