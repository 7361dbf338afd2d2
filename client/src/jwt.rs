//! Minting of the short-lived machine JWT that authenticates every management API call
//! (HS256, `kid` = access key, 30 s lifetime, exactly as the official SDKs do).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::credentials::Credentials;

/// Lifetime of every token. Meshes accepts at most 60 s; the SDKs use 30 s.
pub const TOKEN_LIFETIME_SECS: i64 = 30;
/// The `aud` claim Meshes requires.
pub const AUDIENCE: &str = "meshes-api";
/// Prefix of the `iss` claim, followed by the access key.
pub const ISSUER_PREFIX: &str = "urn:meshes:m2m:";

/// The claims of a Meshes machine JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `urn:meshes:m2m:<access key>`.
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// The organization the call applies to.
    pub org: String,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, `iat + 30`.
    pub exp: i64,
}

/// Why a token could not be minted. Carries no key material.
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not sign the Meshes JWT: {0}")]
pub struct MintError(String);

/// Mints a token issued at `now_unix` (seconds). The caller passes the time so that the token
/// is stamped when the request is about to leave, not when it was queued.
pub fn mint(creds: &Credentials, now_unix: i64) -> Result<String, MintError> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    header.kid = Some(creds.access_key().to_owned());
    let claims = Claims {
        iss: format!("{ISSUER_PREFIX}{}", creds.access_key()),
        aud: AUDIENCE.to_owned(),
        org: creds.org_id().to_owned(),
        iat: now_unix,
        exp: now_unix + TOKEN_LIFETIME_SECS,
    };
    let key = EncodingKey::from_secret(creds.secret_key().expose_bytes());
    // The library's error text describes the failure kind only, never the key.
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| MintError(e.to_string()))
}

/// Current time in whole seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn creds() -> Credentials {
        Credentials::new(
            "mk_abcdefghijklmnopqrstuv",
            "secret-abcdefghijklmnopqrstuvwxyz-0123456789ABCDEF",
            "5f0c2d6e-8a4b-4c1d-9e2f-0123456789ab",
        )
        .unwrap()
    }

    #[test]
    fn header_and_claims_match_the_contract() {
        let now = now_unix();
        let token = mint(&creds(), now).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some("mk_abcdefghijklmnopqrstuv"));

        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&["urn:meshes:m2m:mk_abcdefghijklmnopqrstuv"]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        // Signed with the secret's raw UTF-8 bytes, not a base64 decoding of it.
        let key = DecodingKey::from_secret(b"secret-abcdefghijklmnopqrstuvwxyz-0123456789ABCDEF");
        let data = jsonwebtoken::decode::<Claims>(&token, &key, &validation).unwrap();
        assert_eq!(
            data.claims,
            Claims {
                iss: "urn:meshes:m2m:mk_abcdefghijklmnopqrstuv".into(),
                aud: "meshes-api".into(),
                org: "5f0c2d6e-8a4b-4c1d-9e2f-0123456789ab".into(),
                iat: now,
                exp: now + 30,
            }
        );
    }

    #[test]
    fn a_different_secret_does_not_verify() {
        let token = mint(&creds(), now_unix()).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        let wrong = DecodingKey::from_secret(b"another-secret");
        assert!(jsonwebtoken::decode::<Claims>(&token, &wrong, &validation).is_err());
    }
}
