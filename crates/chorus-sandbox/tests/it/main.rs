//! Integration tests of the sandbox over real HTTP: paging, auth, faults and the request log.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod auth;
mod faults;
mod ga4;
mod log;
mod meta_ads;
mod meta_instagram;
mod meta_pages;
mod paging;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chorus_sandbox::platforms::reference;
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// A sandbox with the given seed and scale and no faults.
async fn start(seed: u64, scale: u32) -> Sandbox {
    start_with(SandboxConfig {
        seed,
        scale,
        ..SandboxConfig::default()
    })
    .await
}

/// A sandbox with one fault spec.
async fn start_faulty(seed: u64, faults: &str) -> Sandbox {
    start_with(SandboxConfig {
        seed,
        faults: FaultSpec::parse(faults).unwrap(),
        ..SandboxConfig::default()
    })
    .await
}

async fn start_with(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.unwrap()
}

/// A client that never uses a proxy.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .user_agent("chorus-sandbox-tests")
        .build()
        .unwrap()
}

/// Sends a request and parses its JSON body.
async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The expected items of the reference platform for a window, as JSON.
fn expected(sandbox: &Sandbox, since: Option<i64>, until: Option<i64>) -> Vec<Value> {
    sandbox
        .truth()
        .reference
        .between(since, until)
        .iter()
        .map(|item| serde_json::to_value(item).unwrap())
        .collect()
}

/// `since`/`until` as query pairs.
fn window(since: Option<i64>, until: Option<i64>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Some(since) = since {
        pairs.push(("since".to_owned(), since.to_string()));
    }
    if let Some(until) = until {
        pairs.push(("until".to_owned(), until.to_string()));
    }
    pairs
}

/// Signs a JWT with the service-account key found in `key_json`, as a client would.
fn sign_jwt(key_json: &str, claims: &Value) -> String {
    let key: Value = serde_json::from_str(key_json).unwrap();
    let private = rsa::PrivateKey::from_pkcs8_pem(key["private_key"].as_str().unwrap()).unwrap();
    let signer = SigningKey::<Sha256>::new(private);
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.sign(signing_input.as_bytes()).to_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Valid claims for the sandbox's service account.
fn valid_claims(sandbox: &Sandbox) -> Value {
    let key: Value =
        serde_json::from_str(&reference::service_account_json(sandbox.base_url())).unwrap();
    let iat = now();
    json!({
        "iss": key["client_email"],
        "scope": "https://www.googleapis.com/auth/analytics.readonly",
        "aud": key["token_uri"],
        "iat": iat,
        "exp": iat + 3600,
    })
}

/// Exchanges a JWT with `claims` at the token endpoint.
async fn exchange_jwt(sandbox: &Sandbox, claims: &Value) -> reqwest::Response {
    let key_json = reference::service_account_json(sandbox.base_url());
    let jwt = sign_jwt(&key_json, claims);
    client()
        .post(reference::token_uri(sandbox.base_url()))
        .form(&[
            ("grant_type", reference::JWT_GRANT_TYPE),
            ("assertion", jwt.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

/// An access token for `/ref/v1/pages`.
async fn jwt_access_token(sandbox: &Sandbox) -> String {
    let response = exchange_jwt(sandbox, &valid_claims(sandbox)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    body["access_token"].as_str().unwrap().to_owned()
}

/// Exchanges a refresh token with the given client credentials.
async fn refresh(sandbox: &Sandbox, refresh_token: &str, client_secret: &str) -> reqwest::Response {
    client()
        .post(sandbox.url("/ref/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", reference::CLIENT_ID),
            ("client_secret", client_secret),
        ])
        .send()
        .await
        .unwrap()
}

/// An access token for `/ref/v1/offset`.
async fn oauth_access_token(sandbox: &Sandbox) -> String {
    let response = refresh(sandbox, reference::REFRESH_TOKEN, reference::CLIENT_SECRET).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    body["access_token"].as_str().unwrap().to_owned()
}
