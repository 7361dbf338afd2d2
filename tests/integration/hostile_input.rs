//! Hostile or broken input never stops a kind (issue 12, item 3): the apiserver refuses
//! free-form settings beyond the documented bounds (`docs/crds.md`, "Bounds of free-form
//! settings") with a readable message, and an object the operator cannot decode is reported on
//! itself while every other object of its kind keeps reconciling.

use kube::Resource;
use kube::api::{PostParams, Request};
use meshes_operator::resources::{MeshesConnection, crdgen};
use meshes_testenv::TestEnv;
use serde_json::{Value, json};

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

/// A realistic webhook configuration: scalars, a nested `custom_headers` map, a list.
fn realistic_webhook() -> Value {
    json!({
        "url": "https://hooks.example.com/meshes",
        "http_method": "POST",
        "payload_mode": "raw",
        "auth_scheme": "custom_header",
        "custom_header_name": "X-Api-Key",
        "signing_algorithm": "hmac-sha256",
        "signature_header": "X-Signature",
        "skip_url_test": "true",
        "timeout_seconds": 30,
        "verify_tls": true,
        "custom_headers": {"X-Team": "growth", "X-Env": "prod", "X-Trace": {"sampled": "1"}},
        "tags": ["billing", "signup"],
        "routing": {"rules": [{"when": "always"}]}
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

    // Positive control: a realistic webhook configuration is accepted and stored unchanged.
    let text = create_raw(&client, &ns, &connection("realistic", realistic_webhook()))
        .await
        .expect("a realistic webhook metadata is accepted");
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["spec"]["metadata"], realistic_webhook());

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
