//! Strict machine-JWT checks: a table of bad tokens (all refused), a valid one accepted, 401 vs
//! 403, runtime key add/revoke, and the per-key counters seeing refused calls too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Api, assert_error_body, mint, mint_claims, now, parse, start};

/// (name, Authorization value, extra headers, expected status)
type Case<'a> = (&'a str, Option<String>, Vec<(&'a str, String)>, u16);

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Hand-assembled token signed with HS256 over whatever header/claims are given.
fn raw_token(header: &Value, claims: &Value, secret: &str) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_and_a_valid_token_is_accepted() {
    let emu = start().await;
    let c = emu.credentials();
    let other_org = emu.admin().add_key("11111111-2222-4333-8444-555555555555");
    let api = Api::new(&emu);
    let t = now();
    let iss = format!("urn:meshes:m2m:{}", c.access_key);
    let good_claims =
        json!({"iss": iss, "aud": "meshes-api", "org": c.org_id, "iat": t, "exp": t + 30});
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": c.access_key});
    let with = |k: &str, v: Value| {
        let mut claims = good_claims.clone();
        claims[k] = v;
        mint_claims(&c, claims)
    };
    let without = |k: &str| {
        let mut claims = good_claims.clone();
        claims.as_object_mut().unwrap().remove(k);
        mint_claims(&c, claims)
    };
    let good = raw_token(&header, &good_claims, &c.secret_key);
    let (h, p, _) = {
        let parts: Vec<&str> = good.split('.').collect();
        (
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        )
    };
    let pk = {
        let ws = api.create_workspace("Auth Table").await;
        emu.admin().publishable_key(&ws).unwrap()
    };

    // (name, Authorization header value or None, extra headers, expected status)
    let mut table: Vec<Case> = vec![
        (
            "alg none",
            Some(format!(
                "Bearer {}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT", "kid": c.access_key})),
                p
            )),
            vec![],
            401,
        ),
        (
            "RS256 header",
            Some(format!(
                "Bearer {}",
                raw_token(
                    &json!({"alg": "RS256", "typ": "JWT", "kid": c.access_key}),
                    &good_claims,
                    &c.secret_key
                )
            )),
            vec![],
            401,
        ),
        (
            "HS512 header",
            Some(format!(
                "Bearer {}",
                raw_token(
                    &json!({"alg": "HS512", "typ": "JWT", "kid": c.access_key}),
                    &good_claims,
                    &c.secret_key
                )
            )),
            vec![],
            401,
        ),
        (
            "wrong kid",
            Some(format!(
                "Bearer {}",
                raw_token(
                    &json!({"alg": "HS256", "typ": "JWT", "kid": "mk_unknownunknownunknown00"}),
                    &good_claims,
                    &c.secret_key
                )
            )),
            vec![],
            401,
        ),
        (
            "missing kid",
            Some(format!(
                "Bearer {}",
                raw_token(
                    &json!({"alg": "HS256", "typ": "JWT"}),
                    &good_claims,
                    &c.secret_key
                )
            )),
            vec![],
            401,
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                with("iss", json!("urn:meshes:m2m:mk_someoneelse000000000000"))
            )),
            vec![],
            401,
        ),
        (
            "wrong aud",
            Some(format!("Bearer {}", with("aud", json!("meshes-events")))),
            vec![],
            401,
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                mint_claims(
                    &c,
                    json!({"iss": iss, "aud": "meshes-api", "org": c.org_id, "iat": t - 120, "exp": t - 90})
                )
            )),
            vec![],
            401,
        ),
        (
            "lifetime 61 s",
            Some(format!("Bearer {}", with("exp", json!(t + 61)))),
            vec![],
            401,
        ),
        (
            "issued in the future",
            Some(format!(
                "Bearer {}",
                mint_claims(
                    &c,
                    json!({"iss": iss, "aud": "meshes-api", "org": c.org_id, "iat": t + 300, "exp": t + 330})
                )
            )),
            vec![],
            401,
        ),
        (
            "bad signature",
            Some(format!(
                "Bearer {h}.{p}.{}",
                URL_SAFE_NO_PAD.encode([7u8; 32])
            )),
            vec![],
            401,
        ),
        (
            "signed with another key's secret",
            Some(format!(
                "Bearer {}",
                raw_token(&header, &good_claims, &other_org.secret_key)
            )),
            vec![],
            401,
        ),
        (
            "missing org",
            Some(format!("Bearer {}", without("org"))),
            vec![],
            401,
        ),
        (
            "missing exp",
            Some(format!("Bearer {}", without("exp"))),
            vec![],
            401,
        ),
        (
            "missing iat",
            Some(format!("Bearer {}", without("iat"))),
            vec![],
            401,
        ),
        (
            "missing iss",
            Some(format!("Bearer {}", without("iss"))),
            vec![],
            401,
        ),
        ("malformed", Some("Bearer not.a.jwt".into()), vec![], 401),
        ("two segments", Some(format!("Bearer {h}.{p}")), vec![], 401),
        ("basic scheme", Some(format!("Basic {good}")), vec![], 401),
        ("no authorization", None, vec![], 401),
        (
            "publishable key on a management route",
            None,
            vec![("X-Meshes-Publishable-Key", pk)],
            401,
        ),
        (
            "other org claimed by a valid key",
            Some(format!("Bearer {}", with("org", json!(other_org.org_id)))),
            vec![],
            403,
        ),
    ];
    let revoked = emu.admin().add_key(&c.org_id);
    emu.admin().revoke_key(&revoked.access_key);
    table.push((
        "revoked key",
        Some(format!("Bearer {}", mint(&revoked))),
        vec![],
        401,
    ));
    assert!(table.len() >= 12);

    for (name, authz, headers, want) in &table {
        let mut rb = api.http.get(format!("{}/api/v1/workspaces", api.base));
        if let Some(a) = authz {
            rb = rb.header("Authorization", a);
        }
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        let (status, body) = parse(rb.send().await.unwrap()).await;
        assert_eq!(status, *want, "{name}: {body}");
        assert_error_body(&body);
    }
    // Positive control: the same request with the well-formed token (and the official-client
    // style token from jsonwebtoken) is accepted.
    for token in [good, mint(&c)] {
        let resp = api
            .http
            .get(format!("{}/api/v1/workspaces", api.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
}

#[tokio::test]
async fn small_clock_skew_is_tolerated() {
    let emu = start().await;
    let c = emu.credentials();
    let api = Api::new(&emu);
    let t = now();
    // Expired 3 s ago: within the default 5 s skew.
    let token = mint_claims(
        &c,
        json!({"iss": format!("urn:meshes:m2m:{}", c.access_key), "aud": "meshes-api",
                                       "org": c.org_id, "iat": t - 33, "exp": t - 3}),
    );
    let resp = api
        .http
        .get(format!("{}/api/v1/workspaces", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Positive control: expired 20 s ago is refused.
    let token = mint_claims(
        &c,
        json!({"iss": format!("urn:meshes:m2m:{}", c.access_key), "aud": "meshes-api",
                                       "org": c.org_id, "iat": t - 50, "exp": t - 20}),
    );
    let resp = api
        .http
        .get(format!("{}/api/v1/workspaces", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn keys_added_at_runtime_work_and_revoked_keys_stop_working() {
    let emu = start().await;
    let admin = emu.admin();
    let c = emu.credentials();
    let extra = admin.add_key(&c.org_id);
    assert!(extra.access_key.starts_with("mk_") && extra.secret_key.len() >= 43);
    let api = Api::with_creds(&emu, extra.clone());
    let ws = api.create_workspace("Runtime Key").await;
    // Same org: the original key sees the workspace created by the new key.
    let (s, _) = Api::new(&emu)
        .call("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    assert_eq!(s, 200);
    admin.revoke_key(&extra.access_key);
    let (s, body) = api.call("GET", "/api/v1/workspaces", None).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(admin.key_count(&extra.access_key), 2);

    // A key of a new org sees none of the first org's objects (404, not 403).
    let stranger = Api::with_creds(&emu, admin.add_key("22222222-3333-4444-8555-666666666666"));
    let (s, _) = stranger
        .call("GET", &format!("/api/v1/workspaces/{ws}"), None)
        .await;
    assert_eq!(s, 404);
    let list = stranger.ok("GET", "/api/v1/workspaces", None).await;
    assert_eq!(list["count"], 0);
}
