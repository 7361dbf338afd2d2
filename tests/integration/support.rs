//! Fixtures for controller tests: a namespace on the shared control plane, an emulator of its
//! own, a credentials Secret, and the operator running in-process (scoped to the namespace so
//! tests never see each other's objects) or as a child process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use meshes_emulator::{Emulator, EmulatorConfig};
use meshes_operator::api::{ClientConfig, MeshesClient};
use meshes_operator::controllers::config::OperatorConfig;
use meshes_operator::controllers::run::Scope;
use meshes_operator::resources::{MeshesWorkspace, crdgen};
use meshes_testenv::TestEnv;
use serde_json::{Value, json};

/// Generous ceiling for anything the operator should do "at once".
pub const SOON: Duration = Duration::from_secs(60);

/// Flags every test passes to the operator binary: the metrics and probe servers on free
/// loopback ports, so processes running in parallel never collide on 8080/8081.
pub const FREE_PORTS: [&str; 4] = [
    "--metrics-bind-address",
    "127.0.0.1:0",
    "--health-probe-bind-address",
    "127.0.0.1:0",
];

/// The address the operator binary logged (text format) in `log` for the server announced by
/// `message` (`"metrics server listening"` or `"health probe server listening"`).
pub async fn logged_addr(log: &std::path::Path, message: &str) -> std::net::SocketAddr {
    eventually(
        &format!("{message:?} in {}", log.display()),
        SOON,
        || async {
            let text = std::fs::read_to_string(log).ok()?;
            let line = text.lines().find(|l| l.contains(message))?;
            // Text (`addr=…`) or JSON (`"addr":"…"`).
            let rest = line
                .split("addr=")
                .nth(1)
                .or_else(|| line.split("\"addr\":\"").nth(1))?;
            let addr = rest.split(|c: char| c.is_whitespace() || c == '"').next()?;
            addr.parse::<std::net::SocketAddr>().ok()
        },
        |_| true,
    )
    .await
}

/// A plain HTTP GET of `path` on `addr`: (status, body), or `None` when nothing answered.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    let response = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// One test's world.
pub struct World {
    /// The test namespace.
    pub ns: String,
    /// Admin client.
    pub client: kube::Client,
    /// The test's own emulator.
    pub emu: Emulator,
    operator: Option<tokio::task::JoinHandle<()>>,
}

impl World {
    /// A namespace, an emulator and a `meshes-credentials` Secret holding its default key.
    pub async fn new(prefix: &str) -> World {
        World::with_emulator(prefix, EmulatorConfig::default()).await
    }

    /// Settings that keep tests fast: short grace, short backoff, long resync.
    pub fn fast_config() -> OperatorConfig {
        OperatorConfig {
            secret_grace: Duration::from_secs(3),
            resync_interval: Duration::from_secs(3600),
            min_resync_interval: Duration::from_secs(1),
            error_backoff_min: Duration::from_millis(200),
            error_backoff_max: Duration::from_secs(2),
            events_url: "http://127.0.0.1:9/api/v1".into(),
            ..OperatorConfig::default()
        }
    }

    /// The Meshes client configuration pointing at this world's emulator.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            base_url: self.emu.base_url(),
            ..ClientConfig::default()
        }
    }

    /// Starts the operator in-process, watching only this namespace.
    pub async fn start_operator(&mut self, config: OperatorConfig) {
        let client = self.client.clone();
        self.start_operator_with(client, config).await;
    }

    /// Starts the operator in-process with its own Kubernetes client (another identity, so the
    /// audit log tells its requests apart), watching only this namespace.
    pub async fn start_operator_with(&mut self, client: kube::Client, config: OperatorConfig) {
        let api = MeshesClient::new(self.client_config()).expect("client");
        let scope = Scope {
            namespaces: vec![self.ns.clone()],
            label_selector: None,
        };
        self.operator = Some(tokio::spawn(async move {
            if let Err(e) =
                meshes_operator::controllers::run::run(client, Arc::new(api), config, scope).await
            {
                panic!("operator failed: {e:#}");
            }
        }));
    }

    /// Stops the in-process operator.
    pub fn stop_operator(&mut self) {
        if let Some(h) = self.operator.take() {
            h.abort();
        }
    }

    /// Creates or replaces a credentials Secret.
    pub async fn put_credentials(&self, name: &str, access: &str, secret: &str, org: &str) {
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": name},
            "stringData": {"MESHES_ACCESS_KEY": access, "MESHES_SECRET_KEY": secret, "MESHES_ORG_ID": org}
        }))
        .unwrap();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        api.patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "stringData": s.string_data,
            })),
        )
        .await
        .expect("apply credentials Secret");
    }

    /// Puts the emulator's key into the `meshes-credentials` Secret (as a user would after
    /// applying manifests whose Secret holds placeholders).
    pub async fn put_emulator_credentials(&self) {
        let c = self.emu.credentials();
        self.put_credentials(
            "meshes-credentials",
            &c.access_key,
            &c.secret_key,
            &c.org_id,
        )
        .await;
    }

    /// The workspaces API of this namespace.
    pub fn workspaces(&self) -> Api<MeshesWorkspace> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The Secrets API of this namespace.
    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates a workspace from a JSON spec.
    pub async fn create_workspace(&self, name: &str, spec: Value) -> MeshesWorkspace {
        self.create_workspace_with(name, json!({}), spec).await
    }

    /// Creates a workspace with annotations.
    pub async fn create_workspace_with(
        &self,
        name: &str,
        annotations: Value,
        spec: Value,
    ) -> MeshesWorkspace {
        let ws: MeshesWorkspace = serde_json::from_value(json!({
            "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
            "metadata": {"name": name, "annotations": annotations}, "spec": spec
        }))
        .unwrap();
        self.workspaces()
            .create(&PostParams::default(), &ws)
            .await
            .expect("create workspace")
    }

    /// Merge-patches a workspace.
    pub async fn patch_workspace(&self, name: &str, patch: Value) {
        self.workspaces()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch workspace");
    }

    /// Deletes a workspace.
    pub async fn delete_workspace(&self, name: &str) {
        self.workspaces()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete workspace");
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_operator();
    }
}

/// Polls `get` until `check` holds, or panics after `timeout` with the last value.
pub async fn eventually<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut get: F,
    check: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
    T: std::fmt::Debug,
{
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Some(v) = get().await {
            if check(&v) {
                return v;
            }
            last = Some(v);
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The condition `type_` of an object's status, as (status, reason, message, observedGeneration).
pub fn condition(status: &Value, type_: &str) -> Option<(String, String, String, Option<i64>)> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
                c["observedGeneration"].as_i64(),
            )
        })
}

/// A workspace's status as JSON.
pub fn status_of(ws: &MeshesWorkspace) -> Value {
    serde_json::to_value(&ws.status).unwrap_or(Value::Null)
}

/// True when Ready=True for the object's current generation.
pub fn is_ready(ws: &MeshesWorkspace) -> bool {
    condition(&status_of(ws), "Ready")
        .is_some_and(|(s, _, _, g)| s == "True" && g == ws.metadata.generation)
}

/// Waits until workspace `name` is Ready for its current generation.
pub async fn wait_ready(world: &World, name: &str) -> MeshesWorkspace {
    let api = world.workspaces();
    eventually(
        &format!("workspace {name} Ready"),
        SOON,
        || async { api.get_opt(name).await.ok().flatten() },
        is_ready,
    )
    .await
}

/// Waits until workspace `name` has Ready reason `reason`.
pub async fn wait_reason(world: &World, name: &str, reason: &str) -> MeshesWorkspace {
    let api = world.workspaces();
    eventually(
        &format!("workspace {name} reason {reason}"),
        SOON,
        || async { api.get_opt(name).await.ok().flatten() },
        |ws| condition(&status_of(ws), "Ready").is_some_and(|(_, r, _, _)| r == reason),
    )
    .await
}

/// The API resource of a kind used in manifests.
pub fn api_resource(kind: &str) -> kube::api::ApiResource {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::ApiResource;
    use meshes_operator::resources::{MeshesConnection, MeshesRule};
    match kind {
        "Secret" => ApiResource::erase::<Secret>(&()),
        "Deployment" => ApiResource::erase::<Deployment>(&()),
        "MeshesWorkspace" => ApiResource::erase::<MeshesWorkspace>(&()),
        "MeshesConnection" => ApiResource::erase::<MeshesConnection>(&()),
        "MeshesRule" => ApiResource::erase::<MeshesRule>(&()),
        other => panic!("no ApiResource for kind {other}"),
    }
}

impl World {
    /// Merge-patches `kind/name` in this namespace.
    pub async fn patch_kind(&self, kind: &str, name: &str, patch: Value) {
        self.dynamic(kind)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// A dynamic API for `kind` in this namespace.
    pub fn dynamic(&self, kind: &str) -> Api<kube::api::DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.ns, &api_resource(kind))
    }

    /// Server-side applies every document of a multi-document YAML text into this namespace
    /// (any `metadata.namespace` is replaced).
    pub async fn apply_yaml(&self, text: &str) {
        use serde::Deserialize;
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let mut v = serde_json::to_value(serde_yaml_ng::Value::deserialize(doc).expect("yaml"))
                .unwrap();
            if v.is_null() {
                continue;
            }
            v["metadata"]["namespace"] = json!(self.ns);
            let kind = v["kind"].as_str().unwrap().to_string();
            let name = v["metadata"]["name"].as_str().unwrap().to_string();
            self.dynamic(&kind)
                .patch(
                    &name,
                    &PatchParams::apply("test").force(),
                    &Patch::Apply(&v),
                )
                .await
                .unwrap_or_else(|e| panic!("apply {kind}/{name}: {e}"));
        }
    }

    /// Applies one object given as JSON.
    pub async fn apply(&self, v: Value) {
        self.apply_yaml(&serde_yaml_ng::to_string(&v).unwrap())
            .await;
    }

    /// The object `kind/name` as JSON, if it exists.
    pub async fn get_json(&self, kind: &str, name: &str) -> Option<Value> {
        self.dynamic(kind)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Waits until `kind/name` is Ready for its current generation; returns it as JSON.
    pub async fn wait_ready_kind(&self, kind: &str, name: &str) -> Value {
        eventually(
            &format!("{kind}/{name} Ready"),
            SOON,
            || self.get_json(kind, name),
            |o| {
                condition(&o["status"], "Ready").is_some_and(|(s, _, _, g)| {
                    s == "True" && g == o["metadata"]["generation"].as_i64()
                })
            },
        )
        .await
    }

    /// Waits until `kind/name` has Ready reason `reason`.
    pub async fn wait_reason_kind(&self, kind: &str, name: &str, reason: &str) -> Value {
        eventually(
            &format!("{kind}/{name} reason {reason}"),
            SOON,
            || self.get_json(kind, name),
            |o| condition(&o["status"], "Ready").is_some_and(|(_, r, _, _)| r == reason),
        )
        .await
    }

    /// Deletes `kind/name` (ignoring not-found).
    pub async fn delete(&self, kind: &str, name: &str) {
        match self
            .dynamic(kind)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => panic!("delete {kind}/{name}: {e}"),
        }
    }

    /// Waits until `kind/name` no longer exists.
    pub async fn wait_gone(&self, kind: &str, name: &str) {
        eventually(
            &format!("{kind}/{name} gone"),
            SOON,
            || async { Some(self.get_json(kind, name).await.is_none()) },
            |gone| *gone,
        )
        .await;
    }

    /// Events of this namespace as "reason: message" lines.
    pub async fn events(&self) -> Vec<String> {
        use k8s_openapi::api::events::v1::Event;
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        api.list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.reason.unwrap_or_default(),
                            e.note.unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Starts the operator in-process with caller-visible metrics.
    pub async fn start_operator_with_metrics(
        &mut self,
        config: OperatorConfig,
        metrics: Arc<meshes_operator::controllers::metrics::Metrics>,
    ) {
        // As in the binary: the metrics observe the client's requests.
        let mut client_config = self.client_config();
        client_config.observer = Some(metrics.clone());
        let api = MeshesClient::new(client_config).expect("client");
        let client = self.client.clone();
        let scope = Scope {
            namespaces: vec![self.ns.clone()],
            label_selector: None,
        };
        self.operator = Some(tokio::spawn(async move {
            if let Err(e) = meshes_operator::controllers::run::run_with_metrics(
                client,
                Arc::new(api),
                config,
                scope,
                metrics,
                Arc::new(meshes_operator::ops::Health::new(false)),
            )
            .await
            {
                panic!("operator failed: {e:#}");
            }
        }));
    }
}

/// The quickstart manifests, concatenated.
pub fn quickstart() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

impl World {
    /// Like [`World::new`] on another control plane (a private one: [`TestEnv::start`]), whose
    /// CRDs the caller installs.
    pub async fn on_env(env: &TestEnv, prefix: &str) -> World {
        World::build(env, prefix, EmulatorConfig::default()).await
    }

    /// Like [`World::new`] with a custom emulator configuration.
    pub async fn with_emulator(prefix: &str, config: EmulatorConfig) -> World {
        let env = TestEnv::shared().await;
        env.install_crds(&crdgen::all_crds())
            .await
            .expect("install CRDs");
        World::build(env, prefix, config).await
    }

    /// A namespace on `env`, an emulator started with `config`, and a `meshes-credentials`
    /// Secret holding its default key.
    async fn build(env: &TestEnv, prefix: &str, config: EmulatorConfig) -> World {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let ns = env.namespace(prefix).await;
        let client = env.client().await;
        let emu = Emulator::start(config).await.expect("emulator");
        let world = World {
            ns,
            client,
            emu,
            operator: None,
        };
        let c = world.emu.credentials();
        world
            .put_credentials(
                "meshes-credentials",
                &c.access_key,
                &c.secret_key,
                &c.org_id,
            )
            .await;
        world
    }

    /// Creates a workspace, a webhook connection to `url` and rules for `events`, all Ready.
    pub async fn tenant(&self, ws: &str, url: &str, events: &[&str]) {
        self.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace", "metadata": {"name": ws},
            "spec": {"credentialsRef": {"name": "meshes-credentials"}}})).await;
        self.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection", "metadata": {"name": format!("{ws}-hook")},
            "spec": {"workspaceRef": {"name": ws}, "type": "webhook", "metadata": {"url": url}}})).await;
        for ev in events {
            self.apply(json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesRule", "metadata": {"name": format!("{ws}-{}", ev.replace('.', "-"))},
                "spec": {"connectionRef": {"name": format!("{ws}-hook")}, "event": ev, "metadata": {"action": "send_webhook"}}})).await;
        }
        for ev in events {
            self.wait_ready_kind("MeshesRule", &format!("{ws}-{}", ev.replace('.', "-")))
                .await;
        }
    }
}

/// Objects made "in the Meshes dashboard": created upstream directly, unknown to the cluster.
impl World {
    fn dashboard(
        &self,
    ) -> (
        meshes_operator::api::MeshesClient,
        meshes_operator::api::Credentials,
    ) {
        let c = self.emu.credentials();
        let creds = meshes_operator::api::Credentials::new(&c.access_key, &c.secret_key, &c.org_id)
            .unwrap();
        (MeshesClient::new(self.client_config()).unwrap(), creds)
    }

    /// A workspace named `name`.
    pub async fn dashboard_workspace(&self, name: &str) -> meshes_operator::api::types::Workspace {
        use meshes_operator::api::{MeshesApi, types};
        let (api, creds) = self.dashboard();
        api.create_workspace(
            &creds,
            &types::CreateWorkspace {
                name: name.into(),
                description: None,
            },
            None,
        )
        .await
        .unwrap()
    }

    /// A webhook connection `name` to `url` in workspace `ws`.
    pub async fn dashboard_webhook(
        &self,
        ws: &str,
        name: &str,
        url: &str,
    ) -> meshes_operator::api::types::Connection {
        use meshes_operator::api::{MeshesApi, types};
        let (api, creds) = self.dashboard();
        let body = types::CreateConnection {
            workspace: ws.into(),
            kind: types::IntegrationType::from("webhook"),
            name: name.into(),
            metadata: serde_json::from_value(json!({"url": url})).unwrap(),
            hidden: None,
        };
        api.create_connection(&creds, &body, None).await.unwrap()
    }

    /// A `send_webhook` rule for `event` on connection `conn` of workspace `ws`.
    pub async fn dashboard_rule(
        &self,
        ws: &str,
        conn: &str,
        event: &str,
    ) -> meshes_operator::api::types::Rule {
        use meshes_operator::api::{MeshesApi, types};
        let (api, creds) = self.dashboard();
        let body = types::CreateRule {
            workspace: ws.into(),
            connection: conn.into(),
            event: event.into(),
            metadata: serde_json::from_value(json!({"action": "send_webhook"})).unwrap(),
            resource: None,
            resource_id: None,
            active: None,
            hidden: None,
        };
        api.create_rule(&creds, &body, None).await.unwrap()
    }
}

/// A loopback webhook receiver answering 200 on `/hook`; returns its URL and a hit counter.
pub async fn hook_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let hits = std::sync::Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::any(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, hits)
}
