//! The sandbox's own routes under `/_sandbox`: the request log, the ground truth and token
//! expiry. They are never faulted and never logged; platform routes live in `platforms`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::auth::TokenStore;
use crate::data::Truth;
use crate::log::RequestLog;

/// The path prefix of the control routes.
pub(crate) const PREFIX: &str = "/_sandbox";

/// What the control routes read and reset.
#[derive(Clone)]
pub(crate) struct Control {
    pub log: Arc<RequestLog>,
    pub truth: Arc<Truth>,
    pub tokens: Arc<TokenStore>,
}

/// `GET|DELETE /_sandbox/requests`, `GET /_sandbox/truth`, `POST /_sandbox/expire_tokens`.
pub(crate) fn router(control: Control) -> Router {
    Router::new()
        .route("/requests", get(requests).delete(clear_requests))
        .route("/truth", get(truth))
        .route("/expire_tokens", post(expire_tokens))
        .with_state(control)
}

/// Whether a path belongs to the control routes.
pub(crate) fn is_control(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

async fn requests(State(c): State<Control>) -> Response {
    Json(c.log.snapshot()).into_response()
}

async fn clear_requests(State(c): State<Control>) -> StatusCode {
    c.log.clear();
    StatusCode::NO_CONTENT
}

async fn truth(State(c): State<Control>) -> Response {
    Json(c.truth.as_ref()).into_response()
}

async fn expire_tokens(State(c): State<Control>) -> StatusCode {
    c.tokens.expire_all();
    StatusCode::NO_CONTENT
}
