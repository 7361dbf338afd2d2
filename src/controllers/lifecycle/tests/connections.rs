//! `MeshesConnection` through the lifecycle: PUTs from upstream settings, 404 on PUT, conflicts.

use super::*;

fn connection(spec: Value) -> MeshesConnection {
    serde_json::from_value(json!({
        "apiVersion": "meshes.io/v1alpha1", "kind": "MeshesConnection",
        "metadata": {"name": "hook", "namespace": "ns", "uid": "u-conn", "generation": 1, "resourceVersion": "1"},
        "spec": spec
    }))
    .unwrap()
}

fn connection_inputs(c: &MeshesConnection) -> ConnectionInputs {
    let name = c.spec.name.clone().unwrap_or_else(|| "hook".into());
    let mut merged = c.spec.metadata.clone().unwrap_or_default();
    let mut secret_keys = Vec::new();
    for s in c.spec.secret_metadata.iter().flatten() {
        merged.insert(s.key.clone(), json!("from-a-secret"));
        secret_keys.push(s.key.clone());
    }
    ConnectionInputs {
        parent: Parent {
            workspace_id: "w1".into(),
            connection_id: None,
            connection_type: None,
            credentials: resolved().secret,
        },
        resolved: resolved(),
        settings: Settings {
            hash: settings_hash(
                &name,
                c.spec.hidden,
                &c.spec.metadata.clone().unwrap_or_default(),
                &secret_keys
                    .iter()
                    .map(|k| (k.clone(), "s/uid/1/k".to_string()))
                    .collect(),
            ),
            merged,
            secret_keys,
        },
        name: if c.spec.adopt.is_some() {
            c.spec.name.clone().unwrap_or_default()
        } else {
            name
        },
    }
}

fn connection_sim(spec: Value) -> Sim<MeshesConnection> {
    let api = Arc::new(MemApi::new(Dedup::Tuple));
    Sim {
        ctx: context(api.clone()),
        api,
        host: Recorder::new(),
        obj: connection(spec),
        inputs: connection_inputs,
    }
}

/// Item j: a PUT starts from the upstream settings, so keys the spec leaves unset survive.
#[tokio::test]
async fn an_adopted_connection_keeps_the_settings_its_spec_leaves_unset() {
    let mut sim = connection_sim(json!({
        "workspaceRef": {"name": "ws"}, "type": "webhook", "adopt": {"id": "c-dash"},
        "credentialsRef": {"name": "creds"},
        "metadata": {"url": "https://b.example"},
        "secretMetadata": [{"key": "signing_secret", "secretKeyRef": {"name": "s", "key": "k"}}]
    }));
    let now = chrono::Utc::now();
    sim.api.seed_connection(Connection {
        id: "c-dash".into(),
        workspace: "w1".into(),
        kind: IntegrationType::from("webhook"),
        name: "Dashboard hook".into(),
        metadata: serde_json::from_value(json!({"url": "https://a.example", "payload_mode": "raw", "custom_headers": {"X-Team": "a"}})).unwrap(),
        action_data: None,
        active: Some(true),
        inactive_reason: None,
        hidden: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    });
    let step = sim.pass().await;
    assert!(ready(&step), "{step:?}");
    assert_eq!(
        sim.api.count("PUT connection"),
        1,
        "the secret settings are applied once"
    );
    let up = &sim.api.connections()[0];
    assert_eq!(up.metadata["url"], json!("https://b.example"));
    assert_eq!(
        up.metadata["payload_mode"],
        json!("raw"),
        "unset keys are unmanaged"
    );
    assert_eq!(up.metadata["custom_headers"], json!({"X-Team": "a"}));
    assert_eq!(up.name, "Dashboard hook", "an unset name is left alone");
}

/// Item k: a 404 on a PUT is not a memoised rejection: the next pass confirms the absence and
/// creates the connection again.
#[tokio::test]
async fn a_404_on_a_put_recreates_instead_of_stalling() {
    let mut sim = connection_sim(
        json!({"workspaceRef": {"name": "ws"}, "type": "webhook", "metadata": {"url": "https://a.example"}}),
    );
    assert!(ready(&sim.pass().await));
    let first = sim
        .obj
        .status
        .as_ref()
        .unwrap()
        .connection_id
        .clone()
        .unwrap();
    sim.obj.spec.metadata = serde_json::from_value(json!({"url": "https://b.example"})).unwrap();
    sim.obj.metadata.generation = Some(2);
    sim.api.script(Op::UpdateConnection, Fault::NotFound);
    let step = sim.pass().await;
    assert!(
        matches!(step.outcome, Outcome::Transient { .. }),
        "{step:?}"
    );
    assert!(step.requeue.is_some());
    // Meanwhile it really went.
    let _ = sim
        .api
        .delete_connection(&resolved().creds, &first, false)
        .await;
    assert!(ready(&sim.pass().await));
    let up = sim.api.connections();
    assert_eq!(up.len(), 1, "{:?}", sim.api.log());
    assert_ne!(up[0].id, first);
    assert_eq!(up[0].metadata["url"], json!("https://b.example"));
}

/// A connection name taken by an object this CR did not create is a conflict, not a takeover.
#[tokio::test]
async fn a_name_taken_upstream_is_a_conflict() {
    let mut sim = connection_sim(
        json!({"workspaceRef": {"name": "ws"}, "type": "webhook", "metadata": {"url": "https://a.example"}}),
    );
    let earlier = chrono::Utc::now() - chrono::Duration::hours(1);
    sim.api.seed_connection(Connection {
        id: "c-other".into(),
        workspace: "w1".into(),
        kind: IntegrationType::from("webhook"),
        name: "HOOK".into(),
        metadata: Default::default(),
        action_data: None,
        active: Some(true),
        inactive_reason: None,
        hidden: None,
        created_by: None,
        created_at: earlier,
        updated_at: earlier,
    });
    let step = sim.pass().await;
    match &step.outcome {
        Outcome::Stalled { reason, message } => {
            assert_eq!(*reason, reasons::NAME_CONFLICT);
            assert!(message.contains("c-other"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let st = sim.obj.status.clone().unwrap();
    assert!(st.connection_id.is_none() && st.pending_create.is_none());
}

/// A setting the catalog marks secret, put in plain `spec.metadata`, stalls without echoing its
/// value (status and Events are readable by anyone who can read the CR).
#[tokio::test]
async fn a_secret_in_plain_metadata_stalls_without_echoing_it() {
    let spec = json!({"workspaceRef": {"name": "ws"}, "type": "webhook",
        "metadata": {"url": "https://a.example", "signing_secret": "hunter2-value"}});
    let mut sim = connection_sim(spec);
    sim.api.set_catalog(vec![
        serde_json::from_value(json!({
            "name": "Webhook", "type": "webhook",
            "authentication": {"type": "none", "fields": [
                {"key": "url", "label": "URL", "type": "text"},
                {"key": "signing_secret", "label": "Signing secret", "type": "password"}]},
            "actions": {"send_webhook": {"key": "send_webhook"}}
        }))
        .unwrap(),
    ]);
    let step = sim.pass().await;
    match &step.outcome {
        Outcome::Stalled { reason, message } => {
            assert_eq!(*reason, reasons::INVALID_SPEC);
            assert!(
                message.contains("secretMetadata") && !message.contains("hunter2"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.api.count("POST"), 0);
    // Positive control: without it the connection is created.
    sim.obj.spec.metadata = serde_json::from_value(json!({"url": "https://a.example"})).unwrap();
    assert!(ready(&sim.pass().await));
}
