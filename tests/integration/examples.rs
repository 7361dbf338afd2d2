//! The examples under `examples/` run as a user would run them: the emulator started from the
//! example's own seed file, the manifests applied as written (each namespace of the example
//! mapped to a fresh test namespace), the operator scoped to those namespaces. Each test checks
//! what the example's README promises.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use meshes_emulator::seed::Seed;
use meshes_emulator::{Emulator, EmulatorConfig};
use meshes_operator::api::{ClientConfig, MeshesClient};
use meshes_operator::controllers::config::{NamespaceAllowList, OperatorConfig};
use meshes_operator::controllers::run::Scope;
use meshes_operator::resources::crdgen;
use meshes_testenv::TestEnv;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{SOON, World, api_resource, condition, eventually};

/// One example, running.
struct Example {
    client: kube::Client,
    emu: Emulator,
    /// Example namespace → test namespace.
    namespaces: BTreeMap<String, String>,
    /// (kind, example namespace, name) of every Meshes object.
    objects: Vec<(String, String, String)>,
    operator: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Some(h) = self.operator.take() {
            h.abort();
        }
    }
}

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// The example's manifests, in file order, without Namespace objects.
fn manifests(name: &str) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(name))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml")
                && p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(char::is_numeric))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v = serde_json::to_value(serde_yaml_ng::Value::deserialize(doc).unwrap()).unwrap();
            if !v.is_null() && v["kind"] != "Namespace" {
                out.push(v);
            }
        }
    }
    out
}

impl Example {
    /// Starts the example's emulator from its seed and applies its manifests.
    async fn start(name: &str) -> Example {
        let env = TestEnv::shared().await;
        env.install_crds(&crdgen::all_crds()).await.unwrap();
        let seed_text = std::fs::read_to_string(dir(name).join("emulator-seed.yaml")).unwrap();
        let seed = Seed::from_text(&seed_text).expect("the example's seed");
        let emu = Emulator::start(EmulatorConfig {
            seed: Some(seed),
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let client = env.client().await;
        let docs = manifests(name);
        let mut namespaces = BTreeMap::new();
        for d in &docs {
            let ns = d["metadata"]["namespace"]
                .as_str()
                .expect("namespaced")
                .to_string();
            if !namespaces.contains_key(&ns) {
                namespaces.insert(ns.clone(), env.namespace(&format!("ex-{ns}")).await);
            }
        }
        let mut ex = Example {
            client,
            emu,
            namespaces,
            objects: Vec::new(),
            operator: None,
        };
        for mut d in docs {
            let kind = d["kind"].as_str().unwrap().to_string();
            let ns = d["metadata"]["namespace"].as_str().unwrap().to_string();
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            d["metadata"]["namespace"] = Value::String(ex.ns(&ns).to_string());
            ex.api(&kind, &ns)
                .patch(
                    &name,
                    &PatchParams::apply("example").force(),
                    &Patch::Apply(&d),
                )
                .await
                .unwrap_or_else(|e| panic!("apply {kind}/{name}: {e}"));
            if kind.starts_with("Meshes") {
                ex.objects.push((kind, ns, name));
            }
        }
        ex
    }

    fn ns(&self, example_ns: &str) -> &str {
        &self.namespaces[example_ns]
    }

    fn api(&self, kind: &str, example_ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            self.ns(example_ns),
            &api_resource(kind),
        )
    }

    /// Runs the operator in-process over the example's namespaces.
    fn run_operator(&mut self, config: OperatorConfig) {
        let api = MeshesClient::new(ClientConfig {
            base_url: self.emu.base_url(),
            ..ClientConfig::default()
        })
        .unwrap();
        let scope = Scope {
            namespaces: self.namespaces.values().cloned().collect(),
            label_selector: None,
        };
        let config = OperatorConfig {
            watch_namespaces: scope.namespaces.clone(),
            ..config
        };
        let client = self.client.clone();
        self.operator = Some(tokio::spawn(async move {
            if let Err(e) =
                meshes_operator::controllers::run::run(client, Arc::new(api), config, scope).await
            {
                panic!("operator failed: {e:#}");
            }
        }));
    }

    async fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.api(kind, ns)
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// Waits until every Meshes object of the example is Ready for its generation.
    async fn all_ready(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (kind, ns, name) in &self.objects {
            out.push(
                eventually(
                    &format!("{kind} {ns}/{name} Ready"),
                    SOON,
                    || self.get(kind, ns, name),
                    |o| {
                        condition(&o["status"], "Ready").is_some_and(|(s, _, _, g)| {
                            s == "True" && g == o["metadata"]["generation"].as_i64()
                        })
                    },
                )
                .await,
            );
        }
        out
    }

    /// Deletes every Meshes object (children first) and waits until all are gone.
    async fn delete_all(&self) {
        for (kind, ns, name) in self.objects.iter().rev() {
            let _ = self.api(kind, ns).delete(name, &Default::default()).await;
        }
        for (kind, ns, name) in &self.objects {
            eventually(
                &format!("{kind} {ns}/{name} gone"),
                SOON,
                || async { Some(self.get(kind, ns, name).await.is_none()) },
                |gone| *gone,
            )
            .await;
        }
    }

    /// Meshes write calls (POST, PUT, DELETE) so far.
    fn writes(&self) -> u64 {
        self.emu
            .admin()
            .counters()
            .routes
            .iter()
            .filter(|(r, _)| !r.starts_with("GET "))
            .map(|(_, n)| n)
            .sum()
    }

    fn reads(&self) -> u64 {
        self.emu
            .admin()
            .counters()
            .routes
            .iter()
            .filter(|(r, _)| r.starts_with("GET "))
            .map(|(_, n)| n)
            .sum()
    }
}

#[tokio::test]
async fn multi_tenant_example() {
    let mut ex = Example::start("multi-tenant").await;
    // The example's Helm values are what this test runs with.
    let values: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(dir("multi-tenant").join("values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        values["defaultCredentials"]["allowedNamespaces"],
        serde_json::json!(["team-b"])
    );
    assert_eq!(
        values["watchNamespaces"],
        serde_json::json!(["team-a", "team-b"])
    );
    let default = format!("{}/meshes-default-credentials", ex.ns("meshes-system"));
    ex.run_operator(OperatorConfig {
        default_credentials: Some(default.parse().unwrap()),
        default_credentials_namespaces: NamespaceAllowList::from_list(&[ex
            .ns("team-b")
            .to_string()]),
        ..World::fast_config()
    });
    ex.all_ready().await;
    // Three workspaces in two orgs: team-a's two in its own org, team-b's in the platform org.
    let workspaces = ex.emu.admin().workspaces();
    assert_eq!(workspaces.len(), 3, "{workspaces:#?}");
    let org_of = |name: &str| {
        workspaces
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| w["org_id"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        org_of("team-a-prod"),
        "6a1d2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7b"
    );
    assert_eq!(
        org_of("team-a-staging"),
        "6a1d2b3c-4d5e-4f60-9a1b-2c3d4e5f6a7b"
    );
    assert_eq!(org_of("team-b"), "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
    assert_eq!(ex.emu.admin().rules().len(), 3);
    ex.delete_all().await;
    assert!(ex.emu.admin().rules().is_empty() && ex.emu.admin().connections().is_empty());
}

#[tokio::test]
async fn adopt_oauth_example() {
    let mut ex = Example::start("adopt-oauth").await;
    let before = ex.emu.admin().connections();
    ex.run_operator(World::fast_config());
    let ready = ex.all_ready().await;
    assert_eq!(
        ready[0]["status"]["workspaceId"],
        "2b4d6f80-1a2b-4c3d-9e4f-5a6b7c8d9e01"
    );
    assert_eq!(
        ready[1]["status"]["connectionId"],
        "3c5e7a91-2b3c-4d4e-8f50-6b7c8d9e0f12"
    );
    let counters = ex.emu.admin().counters();
    let count = |route: &str| counters.routes.get(route).copied().unwrap_or(0);
    assert_eq!(count("POST /api/v1/rules"), 1, "{:#?}", counters.routes);
    assert_eq!(
        count("PUT /api/v1/connections/{connection_id}"),
        0,
        "the adopted connection is never written"
    );
    assert_eq!(count("PUT /api/v1/workspaces/{workspace_id}"), 0);
    assert_eq!(
        ex.emu.admin().connections(),
        before,
        "the OAuth connection is untouched"
    );
    let rules = ex.emu.admin().rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["metadata"]["id"], "newsletter");
    ex.delete_all().await;
    // The rule the operator created is deleted; the adopted objects stay (Orphan).
    assert!(ex.emu.admin().rules().is_empty());
    assert_eq!(ex.emu.admin().connections().len(), 1);
    assert_eq!(ex.emu.admin().workspaces().len(), 1);
}

#[tokio::test]
async fn observe_import_example() {
    let mut ex = Example::start("observe-import").await;
    let before = ex.emu.admin().listing(true);
    ex.run_operator(World::fast_config());
    for o in ex.all_ready().await {
        let drifted = condition(&o["status"], "Drifted");
        assert!(
            drifted
                .as_ref()
                .is_some_and(|(s, r, _, _)| s == "False" && r == "InSync"),
            "{}: {drifted:?}",
            o["metadata"]["name"]
        );
    }
    assert!(ex.reads() > 0, "positive control: the operator read Meshes");
    assert_eq!(
        ex.writes(),
        0,
        "Observe never writes: {:#?}",
        ex.emu.admin().counters().routes
    );
    ex.delete_all().await;
    assert_eq!(ex.writes(), 0, "deleting observed objects writes nothing");
    assert_eq!(ex.emu.admin().listing(true), before, "Meshes is untouched");
}
