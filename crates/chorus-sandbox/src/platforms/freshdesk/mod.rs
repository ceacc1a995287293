//! The Freshdesk API v2, under `/freshdesk` (so `{base}/freshdesk/api/v2/tickets` stands for
//! `https://{domain}.freshdesk.com/api/v2/tickets`). Facts and sources:
//! `docs/dev/platforms/freshdesk-api.md`.
//!
//! What is emulated:
//! - Auth: HTTP Basic with the API key as the user and any password (`X` by convention);
//!   anything else is HTTP 401 `{"code":"invalid_credentials",…}`.
//! - `GET /api/v2/tickets`: `updated_since` (inclusive; without it, only tickets created in
//!   the last 30 days), `order_by` (`created_at`, `due_by`, `updated_at`, `status`),
//!   `order_type` (`asc`, `desc`; default `desc`), `include=stats`, `per_page` (1–100,
//!   default 30), `page` (1–300; beyond is a 400), a bare JSON array, and
//!   `Link: <…>; rel="next"` while more pages exist.
//! - `GET /api/v2/tickets/{id}/conversations`: the same paging, oldest first; an unknown
//!   ticket is a 404.
//! - `GET /api/v2/surveys/satisfaction_ratings`: `created_since` (without it, the last 30
//!   days), the same paging.
//! - Unknown parameters and bad values are Freshdesk's 400 `Validation failed` body.
//! - Rate limits: `X-RateLimit-Total`, `X-RateLimit-Remaining` and
//!   `X-RateLimit-Used-CurrentRequest` on every response; the `429` fault carries
//!   `Retry-After`.
//!
//! Simplifications: the per-minute limit is reported, not enforced; deleted and spam tickets
//! are not generated.

pub mod dataset;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate};
use serde_json::{Value, json};

use crate::auth;
use crate::data::Truth;
use crate::faults::FaultKind;
use crate::platforms::{Context, Platform};
pub use dataset::{
    Conversation, DATA_DAYS, Dataset, Rating, SOCIAL_SOURCES, SOURCES, Ticket, data_start,
};

/// The path prefix of the Freshdesk platform.
pub const PREFIX: &str = "/freshdesk";
/// A valid API key.
pub const API_KEY: &str = "FdSandboxKey0chorus8Hn3Rx";
/// The requests per minute the account reports (Enterprise).
pub const RATE_LIMIT: u32 = 700;
/// The most pages a list goes to.
pub const MAX_PAGE: usize = 300;
/// The most items per page.
pub const MAX_PER_PAGE: usize = 100;
/// Items per page when `per_page` is absent.
pub const DEFAULT_PER_PAGE: usize = 30;

struct Freshdesk {
    truth: Arc<Truth>,
    base_url: String,
}

/// One entry of a `Validation failed` body.
struct Invalid {
    field: String,
    message: String,
    code: &'static str,
}

fn validation(errors: Vec<Invalid>) -> Response {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|e| json!({"field": e.field, "message": e.message, "code": e.code}))
        .collect();
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"description": "Validation failed", "errors": errors})),
    )
        .into_response()
}

fn invalid(field: &str, message: &str) -> Response {
    validation(vec![Invalid {
        field: field.to_owned(),
        message: message.to_owned(),
        code: "invalid_value",
    }])
}

/// Freshdesk's timestamp format: `2026-09-01T10:00:00Z`.
pub fn time(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn parse_time(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    text.parse::<NaiveDate>()
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp())
}

struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn allow(&self, allowed: &[&str]) -> Result<(), Box<Response>> {
        let errors: Vec<Invalid> = self
            .0
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()))
            .map(|(k, _)| Invalid {
                field: k.clone(),
                message: "Unexpected/invalid field in request".into(),
                code: "invalid_field",
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Box::new(validation(errors)))
        }
    }

    /// `per_page` and `page`.
    fn paging(&self) -> Result<(usize, usize), Box<Response>> {
        let per_page = match self.get("per_page").map(str::parse::<usize>) {
            None => DEFAULT_PER_PAGE,
            Some(Ok(n)) if (1..=MAX_PER_PAGE).contains(&n) => n,
            Some(_) => {
                return Err(Box::new(invalid(
                    "per_page",
                    "It should be a Positive Integer less than or equal to 100",
                )));
            }
        };
        let page = match self.get("page").map(str::parse::<usize>) {
            None => 1,
            Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
            Some(Ok(n)) if n > MAX_PAGE => {
                return Err(Box::new(invalid(
                    "page",
                    "It should be a Positive Integer less than or equal to 300",
                )));
            }
            Some(_) => return Err(Box::new(invalid("page", "It should be a Positive Integer"))),
        };
        Ok((per_page, page))
    }

    fn time(&self, name: &str) -> Result<Option<i64>, Box<Response>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_time(v)
                .map(Some)
                .ok_or_else(|| Box::new(invalid(name, "It should be in the 'valid date' format"))),
        }
    }
}

fn rate_headers(remaining: u32, used: u32) -> [(HeaderName, HeaderValue); 3] {
    [
        (
            HeaderName::from_static("x-ratelimit-total"),
            HeaderValue::from(RATE_LIMIT),
        ),
        (
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("x-ratelimit-used-currentrequest"),
            HeaderValue::from(used),
        ),
    ]
}

/// A ticket as `/api/v2/tickets` sends it (`stats` only with `include=stats`).
pub fn ticket_json(t: &Ticket, stats: bool) -> Value {
    let mut v = json!({
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "ticket_cc_emails": [],
        "fr_escalated": false,
        "spam": false,
        "email_config_id": null,
        "group_id": t.group_id,
        "priority": t.priority,
        "requester_id": t.requester_id,
        "responder_id": t.responder_id,
        "source": t.source,
        "company_id": null,
        "status": t.status,
        "subject": t.subject,
        "association_type": null,
        "support_email": null,
        "to_emails": null,
        "product_id": null,
        "id": t.id,
        "type": null,
        "due_by": time(t.created + 3 * 86_400),
        "fr_due_by": time(t.created + 86_400),
        "is_escalated": false,
        "custom_fields": {},
        "created_at": time(t.created),
        "updated_at": time(t.updated),
        "associated_tickets_count": null,
        "tags": t.tags,
    });
    if stats {
        let opt = |x: Option<i64>| x.map(time);
        let last_agent = t
            .conversations
            .iter()
            .rev()
            .find(|c| !c.incoming && !c.private)
            .map(|c| c.created);
        let last_requester = t
            .conversations
            .iter()
            .rev()
            .find(|c| c.incoming)
            .map(|c| c.created);
        v["stats"] = json!({
            "agent_responded_at": opt(last_agent),
            "requester_responded_at": opt(last_requester),
            "first_responded_at": opt(t.first_responded),
            "status_updated_at": time(t.closed.or(t.resolved).unwrap_or(t.created)),
            "reopened_at": null,
            "resolved_at": opt(t.resolved),
            "closed_at": opt(t.closed),
            "pending_since": null,
        });
    }
    v
}

/// A conversation entry as `/api/v2/tickets/{id}/conversations` sends it.
pub fn conversation_json(t: &Ticket, c: &Conversation) -> Value {
    json!({
        "body": format!("<div>{}</div>", c.body_text),
        "body_text": c.body_text,
        "id": c.id,
        "incoming": c.incoming,
        "private": c.private,
        "user_id": c.user_id,
        "support_email": if c.incoming || c.private { Value::Null } else { json!("support@acme-help.example") },
        "source": c.source,
        "category": if c.private { 2 } else { 3 },
        "to_emails": [],
        "from_email": null,
        "cc_emails": [],
        "bcc_emails": null,
        "email_failure_count": null,
        "outgoing_failures": null,
        "thread_id": null,
        "thread_message_id": null,
        "created_at": time(c.created),
        "updated_at": time(c.created),
        "last_edited_at": null,
        "last_edited_user_id": null,
        "attachments": [],
        "automation_id": null,
        "automation_type_id": null,
        "auto_response": false,
        "ticket_id": t.id,
        "source_additional_info": null,
    })
}

/// A survey answer as `/api/v2/surveys/satisfaction_ratings` sends it.
pub fn rating_json(t: &Ticket, r: &Rating) -> Value {
    json!({
        "id": r.id,
        "survey_id": 43_000_000_001u64,
        "user_id": t.requester_id,
        "agent_id": t.responder_id,
        "feedback": r.feedback,
        "group_id": t.group_id,
        "ticket_id": t.id,
        "created_at": time(r.created),
        "updated_at": time(r.created),
        "ratings": {"default_question": r.value},
    })
}

/// The ratings in list order (by creation, then id), with their tickets.
pub fn ratings(data: &Dataset) -> Vec<(&Ticket, &Rating)> {
    let mut v: Vec<(&Ticket, &Rating)> = data
        .tickets
        .iter()
        .filter_map(|t| t.rating.as_ref().map(|r| (t, r)))
        .collect();
    v.sort_by_key(|(_, r)| (r.created, r.id));
    v
}

fn thirty_days_ago() -> i64 {
    auth::now_secs() as i64 - 30 * 86_400
}

impl Freshdesk {
    /// One page of `items` as a bare array with a `Link` header to the next page.
    fn page(&self, path: &str, params: &Params, items: Vec<Value>) -> Response {
        let (per_page, page) = match params.paging() {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let start = (page - 1) * per_page;
        let end = (start + per_page).min(items.len());
        let body: Vec<Value> = items.get(start..end).unwrap_or_default().to_vec();
        let mut response = (StatusCode::OK, axum::Json(Value::Array(body))).into_response();
        if end < items.len() {
            let mut query: Vec<(String, String)> = params
                .0
                .iter()
                .filter(|(k, _)| k != "page")
                .cloned()
                .collect();
            query.push(("page".into(), (page + 1).to_string()));
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            let link = format!("<{}{PREFIX}{path}?{query}>; rel=\"next\"", self.base_url);
            if let Ok(v) = HeaderValue::from_str(&link) {
                response.headers_mut().insert(header::LINK, v);
            }
        }
        response
    }

    fn tickets(&self, params: &Params) -> Response {
        if let Err(r) = params.allow(&[
            "filter",
            "requester_id",
            "email",
            "unique_external_id",
            "company_id",
            "updated_since",
            "order_by",
            "order_type",
            "include",
            "per_page",
            "page",
        ]) {
            return *r;
        }
        let since = match params.time("updated_since") {
            Ok(s) => s,
            Err(r) => return *r,
        };
        let mut stats = false;
        for inc in params
            .get("include")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            match inc {
                "stats" => stats = true,
                "requester" | "description" | "company" => {}
                other => {
                    return invalid(
                        "include",
                        &format!(
                            "It should be one/more of: 'requester,stats,company,description' (got {other})"
                        ),
                    );
                }
            }
        }
        let order_by = params.get("order_by").unwrap_or("created_at");
        if !["created_at", "due_by", "updated_at", "status"].contains(&order_by) {
            return invalid(
                "order_by",
                "It should be one of these values: 'created_at,due_by,updated_at,status'",
            );
        }
        let order_type = params.get("order_type").unwrap_or("desc");
        if !["asc", "desc"].contains(&order_type) {
            return invalid("order_type", "It should be one of these values: 'asc,desc'");
        }
        let mut list: Vec<&Ticket> = self.truth.freshdesk.tickets.iter().collect();
        match since {
            Some(s) => list.retain(|t| t.updated >= s),
            None => {
                let floor = thirty_days_ago();
                list.retain(|t| t.created >= floor);
            }
        }
        match order_by {
            "updated_at" => list.sort_by_key(|t| (t.updated, t.id)),
            "status" => list.sort_by_key(|t| (t.status, t.id)),
            _ => list.sort_by_key(|t| (t.created, t.id)),
        }
        if order_type == "desc" {
            list.reverse();
        }
        let items = list.into_iter().map(|t| ticket_json(t, stats)).collect();
        let mut r = self.page("/api/v2/tickets", params, items);
        let used = if stats { 2 } else { 1 };
        r.headers_mut()
            .extend(rate_headers(RATE_LIMIT - used, used));
        r
    }

    fn conversations(&self, id: &str, params: &Params) -> Response {
        if let Err(r) = params.allow(&["per_page", "page"]) {
            return *r;
        }
        let Some(t) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.truth.freshdesk.tickets.iter().find(|t| t.id == id))
        else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let items = t
            .conversations
            .iter()
            .map(|c| conversation_json(t, c))
            .collect();
        self.page(
            &format!("/api/v2/tickets/{id}/conversations"),
            params,
            items,
        )
    }

    fn ratings(&self, params: &Params) -> Response {
        if let Err(r) = params.allow(&["created_since", "user_id", "per_page", "page"]) {
            return *r;
        }
        let since = match params.time("created_since") {
            Ok(s) => s.unwrap_or_else(thirty_days_ago),
            Err(r) => return *r,
        };
        let items = ratings(&self.truth.freshdesk)
            .into_iter()
            .filter(|(_, r)| r.created >= since)
            .map(|(t, r)| rating_json(t, r))
            .collect();
        self.page("/api/v2/surveys/satisfaction_ratings", params, items)
    }

    fn respond(headers: &HeaderMap, answer: impl FnOnce() -> Response) -> Response {
        let ok = auth::basic_credentials(headers).is_some_and(|(user, _)| user == API_KEY);
        let mut response = if ok {
            answer()
        } else {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": "invalid_credentials", "message": "You have to be logged in to perform this action."})),
            )
                .into_response()
        };
        if !response.headers().contains_key("x-ratelimit-total") {
            response
                .headers_mut()
                .extend(rate_headers(RATE_LIMIT - 1, 1));
        }
        response
    }

    fn fault_response(_path: &str, kind: FaultKind) -> Option<Response> {
        let mut response = match kind {
            FaultKind::TooManyRequests | FaultKind::TooManyRequestsReset | FaultKind::Throttle400 => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({"message": "You have exceeded the limit of requests per minute. Please try again after some time."})),
                )
                    .into_response();
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
                r.headers_mut().extend(rate_headers(0, 1));
                return Some(r);
            }
            FaultKind::InternalError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"code": "internal_error", "message": "We're sorry, but something went wrong."})),
            )
                .into_response(),
            FaultKind::Unavailable | FaultKind::Error200 => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
            )
                .into_response(),
            FaultKind::Slow | FaultKind::Timeout | FaultKind::Truncate | FaultKind::Reset => return None,
        };
        response
            .headers_mut()
            .extend(rate_headers(RATE_LIMIT - 1, 1));
        Some(response)
    }
}

fn params(raw: Option<&str>) -> Params {
    Params(serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default())
}

async fn tickets(
    State(f): State<Arc<Freshdesk>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    Freshdesk::respond(&headers, || f.tickets(&params(raw.as_deref())))
}

async fn conversations(
    State(f): State<Arc<Freshdesk>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    Freshdesk::respond(&headers, || f.conversations(&id, &params(raw.as_deref())))
}

async fn satisfaction(
    State(f): State<Arc<Freshdesk>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    Freshdesk::respond(&headers, || f.ratings(&params(raw.as_deref())))
}

/// The Freshdesk platform's routes.
pub(crate) fn platform(ctx: &Context) -> Platform {
    let state = Arc::new(Freshdesk {
        truth: Arc::clone(&ctx.truth),
        base_url: ctx.base_url.clone(),
    });
    let router = Router::new()
        .route("/api/v2/tickets", get(tickets))
        .route("/api/v2/tickets/{id}/conversations", get(conversations))
        .route("/api/v2/surveys/satisfaction_ratings", get(satisfaction))
        .with_state(state);
    Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(Freshdesk::fault_response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_is_stable_and_plausible() {
        let d = Dataset::generate(0, 1, crate::data::REFERENCE_ANCHOR);
        assert_eq!(d.tickets.len(), dataset::TICKETS_PER_SCALE);
        assert!(d.tickets.iter().any(|t| t.first_responded.is_none()));
        assert!(d.tickets.iter().any(|t| SOCIAL_SOURCES.contains(&t.source)));
        assert!(d.tickets.iter().all(|t| t.updated > t.created));
        assert!(ratings(&d).iter().any(|(_, r)| r.value < 0));
        assert_eq!(parse_time("2026-09-01"), Some(d.data_start));
        assert_eq!(parse_time("2026-09-01T00:00:00Z"), Some(d.data_start));
    }
}
