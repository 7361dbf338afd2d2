//! Starting the controllers: wait for the CRDs, build the watches (Secrets as metadata only),
//! share the stores through the context, and run until a shutdown signal.
//!
//! Every watch of a custom resource kind decodes each object on its own ([`Decoded`]): an
//! object the Rust types cannot read is reported on itself ([`frame::undecodable`]) and never
//! breaks the list or watch of its kind, so every other object keeps reconciling. The
//! controllers run over [`Decoded`] objects; the stores shared through the context, the
//! mappers and the triggers hold only the objects that decode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cache::Cache;
use futures::StreamExt;
use futures::channel::mpsc;
use kube::runtime::controller::Action;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::config::OperatorConfig;
use super::context::{Context, Stores, Triggers};
use super::error::Error;
use super::fanout;
use super::index::Tag;
use super::janitor::UserEvents;
use super::lifecycle::Kind;
use super::metrics::{Metrics, PassResult};
use super::{connection, frame, references, workspace};
use crate::api::MeshesApi;
use crate::ops::Health;
use crate::resources::{Decoded, GROUP, MeshesConnection, MeshesRule, MeshesWorkspace, VERSION};
use crate::shutdown::Stop;

pub use super::scope::{Scope, Watched};
use super::scope::{decoded_ref, to_decoded};

/// Waits until the three CRDs are served, logging every 10 s, instead of crashing when the
/// operator starts before its CRDs are installed.
pub async fn wait_for_crds(client: &kube::Client) {
    let wanted = ["meshesworkspaces", "meshesconnections", "meshesrules"];
    let mut waited = Duration::ZERO;
    loop {
        let served = client
            .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
            .await
            .map(|list| {
                wanted
                    .iter()
                    .all(|w| list.resources.iter().any(|r| r.name == *w))
            })
            .unwrap_or(false);
        if served {
            return;
        }
        if waited.as_secs().is_multiple_of(10) {
            tracing::warn!(
                "waiting for the meshes.io CRDs to be installed (kubectl apply -f crds/)"
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        waited += Duration::from_secs(2);
    }
}

fn error_policy<K: Resource>(obj: Arc<K>, err: &Error, ctx: Arc<Context>) -> Action {
    if let Some(delay) = err.waiting_for() {
        tracing::debug!(object = %obj.meta().name.clone().unwrap_or_default(), reason = %err, "deletion waiting");
        return Action::requeue(delay);
    }
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let delay = ctx.next_backoff(&uid);
    tracing::warn!(object = %obj.meta().name.clone().unwrap_or_default(), error = %err, ?delay, "reconcile failed; retrying");
    Action::requeue(delay)
}

/// Runs every controller until the future is dropped (tests stop it by aborting its task).
pub async fn run(
    client: kube::Client,
    api: Arc<dyn MeshesApi>,
    config: OperatorConfig,
    scope: Scope,
) -> anyhow::Result<()> {
    let health = Arc::new(Health::new(false));
    run_with_metrics(client, api, config, scope, Arc::default(), health).await
}

/// [`run`] with caller-provided metrics (served on `/metrics`, read by tests) and health
/// (caches synced is set here, once the three kinds' caches have listed everything).
pub async fn run_with_metrics(
    client: kube::Client,
    api: Arc<dyn MeshesApi>,
    config: OperatorConfig,
    scope: Scope,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> anyhow::Result<()> {
    run_until(client, api, config, scope, metrics, health, Stop::never()).await
}

/// Runs every controller until `stop` completes, then stops taking work and returns once the
/// passes in flight have finished. Dropping the future instead aborts those passes and the
/// janitor at once (how a lost Lease stops a replica).
pub async fn run_until(
    client: kube::Client,
    api: Arc<dyn MeshesApi>,
    config: OperatorConfig,
    scope: Scope,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: Stop,
) -> anyhow::Result<()> {
    // Fresh caches each time the controllers start (again, after a lost Lease).
    health.set_caches_synced(false);
    wait_for_crds(&client).await;
    let wc = scope.watcher_config();
    // One watch per kind (`fanout`): the parent triggers and the janitor read the controllers'
    // watches, each event after the cache has it.
    let (workspaces, ws_store, ws_events) =
        scope.watch::<MeshesWorkspace>(client.clone(), wc.clone());
    let (connections, conn_store, conn_events) =
        scope.watch::<MeshesConnection>(client.clone(), wc.clone());
    let (rules, rule_store, rule_events) = scope.watch::<MeshesRule>(client.clone(), wc);
    let ws_changes = fanout::touched(ws_events.subscribe());
    let conn_changes = fanout::touched(conn_events.subscribe());
    // The janitor counts every object naming a Secret, whatever its labels: a sharded instance
    // (label selector) cannot use its own watches for that.
    let users = match scope.label_selector {
        None => UserEvents::shared(&ws_events, &conn_events, &rule_events),
        Some(_) => UserEvents::watched(&client, &scope),
    };
    drop((ws_events, conn_events, rule_events));
    let stores = Stores {
        workspaces: Some(ws_store.clone()),
        connections: Some(conn_store.clone()),
        rules: Some(rule_store.clone()),
        complete: scope.label_selector.is_none(),
    };
    metrics.watch_stores(stores.clone());
    let _synced = AbortOnDrop(tokio::spawn(caches_synced(
        ws_store.clone(),
        conn_store.clone(),
        rule_store.clone(),
        health,
    )));
    let (ws_tx, ws_rx) = mpsc::unbounded();
    let (conn_tx, conn_rx) = mpsc::unbounded();
    let (rule_tx, rule_rx) = mpsc::unbounded();
    let triggers = Triggers {
        workspaces: Some(ws_tx),
        connections: Some(conn_tx),
        rules: Some(rule_tx),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        api,
        config.clone(),
        stores.clone(),
        metrics,
        triggers,
    ));

    // One Secret watch: the cache first, then each controller's mapper and the janitor.
    let secret_events = fanout::Fanout::default();
    let janitor_secrets = secret_events.subscribe();
    let (feed, [ws_secrets, conn_secrets, rule_secrets]) =
        super::secret_feed::secret_feed(&scope, client.clone(), ctx.secrets.clone(), secret_events);
    let _feed = AbortOnDrop(tokio::spawn(feed));
    let changes = |rx: super::secret_feed::SecretChanges| rx.map(Ok::<_, watcher::Error>);
    // Secret events on a workspace's output Secret name clear its stall memory before its next
    // pass (an OwnershipConflict is fixed by deleting the foreign Secret, which changes none of
    // the stall's inputs).
    let outputs = workspace::OutputSecretEvents::default();
    // Bounded work: at most `concurrency` passes of a kind at once (the startup storm is paced by
    // it), and events within `debounce` of each other make one pass.
    let runtime = kube::runtime::controller::Config::default()
        .concurrency(config.concurrency)
        .debounce(config.debounce);
    let ws = workspaces
        .with_config(runtime.clone())
        .watches_stream(
            changes(ws_secrets),
            to_decoded(workspace::secret_mapper(
                ws_store.clone(),
                config.clone(),
                outputs.clone(),
            )),
        )
        .reconcile_on(ws_rx.map(decoded_ref))
        .graceful_shutdown_on(stop.wait())
        .run(
            move |obj: Arc<Decoded<MeshesWorkspace>>, ctx: Arc<Context>| {
                if obj.ok().is_some()
                    && let Some(uid) = obj.uid()
                    && outputs.take(&uid)
                {
                    ctx.clear_stall(&uid);
                }
                reconcile::<MeshesWorkspace>(obj, ctx)
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| log_result("MeshesWorkspace", r));
    let conns = connections
        .with_config(runtime.clone())
        .watches_stream(
            ws_changes,
            to_decoded(references::of(
                conn_store.clone(),
                Tag::Workspace,
                references::names_workspace,
            )),
        )
        .watches_stream(
            changes(conn_secrets),
            to_decoded(connection::secret_mapper(conn_store, ws_store)),
        )
        .reconcile_on(conn_rx.map(decoded_ref))
        .graceful_shutdown_on(stop.wait())
        .run(reconcile::<MeshesConnection>, error_policy, ctx.clone())
        .for_each(|r| log_result("MeshesConnection", r));
    let rules = rules
        .with_config(runtime)
        .watches_stream(
            conn_changes,
            to_decoded(references::of(
                rule_store.clone(),
                Tag::Connection,
                references::names_connection,
            )),
        )
        .watches_stream(
            changes(rule_secrets),
            to_decoded(references::of(
                rule_store,
                Tag::Secret,
                references::names_credentials,
            )),
        )
        .reconcile_on(rule_rx.map(decoded_ref))
        .graceful_shutdown_on(stop.wait())
        .run(reconcile::<MeshesRule>, error_policy, ctx.clone())
        .for_each(|r| log_result("MeshesRule", r));
    // Aborted when this future ends or is dropped, so it never outlives the controllers.
    let _janitor = AbortOnDrop(tokio::spawn(super::janitor::janitor(
        ctx.clone(),
        users,
        janitor_secrets,
    )));
    let _outages = AbortOnDrop(tokio::spawn(wake_after_outages(ctx.clone())));
    tracing::info!("controllers started");
    tokio::join!(ws, conns, rules);
    tracing::info!("controllers stopped");
    Ok(())
}

/// Marks the caches synced in `health` (for `/readyz`) once each of them has applied a
/// complete first list. Until then (for example while RBAC refuses the list) the process is
/// not ready.
async fn caches_synced(
    workspaces: Cache<MeshesWorkspace>,
    connections: Cache<MeshesConnection>,
    rules: Cache<MeshesRule>,
    health: Arc<Health>,
) {
    let synced = workspaces.wait_until_ready().await
        && connections.wait_until_ready().await
        && rules.wait_until_ready().await;
    // Not synced: a watch ended before its first list, so the controllers are stopping.
    if synced {
        health.set_caches_synced(true);
        tracing::info!("caches synced");
    }
}

/// Wakes the objects waiting in error backoff each time an access key recovers from an outage
/// (`super::outage`).
async fn wake_after_outages(ctx: Arc<Context>) {
    let mut recoveries = ctx.metrics.outages().subscribe();
    while recoveries.changed().await.is_ok() {
        let woken = ctx.wake_after_outage();
        tracing::info!(
            objects = woken,
            "retrying the objects that waited in error backoff"
        );
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The controller runtime's entry for kind `K`: the lifecycle for an object that decodes
/// (unchanged: [`super::lifecycle::reconcile`]), a report on itself for one that does not.
/// Each pass runs in a span naming the object (kind, namespace, name, generation, Meshes ID)
/// and is counted and timed in the metrics.
async fn reconcile<K: Kind>(obj: Arc<Decoded<K>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let kind = K::kind(&());
    let (namespace, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let meshes_id = obj
        .ok()
        .and_then(|k| k.current_status().cloned())
        .and_then(|mut status| K::core(&mut status).id.clone());
    let span = tracing::info_span!(
        "reconcile",
        kind = %kind,
        namespace = %namespace,
        name = %name,
        generation = obj.meta().generation,
        meshes_id = meshes_id.as_deref().unwrap_or(""),
    );
    let started = Instant::now();
    ctx.metrics.pass_started(&kind, &namespace, &name);
    let result = async {
        let result = match &obj.0 {
            Ok(decoded) => super::lifecycle::reconcile::<K>(decoded.clone(), ctx.clone()).await,
            Err(bad) => frame::undecodable(obj.as_ref(), bad, &ctx).await,
        };
        tracing::debug!(
            ok = result.is_ok(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconcile finished"
        );
        result
    }
    .instrument(span)
    .await;
    // Objects in error backoff (errors are backed off by `error_policy`) are woken when Meshes
    // recovers from an outage.
    if let Some(uid) = obj.meta().uid.as_deref() {
        let waiting = result.is_err() || ctx.in_backoff(uid);
        ctx.backoff_waiters.set(
            uid,
            waiting
                .then(|| super::outage::Waiter::of(&kind, &namespace, &name))
                .flatten(),
        );
    }
    // Every error is requeued by `error_policy`; a success only when it asks to be.
    let (outcome, requeue) = match &result {
        Ok(action) => (PassResult::Success, *action != Action::await_change()),
        Err(e) if e.waiting_for().is_some() => (PassResult::Waiting, true),
        Err(_) => (PassResult::Error, true),
    };
    ctx.metrics.pass_finished(
        &kind,
        &namespace,
        &name,
        outcome,
        started.elapsed(),
        requeue,
    );
    result
}

async fn log_result<T, E: std::fmt::Display>(kind: &'static str, res: Result<T, E>) {
    if let Err(e) = res {
        tracing::debug!(kind, error = %e, "controller");
    }
}
