//! One `tree` frame, its printing, and `--watch`: redraw whenever one of the three kinds
//! changes in the cluster (a watch, not polling), and every `--interval` for deliveries,
//! which live in Meshes and have no watch. A frame is printed only when it differs from the
//! last one; on a terminal it replaces the screen, otherwise frames follow one another.

use std::time::Duration;

use futures::{StreamExt as _, stream};
use kube::runtime::watcher;
use meshes_client::MeshesClient;

use crate::Io;
use crate::cli::{Global, TreeArgs};
use crate::cluster::{Cluster, Kind};
use crate::render::{self, Style};
use crate::tree::{self, TreeDoc};

/// Builds one frame. Without a usable Meshes client the tree still shows, with a note.
pub async fn frame(
    cluster: &Cluster,
    api: &Result<MeshesClient, String>,
    args: &TreeArgs,
) -> anyhow::Result<TreeDoc> {
    match api {
        Ok(api) => tree::build(cluster, api, args).await,
        Err(why) => {
            let views = tree::read_views(cluster, args.all_namespaces).await?;
            let items = tree::arrange(&views, args.workspace.as_deref());
            Ok(TreeDoc {
                items,
                notes: vec![format!("deliveries not shown: {why}")],
            })
        }
    }
}

/// Prints a frame: the document to stdout, notes to stderr (text only; JSON and YAML carry
/// them in `notes`).
pub fn print(doc: &TreeDoc, args: &TreeArgs, st: &Style, io: &mut Io<'_>) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    render_to(doc, args, st, &mut buf)?;
    io.out.write_all(&buf)?;
    if args.output == crate::cli::Format::Text {
        render::notes(&doc.notes, st, io.err)?;
    }
    Ok(())
}

fn render_to(doc: &TreeDoc, args: &TreeArgs, st: &Style, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    match args.output {
        crate::cli::Format::Text => render::tree_text(doc, args.all_namespaces, st, buf)?,
        crate::cli::Format::Json => crate::deliveries::print_structured(doc, false, buf)?,
        crate::cli::Format::Yaml => crate::deliveries::print_structured(doc, true, buf)?,
    }
    Ok(())
}

/// `tree --watch`.
pub async fn run(
    cluster: &Cluster,
    api: Result<MeshesClient, String>,
    args: &TreeArgs,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<()> {
    let ns = (!args.all_namespaces).then_some(cluster.namespace.as_str());
    let watches = [
        Kind::MeshesWorkspace,
        Kind::MeshesConnection,
        Kind::MeshesRule,
    ]
    .map(|k| {
        watcher(cluster.api(k, ns), watcher::Config::default())
            .map(|_| ())
            .boxed()
    });
    let mut changes = stream::select_all(watches);
    let mut last: Option<Vec<u8>> = None;
    let mut frames = 0usize;
    loop {
        let st = Style {
            color: io.terminal && !global.no_color && std::env::var_os("NO_COLOR").is_none(),
            now: global.now.unwrap_or_else(chrono::Utc::now),
        };
        let doc = frame(cluster, &api, args).await?;
        let mut buf = Vec::new();
        render_to(&doc, args, &st, &mut buf)?;
        if last.as_ref() != Some(&buf) {
            if io.terminal {
                // Home and clear: the new frame replaces the old one.
                io.out.write_all(b"\x1b[H\x1b[2J")?;
            } else if last.is_some() {
                writeln!(io.out)?;
            }
            io.out.write_all(&buf)?;
            if args.output == crate::cli::Format::Text {
                render::notes(&doc.notes, &st, io.err)?;
            }
            io.out.flush()?;
            last = Some(buf);
            frames += 1;
            if args.max_frames.is_some_and(|m| frames >= m) {
                return Ok(());
            }
        }
        // Wait for a change in the cluster or the delivery refresh, then let a burst of
        // changes (a reconcile writes several objects) settle into one frame.
        tokio::select! {
            _ = changes.next() => {}
            _ = tokio::time::sleep(args.interval) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        while let Some(Some(_)) = futures::FutureExt::now_or_never(changes.next()) {}
    }
}
