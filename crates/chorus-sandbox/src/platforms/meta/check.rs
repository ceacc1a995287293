//! `check` support: `GET /me`, `GET /me/permissions` and `GET /debug_token`.

use serde_json::{Value, json};

use super::graph::GraphError;
use super::{APP_ID, PAGE_ID, Req, SCOPES, USER_ID, scopes_of};
use crate::auth;

/// `GET /me`: the token's user.
pub(super) fn me() -> Value {
    json!({"name": "Chorus Sandbox User", "id": USER_ID})
}

/// `GET /me/permissions`: every permission with `granted` or `declined`.
pub(super) fn permissions(req: &Req) -> Value {
    let data: Vec<Value> = SCOPES
        .iter()
        .map(|scope| {
            let status = if req.has(scope) {
                "granted"
            } else {
                "declined"
            };
            json!({"permission": scope, "status": status})
        })
        .collect();
    json!({ "data": data })
}

/// `GET /debug_token?input_token=`: what the inspected token may do.
pub(super) fn debug_token(req: &Req) -> Result<Value, GraphError> {
    let input = req
        .params
        .get("input_token")
        .ok_or_else(|| GraphError::param("The parameter input_token is required"))?;
    let Some(scopes) = scopes_of(input) else {
        return Ok(json!({"data": {
            "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
            "is_valid": false,
            "scopes": [],
        }}));
    };
    let now = i64::try_from(auth::now_secs()).unwrap_or(0);
    let granular: Vec<Value> = scopes
        .iter()
        .filter(|s| {
            s.starts_with("pages_") || s.starts_with("instagram_") || **s == "read_insights"
        })
        .map(|s| json!({"scope": s, "target_ids": [PAGE_ID]}))
        .collect();
    Ok(json!({"data": {
        "app_id": APP_ID,
        "type": "USER",
        "application": "chorus sandbox",
        "data_access_expires_at": now + 90 * 86_400,
        "expires_at": 0,
        "is_valid": true,
        "issued_at": now - 86_400,
        "scopes": scopes,
        "granular_scopes": granular,
        "user_id": USER_ID,
    }}))
}
