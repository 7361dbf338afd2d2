//! Test helpers: start an emulator, mint machine JWTs (with `jsonwebtoken`, independent of the
//! server's hand-written verifier), and call the API over real loopback HTTP.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use meshes_emulator::{Credentials, Emulator, EmulatorConfig};
use serde_json::{Value, json};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token exactly as the official clients mint it (30 s lifetime).
pub fn mint(c: &Credentials) -> String {
    let iat = now();
    mint_claims(
        c,
        json!({ "iss": format!("urn:meshes:m2m:{}", c.access_key), "aud": "meshes-api",
                            "org": c.org_id, "iat": iat, "exp": iat + 30 }),
    )
}

/// A correctly signed token with arbitrary claims.
pub fn mint_claims(c: &Credentials, claims: Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(c.access_key.clone());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(c.secret_key.as_bytes()),
    )
    .unwrap()
}

pub async fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).await.unwrap()
}

/// HTTP client bound to one emulator and one credential.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub creds: Credentials,
    pub user_agent: String,
}

impl Api {
    pub fn new(emu: &Emulator) -> Self {
        Self::with_creds(emu, emu.credentials())
    }

    pub fn with_creds(emu: &Emulator, creds: Credentials) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: emu.base_url(),
            creds,
            user_agent: "emulator-tests/1.0".into(),
        }
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http
            .request(m, format!("{}{}", self.base, path))
            .header("User-Agent", &self.user_agent)
            .bearer_auth(mint(&self.creds))
    }

    /// Sends `body` as JSON (if any) and returns status + parsed JSON (Null when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        parse(resp).await
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body).await;
        assert!((200..300).contains(&s), "{method} {path} -> {s} {v}");
        v
    }

    pub async fn create_workspace(&self, name: &str) -> String {
        let v = self
            .ok("POST", "/api/v1/workspaces", Some(json!({ "name": name })))
            .await;
        v["workspace"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_webhook(&self, ws: &str, name: &str) -> String {
        let v = self
            .ok(
                "POST",
                "/api/v1/connections",
                Some(json!({ "workspace": ws, "type": "webhook", "name": name,
                             "metadata": { "url": "https://example.com/hook" } })),
            )
            .await;
        v["connection"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_rule(&self, ws: &str, conn: &str, event: &str) -> String {
        let v = self
            .ok(
                "POST",
                "/api/v1/rules",
                Some(json!({ "workspace": ws, "connection": conn, "event": event,
                             "metadata": { "action": "send_webhook" } })),
            )
            .await;
        v["rule"]["id"].as_str().unwrap().to_owned()
    }
}

pub async fn parse(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// Asserts the Meshes error body shape and returns `error.message`.
pub fn assert_error_body(v: &Value) -> String {
    assert!(v["message"].is_string(), "no message in {v}");
    assert!(v["error"]["name"].is_string(), "no error.name in {v}");
    v["error"]["message"].as_str().unwrap().to_owned()
}
