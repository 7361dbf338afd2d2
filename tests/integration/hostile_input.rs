//! Hostile or broken input never stops a kind (issue 12, item 3): the apiserver refuses
//! free-form settings beyond the documented bounds (`docs/crds.md`, "Bounds of free-form
//! settings") with a readable message, and an object the operator cannot decode is reported on
//! itself while every other object of its kind keeps reconciling.

use kube::api::{Api, PostParams, Request};
use kube::{Resource, ResourceExt};
use meshes_emulator::{Emulator, EmulatorConfig};
use meshes_operator::resources::{ConditionStatus, MeshesConnection, MeshesWorkspace, crdgen};
use meshes_testenv::TestEnv;
use serde_json::{Value, json};

use crate::support::{SOON, condition, eventually};

/// `levels` nested single-member objects around `leaf`: `{"k<levels-1>": … {"k0": leaf}}`.
fn nested(levels: usize, leaf: Value) -> Value {
    (0..levels).fold(leaf, |inner, i| json!({ format!("k{i}"): inner }))
}

/// A webhook connection in workspace `acme` with `metadata` as its settings.
fn connection(name: &str, metadata: Value) -> Value {
    json!({
        "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
        "metadata": {"name": name},
        "spec": {"workspaceRef": {"name": "acme"}, "type": "webhook", "metadata": metadata}
    })
}

/// Creates `manifest` with a raw request, so an accepted object too deep for the client's JSON
/// decoder still reports as accepted: `Ok(stored object as text)` or `Err(refusal message)`.
async fn create_raw(client: &kube::Client, ns: &str, manifest: &Value) -> Result<String, String> {
    let url = MeshesConnection::url_path(&(), Some(ns));
    let req = Request::new(url)
        .create(
            &PostParams::default(),
            serde_json::to_vec(manifest).unwrap(),
        )
        .unwrap();
    match client.request_text(req).await {
        Ok(text) => Ok(text),
        Err(kube::Error::Api(s)) if s.code == 422 => Err(s.message.clone()),
        Err(e) => panic!("refused, but not as invalid (422): {e}"),
    }
}

/// The refusal message of `result`; panics (without the whole stored object) when accepted.
fn refused(result: Result<String, String>, what: &str) -> String {
    match result {
        Err(msg) => msg,
        Ok(text) => panic!(
            "{what} was accepted: {}…",
            text.chars().take(200).collect::<String>()
        ),
    }
}

/// A realistic webhook configuration, valid for Meshes: scalars and the nested
/// `custom_headers` map (at most 5 string headers).
fn realistic_webhook() -> Value {
    json!({
        "url": "https://hooks.example.com/meshes",
        "http_method": "POST",
        "payload_mode": "raw",
        "signing_algorithm": "hmac-sha256",
        "signature_header": "X-Signature",
        "skip_url_test": "true",
        "custom_headers": {"X-Team": "growth", "X-Env": "prod"}
    })
}

/// Other shapes the bounds allow: numbers, booleans, lists, and objects and lists nested up to
/// the fourth level.
fn other_shapes() -> Value {
    json!({
        "timeout_seconds": 30,
        "ratio": 0.5,
        "verify_tls": true,
        "tags": ["billing", "signup"],
        "routing": {"rules": [{"when": "always", "weight": 1}]},
        "mapping": {"contact": {"name": {"first": "given_name"}}}
    })
}

#[tokio::test]
async fn free_form_connection_metadata_is_bounded_by_the_apiserver() {
    let env = TestEnv::shared().await;
    env.install_crds(&crdgen::all_crds()).await.unwrap();
    let client = env.client().await;
    let ns = env.namespace("hostile").await;

    // The object of the incident: 130 levels of nesting in spec.metadata.
    let deep = connection("deep", json!({"nested": nested(130, json!("leaf"))}));
    let msg = refused(
        create_raw(&client, &ns, &deep).await,
        "a 130-level spec.metadata",
    );
    assert!(
        msg.contains("spec.metadata.nested.k129.k128.k127")
            && msg.contains("must have at most 0 items"),
        "the refusal names where the nesting exceeds the bound: {msg}"
    );

    // The bound is exact: four levels below spec.metadata pass, a fifth is refused.
    let four = connection("four-levels", nested(4, json!("leaf")));
    create_raw(&client, &ns, &four)
        .await
        .expect("four levels of nesting are accepted");
    let five = connection("five-levels", nested(5, json!("leaf")));
    let msg = refused(create_raw(&client, &ns, &five).await, "five levels");
    assert!(
        msg.contains("spec.metadata.k4.k3.k2.k1") && msg.contains("must have at most 0 items"),
        "{msg}"
    );
    let lists = connection("lists", json!({"l": [[[["x"]]]]}));
    let msg = refused(create_raw(&client, &ns, &lists).await, "four nested lists");
    assert!(msg.contains("spec.metadata.l[0][0][0]"), "{msg}");

    // Size bounds: members of spec.metadata, members of a nested object, items of a list,
    // string length.
    let wide: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("m{i}"), json!("v"))).collect();
    let msg = refused(
        create_raw(&client, &ns, &connection("wide", Value::Object(wide))).await,
        "65 members",
    );
    assert!(
        msg.contains("spec.metadata: Too many: 65: must have at most 64"),
        "{msg}"
    );
    let inner: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("h{i}"), json!("v"))).collect();
    let msg = refused(
        create_raw(
            &client,
            &ns,
            &connection("wide-inner", json!({"custom_headers": inner})),
        )
        .await,
        "33 nested members",
    );
    assert!(
        msg.contains("spec.metadata.custom_headers: Too many: 33: must have at most 32"),
        "{msg}"
    );
    let items: Vec<Value> = (0..33).map(|i| json!(i)).collect();
    let msg = refused(
        create_raw(
            &client,
            &ns,
            &connection("long-list", json!({"tags": items})),
        )
        .await,
        "33 list items",
    );
    assert!(
        msg.contains("spec.metadata.tags: Too many: 33: must have at most 32"),
        "{msg}"
    );
    let long = "x".repeat(8193);
    let msg = refused(
        create_raw(
            &client,
            &ns,
            &connection("long-string", json!({"custom_headers": {"X-Big": long}})),
        )
        .await,
        "an 8193-character string",
    );
    assert!(
        msg.contains("spec.metadata.custom_headers.X-Big: Too long: may not be more than 8192"),
        "{msg}"
    );

    // Positive control: a realistic webhook configuration, and the other shapes the bounds
    // allow, are accepted and stored unchanged.
    for (name, metadata) in [
        ("realistic", realistic_webhook()),
        ("shapes", other_shapes()),
    ] {
        let text = create_raw(&client, &ns, &connection(name, metadata.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name} refused: {e}"));
        let stored: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(stored["spec"]["metadata"], metadata);
    }

    // `kubectl explain` tells the bounds (kubectl's view settles shortly after install).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = env
            .kubectl()
            .args(["explain", "meshesconnection.spec.metadata"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if text.contains("at most 64 members") && text.contains("nested at most 4 levels deep") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl explain does not show the bounds: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The MeshesConnection CRD as it was before the bounds: `spec.metadata` kept any JSON.
fn unbounded_crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    let mut crds = crdgen::all_crds();
    for crd in &mut crds {
        if crd.spec.names.kind != "MeshesConnection" {
            continue;
        }
        let schema = crd.spec.versions[0]
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .unwrap();
        let spec = schema.properties.as_mut().unwrap().get_mut("spec").unwrap();
        let metadata = spec
            .properties
            .as_mut()
            .unwrap()
            .get_mut("metadata")
            .unwrap();
        *metadata = serde_json::from_value(json!({
            "type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "description": "free-form (the schema before the bounds)"
        }))
        .unwrap();
    }
    crds
}

/// Creates namespace `name` with a `meshes-credentials` Secret for `emu`.
async fn namespace_with_credentials(client: &kube::Client, name: &str, emu: &Emulator) {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let c = emu.credentials();
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "meshes-credentials"}, "stringData": {
        "MESHES_ACCESS_KEY": c.access_key, "MESHES_SECRET_KEY": c.secret_key, "MESHES_ORG_ID": c.org_id}}))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), name)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// The stored object `kind/name` as text (the client cannot decode a 130-level object).
async fn get_raw(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let url = MeshesConnection::url_path(&(), Some(ns));
    let req = Request::new(url).get(name, &Default::default()).unwrap();
    client.request_text(req).await.ok()
}

/// The `status` and `metadata.finalizers` of a stored object given as text, without decoding
/// its (possibly too deep) spec.
fn status_and_finalizers(text: &str) -> (Value, Vec<String>) {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default)]
        finalizers: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Outline {
        metadata: Meta,
        #[serde(default)]
        status: Value,
    }
    let o: Outline = serde_json::from_str(text).unwrap();
    (o.status, o.metadata.finalizers)
}

/// The operator binary as a child process, killed when the test ends (a failing one too).
struct Operator(std::process::Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 12, item 3: an object the operator cannot decode (here: 130 levels of nesting, stored
/// under the CRD of before the bounds) is reported on itself; every other object of its kind
/// still reconciles and deletes, after a restart (initial list) and when one arrives later
/// (watch).
#[tokio::test]
async fn an_object_the_operator_cannot_decode_never_stops_its_kind() {
    // A private control plane: the unbounded CRD is installed there, so the shared control
    // plane keeps the bounded CRDs the other tests use.
    let env = TestEnv::start().await.expect("private control plane");
    env.install_crds(&unbounded_crds()).await.unwrap();
    let client = env.client().await;
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (broken, healthy) = ("broken", "healthy");
    namespace_with_credentials(&client, broken, &emu).await;
    namespace_with_credentials(&client, healthy, &emu).await;

    // Before the operator starts: a connection too deep to decode, and a good workspace and
    // connection in another namespace.
    let deep = |name: &str| {
        connection(
            name,
            json!({"url": "https://x.example", "nested": nested(130, json!("leaf"))}),
        )
    };
    create_raw(&client, broken, &deep("too-deep"))
        .await
        .expect("the unbounded CRD stores the 130-level object");
    let ws: MeshesWorkspace = serde_json::from_value(
        json!({"apiVersion": "meshes.io/v1alpha1", "kind": "MeshesWorkspace",
        "metadata": {"name": "acme"}, "spec": {"credentialsRef": {"name": "meshes-credentials"}}}),
    )
    .unwrap();
    Api::<MeshesWorkspace>::namespaced(client.clone(), healthy)
        .create(&PostParams::default(), &ws)
        .await
        .unwrap();
    create_raw(&client, healthy, &connection("hook", realistic_webhook()))
        .await
        .unwrap();

    // Outside the control plane's scratch directory, so it survives a failed run.
    let log = std::env::temp_dir().join(format!("meshes-hostile-{}.log", std::process::id()));
    let _op = Operator(
        std::process::Command::new(env!("CARGO_BIN_EXE_meshes-operator"))
            .args(["run", "--api-url", &emu.base_url()])
            .args(crate::support::FREE_PORTS)
            .env("KUBECONFIG", env.admin_kubeconfig())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let conns: Api<MeshesConnection> = Api::namespaced(client.clone(), healthy);
    let ready = |c: &MeshesConnection| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
        })
    };
    // Positive control: the kind reconciles despite the undecodable object.
    let hook = eventually(
        "the good connection Ready next to an undecodable one",
        SOON,
        || async { conns.get_opt("hook").await.ok().flatten() },
        ready,
    )
    .await;
    assert!(hook.finalizers().iter().any(|f| f == "meshes.io/finalizer"));

    // The undecodable object is reported on itself: a Warning Event and Ready=False.
    let warned = |ns: &'static str, name: &'static str| {
        let client = client.clone();
        async move {
            use k8s_openapi::api::events::v1::Event;
            let evs = Api::<Event>::namespaced(client, ns)
                .list(&Default::default())
                .await
                .ok()?;
            evs.items.into_iter().find(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    && e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("InvalidSpec")
            })
        }
    };
    let ev = eventually(
        "a Warning Event on the undecodable connection",
        SOON,
        || warned(broken, "too-deep"),
        |_| true,
    )
    .await;
    let note = ev.note.unwrap_or_default();
    assert!(note.contains("recursion limit exceeded"), "{note}");
    let text = eventually(
        "Ready=False InvalidSpec on the undecodable connection",
        SOON,
        || get_raw(&client, broken, "too-deep"),
        |t| {
            condition(&status_and_finalizers(t).0, "Ready")
                .is_some_and(|(s, r, _, _)| s == "False" && r == "InvalidSpec")
        },
    )
    .await;
    let (status, finalizers) = status_and_finalizers(&text);
    let (_, _, message, generation) = condition(&status, "Ready").unwrap();
    assert!(message.contains("recursion limit exceeded"), "{message}");
    assert_eq!(generation, Some(1));
    assert!(
        condition(&status, "Stalled").is_some_and(|(s, r, _, _)| s == "True" && r == "InvalidSpec"),
        "{status}"
    );
    assert!(
        finalizers.is_empty(),
        "no finalizer on an object never read: {finalizers:?}"
    );
    // Reported once: the status write (seen above) does not start a write loop.
    let version = |t: &str| {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            resource_version: String,
        }
        #[derive(serde::Deserialize)]
        struct Outline {
            metadata: Meta,
        }
        serde_json::from_str::<Outline>(t)
            .unwrap()
            .metadata
            .resource_version
    };
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let later = get_raw(&client, broken, "too-deep").await.unwrap();
    assert_eq!(
        version(&text),
        version(&later),
        "written again without a change"
    );

    // One arriving while the operator runs (a watch event), next to the good one.
    create_raw(&client, healthy, &deep("too-deep-later"))
        .await
        .unwrap();
    eventually(
        "a Warning Event on the later undecodable connection",
        SOON,
        || warned(healthy, "too-deep-later"),
        |_| true,
    )
    .await;

    // The good connection still changes and deletes (its finalizer is removed).
    conns.delete("hook", &Default::default()).await.unwrap();
    eventually(
        "the good connection deleted",
        SOON,
        || async {
            Some(
                conns
                    .get_opt("hook")
                    .await
                    .map(|c| c.is_none())
                    .unwrap_or(false),
            )
        },
        |gone| *gone,
    )
    .await;
    assert!(emu.admin().connections().is_empty(), "deleted upstream too");
    drop(_op);
    let _ = std::fs::remove_file(&log);
}
