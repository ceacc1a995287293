//! The reference platform, under `/ref`: one list of items served through every paginator and
//! every auth variant the client kit supports, so the kit can be tested against each.
//!
//! | endpoint | auth | paginator |
//! |---|---|---|
//! | `GET /ref/v1/next_url` | `access_token` query parameter | next URL in the body (Graph) |
//! | `GET /ref/v1/cursor` | bearer [`TOKEN`] | cursor in the body, `""` at the end (Slack) |
//! | `GET /ref/v1/link` | basic [`BASIC_USER`]:[`BASIC_PASSWORD`] | `Link: rel="next"` header (GitHub) |
//! | `GET /ref/v1/offset` | bearer token from `POST /ref/oauth/token` (refresh token) | offset/limit with `rowCount` (GA4) |
//! | `GET /ref/v1/pages` | bearer token from `POST /ref/token` (service-account JWT) | page number with `total_pages` |
//!
//! Every list endpoint filters on `updated_at` with `since` (inclusive) and `until` (exclusive)
//! and refuses page sizes above [`MAX_PAGE_SIZE`]. Every response carries `x-rate-limit-limit`,
//! `x-rate-limit-remaining` and `x-rate-limit-reset`.
//!
//! This file holds the constants (credentials included), the shared state, the credential
//! checks and the error bodies; `items` the rows, `lists` the five list endpoints, `tokens` the
//! two token endpoints and the service-account key file.

mod items;
mod lists;
mod tokens;

pub use items::{Counted, Dataset, Item, Score, Stats, Summary};
pub use tokens::{service_account_json, token_uri};

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rsa::PrivateKey;
use rsa::pkcs1v15::VerifyingKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::{self, TokenStatus, TokenStore};
use crate::data::Truth;
use crate::error::SandboxError;
use crate::faults::{self, FaultKind};
use crate::platforms::{Context, Platform};

/// The path prefix of the reference platform.
pub const PREFIX: &str = "/ref";
/// The valid token for `/v1/next_url` (query parameter) and `/v1/cursor` (bearer).
pub const TOKEN: &str = "sandbox-ref-token-5b2c9e71";
/// The valid basic-auth user for `/v1/link`.
pub const BASIC_USER: &str = "sandbox-user";
/// The valid basic-auth password for `/v1/link`.
pub const BASIC_PASSWORD: &str = "sandbox-password-7f3a0d";
/// The valid refresh token for `POST /ref/oauth/token`.
pub const REFRESH_TOKEN: &str = "sandbox-refresh-token-91d2c4";
/// The valid OAuth client id for `POST /ref/oauth/token`.
pub const CLIENT_ID: &str = "sandbox-client-id";
/// The valid OAuth client secret for `POST /ref/oauth/token`.
pub const CLIENT_SECRET: &str = "sandbox-client-secret-4e8b16";
/// The service account's email, the JWT's expected `iss`.
pub const SERVICE_ACCOUNT_EMAIL: &str = "chorus-sandbox@chorus-sandbox.iam.gserviceaccount.com";
/// The service account key's id (the JWT header's `kid`, when present).
pub const PRIVATE_KEY_ID: &str = "a47f071a6ebd70efda0c2342e46497086011a331";
/// The service account's private key, PKCS#8 PEM: a test fixture, never a real credential.
pub const PRIVATE_KEY_PEM: &str =
    include_str!("../../../fixtures/reference_service_account_key.pem");
/// The service account's project.
pub const PROJECT_ID: &str = "chorus-sandbox";
/// The JWT grant type `POST /ref/token` accepts.
pub const JWT_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Requests per rate-limit window, as announced in `x-rate-limit-limit` (not enforced).
pub const RATE_LIMIT: u64 = 600;
/// The length of a rate-limit window in seconds.
pub const RATE_WINDOW_SECS: u64 = 60;
/// The page size when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 25;
/// The largest page size accepted.
pub const MAX_PAGE_SIZE: usize = 100;
/// Items per unit of scale.
pub const ITEMS_PER_SCALE: usize = 100;
/// The id of the first item (2^53 + 1, so ids lose precision as JSON numbers).
pub const FIRST_ID: u64 = 9_007_199_254_740_993;
/// The step between consecutive item ids.
pub const ID_STEP: u64 = 7919;
/// The earliest `updated_at` (2024-01-01T00:00:00Z).
pub const UPDATED_FROM: i64 = 1_704_067_200;
/// The end (exclusive) of the `updated_at` range (2024-04-01T00:00:00Z).
pub const UPDATED_UNTIL: i64 = 1_711_929_600;
/// The longest a JWT may live (`exp - iat`), in seconds.
pub const MAX_JWT_LIFETIME_SECS: u64 = 3600;

const OAUTH_SCOPE: &str = "ref/oauth";
const JWT_SCOPE: &str = "ref/jwt";

/// Shared state of the reference routes.
struct Ref {
    base_url: String,
    truth: Arc<Truth>,
    tokens: Arc<TokenStore>,
    token_ttl_secs: u64,
    key: VerifyingKey<Sha256>,
    window: Mutex<(u64, u64)>,
}

/// Builds the reference platform.
pub(crate) fn platform(ctx: &Context) -> Result<Platform, SandboxError> {
    let private =
        PrivateKey::from_pkcs8_pem(PRIVATE_KEY_PEM).map_err(|e| SandboxError::BundledKey {
            name: "reference service account",
            reason: e.to_string(),
        })?;
    let state = Arc::new(Ref {
        base_url: ctx.base_url.clone(),
        truth: ctx.truth.clone(),
        tokens: ctx.tokens.clone(),
        token_ttl_secs: ctx.token_ttl_secs,
        key: VerifyingKey::new(private.to_public_key()),
        window: Mutex::new((0, 0)),
    });
    let router = Router::new()
        .route("/v1/next_url", get(lists::next_url))
        .route("/v1/cursor", get(lists::cursor))
        .route("/v1/link", get(lists::link))
        .route("/v1/offset", get(lists::offset))
        .route("/v1/pages", get(lists::pages))
        .route("/oauth/token", post(tokens::oauth_token))
        .route("/token", post(tokens::jwt_token))
        .layer(map_response_with_state(state.clone(), with_rate_headers))
        .with_state(state.clone());
    Ok(Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(move |_path, kind| state.fault_response(kind)),
    })
}

impl Ref {
    /// Counts one response in the current window and returns the three rate-limit headers.
    fn rate_headers(&self, throttled: bool) -> [(HeaderName, HeaderValue); 3] {
        let now = auth::now_secs();
        let window_start = now - now % RATE_WINDOW_SECS;
        let used = {
            let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
            if window.0 != window_start {
                *window = (window_start, 0);
            }
            window.1 += 1;
            window.1
        };
        let remaining = if throttled {
            0
        } else {
            RATE_LIMIT.saturating_sub(used)
        };
        [
            (
                HeaderName::from_static("x-rate-limit-limit"),
                HeaderValue::from(RATE_LIMIT),
            ),
            (
                HeaderName::from_static("x-rate-limit-remaining"),
                HeaderValue::from(remaining),
            ),
            (
                HeaderName::from_static("x-rate-limit-reset"),
                HeaderValue::from(window_start + RATE_WINDOW_SECS),
            ),
        ]
    }

    /// The reference platform's response to a status-code fault.
    fn fault_response(&self, kind: FaultKind) -> Option<Response> {
        let mut response = if kind == FaultKind::TooManyRequests {
            let body = json!({"error": {
                "message": "Rate limit exceeded. Retry after 1 second.",
                "type": "RateLimitException",
                "code": 429,
            }});
            let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        } else if kind == FaultKind::TooManyRequestsReset {
            // Its own reset header, a second ahead, stands instead of the window's.
            return faults::default_response(kind);
        } else {
            faults::default_response(kind)?
        };
        let throttled = matches!(kind, FaultKind::TooManyRequests | FaultKind::Throttle400);
        response.headers_mut().extend(self.rate_headers(throttled));
        Some(response)
    }

    /// Checks one endpoint's credential.
    fn authorize(&self, credential: Credential, headers: &HeaderMap, params: &Params) -> Checked {
        let ok = match credential {
            Credential::QueryToken => params.get("access_token") == Some(TOKEN),
            Credential::StaticBearer => auth::bearer_token(headers) == Some(TOKEN),
            Credential::Basic => auth::basic_credentials(headers)
                .is_some_and(|(user, password)| user == BASIC_USER && password == BASIC_PASSWORD),
            Credential::Minted(scope) => {
                match auth::bearer_token(headers).map(|token| self.tokens.check(token, scope)) {
                    Some(TokenStatus::Valid) => true,
                    Some(TokenStatus::Expired) => return Err(session_expired()),
                    Some(TokenStatus::Unknown) | None => false,
                }
            }
        };
        if ok { Ok(()) } else { Err(invalid_token()) }
    }

    /// The items matching the request's `since`/`until`.
    fn rows(&self, params: &Params) -> Result<&[Item], Reject> {
        let since = params.int::<i64>("since", "a unix timestamp")?;
        let until = params.int::<i64>("until", "a unix timestamp")?;
        Ok(self.truth.reference.between(since, until))
    }

    /// An absolute URL of `path` with `params`.
    fn url(&self, path: &str, params: &[(String, String)]) -> String {
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        format!("{}{PREFIX}{path}?{query}", self.base_url)
    }
}

/// Which credential an endpoint wants.
#[derive(Debug, Clone, Copy)]
enum Credential {
    /// `access_token` query parameter equal to [`TOKEN`].
    QueryToken,
    /// `Authorization: Bearer` [`TOKEN`].
    StaticBearer,
    /// HTTP basic [`BASIC_USER`]:[`BASIC_PASSWORD`].
    Basic,
    /// A bearer token minted for this scope.
    Minted(&'static str),
}

/// A check that either passes or already is the error response.
type Checked = Result<(), Reject>;

async fn with_rate_headers(State(state): State<Arc<Ref>>, mut response: Response) -> Response {
    response.headers_mut().extend(state.rate_headers(false));
    response
}

/// Decoded query parameters, in order.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<&str>) -> Result<Self, Reject> {
        serde_urlencoded::from_str(raw.unwrap_or(""))
            .map(Params)
            .map_err(|_| invalid_parameter("the query string is malformed".to_owned()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An optional integer parameter; `what` names the expected kind in the error.
    fn int<T: FromStr>(&self, name: &str, what: &str) -> Result<Option<T>, Reject> {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| invalid_parameter(format!("{name} must be {what}")))
            })
            .transpose()
    }

    /// A positive integer parameter with a default.
    fn positive(&self, name: &str, default: usize) -> Result<usize, Reject> {
        match self.int::<usize>(name, "a positive integer")? {
            None => Ok(default),
            Some(0) => Err(invalid_parameter(format!(
                "{name} must be a positive integer"
            ))),
            Some(n) => Ok(n),
        }
    }

    /// The page size parameter `name`: default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`].
    fn page_size(&self, name: &str) -> Result<usize, Reject> {
        let size = self.positive(name, DEFAULT_PAGE_SIZE)?;
        if size > MAX_PAGE_SIZE {
            return Err(invalid_parameter(format!(
                "{name} must be at most {MAX_PAGE_SIZE}"
            )));
        }
        Ok(size)
    }

    /// Every parameter except `names`.
    fn without(&self, names: &[&str]) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// An error answer: a status and a JSON body.
#[derive(Debug)]
struct Reject {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body)
    }
}

/// Answers with whichever of the two the handler produced.
fn respond(result: Result<Response, Reject>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

/// 400 with a Graph-style parameter error (code 100).
fn invalid_parameter(message: String) -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": {"message": message, "code": 100}}),
    }
}

/// 401 for a wrong or missing credential (code 190).
fn invalid_token() -> Reject {
    Reject {
        status: StatusCode::UNAUTHORIZED,
        body: json!({"error": {
            "message": "Invalid OAuth access token.",
            "type": "OAuthException",
            "code": 190,
        }}),
    }
}

/// 401 for an expired minted token (code 190, subcode 463 as Graph sends it).
fn session_expired() -> Reject {
    Reject {
        status: StatusCode::UNAUTHORIZED,
        body: json!({"error": {
            "message": "Error validating access token: Session has expired.",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        }}),
    }
}

/// An RFC 6749 / Google token-endpoint error.
fn oauth2_error(status: StatusCode, error: &str, description: &str) -> Reject {
    Reject {
        status,
        body: json!({"error": error, "error_description": description}),
    }
}
