//! Every auth variant accepts the right credential and refuses a wrong or missing one.

use std::time::Duration;

use chorus_sandbox::SandboxConfig;
use chorus_sandbox::platforms::reference;
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::{
    client, exchange_jwt, jwt_access_token, oauth_access_token, refresh, start, start_with,
    valid_claims,
};

async fn assert_invalid_token(request: RequestBuilder) {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("x-rate-limit-remaining"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_code_190() {
    let sandbox = start(1, 1).await;
    let client = client();
    let url = |path: &str| sandbox.url(path);

    // Query-parameter token.
    assert_invalid_token(client.get(url("/ref/v1/next_url"))).await;
    assert_invalid_token(
        client
            .get(url("/ref/v1/next_url"))
            .query(&[("access_token", "wrong")]),
    )
    .await;
    // The right token in the wrong place.
    assert_invalid_token(
        client
            .get(url("/ref/v1/next_url"))
            .bearer_auth(reference::TOKEN),
    )
    .await;

    // Bearer.
    assert_invalid_token(client.get(url("/ref/v1/cursor"))).await;
    assert_invalid_token(client.get(url("/ref/v1/cursor")).bearer_auth("wrong")).await;
    assert_invalid_token(
        client
            .get(url("/ref/v1/cursor"))
            .query(&[("access_token", reference::TOKEN)]),
    )
    .await;

    // Basic.
    assert_invalid_token(client.get(url("/ref/v1/link"))).await;
    assert_invalid_token(
        client
            .get(url("/ref/v1/link"))
            .basic_auth(reference::BASIC_USER, Some("wrong")),
    )
    .await;
    assert_invalid_token(
        client
            .get(url("/ref/v1/link"))
            .bearer_auth(reference::BASIC_PASSWORD),
    )
    .await;

    // Minted tokens: the static token is not one, and each is scoped to its endpoint.
    let oauth = oauth_access_token(&sandbox).await;
    let jwt = jwt_access_token(&sandbox).await;
    for path in ["/ref/v1/offset", "/ref/v1/pages"] {
        assert_invalid_token(client.get(url(path))).await;
        assert_invalid_token(client.get(url(path)).bearer_auth(reference::TOKEN)).await;
    }
    assert_invalid_token(client.get(url("/ref/v1/offset")).bearer_auth(&jwt)).await;
    assert_invalid_token(client.get(url("/ref/v1/pages")).bearer_auth(&oauth)).await;
    let ok = client
        .get(url("/ref/v1/offset"))
        .bearer_auth(&oauth)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn refresh_token_exchange_errors_follow_rfc_6749() {
    let sandbox = start(1, 1).await;
    let response = refresh(&sandbox, "wrong", reference::CLIENT_SECRET).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let response = refresh(&sandbox, reference::REFRESH_TOKEN, "wrong").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let client = client();
    let response = client
        .post(sandbox.url("/ref/oauth/token"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    // A JSON body is not a form.
    let response = client
        .post(sandbox.url("/ref/oauth/token"))
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // Client credentials in a basic header are accepted too.
    let response = client
        .post(sandbox.url("/ref/oauth/token"))
        .basic_auth(reference::CLIENT_ID, Some(reference::CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", reference::REFRESH_TOKEN),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn jwt_exchange_verifies_signature_issuer_audience_and_times() {
    let sandbox = start(1, 1).await;
    let invalid_grant =
        |description: &str| json!({"error": "invalid_grant", "error_description": description});

    // A valid JWT whose claims were altered after signing.
    let key_json = reference::service_account_json(sandbox.base_url());
    let jwt = crate::sign_jwt(&key_json, &valid_claims(&sandbox));
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut forged = valid_claims(&sandbox);
    forged["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        forged.to_string(),
    );
    let response = client()
        .post(reference::token_uri(sandbox.base_url()))
        .form(&[
            ("grant_type", reference::JWT_GRANT_TYPE),
            ("assertion", parts.join(".").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, invalid_grant("Invalid JWT Signature."));

    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "iss",
            json!("someone@else.iam.gserviceaccount.com"),
            invalid_grant("Invalid email or User ID"),
        ),
        (
            "aud",
            json!("https://oauth2.googleapis.com/token"),
            invalid_grant("Invalid JWT: Failed audience check."),
        ),
        (
            "exp",
            json!(crate::now() - 10),
            invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                 timeframe. Check your iat and exp values in the JWT claim.",
            ),
        ),
        (
            "exp",
            json!(crate::now() + 7200),
            invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                 timeframe. Check your iat and exp values in the JWT claim.",
            ),
        ),
        (
            "scope",
            Value::Null,
            json!({"error": "invalid_scope", "error_description": "Empty or missing scope not allowed."}),
        ),
    ];
    for (claim, value, want) in cases {
        let mut claims = valid_claims(&sandbox);
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(claim);
        } else {
            claims[claim] = value;
        }
        let response = exchange_jwt(&sandbox, &claims).await;
        assert_eq!(response.status(), 400, "{claim}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, want, "{claim}");
    }

    // Garbage and a wrong grant type.
    let client = client();
    let response = client
        .post(reference::token_uri(sandbox.base_url()))
        .form(&[
            ("grant_type", reference::JWT_GRANT_TYPE),
            ("assertion", "not.a.jwt"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .post(reference::token_uri(sandbox.base_url()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn minted_tokens_expire() {
    let sandbox = start(1, 1).await;
    let client = client();
    let oauth = oauth_access_token(&sandbox).await;
    let jwt = jwt_access_token(&sandbox).await;
    sandbox.expire_tokens();
    for (path, token) in [("/ref/v1/offset", &oauth), ("/ref/v1/pages", &jwt)] {
        let response = client
            .get(sandbox.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["error_subcode"], 463);
    }
    // A fresh exchange works again.
    let fresh = oauth_access_token(&sandbox).await;
    let response = client
        .get(sandbox.url("/ref/v1/offset"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn tokens_expire_after_expires_in() {
    let sandbox = start_with(SandboxConfig {
        token_ttl_secs: 1,
        ..SandboxConfig::default()
    })
    .await;
    let response = refresh(&sandbox, reference::REFRESH_TOKEN, reference::CLIENT_SECRET).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let response = client()
        .get(sandbox.url("/ref/v1/offset"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn every_response_carries_rate_limit_headers() {
    let sandbox = start(1, 1).await;
    let client = client();
    let before = crate::now();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = client
            .get(sandbox.url("/ref/v1/cursor"))
            .bearer_auth(reference::TOKEN)
            .send()
            .await
            .unwrap();
        let header =
            |name: &str| -> u64 { response.headers()[name].to_str().unwrap().parse().unwrap() };
        assert_eq!(header("x-rate-limit-limit"), reference::RATE_LIMIT);
        assert!(header("x-rate-limit-reset") > before);
        assert!(header("x-rate-limit-reset") <= before + reference::RATE_WINDOW_SECS + 1);
        remaining.push(header("x-rate-limit-remaining"));
    }
    // Remaining counts down within a window (it may reset once if a window boundary passes).
    assert!(remaining[0] < reference::RATE_LIMIT);
    assert!(remaining.windows(2).filter(|w| w[1] >= w[0]).count() <= 1);
    let response = refresh(&sandbox, "wrong", "wrong").await;
    assert!(response.headers().contains_key("x-rate-limit-limit"));
}
