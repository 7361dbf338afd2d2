//! The Meshes API client against the in-process emulator over real HTTP: every call
//! round-trips under strict JWT validation, budgets are per access key, 429 pauses only its
//! key, only GETs are retried, timeouts and errors are classified, and no secret reaches
//! Debug, Display or traces. Plus live smoke tests against the real Meshes (skipped unless
//! `MESHES_LIVE_*` is set).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshes_emulator::{Emulator, EmulatorConfig, FaultAction, FaultSpec, Trigger};
use meshes_operator::api::types::JsonObject;
use meshes_operator::api::{
    ApiError, BudgetConfig, ClientConfig, CreateConnection, CreateRule, CreateWorkspace,
    Credentials, IntegrationType, MeshesApi, MeshesClient, RetryConfig, RuleFilter, TransientCause,
    UpdateConnection, UpdateWorkspace, jwt, routes,
};
use serde_json::json;

const INSTANCE: &str = "api-client-test";

async fn emulator() -> (Emulator, Credentials) {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let c = emu.credentials();
    let creds = Credentials::new(&c.access_key, &c.secret_key, &c.org_id).unwrap();
    (emu, creds)
}

fn second_key(emu: &Emulator, first: &Credentials) -> Credentials {
    let c = emu.admin().add_key(first.org_id());
    Credentials::new(&c.access_key, &c.secret_key, &c.org_id).unwrap()
}

fn client_for(emu: &Emulator, tweak: impl FnOnce(&mut ClientConfig)) -> MeshesClient {
    let mut cfg = ClientConfig {
        base_url: emu.base_url(),
        instance_id: Some(INSTANCE.into()),
        retry: RetryConfig {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        },
        ..ClientConfig::default()
    };
    tweak(&mut cfg);
    MeshesClient::new(cfg).unwrap()
}

fn object(v: serde_json::Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[tokio::test]
async fn api_client_round_trips_every_call_against_the_emulator() {
    let (emu, creds) = emulator().await;
    let api = client_for(&emu, |_| {});
    let admin = emu.admin();

    // Workspaces: create, get (publishable key), list, update.
    let name = unique("rt-ws");
    let ws = api
        .create_workspace(
            &creds,
            &CreateWorkspace {
                name: name.clone(),
                description: Some("round trip".into()),
            },
            Some("pending-create-1"),
        )
        .await
        .unwrap();
    assert_eq!(ws.name, name);
    let detail = api.get_workspace(&creds, &ws.id).await.unwrap();
    assert_eq!(detail.workspace.id, ws.id);
    assert!(!detail.publishable_key.public_key.is_empty());
    assert_eq!(
        Some(detail.publishable_key.public_key.clone()),
        admin.publishable_key(&ws.id)
    );
    let all = api.list_workspaces(&creds).await.unwrap();
    assert!(all.iter().any(|w| w.id == ws.id));
    let updated = api
        .update_workspace(
            &creds,
            &ws.id,
            &UpdateWorkspace {
                name: format!("{name}-2"),
                description: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.description, None);
    assert_eq!(updated.name, format!("{name}-2"));

    // Connections: create, get, update, list.
    let conn = api
        .create_connection(
            &creds,
            &CreateConnection {
                workspace: ws.id.clone(),
                kind: IntegrationType::Webhook,
                name: "hook".into(),
                metadata: object(json!({"url": "https://hooks.example.com/meshes"})),
                hidden: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(conn.kind, IntegrationType::Webhook);
    assert_eq!(conn.workspace, ws.id);
    let got = api.get_connection(&creds, &conn.id).await.unwrap();
    assert_eq!(got.metadata["url"], "https://hooks.example.com/meshes");
    let renamed = api
        .update_connection(
            &creds,
            &conn.id,
            &UpdateConnection {
                name: "hook-2".into(),
                metadata: object(json!({"url": "https://hooks.example.com/v2"})),
                hidden: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "hook-2");
    assert_eq!(renamed.hidden, Some(true));
    let in_ws = api
        .list_workspace_connections(&creds, &ws.id)
        .await
        .unwrap();
    assert_eq!(in_ws.len(), 1);
    assert!(
        api.list_connections(&creds)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == conn.id)
    );

    // Rules: create two, get, filtered lists.
    let rule = api
        .create_rule(
            &creds,
            &CreateRule {
                workspace: ws.id.clone(),
                connection: conn.id.clone(),
                event: "user.signup".into(),
                metadata: object(json!({"action": "send_webhook"})),
                resource: None,
                resource_id: None,
                active: None,
                hidden: None,
            },
            Some("pending-rule-1"),
        )
        .await
        .unwrap();
    assert_eq!(rule.action(), Some("send_webhook"));
    assert_eq!(rule.kind, IntegrationType::Webhook);
    let other = api
        .create_rule(
            &creds,
            &CreateRule {
                event: "payment.failed".into(),
                resource: Some("invoice".into()),
                ..CreateRule {
                    workspace: ws.id.clone(),
                    connection: conn.id.clone(),
                    event: String::new(),
                    metadata: object(json!({"action": "send_webhook"})),
                    resource: None,
                    resource_id: None,
                    active: Some(true),
                    hidden: Some(false),
                }
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(api.get_rule(&creds, &rule.id).await.unwrap().id, rule.id);
    let signup = RuleFilter {
        event: Some("user.signup".into()),
        ..RuleFilter::default()
    };
    let filtered = api
        .list_workspace_rules(&creds, &ws.id, &signup)
        .await
        .unwrap();
    assert_eq!(
        filtered.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&rule.id]
    );
    let everything = api
        .list_workspace_rules(&creds, &ws.id, &RuleFilter::default())
        .await
        .unwrap();
    assert_eq!(everything.len(), 2, "positive control for the filter");
    let org_wide = api
        .list_rules(
            &creds,
            &RuleFilter {
                resource: Some("invoice".into()),
                ..RuleFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        org_wide.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&other.id]
    );

    // Integrations catalog: every type is one we know.
    let catalog = api.list_integrations(&creds).await.unwrap();
    assert_eq!(catalog.len(), IntegrationType::KNOWN.len());
    assert!(
        catalog
            .iter()
            .all(|i| !matches!(i.kind, IntegrationType::Other(_)))
    );

    // Deletes: a connection with rules is a conflict until forced or emptied.
    let refused = api
        .delete_connection(&creds, &conn.id, false)
        .await
        .unwrap_err();
    assert!(refused.is_conflict(), "{refused:?}");
    let deleted_rule = api.delete_rule(&creds, &rule.id).await.unwrap();
    assert_eq!(deleted_rule.id, rule.id);
    let gone = api.get_rule(&creds, &rule.id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    let deleted = api.delete_connection(&creds, &conn.id, true).await.unwrap();
    assert_eq!(deleted.id, conn.id);
    assert!(
        api.get_connection(&creds, &conn.id)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Every request was accepted by the emulator's strict JWT check and carried our UA.
    let ua = format!(
        "meshes-operator/{} (instance={INSTANCE})",
        env!("CARGO_PKG_VERSION")
    );
    let sent = admin.key_count(creds.access_key());
    assert!(sent >= 20, "{sent}");
    assert_eq!(admin.client_count(&ua), sent);
    assert_eq!(admin.request_count("POST", routes::WORKSPACES), 1);
    assert_eq!(admin.request_count("DELETE", routes::CONNECTION), 2);
}

#[tokio::test]
async fn api_client_classifies_api_errors_with_their_messages() {
    let (emu, creds) = emulator().await;
    let api = client_for(&emu, |_| {});

    let name = unique("err-ws");
    let body = CreateWorkspace {
        name: name.clone(),
        description: None,
    };
    api.create_workspace(&creds, &body, None).await.unwrap();
    let dup = api.create_workspace(&creds, &body, None).await.unwrap_err();
    assert!(dup.is_conflict() && dup.is_permanent(), "{dup:?}");

    let bad = api
        .create_workspace(
            &creds,
            &CreateWorkspace {
                name: "x".into(),
                description: None,
            },
            None,
        )
        .await
        .unwrap_err();
    match &bad {
        ApiError::Invalid { fields, .. } => {
            assert!(fields.iter().any(|f| f.param == "name"), "{bad:?}")
        }
        other => panic!("{other:?}"),
    }

    let missing = api
        .get_workspace(&creds, "00000000-0000-4000-8000-00000000dead")
        .await
        .unwrap_err();
    assert!(missing.is_not_found() && !missing.is_transient() && !missing.is_permanent());
    assert!(
        missing
            .to_string()
            .contains("GET /api/v1/workspaces/{workspace_id}")
    );

    let wrong_secret = Credentials::new(
        creds.access_key(),
        "wrong-secret-abcdefghijklmnopqrstuvwxyz0123456789",
        creds.org_id(),
    )
    .unwrap();
    let unauth = api.list_workspaces(&wrong_secret).await.unwrap_err();
    assert!(
        unauth.is_unauthorized() && unauth.is_permanent(),
        "{unauth:?}"
    );

    let revoked = second_key(&emu, &creds);
    api.list_workspaces(&revoked).await.unwrap(); // positive control: it worked before
    emu.admin().revoke_key(revoked.access_key());
    let after = api.list_workspaces(&revoked).await.unwrap_err();
    assert!(after.is_unauthorized(), "{after:?}");
}

#[tokio::test]
async fn api_client_budget_spaces_calls_per_key_and_keys_do_not_share_it() {
    let (emu, creds_a) = emulator().await;
    let creds_b = second_key(&emu, &creds_a);
    // 1 request/s with a burst of 2.
    let api = client_for(&emu, |cfg| {
        cfg.budget = BudgetConfig {
            rate_per_second: 1.0,
            burst: 2,
            ..BudgetConfig::default()
        };
    });
    let n = 5u32;
    let started = Instant::now();
    let calls = (0..n).map(|_| api.list_workspaces_page(&creds_a, None));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let a_elapsed = started.elapsed();
    // (N - burst) / R = 3 s at least.
    assert!(a_elapsed >= Duration::from_millis(2900), "{a_elapsed:?}");

    // Key B, right after A drained its bucket, still has its own burst of two. Sharing A's
    // bucket would make these two take about 2 s.
    let started = Instant::now();
    api.list_workspaces_page(&creds_b, None).await.unwrap();
    api.list_workspaces_page(&creds_b, None).await.unwrap();
    let b_elapsed = started.elapsed();
    assert!(b_elapsed < Duration::from_millis(1500), "{b_elapsed:?}");
    assert_eq!(emu.admin().key_count(creds_a.access_key()), u64::from(n));
    assert_eq!(emu.admin().key_count(creds_b.access_key()), 2);
}

#[tokio::test]
async fn api_client_429_pauses_only_that_key() {
    let (emu, creds_a) = emulator().await;
    let creds_b = second_key(&emu, &creds_a);
    let api = client_for(&emu, |_| {});
    let admin = emu.admin();
    let fault = admin.add_fault(FaultSpec {
        method: Some("GET".into()),
        route: routes::WORKSPACES.into(),
        action: FaultAction::RateLimited {
            retry_after_secs: 2,
        },
        trigger: Trigger::Next(1),
    });

    let before_429 = Instant::now();
    let err = api.list_workspaces_page(&creds_a, None).await.unwrap_err();
    assert_eq!(admin.fault_hits(fault), 1);
    assert!(matches!(err, ApiError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert!(err.is_transient());

    let after_429 = Instant::now();
    let b = async {
        api.list_workspaces_page(&creds_b, None).await.unwrap();
        after_429.elapsed()
    };
    let a = async {
        api.list_workspaces_page(&creds_a, None).await.unwrap();
        before_429.elapsed()
    };
    let (b_elapsed, a_elapsed) = tokio::join!(b, a);
    // Positive control: another key goes through at once.
    assert!(b_elapsed < Duration::from_millis(1500), "{b_elapsed:?}");
    assert!(a_elapsed >= Duration::from_secs(2), "{a_elapsed:?}");
    assert_eq!(admin.fault_hits(fault), 1, "the fault fired only once");
}

#[tokio::test]
async fn api_client_retries_get_on_5xx_but_never_a_post() {
    let (emu, creds) = emulator().await;
    let api = client_for(&emu, |_| {});
    let admin = emu.admin();
    let ws = api
        .create_workspace(
            &creds,
            &CreateWorkspace {
                name: unique("retry"),
                description: None,
            },
            None,
        )
        .await
        .unwrap();

    let get_fault = admin.add_fault(FaultSpec {
        method: Some("GET".into()),
        route: routes::WORKSPACE.into(),
        action: FaultAction::Status(503),
        trigger: Trigger::Next(2),
    });
    let got = api.get_workspace(&creds, &ws.id).await.unwrap();
    assert_eq!(got.workspace.id, ws.id);
    assert_eq!(admin.fault_hits(get_fault), 2);
    assert_eq!(admin.request_count("GET", routes::WORKSPACE), 3);

    let posts_before = admin.request_count("POST", routes::WORKSPACES);
    let post_fault = admin.add_fault(FaultSpec {
        method: Some("POST".into()),
        route: routes::WORKSPACES.into(),
        action: FaultAction::Status(500),
        trigger: Trigger::Next(1),
    });
    let body = CreateWorkspace {
        name: unique("no-retry"),
        description: None,
    };
    let err = api.create_workspace(&creds, &body, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transient {
                cause: TransientCause::Status(500),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(admin.fault_hits(post_fault), 1);
    assert_eq!(
        admin.request_count("POST", routes::WORKSPACES),
        posts_before + 1
    );
    // Positive control: the same POST goes through once the fault is spent.
    api.create_workspace(&creds, &body, None).await.unwrap();
    assert_eq!(
        admin.request_count("POST", routes::WORKSPACES),
        posts_before + 2
    );
}

#[tokio::test]
async fn api_client_request_timeout_is_a_transient_timeout() {
    let (emu, creds) = emulator().await;
    let api = client_for(&emu, |cfg| {
        cfg.request_timeout = Duration::from_millis(500);
        cfg.retry.max_attempts = 1;
    });
    let fault = emu.admin().add_fault(FaultSpec {
        method: Some("GET".into()),
        route: routes::WORKSPACES.into(),
        action: FaultAction::Latency {
            delay: Duration::from_secs(5),
            after_commit: false,
        },
        trigger: Trigger::Next(1),
    });
    let started = Instant::now();
    let err = api.list_workspaces_page(&creds, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transient {
                cause: TransientCause::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(emu.admin().fault_hits(fault), 1);
    // Positive control: without the fault the same call succeeds.
    api.list_workspaces_page(&creds, None).await.unwrap();
}

/// A `MakeWriter` collecting formatted trace output in memory.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn api_client_never_leaks_secrets_in_debug_display_or_traces() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "meshes_client=trace,meshes_operator=trace,reqwest=trace,hyper=trace,hyper_util=trace,h2=trace",
        ))
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    // Current-thread runtime: the client, reqwest's connection tasks and the emulator all run
    // on this thread, so a thread-local subscriber sees every event.
    let _guard = tracing::subscriber::set_default(subscriber);

    let window_start = jwt::now_unix();
    let (emu, creds) = emulator().await;
    let api = client_for(&emu, |_| {});
    const HOOK_SECRET: &str = "hook-signing-secret-DO-NOT-LOG-1234567890";

    let mut texts = vec![
        format!("{creds:?}"),
        format!("{creds:#?}"),
        creds.to_string(),
    ];
    let ws = api
        .create_workspace(
            &creds,
            &CreateWorkspace {
                name: unique("leak"),
                description: None,
            },
            None,
        )
        .await
        .unwrap();
    let hook = CreateConnection {
        workspace: ws.id.clone(),
        kind: IntegrationType::Webhook,
        name: "signed".into(),
        metadata: object(json!({
            "url": "https://hooks.example.com/x",
            "signing_secret": HOOK_SECRET,
        })),
        hidden: None,
    };
    texts.push(format!("{hook:?}"));
    let conn = api.create_connection(&creds, &hook, None).await.unwrap();
    texts.push(format!("{conn:?}"));
    // Errors: a duplicate (409), a refused body carrying the secret (http URL), a 404, and a
    // 401 from a wrong secret.
    let mut errors = Vec::new();
    errors.push(
        api.create_connection(&creds, &hook, None)
            .await
            .unwrap_err(),
    );
    let insecure = CreateConnection {
        name: "insecure".into(),
        metadata: object(json!({
            "url": "http://hooks.example.com/x",
            "signing_secret": HOOK_SECRET,
        })),
        ..hook.clone()
    };
    errors.push(
        api.create_connection(&creds, &insecure, None)
            .await
            .unwrap_err(),
    );
    errors.push(
        api.get_connection(&creds, "00000000-0000-4000-8000-00000000dead")
            .await
            .unwrap_err(),
    );
    let wrong = Credentials::new(
        creds.access_key(),
        "another-secret-abcdefghijklmnopqrstuvwxyz0123456789",
        creds.org_id(),
    )
    .unwrap();
    errors.push(api.list_workspaces(&wrong).await.unwrap_err());
    for e in &errors {
        texts.push(format!("{e:?}"));
        texts.push(e.to_string());
    }
    let window_end = jwt::now_unix();
    let traces = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    texts.push(traces.clone());

    // Every token the client can have minted in this window, for both secrets.
    let mut needles = vec![
        HOOK_SECRET.to_owned(),
        emu.credentials().secret_key.clone(),
        "another-secret-abcdefghijklmnopqrstuvwxyz0123456789".to_owned(),
    ];
    for c in [&creds, &wrong] {
        for t in window_start - 1..=window_end + 1 {
            let token = jwt::mint(c, t).unwrap();
            needles.extend(token.split('.').map(str::to_owned));
            needles.push(token);
        }
    }
    for text in &texts {
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "leaked {needle:?} in:\n{text}"
            );
        }
    }
    // Positive controls: the captured traces are real (spans with route and status), the
    // errors are the ones intended, and the access key is visible where it should be.
    assert!(traces.contains("meshes_api"), "{traces}");
    assert!(traces.contains("/api/v1/connections"), "{traces}");
    assert!(traces.contains("status=201"), "{traces}");
    assert!(traces.contains(creds.access_key()), "{traces}");
    assert!(errors[0].is_conflict(), "{:?}", errors[0]);
    assert!(errors[1].is_permanent(), "{:?}", errors[1]);
    assert!(errors[2].is_not_found(), "{:?}", errors[2]);
    assert!(errors[3].is_unauthorized(), "{:?}", errors[3]);
}

/// Live smoke test against the real Meshes: create/get/update a workspace, a webhook
/// connection and a rule, then delete the rule and the connection (Meshes has no workspace
/// delete: the workspace, named `meshes-operator-smoke-*`, stays). Skipped unless
/// `MESHES_LIVE_ACCESS_KEY`, `MESHES_LIVE_SECRET_KEY` and `MESHES_LIVE_ORG_ID` are set;
/// `MESHES_LIVE_API_URL` overrides the base URL.
#[tokio::test]
async fn api_client_live_smoke_against_real_meshes() {
    let vars = [
        "MESHES_LIVE_ACCESS_KEY",
        "MESHES_LIVE_SECRET_KEY",
        "MESHES_LIVE_ORG_ID",
    ];
    let values: Vec<Option<String>> = vars
        .iter()
        .map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .collect();
    let (Some(access), Some(secret), Some(org)) = (&values[0], &values[1], &values[2]) else {
        let missing: Vec<&str> = vars
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        eprintln!(
            "SKIPPED api_client_live_smoke_against_real_meshes: set {} to run the live Meshes smoke test",
            missing.join(", ")
        );
        return;
    };
    let creds = Credentials::new(access, secret, org).unwrap();
    let api = MeshesClient::new(ClientConfig {
        base_url: std::env::var("MESHES_LIVE_API_URL")
            .unwrap_or_else(|_| meshes_operator::api::DEFAULT_BASE_URL.into()),
        instance_id: Some("live-smoke".into()),
        ..ClientConfig::default()
    })
    .unwrap();

    let name = unique("meshes-operator-smoke");
    let ws = api
        .create_workspace(
            &creds,
            &CreateWorkspace {
                name: name.clone(),
                description: Some("meshes-operator live smoke test".into()),
            },
            None,
        )
        .await
        .unwrap();
    let detail = api.get_workspace(&creds, &ws.id).await.unwrap();
    assert_eq!(detail.workspace.name, name);
    let updated = api
        .update_workspace(
            &creds,
            &ws.id,
            &UpdateWorkspace {
                name: name.clone(),
                description: Some("meshes-operator live smoke test (updated)".into()),
            },
        )
        .await
        .unwrap();
    assert!(updated.description.unwrap_or_default().contains("updated"));

    let conn = api
        .create_connection(
            &creds,
            &CreateConnection {
                workspace: ws.id.clone(),
                kind: IntegrationType::Webhook,
                name: "smoke-hook".into(),
                metadata: object(json!({"url": "https://example.com/meshes-operator-smoke"})),
                hidden: Some(true),
            },
            None,
        )
        .await
        .unwrap();
    let got = api.get_connection(&creds, &conn.id).await.unwrap();
    assert_eq!(got.kind, IntegrationType::Webhook);
    api.update_connection(
        &creds,
        &conn.id,
        &UpdateConnection {
            name: "smoke-hook-2".into(),
            metadata: object(json!({"url": "https://example.com/meshes-operator-smoke"})),
            hidden: Some(true),
        },
    )
    .await
    .unwrap();
    let rule = api
        .create_rule(
            &creds,
            &CreateRule {
                workspace: ws.id.clone(),
                connection: conn.id.clone(),
                event: "meshes_operator.smoke".into(),
                metadata: object(json!({"action": "send_webhook"})),
                resource: None,
                resource_id: None,
                active: Some(false),
                hidden: Some(true),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(api.get_rule(&creds, &rule.id).await.unwrap().id, rule.id);

    api.delete_rule(&creds, &rule.id).await.unwrap();
    api.delete_connection(&creds, &conn.id, true).await.unwrap();
    eprintln!(
        "live smoke passed; workspace {} ({name}) remains because Meshes has no workspace delete",
        ws.id
    );
}
