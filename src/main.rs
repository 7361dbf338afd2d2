//! CLI wiring only: `run`, `crds`, `version`.

use clap::{Parser, Subcommand};

/// Kubernetes operator for the Meshes event-routing API.
#[derive(Debug, Parser)]
#[command(name = "meshes-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            #[allow(clippy::print_stdout)]
            {
                println!("meshes-operator {}", env!("CARGO_PKG_VERSION"));
            }
        }
    }
    Ok(())
}
