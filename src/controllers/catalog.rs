//! The integrations catalog (actions per integration type), cached per org for a while: it
//! changes only when Meshes ships an integration, and every rule checks its action against it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::types::Integration;
use crate::api::{ApiError, Credentials, MeshesApi};

/// How long a catalog is reused.
pub const CATALOG_TTL: Duration = Duration::from_secs(3600);

/// A catalog and when it was listed.
type Cached = (Instant, Arc<Vec<Integration>>);

/// Catalog cache keyed by org. Loading is single-flight *per org*: an org whose key is paused
/// by a 429 never holds up the catalog of another org.
#[derive(Debug, Default)]
pub struct Catalogs {
    by_org: Mutex<HashMap<String, Cached>>,
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Catalogs {
    /// The catalog of `creds`' org, listing it when missing or older than [`CATALOG_TTL`].
    pub async fn get(
        &self,
        api: &dyn MeshesApi,
        creds: &Credentials,
    ) -> Result<Arc<Vec<Integration>>, ApiError> {
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
        let gate = self
            .loading
            .lock()
            .map(|mut m| m.entry(org.clone()).or_default().clone())
            .unwrap_or_default();
        let _guard = gate.lock().await;
        if let Some(c) = cached() {
            return Ok(c);
        }
        let catalog = Arc::new(api.list_integrations(creds).await?);
        if let Ok(mut m) = self.by_org.lock() {
            m.insert(org, (Instant::now(), catalog.clone()));
        }
        Ok(catalog)
    }
}

/// The metadata keys integration `type_` treats as secrets (never echoed by Meshes).
pub fn secret_keys_of(catalog: &[Integration], type_: &str) -> Vec<String> {
    catalog
        .iter()
        .find(|i| i.kind.as_str() == type_)
        .and_then(|i| i.authentication.fields.as_ref())
        .map(|fields| {
            fields
                .iter()
                .filter(|f| f.is_secret())
                .map(|f| f.key.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The action keys integration `type_` offers, or `None` when the catalog does not know the type.
pub fn actions_of(catalog: &[Integration], type_: &str) -> Option<Vec<String>> {
    catalog.iter().find(|i| i.kind.as_str() == type_).map(|i| {
        let mut keys: Vec<String> = i.actions.keys().cloned().collect();
        keys.sort();
        keys
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::controllers::lifecycle::memapi::{Dedup, MemApi};

    fn creds(org: &str) -> Credentials {
        Credentials::new("mk_test", "secret-value", org).unwrap()
    }

    /// One org's slow (paused) catalog list does not hold up another org's.
    #[tokio::test]
    async fn a_slow_org_does_not_block_another() {
        let api = Arc::new(MemApi::new(Dedup::Tuple));
        api.block_catalog("slow");
        let catalogs = Arc::new(Catalogs::default());
        let (c, a) = (catalogs.clone(), api.clone());
        let slow = tokio::spawn(async move { c.get(a.as_ref(), &creds("slow")).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let fast = tokio::time::timeout(
            Duration::from_secs(5),
            catalogs.get(api.as_ref(), &creds("fast")),
        )
        .await;
        assert!(
            fast.is_ok_and(|r| r.is_ok()),
            "the other org waited behind the slow one"
        );
        // Positive control: the slow org was really blocked, and finishes once released.
        assert!(!slow.is_finished());
        api.release_catalog();
        assert!(slow.await.unwrap().is_ok());
    }
}
