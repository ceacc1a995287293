//! The Zendesk Support API as this connector speaks it: the pages it reads, the error bodies
//! Zendesk sends, and the [`ZendeskHook`] that judges them.
//!
//! Zendesk signals errors with the status and a JSON body `{"error": …, "description": …}`
//! (401 is `{"error":"Couldn't authenticate you"}`), except 429, whose body is plain text; its
//! `Retry-After` is honoured by the kit. 401 and 403 are credentials or role; 404 is a wrong
//! subdomain; 400 and 422 are a request chorus should not have sent.

use chorus_core::{ErrorKind, Result};
use chorus_http::{HttpClient, Request, ResponseHook, Verdict};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use chorus_http::json::{id, opt_id};

/// The most tickets one export page holds (and the default `per_page`).
pub const EXPORT_MAX_PER_PAGE: u32 = 1000;
/// The most rows one cursor-paginated page holds.
pub const PAGE_SIZE: u32 = 100;
/// The incremental export's requests per minute.
pub const EXPORT_REQUESTS_PER_MINUTE: u32 = 10;
/// The most pages one read follows before it assumes the API is looping.
pub const MAX_PAGES: u64 = 1_000_000;

/// An error body.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// The error: a code (`InvalidValue`) or a sentence.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
    /// What went wrong.
    #[serde(default)]
    pub description: Option<String>,
}

impl ErrorBody {
    /// One line from a body, JSON or plain text.
    pub fn describe(body: &[u8]) -> String {
        let parsed: Option<Self> = serde_json::from_slice(body).ok();
        let text = match parsed {
            Some(b) => {
                let error = match b.error {
                    Some(serde_json::Value::String(s)) => Some(s),
                    Some(serde_json::Value::Object(o)) => o
                        .get("message")
                        .or_else(|| o.get("title"))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                    _ => None,
                };
                match (error, b.description) {
                    (Some(e), Some(d)) => format!("{e}: {d}"),
                    (Some(e), None) => e,
                    (None, Some(d)) => d,
                    (None, None) => String::new(),
                }
            }
            None => String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect(),
        };
        if text.is_empty() {
            "no detail".into()
        } else {
            text
        }
    }
}

/// Judges Zendesk responses: credentials, roles and wrong subdomains fail at once with a
/// message that says what to do; throttles and 5xx are left to the kit's retries.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZendeskHook;

impl ResponseHook for ZendeskHook {
    fn classify(&self, status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        let fail = |kind, reason: String| Some(Verdict::Fail { kind, reason });
        match status.as_u16() {
            401 => fail(
                ErrorKind::Auth,
                format!(
                    "Zendesk refused the credentials ({}); check `email` and `api_token` (Admin Center > Apps and integrations > Zendesk API) or `oauth_token`",
                    ErrorBody::describe(body)
                ),
            ),
            403 => fail(
                ErrorKind::Auth,
                format!(
                    "Zendesk forbids this request ({}); the exports, metrics and ratings need an admin",
                    ErrorBody::describe(body)
                ),
            ),
            404 => fail(
                ErrorKind::External,
                format!(
                    "Zendesk has no such account or endpoint ({}); check `subdomain`",
                    ErrorBody::describe(body)
                ),
            ),
            400 | 422 => fail(
                ErrorKind::External,
                format!(
                    "Zendesk refused the request ({})",
                    ErrorBody::describe(body)
                ),
            ),
            _ => None,
        }
    }
}

/// How a ticket came in.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Via {
    /// The channel: `web`, `email`, `api`, `twitter`, `facebook`, `instagram_dm`, …
    #[serde(default)]
    pub channel: Option<serde_json::Value>,
}

/// A ticket from the incremental export.
#[derive(Debug, Clone, Deserialize)]
pub struct Ticket {
    /// The ticket id.
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// `new`, `open`, `pending`, `hold`, `solved`, `closed`, `deleted`.
    #[serde(default)]
    pub status: Option<String>,
    /// `low`, `normal`, `high`, `urgent`.
    #[serde(default)]
    pub priority: Option<String>,
    /// `question`, `incident`, `problem`, `task`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// How it came in.
    #[serde(default)]
    pub via: Option<Via>,
    /// The requester.
    #[serde(default, deserialize_with = "opt_id")]
    pub requester_id: Option<String>,
    /// The assignee.
    #[serde(default, deserialize_with = "opt_id")]
    pub assignee_id: Option<String>,
    /// The group.
    #[serde(default, deserialize_with = "opt_id")]
    pub group_id: Option<String>,
    /// The organization.
    #[serde(default, deserialize_with = "opt_id")]
    pub organization_id: Option<String>,
    /// The subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Ticket {
    /// `via.channel` as text (a via id number becomes its digits).
    pub fn channel(&self) -> Option<String> {
        match self.via.as_ref()?.channel.as_ref()? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// One page of the cursor-based incremental ticket export.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportPage {
    /// The tickets.
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    /// The cursor of the next page (and of the next run, at the end of the stream).
    #[serde(default)]
    pub after_cursor: Option<String>,
    /// Whether this page reaches the present.
    #[serde(default)]
    pub end_of_stream: bool,
}

/// A duration in calendar and business minutes; `null` until the event happens.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Minutes {
    /// Calendar minutes.
    #[serde(default)]
    pub calendar: Option<i64>,
    /// Minutes within business hours.
    #[serde(default)]
    pub business: Option<i64>,
}

/// A ticket's metrics.
#[derive(Debug, Clone, Deserialize)]
pub struct TicketMetric {
    /// The metric set's id.
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// The ticket.
    #[serde(deserialize_with = "id")]
    pub ticket_id: String,
    /// When the metric set was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// When the ticket was solved.
    #[serde(default)]
    pub solved_at: Option<String>,
    /// Times reopened.
    #[serde(default)]
    pub reopens: Option<i64>,
    /// Agent replies.
    #[serde(default)]
    pub replies: Option<i64>,
    /// Time to the first reply.
    #[serde(default)]
    pub reply_time_in_minutes: Option<Minutes>,
    /// Time to the first resolution.
    #[serde(default)]
    pub first_resolution_time_in_minutes: Option<Minutes>,
    /// Time to the final resolution.
    #[serde(default)]
    pub full_resolution_time_in_minutes: Option<Minutes>,
    /// Time agents waited on the requester.
    #[serde(default)]
    pub agent_wait_time_in_minutes: Option<Minutes>,
    /// Time the requester waited on agents.
    #[serde(default)]
    pub requester_wait_time_in_minutes: Option<Minutes>,
}

/// A satisfaction rating.
#[derive(Debug, Clone, Deserialize)]
pub struct SatisfactionRating {
    /// The rating id.
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// The ticket.
    #[serde(default, deserialize_with = "opt_id")]
    pub ticket_id: Option<String>,
    /// `offered`, `unoffered`, `good`, `bad`.
    #[serde(default)]
    pub score: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The requester's comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// The reason given for a bad rating.
    #[serde(default)]
    pub reason: Option<String>,
    /// The assignee at the time of rating.
    #[serde(default, deserialize_with = "opt_id")]
    pub assignee_id: Option<String>,
    /// The group at the time of rating.
    #[serde(default, deserialize_with = "opt_id")]
    pub group_id: Option<String>,
    /// The requester.
    #[serde(default, deserialize_with = "opt_id")]
    pub requester_id: Option<String>,
}

/// Cursor-pagination metadata.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    /// Whether another page follows.
    #[serde(default)]
    pub has_more: bool,
    /// The cursor of the next page (`page[after]`).
    #[serde(default)]
    pub after_cursor: Option<String>,
}

/// A page of `/ticket_metrics.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsPage {
    /// The metric sets.
    #[serde(default)]
    pub ticket_metrics: Vec<TicketMetric>,
    /// Paging.
    #[serde(default)]
    pub meta: Meta,
}

/// A page of `/satisfaction_ratings.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct RatingsPage {
    /// The ratings.
    #[serde(default)]
    pub satisfaction_ratings: Vec<SatisfactionRating>,
    /// Paging.
    #[serde(default)]
    pub meta: Meta,
}

/// Sends a GET and reads its JSON (see `chorus_http::json`).
pub async fn get<T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    doing: &str,
) -> Result<T> {
    chorus_http::json::get(client, req, "Zendesk", doing).await
}

/// [`get`] for a page `P` whose records at `records_path` are read as `T`, with each record's
/// fields this connector does not read, as JSON, when `keep` (see `chorus_http::extra`).
pub async fn get_kept<P: DeserializeOwned, T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    doing: &str,
    keep: bool,
    records_path: &str,
) -> Result<(P, Vec<Option<String>>)> {
    chorus_http::json::get_kept::<P, T>(client, req, "Zendesk", doing, keep, records_path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: u16, body: &str) -> Option<Verdict> {
        ZendeskHook.classify(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn credentials_fail_and_throttles_are_left_to_the_kit() {
        let Some(Verdict::Fail { kind, reason }) =
            verdict(401, r#"{"error":"Couldn't authenticate you"}"#)
        else {
            panic!("401 must fail");
        };
        assert_eq!(kind, ErrorKind::Auth);
        assert!(reason.contains("Couldn't authenticate you"), "{reason}");
        assert_eq!(
            verdict(
                429,
                "Number of allowed incremental export API requests per minute exceeded"
            ),
            None
        );
        assert_eq!(verdict(503, "Maintenance"), None);
        assert!(matches!(
            verdict(400, r#"{"error":"InvalidValue","description":"Too recent start_time"}"#),
            Some(Verdict::Fail { kind: ErrorKind::External, reason }) if reason.contains("Too recent start_time")
        ));
    }

    #[test]
    fn pages_read_ids_as_strings_and_null_minutes_as_none() {
        let page: MetricsPage = serde_json::from_str(
            r#"{"ticket_metrics":[{"id":33,"ticket_id":4343,"reply_time_in_minutes":{"calendar":null,"business":null},"reopens":0}],"meta":{"has_more":false}}"#,
        )
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        let m = &page.ticket_metrics[0];
        assert_eq!(m.ticket_id, "4343");
        assert_eq!(m.reply_time_in_minutes.and_then(|r| r.calendar), None);
        let export: ExportPage = serde_json::from_str(
            r#"{"tickets":[{"id":35436,"via":{"channel":"twitter"},"tags":["a"]}],"after_cursor":"MTU4MDc1Mzc5OC4wfHw0MzJ8","end_of_stream":true}"#,
        )
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(export.tickets[0].channel().as_deref(), Some("twitter"));
        assert!(export.end_of_stream);
    }
}
