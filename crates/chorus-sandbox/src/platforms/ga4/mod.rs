//! The Google Analytics 4 Data API platform, under `/ga4`: `POST /ga4/v1beta/properties/{id}:runReport`
//! and the service-account token endpoint `POST /ga4/token`. Facts and sources:
//! `docs/dev/platforms/ga4-data-api.md`.
//!
//! What is emulated:
//! - Auth: a JWT signed with the bundled test key ([`service_account_json`]) is exchanged at
//!   `/ga4/token` (form body, `grant_type` jwt-bearer; RS256 signature, `iss`, `aud` = the token
//!   URI, `scope`, `iat`/`exp` within an hour all checked, with Google's `invalid_grant` texts);
//!   a minted token lives `token_ttl_secs`. `runReport` without a token, or with an unknown or
//!   expired one, gets 401 `UNAUTHENTICATED`; a token minted without an Analytics scope gets
//!   403 insufficient scopes; any property but [`PROPERTY_ID`] 403 `PERMISSION_DENIED`.
//! - `runReport`: one date range (`YYYY-MM-DD`, `NdaysAgo`, `yesterday`, `today` in the
//!   property's zone [`TIME_ZONE`]), dimensions and metrics checked against the catalogue
//!   (`Field X is not a valid dimension…`), unknown body fields refused as Google's JSON
//!   parser does, `limit` (default 10,000, capped at 250,000) and `offset`, `orderBys` on
//!   dimensions and metrics, metric values as strings typed by `metricHeaders`, `rowCount`,
//!   `metadata.currencyCode`/`timeZone`, `kind`, and `propertyQuota` when asked. An empty
//!   result has neither `rows` nor `rowCount`.
//! - Data: sessions per day from a seed (see [`dataset`]), from [`DATA_DAYS`] days before the
//!   sandbox's anchor up to today; today's and the last two days' numbers are incomplete and
//!   grow as days pass, like GA4's processing delay.
//! - Quotas: tokens per hour, day and project-hour, charged per request (more rows, columns and
//!   days cost more), and concurrent requests; exhaustion answers 429 `RESOURCE_EXHAUSTED`.
//! - Faults: `429` is "Exhausted concurrent requests quota.", `429reset` "Exhausted property
//!   tokens for a project per hour.", `500` `INTERNAL`, `503` `UNAVAILABLE`, all in Google's
//!   error envelope.
//!
//! Unverified shape choices: the tokens-per-hour and per-day 429 texts, the 400 texts for a bad
//! date, a bad property id and more than one date range (several ranges are not emulated), the
//! token cost formula, and the order of rows without `orderBys` (by dimension values).

pub mod dataset;
mod quota;
mod report;

pub use dataset::{DATA_DAYS, DIMENSIONS, Dataset, METRICS, Session, data_start};
pub(crate) use quota::Quota;
pub use quota::{Exhausted, QuotaLimits};

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use rsa::PrivateKey;
use rsa::pkcs1v15::VerifyingKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use serde_json::{Value, json};

use crate::auth::{self, TokenStore};
use crate::data::Truth;
use crate::error::SandboxError;
use crate::faults::FaultKind;
use crate::platforms::{Context, Platform};

/// The path prefix of the GA4 platform.
pub const PREFIX: &str = "/ga4";
/// The property the service account can read.
pub const PROPERTY_ID: &str = "412345678";
/// A property that exists but has not added the service account as a user.
pub const FORBIDDEN_PROPERTY_ID: &str = "487654321";
/// The property's reporting time zone.
pub const TIME_ZONE: &str = "America/New_York";
/// The property's currency.
pub const CURRENCY: &str = "USD";
/// The service account's email, the JWT's expected `iss`.
pub const SERVICE_ACCOUNT_EMAIL: &str = "chorus-ga4@chorus-sandbox.iam.gserviceaccount.com";
/// The service account key's id (the JWT header's `kid`).
pub const PRIVATE_KEY_ID: &str = "5c0d2f1e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
/// The service account's private key, PKCS#8 PEM: a test fixture, never a real credential.
pub const PRIVATE_KEY_PEM: &str = include_str!("../../../fixtures/ga4_service_account_key.pem");
/// The JWT grant type the token endpoint accepts.
pub const JWT_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The scopes that grant access to the Data API.
pub const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/analytics.readonly",
    "https://www.googleapis.com/auth/analytics",
];
/// The longest a JWT may live (`exp - iat`), in seconds.
pub const MAX_JWT_LIFETIME_SECS: u64 = 3600;

/// The token-store scope of tokens that may read reports.
const TOKEN_SCOPE: &str = "ga4";
/// The token-store scope of tokens minted without an Analytics scope.
const NO_SCOPE: &str = "ga4/no-analytics-scope";

/// A service-account key JSON for the sandbox's account, whose `token_uri` is
/// `<base_url>/ga4/token`; the fields are those of a key downloaded from the cloud console.
pub fn service_account_json(base_url: &str) -> String {
    let key = json!({
        "type": "service_account",
        "project_id": "chorus-sandbox",
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": PRIVATE_KEY_PEM,
        "client_email": SERVICE_ACCOUNT_EMAIL,
        "client_id": "100000000000000000042",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri(base_url),
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/chorus-ga4%40chorus-sandbox.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    });
    serde_json::to_string_pretty(&key).unwrap_or_default()
}

/// The token endpoint of a sandbox at `base_url` (the JWT's expected `aud`).
pub fn token_uri(base_url: &str) -> String {
    format!("{base_url}{PREFIX}/token")
}

/// Shared state of the GA4 routes.
pub(crate) struct Ga4 {
    base_url: String,
    truth: Arc<Truth>,
    tokens: Arc<TokenStore>,
    token_ttl_secs: u64,
    key: VerifyingKey<Sha256>,
    quota: Arc<Quota>,
}

/// Builds the GA4 platform.
pub(crate) fn platform(ctx: &Context) -> Result<Platform, SandboxError> {
    let private =
        PrivateKey::from_pkcs8_pem(PRIVATE_KEY_PEM).map_err(|e| SandboxError::BundledKey {
            name: "ga4 service account",
            reason: e.to_string(),
        })?;
    let state = Arc::new(Ga4 {
        base_url: ctx.base_url.clone(),
        truth: ctx.truth.clone(),
        tokens: ctx.tokens.clone(),
        token_ttl_secs: ctx.token_ttl_secs,
        key: VerifyingKey::new(private.to_public_key()),
        quota: ctx.ga4_quota.clone(),
    });
    let router = Router::new()
        .route("/v1beta/properties/{target}", post(report::run_report))
        .route("/token", post(token))
        .fallback(not_found)
        .with_state(state);
    Ok(Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(fault_response),
    })
}

/// A Google API error: `{"error": {"code", "message", "status"}}`.
#[derive(Debug)]
pub(crate) struct GoogleError {
    status: StatusCode,
    code_name: &'static str,
    message: String,
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.code_name,
        }});
        (self.status, axum::Json(body)).into_response()
    }
}

/// A Google API error with this HTTP status, `google.rpc.Code` name and message.
pub(crate) fn google_error(
    status: StatusCode,
    code_name: &'static str,
    message: &str,
) -> GoogleError {
    GoogleError {
        status,
        code_name,
        message: message.to_owned(),
    }
}

/// GA4's answers to the status-code faults (the token endpoint keeps the defaults).
fn fault_response(path: &str, kind: FaultKind) -> Option<Response> {
    if path.ends_with("/token") {
        return None;
    }
    let exhausted = |e: Exhausted| {
        google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            &e.to_string(),
        )
    };
    let error = match kind {
        FaultKind::TooManyRequests => exhausted(Exhausted::Concurrent),
        FaultKind::TooManyRequestsReset => exhausted(Exhausted::ProjectHour),
        FaultKind::InternalError => google_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Internal error encountered.",
        ),
        FaultKind::Unavailable => google_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The service is currently unavailable.",
        ),
        _ => return None,
    };
    Some(error.into_response())
}

async fn not_found() -> GoogleError {
    google_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested URL was not found on this server.",
    )
}

/// An OAuth 2.0 token-endpoint error, as Google's token endpoint sends it.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `POST /ga4/token`: exchanges a service-account JWT for an access token.
async fn token(State(state): State<Arc<Ga4>>, headers: HeaderMap, body: Bytes) -> Response {
    state.token(&headers, &body)
}

impl Ga4 {
    fn token(&self, headers: &HeaderMap, body: &Bytes) -> Response {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(body) {
            Ok(form) if is_form => form,
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request body must be application/x-www-form-urlencoded.",
                );
            }
        };
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let invalid_grant =
            |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        if get("grant_type") != Some(JWT_GRANT_TYPE) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type.",
            );
        }
        let Some(assertion) = get("assertion") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: assertion",
            );
        };
        let Ok(claims) = auth::verify_rs256(assertion, &self.key, PRIVATE_KEY_ID) else {
            return invalid_grant("Invalid JWT Signature.");
        };
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("iss") != Some(SERVICE_ACCOUNT_EMAIL) {
            return invalid_grant("Invalid email or User ID");
        }
        if text("aud") != Some(token_uri(&self.base_url).as_str()) {
            return invalid_grant("Invalid JWT: Failed audience check.");
        }
        let Some(scope) = text("scope").filter(|s| !s.trim().is_empty()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "Empty or missing scope not allowed.",
            );
        };
        let number = |name: &str| claims.get(name).and_then(Value::as_u64);
        let now = auth::now_secs();
        let timely = match (number("iat"), number("exp")) {
            (Some(iat), Some(exp)) => {
                exp > iat && exp - iat <= MAX_JWT_LIFETIME_SECS && exp > now && iat <= now + 60
            }
            _ => false,
        };
        if !timely {
            return invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                 timeframe. Check your iat and exp values in the JWT claim.",
            );
        }
        let analytics = scope.split_whitespace().any(|s| SCOPES.contains(&s));
        let ttl = self.token_ttl_secs.saturating_sub(1);
        let minted = self.tokens.mint(
            "ya29.sandbox",
            if analytics { TOKEN_SCOPE } else { NO_SCOPE },
            ttl,
        );
        (
            StatusCode::OK,
            axum::Json(json!({"access_token": minted, "expires_in": ttl, "token_type": "Bearer"})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_key_file_is_the_key_of_a_sandbox_on_port_8080() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../../fixtures/ga4_sandbox_key.json")).unwrap();
        let built: Value =
            serde_json::from_str(&service_account_json("http://127.0.0.1:8080")).unwrap();
        assert_eq!(fixture, built);
        assert!(PrivateKey::from_pkcs8_pem(PRIVATE_KEY_PEM).is_ok());
    }
}
