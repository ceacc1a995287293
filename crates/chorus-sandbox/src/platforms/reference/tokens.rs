//! The reference platform's token endpoints (refresh token and service-account JWT) and the
//! service-account key file that goes with them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    CLIENT_ID, CLIENT_SECRET, JWT_GRANT_TYPE, JWT_SCOPE, MAX_JWT_LIFETIME_SECS, OAUTH_SCOPE,
    PREFIX, PRIVATE_KEY_ID, PRIVATE_KEY_PEM, PROJECT_ID, Params, REFRESH_TOKEN, Ref, Reject,
    SERVICE_ACCOUNT_EMAIL, json_response, oauth2_error, respond,
};
use crate::auth;

/// A Google service-account key JSON for the sandbox's account, whose `token_uri` is
/// `<base_url>/ref/token`.
pub fn service_account_json(base_url: &str) -> String {
    let key = json!({
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": PRIVATE_KEY_PEM,
        "client_email": SERVICE_ACCOUNT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": format!("{base_url}{PREFIX}/auth"),
        "token_uri": token_uri(base_url),
        "universe_domain": "googleapis.com",
    });
    serde_json::to_string_pretty(&key).unwrap_or_default()
}

/// The JWT exchange endpoint for a sandbox at `base_url` (the JWT's expected `aud`).
pub fn token_uri(base_url: &str) -> String {
    format!("{base_url}{PREFIX}/token")
}

/// The fields of a form body, or the token-endpoint error for a body that is not a form.
fn form(headers: &HeaderMap, body: &Bytes) -> Result<Params, Reject> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let invalid = || {
        oauth2_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body must be application/x-www-form-urlencoded.",
        )
    };
    if !is_form {
        return Err(invalid());
    }
    serde_urlencoded::from_bytes(body)
        .map(Params)
        .map_err(|_| invalid())
}

/// `POST /ref/oauth/token`: exchanges a refresh token for an access token (RFC 6749 §6).
pub(super) async fn oauth_token(
    State(state): State<Arc<Ref>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(oauth_token_page(&state, &headers, &body))
}

fn oauth_token_page(state: &Ref, headers: &HeaderMap, body: &Bytes) -> Result<Response, Reject> {
    let form = form(headers, body)?;
    if form.get("grant_type") != Some("refresh_token") {
        return Err(oauth2_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be refresh_token.",
        ));
    }
    // Client credentials in the form, or (RFC 6749 §2.3.1) in a basic header.
    let client = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.to_owned(), secret.to_owned())),
        _ => auth::basic_credentials(headers),
    };
    if client
        .as_ref()
        .map(|(id, secret)| (id.as_str(), secret.as_str()))
        != Some((CLIENT_ID, CLIENT_SECRET))
    {
        return Err(oauth2_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        ));
    }
    if form.get("refresh_token") != Some(REFRESH_TOKEN) {
        return Err(oauth2_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The refresh token is invalid or expired.",
        ));
    }
    let ttl = state.token_ttl_secs;
    let token = state.tokens.mint("ref-oauth", OAUTH_SCOPE, ttl);
    Ok(json_response(
        StatusCode::OK,
        &json!({"access_token": token, "token_type": "bearer", "expires_in": ttl}),
    ))
}

/// `POST /ref/token`: exchanges a service-account JWT for an access token, as Google does.
pub(super) async fn jwt_token(
    State(state): State<Arc<Ref>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(jwt_token_page(&state, &headers, &body))
}

fn jwt_token_page(state: &Ref, headers: &HeaderMap, body: &Bytes) -> Result<Response, Reject> {
    let form = form(headers, body)?;
    let invalid_grant =
        |description: &str| oauth2_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
    if form.get("grant_type") != Some(JWT_GRANT_TYPE) {
        return Err(oauth2_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type.",
        ));
    }
    let Some(assertion) = form.get("assertion") else {
        return Err(oauth2_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        ));
    };
    let claims = auth::verify_rs256(assertion, &state.key, PRIVATE_KEY_ID)
        .map_err(|_| invalid_grant("Invalid JWT Signature."))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(SERVICE_ACCOUNT_EMAIL) {
        return Err(invalid_grant("Invalid email or User ID"));
    }
    if text("aud") != Some(token_uri(&state.base_url).as_str()) {
        return Err(invalid_grant("Invalid JWT: Failed audience check."));
    }
    if text("scope").is_none_or(|s| s.trim().is_empty()) {
        return Err(oauth2_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Empty or missing scope not allowed.",
        ));
    }
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let now = auth::now_secs();
    let timely = match (number("iat"), number("exp")) {
        (Some(iat), Some(exp)) => {
            exp > iat && exp - iat <= MAX_JWT_LIFETIME_SECS && exp > now && iat <= now + 60
        }
        _ => false,
    };
    if !timely {
        return Err(invalid_grant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    let ttl = state.token_ttl_secs.saturating_sub(1);
    let token = state.tokens.mint("ref-jwt", JWT_SCOPE, ttl);
    Ok(json_response(
        StatusCode::OK,
        &json!({"access_token": token, "expires_in": ttl, "token_type": "Bearer"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::PrivateKey;
    use rsa::pkcs8::DecodePrivateKey;

    #[test]
    fn bundled_key_parses_and_matches_the_service_account() {
        assert!(PrivateKey::from_pkcs8_pem(PRIVATE_KEY_PEM).is_ok());
        let key: Value = serde_json::from_str(&service_account_json("http://x")).unwrap();
        assert_eq!(key["type"], "service_account");
        assert_eq!(key["token_uri"], "http://x/ref/token");
        assert_eq!(key["client_email"], SERVICE_ACCOUNT_EMAIL);
        assert_eq!(key["private_key"], PRIVATE_KEY_PEM);
    }
}
