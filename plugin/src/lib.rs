//! `kubectl meshes`: a kubectl plugin for meshes-operator. `tree` shows each workspace with its
//! connections and rules, their Ready / Synced / reason, Meshes IDs, ages and each rule's
//! latest deliveries; `deliveries` lists a connection's or rule's recent events with every
//! attempt; `send` posts a test event with the workspace's publishable key and follows it;
//! `retry` asks for a delivery again; `completion` prints shell completion.
//!
//! Everything runs with the user's kubeconfig and the user's rights only. Meshes is called
//! through the `meshes-client` crate (a JWT per call, request budget, typed errors) with the
//! credentials Secret the resource references, read with those same rights; what cannot be
//! read becomes a one-line note, never a failure of the whole tree. No secret is printed: the
//! client's types keep secret keys and publishable keys out of `Debug`, event payloads are
//! never fetched, and errors name Secrets, not their content.
//!
//! Why the custom resources are read as `DynamicObject` rather than through the operator's
//! typed resources: the plugin is installed on its own (krew) and meets operators of other
//! versions, so it reads only the fields it shows and tolerates anything else — a field added,
//! renamed or ill-typed hides one value, never the tree; one object the operator's typed
//! decoder would refuse still shows. It also keeps the operator crate (its controllers and
//! their dependencies) out of the plugin binary. The field names it relies on are pinned by
//! the integration tests, which run the real operator (`tests/integration/plugin*.rs`).
//!
//! The library form ([`run`]) is what `main.rs` calls and what the integration tests call,
//! with the output captured.

pub mod cli;
pub mod cluster;
pub mod creds;
pub mod deliveries;
pub mod history;
pub mod render;
pub mod send;
pub mod tree;
pub mod view;
mod watch;

use std::ffi::OsString;
use std::io::Write;

use clap::{CommandFactory as _, Parser as _};
use meshes_client::{ClientConfig, MeshesClient};

use crate::cli::{Cli, Command, Format, Global};
use crate::cluster::Cluster;
use crate::render::Style;

/// Where output goes, and whether stdout is a terminal (colour and redraws only then).
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut (dyn Write + Send),
    /// Standard error (notes and errors).
    pub err: &'a mut (dyn Write + Send),
    /// True when `out` is a terminal.
    pub terminal: bool,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io")
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

/// Parses `args` (the first is the program name) and runs the command; returns the exit
/// status (0 success, 1 failure or a failed delivery, 2 usage error).
pub async fn run<I, T>(args: I, io: &mut Io<'_>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let text = e.render().to_string();
            let w: &mut dyn Write = if code == 0 { io.out } else { io.err };
            let _ = write!(w, "{text}");
            return code;
        }
    };
    match execute(cli, io).await {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io.err, "error: {e:#}");
            1
        }
    }
}

fn style(global: &Global, io: &Io<'_>) -> Style {
    Style {
        color: io.terminal && !global.no_color && std::env::var_os("NO_COLOR").is_none(),
        now: global.now.unwrap_or_else(chrono::Utc::now),
    }
}

/// The Meshes client for `--api-url`, or why there is none.
fn meshes(global: &Global) -> Result<MeshesClient, String> {
    MeshesClient::new(ClientConfig {
        base_url: global.api_url.clone(),
        instance_id: Some("kubectl-meshes".into()),
        ..ClientConfig::default()
    })
    .map_err(|e| format!("--api-url is not usable: {e}"))
}

fn structured(format: Format) -> Option<bool> {
    match format {
        Format::Text => None,
        Format::Json => Some(false),
        Format::Yaml => Some(true),
    }
}

async fn execute(cli: Cli, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let global = &cli.global;
    if let Command::Completion { shell } = &cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(*shell, &mut cmd, "kubectl-meshes", io.out);
        return Ok(0);
    }
    let cluster = Cluster::connect(global).await?;
    match &cli.command {
        Command::Tree(args) => {
            let api = meshes(global);
            if args.watch {
                watch::run(&cluster, api, args, global, io).await?;
                return Ok(0);
            }
            let doc = watch::frame(&cluster, &api, args).await?;
            watch::print(&doc, args, &style(global, io), io)?;
            Ok(0)
        }
        Command::Deliveries(args) => {
            let api = meshes(global).map_err(anyhow::Error::msg)?;
            let st = style(global, io);
            let list = deliveries::run(&cluster, &api, args, st.now).await?;
            match structured(args.output) {
                Some(yaml) => deliveries::print_structured(&list, yaml, io.out)?,
                None => render::deliveries_text(&list, &st, io.out)?,
            }
            Ok(0)
        }
        Command::Send(args) => {
            let api = meshes(global).map_err(anyhow::Error::msg)?;
            let report = send::send(&cluster, &api, args).await?;
            let head = format!("event {} ({}) accepted", report.event_id, report.event);
            print_report(
                &report,
                &head,
                args.output,
                args.timeout,
                &style(global, io),
                io,
            )?;
            Ok(report.exit_code())
        }
        Command::Retry(args) => {
            let api = meshes(global).map_err(anyhow::Error::msg)?;
            let report = send::retry(&cluster, &api, args).await?;
            let head = format!(
                "retry of event {} ({}) through MeshesRule/{} requested",
                report.event_id, report.event, args.rule
            );
            print_report(
                &report,
                &head,
                args.output,
                args.timeout,
                &style(global, io),
                io,
            )?;
            Ok(report.exit_code())
        }
        Command::Completion { .. } => Ok(0),
    }
}

fn print_report(
    report: &send::Report,
    head: &str,
    format: Format,
    timeout: std::time::Duration,
    st: &Style,
    io: &mut Io<'_>,
) -> anyhow::Result<()> {
    if let Some(yaml) = structured(format) {
        return deliveries::print_structured(report, yaml, io.out);
    }
    writeln!(io.out, "{head}")?;
    if let Some(why) = &report.not_followed {
        writeln!(io.err, "note: deliveries not followed: {why}")?;
        return Ok(());
    }
    if report.deliveries.is_empty() {
        writeln!(io.out, "no rule matched it: nothing to deliver")?;
        return Ok(());
    }
    render::deliveries_text(&report.deliveries, st, io.out)?;
    if !report.finished {
        writeln!(
            io.err,
            "note: not finished after {}; still pending deliveries are shown as they were",
            humantime::format_duration(timeout)
        )?;
    }
    Ok(())
}
