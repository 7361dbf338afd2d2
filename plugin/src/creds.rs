//! Which credentials Secret an object's Meshes calls use, and reading it with the user's
//! rights. The chain is the operator's: an object's own `credentialsRef`, else its parent's
//! (rule → connection → workspace). An object on the operator's default credentials has no
//! Secret the plugin may read: the operator's own Secret is not the user's to use.

use std::collections::HashMap;

use meshes_client::Credentials;

use crate::cluster::{Cluster, SecretError};
use crate::view::ObjView;

/// Key holding the access key (the operator's constant, `MESHES_ACCESS_KEY`).
pub const ACCESS_KEY: &str = "MESHES_ACCESS_KEY";
/// Key holding the secret key.
pub const SECRET_KEY: &str = "MESHES_SECRET_KEY";
/// Key holding the organization ID.
pub const ORG_ID: &str = "MESHES_ORG_ID";

/// A Secret by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Why no credentials are available for an object: one line for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Secret `obj` uses, following its parents among `all` (same namespace).
pub fn source(obj: &ObjView, all: &[ObjView]) -> Result<SecretRef, Unavailable> {
    let mut cur = obj;
    // Bounded: rule → connection → workspace.
    for _ in 0..3 {
        if let Some(name) = &cur.credentials_ref {
            return Ok(SecretRef {
                namespace: cur.namespace.clone(),
                name: name.clone(),
            });
        }
        let parent = cur.parent_ref.as_ref().and_then(|p| {
            let want = match cur.kind {
                crate::cluster::Kind::MeshesRule => crate::cluster::Kind::MeshesConnection,
                _ => crate::cluster::Kind::MeshesWorkspace,
            };
            all.iter()
                .find(|o| o.kind == want && o.namespace == cur.namespace && &o.name == p)
        });
        match parent {
            Some(p) if cur.kind != crate::cluster::Kind::MeshesWorkspace => cur = p,
            _ => break,
        }
    }
    Err(Unavailable(format!(
        "{} uses the operator's default credentials, which kubectl meshes does not read; \
         deliveries need a spec.credentialsRef Secret you can read",
        cur.display_name()
    )))
}

/// Reads credentials Secrets once each.
#[derive(Debug, Default)]
pub struct Resolver {
    cache: HashMap<SecretRef, Result<Credentials, Unavailable>>,
}

impl Resolver {
    /// The credentials in `secret`, read with the user's rights. `user_of` names the object
    /// they are for, in the message.
    pub async fn load(
        &mut self,
        cluster: &Cluster,
        secret: &SecretRef,
        user_of: &str,
    ) -> Result<Credentials, Unavailable> {
        if let Some(hit) = self.cache.get(secret) {
            return hit.clone();
        }
        let result = match cluster.secret(&secret.namespace, &secret.name).await {
            Ok(data) => parse(&data).map_err(|what| {
                Unavailable(format!(
                    "the credentials of {user_of} (Secret {}/{}) are unusable: {what}",
                    secret.namespace, secret.name
                ))
            }),
            Err(e @ SecretError::Forbidden { .. }) => Err(Unavailable(format!(
                "deliveries not shown for {user_of}: {e}; deliveries need read access to that Secret"
            ))),
            Err(e) => Err(Unavailable(format!(
                "deliveries not shown for {user_of}: {e}"
            ))),
        };
        self.cache.insert(secret.clone(), result.clone());
        result
    }
}

/// Builds credentials from a Secret's data; the error names what is missing, never a value.
pub fn parse(data: &std::collections::BTreeMap<String, String>) -> Result<Credentials, String> {
    let get = |k: &str| data.get(k).map(String::as_str).unwrap_or_default();
    Credentials::new(get(ACCESS_KEY), get(SECRET_KEY), get(ORG_ID)).map_err(|e| {
        // CredentialsError names the part ("secret key is empty"), never its value.
        format!("{e} (keys {ACCESS_KEY}, {SECRET_KEY}, {ORG_ID})")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cluster::Kind;

    fn view(kind: Kind, name: &str, parent: Option<&str>, creds: Option<&str>) -> ObjView {
        ObjView {
            kind,
            namespace: "acme".into(),
            name: name.into(),
            created: None,
            ready: None,
            synced: None,
            stalled: None,
            meshes_id: None,
            previous_id: None,
            workspace_id: None,
            connection_id: None,
            parent_ref: parent.map(Into::into),
            parent_id: None,
            credentials_ref: creds.map(Into::into),
            output_secret: String::new(),
            event: None,
        }
    }

    #[test]
    fn rules_inherit_through_their_connection_and_workspace() {
        let all = vec![
            view(Kind::MeshesWorkspace, "ws", None, Some("ws-creds")),
            view(Kind::MeshesConnection, "hook", Some("ws"), None),
            view(Kind::MeshesConnection, "own", Some("ws"), Some("own-creds")),
            view(Kind::MeshesRule, "r1", Some("hook"), None),
            view(Kind::MeshesRule, "r2", Some("own"), None),
            view(Kind::MeshesWorkspace, "default", None, None),
        ];
        assert_eq!(source(&all[3], &all).unwrap().name, "ws-creds");
        assert_eq!(source(&all[4], &all).unwrap().name, "own-creds");
        let err = source(&all[5], &all).unwrap_err();
        assert!(err.0.contains("default credentials"), "{err}");
        // A rule whose connection is missing has nothing to inherit.
        let orphan = view(Kind::MeshesRule, "r3", Some("gone"), None);
        assert!(source(&orphan, &all).is_err());
    }

    #[test]
    fn a_bad_secret_is_described_without_its_values() {
        let mut data = std::collections::BTreeMap::new();
        data.insert(ACCESS_KEY.to_owned(), "mk_abc".to_owned());
        data.insert(SECRET_KEY.to_owned(), "s3cr3t-value".to_owned());
        let err = parse(&data).unwrap_err();
        assert!(
            err.contains("organization id") && !err.contains("s3cr3t"),
            "{err}"
        );
        data.insert(ORG_ID.to_owned(), "org".to_owned());
        assert!(parse(&data).is_ok());
    }
}
