//! The generated CRDs on the real apiserver: invalid manifests are refused with a readable
//! message, valid edge cases are accepted unchanged (no server-written defaults), immutable
//! fields refuse updates (transition rules), and kubectl shows the docs and columns.

use std::time::{Duration, Instant};

use kube::CustomResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use meshes_operator::resources::{MeshesConnection, MeshesRule, MeshesWorkspace, crdgen};
use meshes_testenv::TestEnv;
use serde_json::{Value, json};

const WS_ID: &str = "0b6e5a52-3f7c-4a53-9d0e-6a1f2f1c0a11";
const WS_ID_2: &str = "1c7f6b63-4a8d-4b64-8e1f-7b2a3a2d1b22";
const CONN_ID: &str = "2d8a7c74-5b9e-4c75-9f2a-8c3b4b3e2c33";
const CONN_ID_2: &str = "3e9b8d85-6caf-4d86-8a3b-9d4c5c4f3d44";

/// The shared control plane with our CRDs installed, an admin client and a fresh namespace.
async fn setup(prefix: &str) -> (&'static TestEnv, kube::Client, String) {
    let env = TestEnv::shared().await;
    env.install_crds(&crdgen::all_crds())
        .await
        .expect("the generated CRDs install (CEL rules compile and fit the cost budget)");
    let client = env.client().await;
    let ns = env.namespace(prefix).await;
    (env, client, ns)
}

fn api_for(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let ar: ApiResource = match kind {
        "MeshesWorkspace" => MeshesWorkspace::api_resource(),
        "MeshesConnection" => MeshesConnection::api_resource(),
        "MeshesRule" => MeshesRule::api_resource(),
        other => panic!("unknown kind {other}"),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn obj(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "meshes.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

async fn create(
    client: &kube::Client,
    ns: &str,
    manifest: &Value,
) -> Result<DynamicObject, kube::Error> {
    let kind = manifest["kind"].as_str().unwrap();
    let obj: DynamicObject = serde_json::from_value(manifest.clone()).unwrap();
    api_for(client, ns, kind)
        .create(&PostParams::default(), &obj)
        .await
}

/// The apiserver's refusal message, or a description of why it was not a validation refusal.
fn refusal(result: Result<DynamicObject, kube::Error>) -> Result<String, String> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 422 => Ok(status.message.clone()),
        Err(e) => Err(format!("refused, but not as invalid (422): {e}")),
        Ok(_) => Err("accepted".to_owned()),
    }
}

fn ws_creds() -> Value {
    json!({"name": "meshes-credentials"})
}

/// (case, manifest, phrase the refusal message must contain)
fn invalid_manifests() -> Vec<(&'static str, Value, &'static str)> {
    let ws = |name: &str, spec: Value| obj("MeshesWorkspace", name, spec);
    let conn = |name: &str, spec: Value| obj("MeshesConnection", name, spec);
    let rule = |name: &str, spec: Value| obj("MeshesRule", name, spec);
    let hook = |extra: Value| {
        let mut spec = json!({"workspaceRef": {"name": "acme"}, "type": "webhook"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    let send = |extra: Value| {
        let mut spec = json!({"connectionRef": {"name": "hook"}, "event": "user.signup", "metadata": {"action": "send_webhook"}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    vec![
        (
            "workspace name too short",
            ws("w1", json!({"name": "ab"})),
            "should be at least 3 chars long",
        ),
        (
            "workspace name with forbidden characters",
            ws("w2", json!({"name": "acme!prod"})),
            "should match '^[a-zA-Z0-9 _-]+$'",
        ),
        (
            "workspace name too long",
            ws("w3", json!({"name": "x".repeat(51)})),
            "Too long",
        ),
        (
            "workspace description over 1024",
            ws("w4", json!({"description": "d".repeat(1025)})),
            "Too long",
        ),
        (
            "dotted metadata.name without spec.name",
            ws("acme.prod", json!({})),
            "spec.name is required when metadata.name",
        ),
        (
            "two-character metadata.name without spec.name",
            ws("ab", json!({})),
            "spec.name is required when metadata.name",
        ),
        (
            "unknown managementPolicy",
            ws("w5", json!({"managementPolicy": "Sometimes"})),
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "Observe without adopt",
            ws(
                "w6",
                json!({"managementPolicy": "Observe", "credentialsRef": ws_creds()}),
            ),
            "managementPolicy Observe requires spec.adopt.id",
        ),
        (
            "adopt.id not a UUID",
            ws(
                "w7",
                json!({"adopt": {"id": "not-a-uuid"}, "credentialsRef": ws_creds()}),
            ),
            "spec.adopt.id in body should match",
        ),
        (
            "adopt without own credentials",
            ws("w8", json!({"adopt": {"id": WS_ID}})),
            "spec.adopt.id requires spec.credentialsRef",
        ),
        (
            "empty credentialsRef name",
            ws("w9", json!({"credentialsRef": {"name": ""}})),
            "should be at least 1 chars long",
        ),
        (
            "connection with both workspaceRef and workspaceId",
            conn(
                "c1",
                hook(json!({"workspaceId": WS_ID, "credentialsRef": ws_creds()})),
            ),
            "exactly one of spec.workspaceRef and spec.workspaceId",
        ),
        (
            "connection with neither workspaceRef nor workspaceId",
            conn("c2", json!({"type": "webhook"})),
            "exactly one of spec.workspaceRef and spec.workspaceId",
        ),
        (
            "connection without type",
            conn("c3", json!({"workspaceRef": {"name": "acme"}})),
            "spec.type: Required value",
        ),
        (
            "unknown integration type",
            conn(
                "c4",
                json!({"workspaceRef": {"name": "acme"}, "type": "teams"}),
            ),
            "Unsupported value: \"teams\"",
        ),
        (
            "OAuth type without adopt",
            conn(
                "c5",
                json!({"workspaceRef": {"name": "acme"}, "type": "slack"}),
            ),
            "created only in the Meshes dashboard",
        ),
        (
            "raw workspaceId without credentialsRef",
            conn("c6", json!({"workspaceId": WS_ID, "type": "webhook"})),
            "spec.workspaceId requires spec.credentialsRef",
        ),
        (
            "Observe with deletionPolicy Delete",
            conn(
                "c7",
                hook(
                    json!({"adopt": {"id": CONN_ID}, "managementPolicy": "Observe", "deletionPolicy": "Delete"}),
                ),
            ),
            "cannot be combined with deletionPolicy Delete",
        ),
        (
            "duplicate secretMetadata key",
            conn(
                "c8",
                hook(json!({"secretMetadata": [
                    {"key": "api_key", "secretKeyRef": {"name": "s", "key": "a"}},
                    {"key": "api_key", "secretKeyRef": {"name": "s", "key": "b"}}
                ]})),
            ),
            "Duplicate value",
        ),
        (
            "connection name over 128",
            conn("c9", hook(json!({"name": "n".repeat(129)}))),
            "Too long",
        ),
        (
            "long metadata.name without spec.name",
            conn(&"c".repeat(130), hook(json!({}))),
            "spec.name is required when metadata.name",
        ),
        (
            "rule with both connectionRef and connectionId",
            rule(
                "r1",
                send(json!({"connectionId": CONN_ID, "credentialsRef": ws_creds()})),
            ),
            "exactly one of spec.connectionRef and spec.connectionId",
        ),
        (
            "raw connectionId without credentialsRef",
            rule(
                "r2",
                json!({"connectionId": CONN_ID, "event": "user.signup", "metadata": {"action": "send_webhook"}}),
            ),
            "spec.connectionId requires spec.credentialsRef",
        ),
        (
            "rule metadata without action",
            rule("r3", send(json!({"metadata": {"id": "list-1"}}))),
            "spec.metadata.action: Required value",
        ),
        (
            "rule metadata with empty action",
            rule("r4", send(json!({"metadata": {"action": ""}}))),
            "spec.metadata.action must not be empty",
        ),
        (
            "rule metadata with a non-string member",
            rule(
                "r5",
                send(json!({"metadata": {"action": "add_to_list", "id": 7}})),
            ),
            "must be of type string",
        ),
        (
            "resourceId with a space",
            rule("r6", send(json!({"resourceId": "order 1"}))),
            "spec.resourceId in body should match",
        ),
        (
            "empty event",
            rule("r7", send(json!({"event": ""}))),
            "should be at least 1 chars long",
        ),
        (
            "rule Observe without adopt",
            rule("r8", send(json!({"managementPolicy": "Observe"}))),
            "managementPolicy Observe requires spec.adopt.id",
        ),
    ]
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_readable_messages() {
    let (_env, client, ns) = setup("crd-invalid").await;
    let cases = invalid_manifests();
    assert!(cases.len() >= 15);
    let mut failures = vec![];
    for (case, manifest, phrase) in &cases {
        match refusal(create(&client, &ns, manifest).await) {
            Ok(message) if message.contains(phrase) => {}
            Ok(message) => failures.push(format!("{case}: message lacks {phrase:?}: {message}")),
            Err(why) => failures.push(format!("{case}: {why}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Valid edge cases; the stored spec must equal what was sent (nothing defaulted or rewritten).
fn valid_manifests() -> Vec<(&'static str, Value)> {
    vec![
        (
            "dotted metadata.name with spec.name",
            obj(
                "MeshesWorkspace",
                "acme.prod",
                json!({"name": "Acme prod_1", "description": ""}),
            ),
        ),
        (
            "dotted metadata.name on an adopted, observed workspace",
            obj(
                "MeshesWorkspace",
                "acme.legacy",
                json!({
                    "adopt": {"id": WS_ID.to_uppercase()}, "credentialsRef": ws_creds(), "managementPolicy": "Observe"
                }),
            ),
        ),
        (
            "minimal workspace with a 3-character name",
            obj("MeshesWorkspace", "abc", json!({})),
        ),
        (
            "workspace name of exactly 50 characters",
            obj(
                "MeshesWorkspace",
                "w-fifty",
                json!({"name": "n".repeat(50), "publishableKeySecret": {"name": "out"}}),
            ),
        ),
        (
            "webhook with nested free-form metadata and secret settings",
            obj(
                "MeshesConnection",
                "signup-hook",
                json!({
                    "workspaceRef": {"name": "acme-prod"}, "type": "webhook", "hidden": false,
                    "metadata": {"url": "https://hooks.acme.example/meshes", "http_method": "POST", "headers": [{"name": "X-A", "value": "1"}], "retries": {"max": 3}},
                    "secretMetadata": [
                        {"key": "signing_secret", "secretKeyRef": {"name": "hook-signing", "key": "secret"}},
                        {"key": "bearer_token", "secretKeyRef": {"name": "hook-signing", "key": "token.v1"}}
                    ],
                    "deletionPolicy": "Delete"
                }),
            ),
        ),
        (
            "adopted OAuth connection by raw workspaceId, observed and orphaned",
            obj(
                "MeshesConnection",
                "crm.hubspot",
                json!({
                    "workspaceId": WS_ID, "type": "hubspot", "adopt": {"id": CONN_ID}, "credentialsRef": ws_creds(),
                    "managementPolicy": "Observe", "deletionPolicy": "Orphan"
                }),
            ),
        ),
        (
            "rule with resource narrowing and extra action members",
            obj(
                "MeshesRule",
                "signup-to-list",
                json!({
                    "connectionRef": {"name": "signup-hook"}, "event": "user.signup", "resource": "contacts",
                    "resourceId": "a.b:c-d_E9", "metadata": {"action": "add_to_list", "id": "list-1", "template": "Hi {{user.name}}"},
                    "active": false, "hidden": true
                }),
            ),
        ),
        (
            "rule by raw connectionId with own credentials",
            obj(
                "MeshesRule",
                "raw-rule",
                json!({
                    "connectionId": CONN_ID, "credentialsRef": ws_creds(), "event": "payment.failed", "metadata": {"action": "send_webhook"}
                }),
            ),
        ),
    ]
}

#[tokio::test]
async fn valid_edge_cases_are_accepted_unchanged() {
    let (_env, client, ns) = setup("crd-valid").await;
    let cases = valid_manifests();
    assert!(cases.len() >= 5);
    let mut failures = vec![];
    for (case, manifest) in &cases {
        match create(&client, &ns, manifest).await {
            Ok(stored) => {
                let stored_spec = stored.data.get("spec").cloned().unwrap_or_default();
                if stored_spec != manifest["spec"] {
                    failures.push(format!(
                        "{case}: stored spec differs:\n sent   {}\n stored {stored_spec}",
                        manifest["spec"]
                    ));
                }
            }
            Err(e) => failures.push(format!("{case}: refused: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Explicit nulls mean unset: without `nullable` the apiserver drops them, so CEL `has()`
    // and the operator never see a present-but-null field.
    let with_null = obj(
        "MeshesWorkspace",
        "with-null",
        json!({"description": null, "adopt": null}),
    );
    let stored = create(&client, &ns, &with_null)
        .await
        .expect("nulls are accepted");
    assert_eq!(
        stored.data["spec"],
        json!({}),
        "nulls were kept: {}",
        stored.data["spec"]
    );
}

/// (case, kind, original spec, JSON merge patch of the spec, phrase of the refusal)
fn invalid_updates() -> Vec<(&'static str, &'static str, Value, Value, &'static str)> {
    let hook = json!({"workspaceRef": {"name": "acme"}, "type": "webhook"});
    let raw_hook = json!({"workspaceId": WS_ID, "type": "webhook", "credentialsRef": ws_creds()});
    let send = json!({"connectionRef": {"name": "hook"}, "event": "user.signup", "metadata": {"action": "send_webhook"}});
    let raw_send = json!({"connectionId": CONN_ID, "credentialsRef": ws_creds(), "event": "user.signup", "metadata": {"action": "send_webhook"}});
    let adopted_ws = json!({"adopt": {"id": WS_ID}, "credentialsRef": ws_creds()});
    vec![
        (
            "connection type",
            "MeshesConnection",
            hook.clone(),
            json!({"type": "mailchimp"}),
            "spec.type is immutable",
        ),
        (
            "connection workspaceRef",
            "MeshesConnection",
            hook.clone(),
            json!({"workspaceRef": {"name": "other"}}),
            "spec.workspaceRef is immutable",
        ),
        (
            "connection workspaceId",
            "MeshesConnection",
            raw_hook,
            json!({"workspaceId": WS_ID_2}),
            "spec.workspaceId is immutable",
        ),
        (
            "connection workspaceRef to workspaceId",
            "MeshesConnection",
            hook,
            json!({"workspaceRef": null, "workspaceId": WS_ID, "credentialsRef": ws_creds()}),
            "spec.workspaceRef and spec.workspaceId are immutable",
        ),
        (
            "workspace adopt.id",
            "MeshesWorkspace",
            adopted_ws.clone(),
            json!({"adopt": {"id": WS_ID_2}}),
            "adopt.id is immutable once set",
        ),
        (
            "workspace adopt removed",
            "MeshesWorkspace",
            adopted_ws,
            json!({"adopt": null}),
            "spec.adopt cannot be removed once set",
        ),
        (
            "rule connectionRef",
            "MeshesRule",
            send,
            json!({"connectionRef": {"name": "other"}}),
            "spec.connectionRef is immutable",
        ),
        (
            "rule connectionId",
            "MeshesRule",
            raw_send.clone(),
            json!({"connectionId": CONN_ID_2}),
            "spec.connectionId is immutable",
        ),
        (
            "rule adopt.id",
            "MeshesRule",
            {
                let mut s = raw_send;
                s["adopt"] = json!({"id": CONN_ID});
                s
            },
            json!({"adopt": {"id": CONN_ID_2}}),
            "adopt.id is immutable once set",
        ),
    ]
}

async fn patch_spec(
    api: &Api<DynamicObject>,
    name: &str,
    spec_patch: &Value,
) -> Result<DynamicObject, kube::Error> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": spec_patch})),
    )
    .await
}

#[tokio::test]
async fn immutable_fields_refuse_updates() {
    let (_env, client, ns) = setup("crd-immutable").await;
    let cases = invalid_updates();
    assert!(cases.len() >= 5);
    let mut failures = vec![];
    for (i, (case, kind, spec, patch, phrase)) in cases.iter().enumerate() {
        let name = format!("imm-{i}");
        let api = api_for(&client, &ns, kind);
        if let Err(e) = create(&client, &ns, &obj(kind, &name, spec.clone())).await {
            failures.push(format!("{case}: the original was refused: {e}"));
            continue;
        }
        match refusal(patch_spec(&api, &name, patch).await) {
            Ok(message) if message.contains(phrase) => {}
            Ok(message) => failures.push(format!("{case}: message lacks {phrase:?}: {message}")),
            Err(why) => failures.push(format!("{case}: {why}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn mutable_fields_accept_updates() {
    // Positive control for the transition rules: what may change does change.
    let (_env, client, ns) = setup("crd-mutable").await;
    let ws = api_for(&client, &ns, "MeshesWorkspace");
    create(
        &client,
        &ns,
        &obj("MeshesWorkspace", "wsx", json!({"description": "a"})),
    )
    .await
    .unwrap();
    // Setting adopt.id later is the documented fix for NameConflict.
    let patched = patch_spec(
        &ws,
        "wsx",
        &json!({"description": "b", "adopt": {"id": WS_ID}, "credentialsRef": ws_creds()}),
    )
    .await
    .expect("description and a first adopt.id may be set");
    assert_eq!(patched.data["spec"]["adopt"]["id"], WS_ID);
    assert_eq!(patched.data["spec"]["description"], "b");
    // Re-applying the same adopt.id is not a change.
    patch_spec(
        &ws,
        "wsx",
        &json!({"adopt": {"id": WS_ID}, "name": "Renamed ws"}),
    )
    .await
    .expect("same adopt.id");

    let conn = api_for(&client, &ns, "MeshesConnection");
    create(&client, &ns, &obj("MeshesConnection", "hook", json!({"workspaceRef": {"name": "wsx"}, "type": "webhook", "metadata": {"url": "https://a.example"}}))).await.unwrap();
    let patched = patch_spec(
        &conn,
        "hook",
        &json!({"metadata": {"url": "https://b.example"}, "name": "Hook 2", "hidden": true}),
    )
    .await
    .expect("settings, name and hidden may change");
    assert_eq!(patched.data["spec"]["metadata"]["url"], "https://b.example");

    let rule = api_for(&client, &ns, "MeshesRule");
    create(&client, &ns, &obj("MeshesRule", "r", json!({"connectionRef": {"name": "hook"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}))).await.unwrap();
    let patched = patch_spec(
        &rule,
        "r",
        &json!({"event": "user.deleted", "active": false}),
    )
    .await
    .expect("a rule's event may change (the operator replaces it)");
    assert_eq!(patched.data["spec"]["event"], "user.deleted");
}

/// Runs the pinned kubectl with the admin kubeconfig and returns stdout, failing on non-zero exit.
fn kubectl(env: &TestEnv, args: &[&str]) -> Result<String, String> {
    let out = env
        .kubectl()
        .args(args)
        .output()
        .map_err(|e| format!("spawning kubectl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// kubectl output with every run of whitespace collapsed, so phrases match across its wrapping.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// kubectl's OpenAPI and discovery views of a new CRD settle a little after it is Established.
async fn kubectl_eventually(env: &TestEnv, args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = kubectl(env, args);
        match &result {
            Ok(out) if ok(out) => return out.clone(),
            _ if Instant::now() > deadline => {
                panic!("kubectl {args:?} never gave the expected output: {result:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test]
async fn kubectl_explain_shows_the_doc_comments() {
    let (env, _client, _ns) = setup("crd-explain").await;
    let out = kubectl_eventually(env, &["explain", "meshesworkspace.spec"], |o| {
        o.contains("credentialsRef")
    })
    .await;
    let out = flat(&out);
    for phrase in [
        "Workspace name in Meshes",
        "publishableKeySecret",
        "managementPolicy",
        "Manage an existing Meshes workspace instead of creating one",
    ] {
        assert!(out.contains(phrase), "explain lacks {phrase:?}:\n{out}");
    }
    let out = kubectl_eventually(
        env,
        &["explain", "meshesconnection.spec.secretMetadata"],
        |o| o.contains("secretKeyRef"),
    )
    .await;
    let out = flat(&out);
    assert!(out.contains("never appear in status"), "{out}");
    let out = kubectl_eventually(env, &["explain", "meshesrule.spec.metadata"], |o| {
        o.contains("action")
    })
    .await;
    let out = flat(&out);
    assert!(out.contains("send_webhook"), "{out}");
}

#[tokio::test]
async fn kubectl_get_meshes_lists_all_kinds_with_columns() {
    let (env, client, ns) = setup("crd-get").await;
    let objects = [
        (
            "MeshesWorkspace",
            "acme-prod",
            json!({}),
            "workspaceId",
            WS_ID,
        ),
        (
            "MeshesConnection",
            "signup-hook",
            json!({"workspaceRef": {"name": "acme-prod"}, "type": "webhook"}),
            "connectionId",
            CONN_ID,
        ),
        (
            "MeshesRule",
            "signup-to-hook",
            json!({"connectionRef": {"name": "signup-hook"}, "event": "user.signup", "metadata": {"action": "send_webhook"}}),
            "ruleId",
            CONN_ID_2,
        ),
    ];
    for (kind, name, spec, id_field, id) in &objects {
        create(&client, &ns, &obj(kind, name, spec.clone()))
            .await
            .unwrap();
        // The status subresource accepts the shared condition shape; columns read from it.
        let mut status = json!({"status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Available", "message": "ok", "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ]
        }});
        status["status"][*id_field] = json!(id);
        api_for(&client, &ns, kind)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap_or_else(|e| panic!("{kind} status: {e}"));
    }

    let out = kubectl_eventually(env, &["get", "meshes", "-n", &ns], |o| {
        o.matches("Available").count() >= 3
    })
    .await;
    for needle in [
        "meshesworkspace.meshes.io/acme-prod",
        "meshesconnection.meshes.io/signup-hook",
        "meshesrule.meshes.io/signup-to-hook",
        WS_ID,
        CONN_ID,
        CONN_ID_2,
    ] {
        assert!(
            out.contains(needle),
            "`kubectl get meshes` lacks {needle}:\n{out}"
        );
    }
    // The unshadowed category lists the same (where Kuma or App Mesh own `meshes`).
    let alt = kubectl_eventually(env, &["get", "meshesio", "-n", &ns], |o| {
        o.matches("Available").count() >= 3
    })
    .await;
    // Compared without the AGE column, which may tick between the two calls.
    let no_age = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| {
                l.rsplit_once(char::is_whitespace)
                    .map_or(l, |(rest, _)| rest)
                    .trim_end()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        no_age(&alt),
        no_age(&out),
        "`kubectl get meshesio` differs from `kubectl get meshes`"
    );
    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("NAME")).collect();
    assert_eq!(headers.len(), 3, "one table per kind:\n{out}");
    for h in headers {
        let cols: Vec<&str> = h
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cols,
            ["NAME", "READY", "SYNCED", "REASON", "MESHES ID", "AGE"],
            "{out}"
        );
    }
    assert_eq!(
        out.lines()
            .filter(|l| l.contains(" True ") && l.contains("Available"))
            .count(),
        3,
        "{out}"
    );

    // Short names resolve to the kinds.
    for (short, name) in [
        ("mws", "acme-prod"),
        ("mconn", "signup-hook"),
        ("mrule", "signup-to-hook"),
    ] {
        let out = kubectl_eventually(env, &["get", short, "-n", &ns, "-o", "name"], |o| {
            o.contains(name)
        })
        .await;
        assert!(out.contains(name), "{short}: {out}");
    }
    // Negative control: a namespace with none of our objects lists none.
    let empty = env.namespace("crd-get-empty").await;
    let out = kubectl(env, &["get", "meshes", "-n", &empty]).unwrap();
    assert!(!out.contains("meshes.io/"), "{out}");
}
