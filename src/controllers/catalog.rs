//! The integrations catalog (actions per integration type), cached per org for a while: it
//! changes only when Meshes ships an integration, and every rule checks its action against it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::api::types::Integration;
use crate::api::{ApiError, Credentials, MeshesApi};

/// How long a catalog is reused.
pub const CATALOG_TTL: Duration = Duration::from_secs(3600);

/// Catalog cache keyed by org.
#[derive(Debug, Default)]
pub struct Catalogs {
    by_org: Mutex<HashMap<String, (Instant, Vec<Integration>)>>,
    loading: tokio::sync::Mutex<()>,
}

impl Catalogs {
    /// The catalog of `creds`' org, listing it when missing or older than [`CATALOG_TTL`].
    pub async fn get(
        &self,
        api: &dyn MeshesApi,
        creds: &Credentials,
    ) -> Result<Vec<Integration>, ApiError> {
        let org = creds.org_id().to_string();
        let cached = || {
            self.by_org.lock().ok().and_then(|m| {
                m.get(&org)
                    .filter(|(at, _)| at.elapsed() < CATALOG_TTL)
                    .map(|(_, c)| c.clone())
            })
        };
        if let Some(c) = cached() {
            return Ok(c);
        }
        let _guard = self.loading.lock().await;
        if let Some(c) = cached() {
            return Ok(c);
        }
        let catalog = api.list_integrations(creds).await?;
        if let Ok(mut m) = self.by_org.lock() {
            m.insert(org, (Instant::now(), catalog.clone()));
        }
        Ok(catalog)
    }
}

/// The action keys integration `type_` offers, or `None` when the catalog does not know the type.
pub fn actions_of(catalog: &[Integration], type_: &str) -> Option<Vec<String>> {
    catalog.iter().find(|i| i.kind.as_str() == type_).map(|i| {
        let mut keys: Vec<String> = i.actions.keys().cloned().collect();
        keys.sort();
        keys
    })
}
