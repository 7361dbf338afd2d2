//! Strict verification of the machine JWT (`emulator/README.md`, "The wire contract"; the
//! exact checks are item 3 of "Choices where the public contract is silent"): HS256 only,
//! `kid` = a known, unrevoked access key, signature with the raw secret bytes, exact
//! `iss`/`aud`, `org` owned by the key (else 403), expiry and a lifetime of at most 60 s, with
//! a small clock skew.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::ApiKey;

/// Longest token lifetime (`exp - iat`) accepted.
pub const MAX_LIFETIME_SECS: i64 = 60;
/// Required `aud`.
pub const AUDIENCE: &str = "meshes-api";
/// `iss` = this prefix + access key.
pub const ISSUER_PREFIX: &str = "urn:meshes:m2m:";

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Access key (`kid`).
    pub access_key: String,
    /// Organization (`org`).
    pub org_id: String,
    /// Written as `created_by`.
    pub user_id: String,
    /// Workspace scope of the key; `None` = whole org.
    pub workspaces: Option<Vec<Uuid>>,
}

impl Principal {
    /// Whether the key may act on `workspace`.
    pub fn may_access(&self, workspace: &Uuid) -> bool {
        self.workspaces
            .as_ref()
            .is_none_or(|w| w.contains(workspace))
    }
}

/// A caller authenticated by a workspace publishable key (ingestion only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableCaller {
    /// The key's workspace.
    pub workspace: Uuid,
    /// Its organization.
    pub org_id: String,
}

/// Header carrying the publishable key.
pub const PUBLISHABLE_KEY_HEADER: &str = "x-meshes-publishable-key";

/// Extracts the bearer token (without verifying anything).
pub fn bearer(authorization: Option<&str>) -> Result<&str, ApiError> {
    let value = authorization.ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("authorization must be 'Bearer <token>'"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "authorization must be 'Bearer <token>'",
        ));
    }
    Ok(token.trim())
}

/// The `kid` a token claims, for counting calls per access key even when the token fails.
pub fn claimed_kid(authorization: Option<&str>) -> Option<String> {
    let token = bearer(authorization).ok()?;
    let header = token.split('.').next()?;
    let header = decode_json(header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

fn decode_json(part: &str) -> Result<Map<String, Value>, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ApiError::unauthorized("malformed token"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::unauthorized("malformed token")),
    }
}

fn int_claim(claims: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    let v = claims
        .get(name)
        .ok_or_else(|| ApiError::unauthorized(format!("missing {name} claim")))?;
    v.as_i64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| ApiError::unauthorized(format!("{name} claim must be an integer")))
}

/// Verifies `Authorization` against the known keys at time `now` (seconds since epoch).
pub fn authenticate(
    authorization: Option<&str>,
    keys: &BTreeMap<String, ApiKey>,
    now: i64,
    skew_secs: i64,
) -> Result<Principal, ApiError> {
    let token = bearer(authorization)?;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::unauthorized("malformed token"));
    };
    let header = decode_json(h)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(ApiError::unauthorized("unsupported token algorithm"));
    }
    if let Some(typ) = header.get("typ")
        && !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
    {
        return Err(ApiError::unauthorized("unsupported token type"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::unauthorized("missing kid"))?;
    let key = keys
        .get(kid)
        .filter(|k| !k.revoked)
        .ok_or_else(|| ApiError::unauthorized("unknown access key"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| ApiError::unauthorized("malformed token"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.secret_key.as_bytes())
        .map_err(|_| ApiError::unauthorized("invalid signature"))?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| ApiError::unauthorized("invalid signature"))?;

    let claims = decode_json(p)?;
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss != Some(format!("{ISSUER_PREFIX}{kid}").as_str()) {
        return Err(ApiError::unauthorized("invalid iss claim"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == AUDIENCE,
        Some(Value::Array(a)) => a.iter().any(|v| v == AUDIENCE),
        _ => false,
    };
    if !aud_ok {
        return Err(ApiError::unauthorized("invalid aud claim"));
    }
    let org = claims
        .get("org")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::unauthorized("missing org claim"))?;
    let iat = int_claim(&claims, "iat")?;
    let exp = int_claim(&claims, "exp")?;
    if exp <= iat {
        return Err(ApiError::unauthorized("exp must be after iat"));
    }
    if exp - iat > MAX_LIFETIME_SECS {
        return Err(ApiError::unauthorized("token lifetime exceeds 60 seconds"));
    }
    if now > exp.saturating_add(skew_secs) {
        return Err(ApiError::unauthorized("token expired"));
    }
    if iat > now.saturating_add(skew_secs) {
        return Err(ApiError::unauthorized("token issued in the future"));
    }
    if claims.contains_key("nbf") && int_claim(&claims, "nbf")? > now.saturating_add(skew_secs) {
        return Err(ApiError::unauthorized("token not yet valid"));
    }
    if org != key.org_id {
        return Err(ApiError::forbidden(
            "access key has no access to this organization",
        ));
    }
    Ok(Principal {
        access_key: key.access_key.clone(),
        org_id: key.org_id.clone(),
        user_id: key.user_id.clone(),
        workspaces: key.workspaces.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> ApiKey {
        ApiKey {
            access_key: "mk_abcdefghijklmnopqrstuvwx".into(),
            secret_key: "s".repeat(48),
            org_id: "7b0c6a3e-2f0e-4c5e-9a57-3f1c2d4e5f60".into(),
            user_id: "u".into(),
            workspaces: None,
            revoked: false,
        }
    }

    fn mint(header: &Value, claims: &Value, secret: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
            unreachable!("hmac accepts any key length");
        });
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("Bearer {h}.{p}.{s}")
    }

    #[test]
    fn valid_token_accepted_and_tampering_refused() {
        let k = key();
        let keys = BTreeMap::from([(k.access_key.clone(), k.clone())]);
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": k.access_key});
        let claims = json!({"iss": format!("urn:meshes:m2m:{}", k.access_key), "aud": "meshes-api",
                            "org": k.org_id, "iat": 1000, "exp": 1030});
        let good = mint(&header, &claims, &k.secret_key);
        assert_eq!(
            authenticate(Some(&good), &keys, 1010, 5)
                .ok()
                .map(|p| p.org_id),
            Some(k.org_id.clone())
        );
        assert!(authenticate(Some(&good), &keys, 1036, 5).is_err());
        let forged = mint(&header, &claims, &"x".repeat(48));
        assert!(authenticate(Some(&forged), &keys, 1010, 5).is_err());
    }
}
