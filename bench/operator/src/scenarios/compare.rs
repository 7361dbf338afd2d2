//! The comparison: the same tenants provisioned upstream by a plain sequential script over the
//! Meshes API client (one call after another: workspace, its publishable key, the connection,
//! two rules), timed against the operator's convergence at the same latency.

use std::time::Instant;

use meshes_client::types::{CreateConnection, CreateRule, CreateWorkspace, IntegrationType};
use meshes_client::{ClientConfig, Credentials, MeshesApi, MeshesClient};
use serde_json::json;

use crate::session::Session;

/// Provisions the session's tenants sequentially into the emulator (under other names than the
/// operator's); the seconds it took.
pub async fn sequential(s: &Session) -> anyhow::Result<f64> {
    let mut config = ClientConfig {
        base_url: s.emu.base_url(),
        ..ClientConfig::default()
    };
    // Never the client's throttle: the script is limited by latency, as a script would be.
    config.budget.rate_per_second = s.opts.rate * 0.95;
    let client = MeshesClient::new(config)?;
    let started = Instant::now();
    for o in 0..s.opts.orgs {
        let key = &s.keys[o];
        let creds = Credentials::new(&key.access_key, &key.secret_key, &key.org_id)?;
        for t in 0..s.opts.per_org {
            let i = o * s.opts.per_org + t;
            let ws = client
                .create_workspace(
                    &creds,
                    &CreateWorkspace {
                        name: format!("script-{i}"),
                        description: Some(format!("tenant {i}")),
                    },
                    None,
                )
                .await?;
            client.get_workspace(&creds, &ws.id).await?;
            let metadata = json!({"url": format!("https://hooks.tenant{i}.example/meshes"),
                "http_method": "POST", "signing_secret": "change-me-to-a-long-random-signing-secret"});
            let conn = client
                .create_connection(
                    &creds,
                    &CreateConnection {
                        workspace: ws.id.clone(),
                        kind: IntegrationType::Webhook,
                        name: format!("script-{i}-hook"),
                        metadata: serde_json::from_value(metadata)?,
                        hidden: None,
                    },
                    None,
                )
                .await?;
            for event in ["user.signup", "payment.failed"] {
                client
                    .create_rule(
                        &creds,
                        &CreateRule {
                            workspace: ws.id.clone(),
                            connection: conn.id.clone(),
                            event: event.into(),
                            metadata: serde_json::from_value(json!({"action": "send_webhook"}))?,
                            resource: None,
                            resource_id: None,
                            active: None,
                            hidden: None,
                        },
                        None,
                    )
                    .await?;
            }
        }
    }
    Ok(started.elapsed().as_secs_f64())
}
