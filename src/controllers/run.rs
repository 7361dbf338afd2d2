//! Starting the controllers: wait for the CRDs, build the watches (Secrets as metadata only),
//! share the stores through the context, and run until a shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::config::OperatorConfig;
use super::context::{Context, Stores, Triggers};
use super::error::Error;
use super::metrics::Metrics;
use super::{connection, references, workspace};
use crate::api::MeshesApi;
use crate::resources::{GROUP, MeshesConnection, MeshesRule, MeshesWorkspace, VERSION};

/// Which objects this operator instance handles (shards split by namespace or label selector).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Watch only these namespaces; empty = all namespaces. One namespace uses namespaced
    /// watches; several use cluster-wide watches filtered here (RBAC must allow listing
    /// cluster-wide then).
    pub namespaces: Vec<String>,
    /// Watch only custom resources with these labels (e.g. `meshes.io/shard=a`).
    pub label_selector: Option<String>,
}

impl Scope {
    pub(super) fn api<K>(&self, client: kube::Client) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        match self.namespaces.as_slice() {
            [ns] => Api::namespaced(client, ns),
            _ => Api::all(client),
        }
    }

    /// Whether objects of `namespace` belong to this instance.
    pub fn covers(&self, namespace: Option<&str>) -> bool {
        self.namespaces.is_empty()
            || namespace.is_some_and(|ns| self.namespaces.iter().any(|n| n == ns))
    }

    /// A controller over this scope's objects of kind `K`.
    fn controller<K>(&self, client: kube::Client, wc: watcher::Config) -> Controller<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        if self.namespaces.len() <= 1 {
            return Controller::new(self.api::<K>(client), wc);
        }
        // Several namespaces: one cluster-wide watch, events of other namespaces dropped
        // before they reach the cache (Init/InitDone markers pass, so the cache stays whole).
        let (reader, writer) = kube::runtime::reflector::store();
        let scope = self.clone();
        let events = watcher(self.api::<K>(client), wc)
            .default_backoff()
            .try_filter(move |ev| {
                let keep = match ev {
                    watcher::Event::Apply(o)
                    | watcher::Event::Delete(o)
                    | watcher::Event::InitApply(o) => scope.covers(o.meta().namespace.as_deref()),
                    watcher::Event::Init | watcher::Event::InitDone => true,
                };
                futures::future::ready(keep)
            })
            .reflect(writer)
            .applied_objects();
        Controller::for_stream(events, reader)
    }

    fn watcher_config(&self) -> watcher::Config {
        let wc = watcher::Config::default().any_semantic();
        match &self.label_selector {
            Some(sel) => wc.labels(sel),
            None => wc,
        }
    }
}

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

/// Runs every controller until SIGTERM/SIGINT.
pub async fn run(
    client: kube::Client,
    api: Arc<dyn MeshesApi>,
    config: OperatorConfig,
    scope: Scope,
) -> anyhow::Result<()> {
    run_with_metrics(client, api, config, scope, Arc::default()).await
}

/// [`run`] with caller-provided counters (tests read them).
pub async fn run_with_metrics(
    client: kube::Client,
    api: Arc<dyn MeshesApi>,
    config: OperatorConfig,
    scope: Scope,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    wait_for_crds(&client).await;
    let wc = scope.watcher_config();
    let workspaces: Controller<MeshesWorkspace> = scope.controller(client.clone(), wc.clone());
    let connections: Controller<MeshesConnection> = scope.controller(client.clone(), wc.clone());
    let rules: Controller<MeshesRule> = scope.controller(client.clone(), wc.clone());
    let stores = Stores {
        workspaces: Some(workspaces.store()),
        connections: Some(connections.store()),
        rules: Some(rules.store()),
    };
    let (conn_tx, conn_rx) = mpsc::unbounded();
    let (rule_tx, rule_rx) = mpsc::unbounded();
    let triggers = Triggers {
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

    // Metadata only: Secret data is read on demand, so memory does not grow with Secret sizes.
    // Each consumer gets its own plain watch stream, mapped and dropped as events arrive: no
    // cache of Secrets is kept (a shared reflector would save watches but hold every Secret's
    // metadata in memory).
    let secret_api: Api<PartialObjectMeta<Secret>> = scope.api(client.clone());
    let secrets = || {
        watcher(
            secret_api.clone(),
            watcher::Config::default().any_semantic(),
        )
        .default_backoff()
        .touched_objects()
    };
    let ws_store = workspaces.store();
    let conn_store = connections.store();
    let rule_store = rules.store();
    // Secret events on a workspace's output Secret name clear its stall memory before its next
    // pass (an OwnershipConflict is fixed by deleting the foreign Secret, which changes none of
    // the stall's inputs).
    let outputs = workspace::OutputSecretEvents::default();
    let ws = workspaces
        .watches_stream(
            secrets(),
            workspace::secret_mapper(ws_store.clone(), config.clone(), outputs.clone()),
        )
        .shutdown_on_signal()
        .run(
            move |obj: Arc<MeshesWorkspace>, ctx: Arc<Context>| {
                if let Some(uid) = obj.uid()
                    && outputs.take(&uid)
                {
                    ctx.clear_stall(&uid);
                }
                super::lifecycle::reconcile::<MeshesWorkspace>(obj, ctx)
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| log_result("MeshesWorkspace", r));
    let conns = connections
        .watches(
            scope.api::<MeshesWorkspace>(client.clone()),
            wc.clone(),
            references::of(conn_store.clone(), references::names_workspace),
        )
        .watches_stream(secrets(), connection::secret_mapper(conn_store, ws_store))
        .reconcile_on(conn_rx)
        .shutdown_on_signal()
        .run(
            super::lifecycle::reconcile::<MeshesConnection>,
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| log_result("MeshesConnection", r));
    let rules = rules
        .watches(
            scope.api::<MeshesConnection>(client.clone()),
            wc,
            references::of(rule_store.clone(), references::names_connection),
        )
        .watches_stream(
            secrets(),
            references::of(rule_store, references::names_credentials),
        )
        .reconcile_on(rule_rx)
        .shutdown_on_signal()
        .run(
            super::lifecycle::reconcile::<MeshesRule>,
            error_policy,
            ctx.clone(),
        )
        .for_each(|r| log_result("MeshesRule", r));
    let janitor = tokio::spawn(super::janitor::janitor(
        ctx.clone(),
        client.clone(),
        scope.clone(),
        secret_api.clone(),
    ));
    tracing::info!("controllers started");
    tokio::join!(ws, conns, rules);
    janitor.abort();
    tracing::info!("controllers stopped");
    Ok(())
}

async fn log_result<T, E: std::fmt::Display>(kind: &'static str, res: Result<T, E>) {
    if let Err(e) = res {
        tracing::debug!(kind, error = %e, "controller");
    }
}
