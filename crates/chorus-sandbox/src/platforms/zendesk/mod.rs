//! The Zendesk Support API, under `/zendesk` (so `{base}/zendesk/api/v2/ticket_metrics.json`
//! stands for `https://{subdomain}.zendesk.com/api/v2/ticket_metrics.json`). Facts and
//! sources: `docs/dev/platforms/zendesk-api.md`.
//!
//! What is emulated:
//! - Auth: HTTP Basic `{EMAIL}/token:{API_TOKEN}` or `Authorization: Bearer {OAUTH_TOKEN}`;
//!   anything else is HTTP 401 `{"error":"Couldn't authenticate you"}`.
//! - `GET /api/v2/incremental/tickets/cursor.json`: `start_time` (unix seconds, at least a
//!   minute in the past) on the first call, then only `cursor`; `per_page` up to 1000 (the
//!   default); tickets ordered by `updated_at`, each once, deleted ones included with status
//!   `deleted` unless `exclude_deleted=true`; `after_cursor`, `after_url`, `before_cursor`,
//!   `before_url` and `end_of_stream`. The cursor encodes the last position (as Zendesk's do:
//!   base64 of `updated.0||id|`), so it stays valid for the next poll.
//! - `GET /api/v2/ticket_metrics.json` and `GET /api/v2/satisfaction_ratings.json` (with
//!   `start_time`/`end_time` on `created_at` and `score`): cursor pagination with
//!   `page[size]` (at most 100) and `page[after]`, `meta.has_more`, `meta.after_cursor`,
//!   `links.next`. Metrics of a ticket not replied to yet carry `null` reply times.
//! - Rate limits: `x-rate-limit` and `x-rate-limit-remaining` on every response; the `429`
//!   fault answers like Zendesk, with `Retry-After` and a plain-text body.
//!
//! Simplifications: limits are reported but not enforced (the export's 10 requests per minute
//! would make every test wait); only the fields chorus reads and a few neighbours are sent.

pub mod dataset;

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::auth;
use crate::data::Truth;
use crate::faults::FaultKind;
use crate::platforms::{Context, Platform};
pub use dataset::{CHANNELS, DATA_DAYS, Dataset, Rating, SOCIAL_CHANNELS, Ticket, data_start};

/// The path prefix of the Zendesk platform.
pub const PREFIX: &str = "/zendesk";
/// The agent email whose API token is [`API_TOKEN`].
pub const EMAIL: &str = "admin@acme-support.example";
/// A valid API token (Basic `{EMAIL}/token:{API_TOKEN}`).
pub const API_TOKEN: &str = "ZdSandboxApiToken0chorus4Kq8vT2";
/// A valid OAuth access token (Bearer).
pub const OAUTH_TOKEN: &str = "zdOAuthSandboxToken0chorus9Wm1";
/// The requests per minute an account reports (Suite Professional).
pub const RATE_LIMIT: u32 = 700;
/// The incremental export's requests per minute.
pub const EXPORT_RATE_LIMIT: u32 = 10;
/// The most tickets per export page.
pub const EXPORT_MAX_PER_PAGE: usize = 1000;
/// The most items per cursor-paginated page.
pub const MAX_PAGE_SIZE: usize = 100;

struct Zendesk {
    truth: Arc<Truth>,
    base_url: String,
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn invalid(description: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        json!({"error": "InvalidPaginationParameter", "description": description}),
    )
}

fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        json!({"error": "Couldn't authenticate you"}),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    if auth::bearer_token(headers) == Some(OAUTH_TOKEN) {
        return true;
    }
    auth::basic_credentials(headers)
        .is_some_and(|(user, pass)| user == format!("{EMAIL}/token") && pass == API_TOKEN)
}

fn params(raw: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Zendesk's timestamp format: `2026-09-01T10:00:00Z`.
pub fn time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn rate_headers(limit: u32, remaining: u32) -> [(HeaderName, HeaderValue); 2] {
    [
        (
            HeaderName::from_static("x-rate-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("x-rate-limit-remaining"),
            HeaderValue::from(remaining),
        ),
    ]
}

/// An export cursor: the position after (updated, id).
fn export_cursor(updated: i64, id: u64) -> String {
    STANDARD.encode(format!("{updated}.0||{id}|"))
}

fn parse_export_cursor(cursor: &str) -> Option<(i64, u64)> {
    let text = String::from_utf8(STANDARD.decode(cursor).ok()?).ok()?;
    let (ts, rest) = text.split_once(".0||")?;
    let id = rest.strip_suffix('|')?;
    Some((ts.parse().ok()?, id.parse().ok()?))
}

/// A list cursor: the index after which the next page starts.
fn list_cursor(kind: &str, index: usize) -> String {
    STANDARD.encode(format!("{kind}:{index}"))
}

fn parse_list_cursor(kind: &str, cursor: &str) -> Option<usize> {
    let text = String::from_utf8(STANDARD.decode(cursor).ok()?).ok()?;
    text.strip_prefix(&format!("{kind}:"))?.parse().ok()
}

fn via(channel: &str) -> Value {
    json!({"channel": channel, "source": {"from": {}, "to": {}, "rel": null}})
}

/// A ticket as the export sends it.
pub fn ticket_json(base: &str, t: &Ticket) -> Value {
    json!({
        "url": format!("{base}/api/v2/tickets/{}.json", t.id),
        "id": t.id,
        "external_id": null,
        "via": via(t.channel),
        "created_at": time(t.created),
        "updated_at": time(t.updated),
        "generated_timestamp": t.updated,
        "type": null,
        "subject": t.subject,
        "raw_subject": t.subject,
        "priority": t.priority,
        "status": t.status,
        "requester_id": t.requester_id,
        "submitter_id": t.requester_id,
        "assignee_id": t.assignee_id,
        "organization_id": null,
        "group_id": t.group_id,
        "tags": t.tags,
        "is_public": true,
        "satisfaction_rating": t.rating.as_ref().map(|r| json!({"score": r.score, "id": r.id})),
    })
}

fn minutes(calendar: Option<i64>, business: Option<i64>) -> Value {
    json!({"calendar": calendar, "business": business})
}

/// A ticket's metrics as `/ticket_metrics.json` sends them.
pub fn metric_json(base: &str, t: &Ticket) -> Value {
    let at = |m: Option<i64>| m.map(|m| time(t.created + m * 60));
    json!({
        "url": format!("{base}/api/v2/ticket_metrics/{}.json", 7_000_000 + t.id),
        "id": 7_000_000 + t.id,
        "ticket_id": t.id,
        "created_at": time(t.created),
        "updated_at": time(t.updated),
        "group_stations": u8::from(t.group_id.is_some()),
        "assignee_stations": u8::from(t.assignee_id.is_some()),
        "reopens": t.reopens,
        "replies": t.replies,
        "assignee_updated_at": at(t.reply_minutes),
        "requester_updated_at": time(t.created),
        "status_updated_at": time(t.updated),
        "initially_assigned_at": at(t.reply_minutes),
        "assigned_at": at(t.reply_minutes),
        "solved_at": at(t.full_resolution_minutes),
        "latest_comment_added_at": at(t.full_resolution_minutes.or(t.reply_minutes)),
        "reply_time_in_minutes": minutes(t.reply_minutes, t.reply_business),
        "first_resolution_time_in_minutes": minutes(t.first_resolution_minutes, t.first_resolution_minutes.map(dataset::business)),
        "full_resolution_time_in_minutes": minutes(t.full_resolution_minutes, t.full_resolution_minutes.map(dataset::business)),
        "agent_wait_time_in_minutes": minutes(Some(t.agent_wait_minutes), Some(dataset::business(t.agent_wait_minutes))),
        "requester_wait_time_in_minutes": minutes(Some(t.requester_wait_minutes), Some(dataset::business(t.requester_wait_minutes))),
        "on_hold_time_in_minutes": minutes(Some(0), Some(0)),
    })
}

/// A satisfaction rating as `/satisfaction_ratings.json` sends it.
pub fn rating_json(base: &str, t: &Ticket, r: &Rating) -> Value {
    let mut v = json!({
        "url": format!("{base}/api/v2/satisfaction_ratings/{}.json", r.id),
        "id": r.id,
        "assignee_id": t.assignee_id,
        "group_id": t.group_id,
        "requester_id": t.requester_id,
        "ticket_id": t.id,
        "score": r.score,
        "created_at": time(r.created),
        "updated_at": time(r.created),
    });
    if let Some(c) = &r.comment {
        v["comment"] = json!(c);
    }
    v
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

impl Zendesk {
    fn root(&self) -> String {
        format!("{}{PREFIX}", self.base_url)
    }

    fn export(&self, params: &[(String, String)]) -> Response {
        let per_page = match param(params, "per_page").map(str::parse::<usize>) {
            None => EXPORT_MAX_PER_PAGE,
            Some(Ok(n)) if (1..=EXPORT_MAX_PER_PAGE).contains(&n) => n,
            Some(_) => return invalid("per_page must be between 1 and 1000"),
        };
        let after = match (param(params, "cursor"), param(params, "start_time")) {
            (Some(c), _) => match parse_export_cursor(c) {
                Some(p) => p,
                None => return invalid("The cursor is invalid"),
            },
            (None, Some(s)) => match s.parse::<i64>() {
                Ok(s) if s > auth::now_secs() as i64 - 60 => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "InvalidValue", "description": "Too recent start_time. Use a start_time at least one minute in the past"}),
                    );
                }
                Ok(s) => (s - 1, u64::MAX),
                Err(_) => return invalid("start_time must be a unix epoch time"),
            },
            (None, None) => return invalid("Either cursor or start_time is required"),
        };
        let exclude_deleted = param(params, "exclude_deleted") == Some("true");
        let all = self.truth.zendesk.by_update();
        let rest: Vec<&Ticket> = all
            .into_iter()
            .filter(|t| (t.updated, t.id) > after)
            .filter(|t| !(exclude_deleted && t.deleted()))
            .collect();
        let page = &rest[..rest.len().min(per_page)];
        let last = page.last().map_or(after, |t| (t.updated, t.id));
        let first = page.first().map_or(after, |t| (t.updated, t.id - 1));
        let root = self.root();
        let after_cursor = export_cursor(last.0, last.1);
        let before_cursor = export_cursor(first.0, first.1);
        let body = json!({
            "tickets": page.iter().map(|t| ticket_json(&root, t)).collect::<Vec<_>>(),
            "after_url": format!("{root}/api/v2/incremental/tickets/cursor.json?cursor={after_cursor}"),
            "after_cursor": after_cursor,
            "before_url": format!("{root}/api/v2/incremental/tickets/cursor.json?cursor={before_cursor}"),
            "before_cursor": before_cursor,
            "end_of_stream": rest.len() <= per_page,
        });
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    /// One page of a cursor-paginated list of `items`.
    fn list(
        &self,
        params: &[(String, String)],
        kind: &str,
        path: &str,
        items: Vec<Value>,
        keep: &[(&str, String)],
    ) -> Response {
        let size = match param(params, "page[size]").map(str::parse::<usize>) {
            None => MAX_PAGE_SIZE,
            Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => return invalid("page[size] must be between 1 and 100"),
        };
        let start = match param(params, "page[after]") {
            None => 0,
            Some(c) => match parse_list_cursor(kind, c) {
                Some(i) => i,
                None => return invalid("page[after] is not a valid cursor"),
            },
        };
        let end = (start + size).min(items.len());
        let page = items.get(start..end).unwrap_or_default().to_vec();
        let has_more = end < items.len();
        let after = list_cursor(kind, end);
        let before = list_cursor(kind, start);
        let mut query: Vec<String> = keep.iter().map(|(k, v)| format!("{k}={v}")).collect();
        query.push(format!("page%5Bsize%5D={size}"));
        let url = |c: &str, dir: &str| {
            format!(
                "{}{path}?{}&page%5B{dir}%5D={c}",
                self.root(),
                query.join("&")
            )
        };
        let body = json!({
            kind: page,
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            "links": {
                "prev": (start > 0).then(|| url(&before, "before")),
                "next": has_more.then(|| url(&after, "after")),
            },
        });
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    fn metrics(&self, params: &[(String, String)]) -> Response {
        let root = self.root();
        let items = self
            .truth
            .zendesk
            .tickets
            .iter()
            .filter(|t| !t.deleted())
            .map(|t| metric_json(&root, t))
            .collect();
        self.list(
            params,
            "ticket_metrics",
            "/api/v2/ticket_metrics.json",
            items,
            &[],
        )
    }

    fn ratings(&self, params: &[(String, String)]) -> Response {
        let time_param = |name: &str| -> Result<Option<i64>, String> {
            match param(params, name) {
                None => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("{name} must be a unix epoch time")),
            }
        };
        let (start, end) = match (time_param("start_time"), time_param("end_time")) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(d), _) | (_, Err(d)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "InvalidValue", "description": d}),
                );
            }
        };
        let score = param(params, "score");
        let root = self.root();
        let items = ratings(&self.truth.zendesk)
            .into_iter()
            .filter(|(_, r)| {
                start.is_none_or(|s| r.created >= s) && end.is_none_or(|e| r.created <= e)
            })
            .filter(|(_, r)| match score {
                None => true,
                Some("received") => r.score != "offered",
                Some(s) => r.score == s,
            })
            .map(|(t, r)| rating_json(&root, t, r))
            .collect();
        let keep: Vec<(&str, String)> = ["start_time", "end_time", "score"]
            .into_iter()
            .filter_map(|k| param(params, k).map(|v| (k, v.to_owned())))
            .collect();
        self.list(
            params,
            "satisfaction_ratings",
            "/api/v2/satisfaction_ratings.json",
            items,
            &keep,
        )
    }

    fn respond(
        &self,
        headers: &HeaderMap,
        limit: u32,
        answer: impl FnOnce() -> Response,
    ) -> Response {
        let mut response = if authorized(headers) {
            answer()
        } else {
            unauthorized()
        };
        response
            .headers_mut()
            .extend(rate_headers(limit, limit - 1));
        response
    }

    fn fault_response(path: &str, kind: FaultKind) -> Option<Response> {
        let export = path.contains("/incremental/");
        let limit = if export {
            EXPORT_RATE_LIMIT
        } else {
            RATE_LIMIT
        };
        let mut response = match kind {
            FaultKind::TooManyRequests
            | FaultKind::TooManyRequestsReset
            | FaultKind::Throttle400 => {
                let text = if export {
                    "Number of allowed incremental export API requests per minute exceeded"
                } else {
                    "Rate limit for requests exceeded, please wait and retry"
                };
                let mut r = (StatusCode::TOO_MANY_REQUESTS, text).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
                r.headers_mut().extend(rate_headers(limit, 0));
                return Some(r);
            }
            FaultKind::InternalError => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "InternalError", "description": "Something went wrong, please try again"}),
            ),
            FaultKind::Unavailable | FaultKind::Error200 => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Maintenance: Zendesk is temporarily unavailable",
            )
                .into_response(),
            FaultKind::Slow | FaultKind::Timeout | FaultKind::Truncate | FaultKind::Reset => {
                return None;
            }
        };
        response
            .headers_mut()
            .extend(rate_headers(limit, limit - 1));
        Some(response)
    }
}

async fn export(
    State(z): State<Arc<Zendesk>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    z.respond(&headers, EXPORT_RATE_LIMIT, || {
        z.export(&params(raw.as_deref()))
    })
}

async fn metrics(
    State(z): State<Arc<Zendesk>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    z.respond(&headers, RATE_LIMIT, || z.metrics(&params(raw.as_deref())))
}

async fn ratings_route(
    State(z): State<Arc<Zendesk>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    z.respond(&headers, RATE_LIMIT, || z.ratings(&params(raw.as_deref())))
}

/// The Zendesk platform's routes.
pub(crate) fn platform(ctx: &Context) -> Platform {
    let state = Arc::new(Zendesk {
        truth: Arc::clone(&ctx.truth),
        base_url: ctx.base_url.clone(),
    });
    let router = Router::new()
        .route("/api/v2/incremental/tickets/cursor.json", get(export))
        .route("/api/v2/ticket_metrics.json", get(metrics))
        .route("/api/v2/satisfaction_ratings.json", get(ratings_route))
        .with_state(state);
    Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(Zendesk::fault_response),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(
            parse_export_cursor(&export_cursor(1_580_753_798, 432)),
            Some((1_580_753_798, 432))
        );
        // The shape of a real Zendesk cursor.
        assert_eq!(
            parse_export_cursor("MTU4MDc1Mzc5OC4wfHw0MzJ8"),
            Some((1_580_753_798, 432))
        );
        assert_eq!(parse_list_cursor("x", &list_cursor("x", 7)), Some(7));
    }

    #[test]
    fn the_data_is_stable_and_plausible() {
        let d = Dataset::generate(0, 1, crate::data::REFERENCE_ANCHOR);
        assert_eq!(d.tickets.len(), dataset::TICKETS_PER_SCALE);
        assert!(d.tickets.iter().any(|t| t.deleted()));
        assert!(
            d.tickets
                .iter()
                .any(|t| t.reply_minutes.is_none() && !t.deleted())
        );
        assert!(d.tickets.iter().all(|t| t.updated > t.created));
        assert!(
            d.tickets
                .iter()
                .any(|t| SOCIAL_CHANNELS.contains(&t.channel))
        );
        assert!(ratings(&d).iter().any(|(_, r)| r.score == "bad"));
    }
}
