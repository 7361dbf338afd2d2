//! `meshes-testenv`: starts the same control plane the tests use, in the foreground, and prints
//! how to point kubectl at it. Ctrl-C (or SIGTERM) stops it cleanly.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use meshes_testenv::{ControlPlane, Options, bins, install_crds};

/// Run a local kube-apiserver + etcd for humans (the demo and manual testing).
#[derive(Debug, Parser)]
#[command(name = "meshes-testenv", version)]
struct Args {
    /// Apply every CRD found in these YAML files or directories after start.
    #[arg(long = "crds")]
    crds: Vec<PathBuf>,
    /// Fixed apiserver port (default: a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Write `export KUBECONFIG=...` lines to this file as well (for scripts).
    #[arg(long)]
    env_file: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Listen for Ctrl-C/SIGTERM before starting anything, so a stop during startup is clean too.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut opts = Options::new()?;
    opts.apiserver_port = args.port;
    let mut cp = tokio::select! {
        cp = ControlPlane::start(opts) => cp?,
        _ = term.recv() => return Ok(()),
        _ = int.recv() => return Ok(()),
    };
    if !args.crds.is_empty() {
        install_crd_files(&cp, &args.crds).await?;
    }
    let bin = bins::bin_dir();
    let exports = format!(
        "export KUBECONFIG={}\nexport PATH={}:$PATH\n",
        cp.admin_kubeconfig.display(),
        bin.display()
    );
    println!("kube-apiserver {} ready at {}", cp.version, cp.server);
    println!("audit log: {}", cp.audit_log.display());
    println!("# paste into another shell:\n{exports}");
    if let Some(path) = &args.env_file {
        // Complete or absent: scripts poll for this file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &exports).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    println!("stopping control plane");
    cp.stop();
    Ok(())
}

async fn install_crd_files(cp: &ControlPlane, paths: &[PathBuf]) -> anyhow::Result<()> {
    let mut crds = Vec::new();
    for path in paths {
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            v.sort();
            v
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            crds.extend(meshes_testenv::crds_from_yaml(&text)?);
        }
    }
    let client = meshes_testenv::kubeconfig::client_for(&cp.admin_kubeconfig).await?;
    install_crds(&client, &crds).await?;
    println!("installed {} CRDs", crds.len());
    Ok(())
}
