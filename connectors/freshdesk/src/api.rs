//! The Freshdesk API v2 as this connector speaks it: the shapes it reads, the integer codes
//! and their labels, the error bodies Freshdesk sends, and the [`FreshdeskHook`] that judges
//! them.
//!
//! Freshdesk signals errors with the status and a JSON body: `{"code","message"}` for
//! credentials and permissions, `{"description":"Validation failed","errors":[…]}` for bad
//! parameters. 429 carries `Retry-After`, which the kit honours.

use chorus_core::{Error, ErrorKind, Result};
use chorus_http::{HttpClient, Request, ResponseHook, Verdict};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use chorus_http::json::{id, opt_id};

/// The most items one page holds.
pub const MAX_PER_PAGE: u32 = 100;
/// The last page a list serves; past it, the read restarts from the last `updated_at`.
pub const MAX_PAGE: u32 = 300;
/// The most pages one read follows before it assumes the API is looping.
pub const MAX_PAGES: u64 = 1_000_000;
/// The start of the reason of a 404, which the conversations stream skips.
pub const NOT_FOUND: &str = "Freshdesk has no such resource";

/// The label of a ticket status code.
pub fn status_label(code: i64) -> Option<&'static str> {
    Some(match code {
        2 => "Open",
        3 => "Pending",
        4 => "Resolved",
        5 => "Closed",
        _ => return None,
    })
}

/// The label of a ticket priority code.
pub fn priority_label(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "Low",
        2 => "Medium",
        3 => "High",
        4 => "Urgent",
        _ => return None,
    })
}

/// The label of a ticket source code (the channel it came through).
pub fn source_label(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "Email",
        2 => "Portal",
        3 => "Phone",
        4 => "Forum",
        5 => "Twitter",
        6 => "Facebook",
        7 => "Chat",
        8 => "MobiHelp",
        9 => "Feedback Widget",
        10 => "Outbound Email",
        11 => "Ecommerce",
        12 => "Bot",
        _ => return None,
    })
}

/// The label of a satisfaction survey answer.
pub fn rating_label(value: i64) -> Option<&'static str> {
    Some(match value {
        103 => "Extremely Happy",
        102 => "Very Happy",
        101 => "Happy",
        100 => "Neutral",
        -101 => "Unhappy",
        -102 => "Very Unhappy",
        -103 => "Extremely Unhappy",
        _ => return None,
    })
}

/// An error body, either form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// `invalid_credentials`, `access_denied`, …
    #[serde(default)]
    pub code: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
    /// `Validation failed`.
    #[serde(default)]
    pub description: Option<String>,
    /// The invalid fields.
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// One invalid field.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FieldError {
    /// The field.
    #[serde(default)]
    pub field: Option<String>,
    /// Why.
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorBody {
    /// One line from a body, JSON or not.
    pub fn describe(body: &[u8]) -> String {
        let Ok(b) = serde_json::from_slice::<Self>(body) else {
            let text: String = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect();
            return if text.is_empty() {
                "no detail".into()
            } else {
                text
            };
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = b.message.or(b.description) {
            parts.push(m);
        }
        for e in b.errors {
            parts.push(format!(
                "{}: {}",
                e.field.unwrap_or_default(),
                e.message.unwrap_or_default()
            ));
        }
        if parts.is_empty() {
            b.code.unwrap_or_else(|| "no detail".into())
        } else {
            parts.join("; ")
        }
    }
}

/// Judges Freshdesk responses: a refused key or a missing permission fails at once with a
/// message that says what to do; throttles and 5xx are left to the kit's retries.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreshdeskHook;

impl ResponseHook for FreshdeskHook {
    fn classify(&self, status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        let fail = |kind, reason: String| Some(Verdict::Fail { kind, reason });
        let what = || ErrorBody::describe(body);
        match status.as_u16() {
            401 => fail(
                ErrorKind::Auth,
                format!(
                    "Freshdesk refused the API key ({}); copy it from Profile settings > View API key and update the variable it comes from",
                    what()
                ),
            ),
            403 => fail(
                ErrorKind::Auth,
                format!(
                    "Freshdesk forbids this request ({}); the agent whose key is used needs access to tickets and surveys",
                    what()
                ),
            ),
            404 => fail(ErrorKind::External, format!("{NOT_FOUND} ({})", what())),
            400 => fail(
                ErrorKind::External,
                format!("Freshdesk refused the request ({})", what()),
            ),
            _ => None,
        }
    }
}

/// A ticket's timestamps, with `include=stats`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Stats {
    /// The first agent response.
    #[serde(default)]
    pub first_responded_at: Option<String>,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_at: Option<String>,
    /// When it was closed.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// The latest agent response.
    #[serde(default)]
    pub agent_responded_at: Option<String>,
}

/// A ticket.
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
    /// The subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// The status code.
    #[serde(default)]
    pub status: Option<i64>,
    /// The priority code.
    #[serde(default)]
    pub priority: Option<i64>,
    /// The source (channel) code.
    #[serde(default)]
    pub source: Option<i64>,
    /// The ticket type.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The requester.
    #[serde(default, deserialize_with = "opt_id")]
    pub requester_id: Option<String>,
    /// The agent.
    #[serde(default, deserialize_with = "opt_id")]
    pub responder_id: Option<String>,
    /// The group.
    #[serde(default, deserialize_with = "opt_id")]
    pub group_id: Option<String>,
    /// The company.
    #[serde(default, deserialize_with = "opt_id")]
    pub company_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Stats (with `include=stats`).
    #[serde(default)]
    pub stats: Option<Stats>,
}

/// One entry of a ticket's conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct Conversation {
    /// The conversation id.
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// The ticket.
    #[serde(default, deserialize_with = "opt_id")]
    pub ticket_id: Option<String>,
    /// Whether the requester wrote it.
    #[serde(default)]
    pub incoming: Option<bool>,
    /// Whether it is a private note.
    #[serde(default)]
    pub private: Option<bool>,
    /// The conversation source code.
    #[serde(default)]
    pub source: Option<i64>,
    /// Who wrote it.
    #[serde(default, deserialize_with = "opt_id")]
    pub user_id: Option<String>,
    /// When it was written.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it was edited.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A survey answer.
#[derive(Debug, Clone, Deserialize)]
pub struct SatisfactionRating {
    /// The rating id.
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// The survey.
    #[serde(default, deserialize_with = "opt_id")]
    pub survey_id: Option<String>,
    /// The ticket.
    #[serde(default, deserialize_with = "opt_id")]
    pub ticket_id: Option<String>,
    /// The requester who answered.
    #[serde(default, deserialize_with = "opt_id")]
    pub user_id: Option<String>,
    /// The agent rated.
    #[serde(default, deserialize_with = "opt_id")]
    pub agent_id: Option<String>,
    /// The group rated.
    #[serde(default, deserialize_with = "opt_id")]
    pub group_id: Option<String>,
    /// The requester's feedback.
    #[serde(default)]
    pub feedback: Option<String>,
    /// The answers, by question; `default_question` is the satisfaction question.
    #[serde(default)]
    pub ratings: std::collections::BTreeMap<String, i64>,
    /// When it was given.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// Whether a `Link` header names a next page.
pub fn has_next(headers: &HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .skip(1)
                .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
        })
}

/// Sends a GET and reads its JSON and whether a next page exists (see `chorus_http::json`).
pub async fn get_page<T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    doing: &str,
) -> Result<(T, bool)> {
    chorus_http::json::get_with(client, req, "Freshdesk", doing, |resp| {
        has_next(&resp.headers)
    })
    .await
}

/// [`get_page`] for a list of records, each with the fields this connector does not read, as
/// JSON, when `keep` (see `chorus_http::extra`).
pub async fn get_records<T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    doing: &str,
    keep: bool,
) -> Result<(Vec<(T, Option<String>)>, bool)> {
    let (list, (more, extras)) =
        chorus_http::json::get_with(client, req, "Freshdesk", doing, |resp| {
            (
                has_next(&resp.headers),
                chorus_http::extra::of_page::<T>(keep, &resp.body, ""),
            )
        })
        .await?;
    let extras = extras.map_err(|e| Error::contract(format!("{doing}: {e}")))?;
    Ok((chorus_http::extra::pair(list, extras), more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn codes_have_their_labels() {
        assert_eq!(status_label(2), Some("Open"));
        assert_eq!(status_label(5), Some("Closed"));
        assert_eq!(priority_label(4), Some("Urgent"));
        assert_eq!(source_label(5), Some("Twitter"));
        assert_eq!(source_label(9), Some("Feedback Widget"));
        assert_eq!(source_label(99), None);
        assert_eq!(rating_label(-103), Some("Extremely Unhappy"));
    }

    #[test]
    fn link_headers_name_the_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(
                "<https://acme.freshdesk.com/api/v2/tickets?page=2&per_page=2>; rel=\"next\"",
            ),
        );
        assert!(has_next(&h));
        assert!(!has_next(&HeaderMap::new()));
    }

    #[test]
    fn refused_keys_fail_as_auth_and_validation_names_the_field() {
        let v = FreshdeskHook.classify(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            br#"{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}"#,
        );
        assert!(matches!(
            v,
            Some(Verdict::Fail {
                kind: ErrorKind::Auth,
                ..
            })
        ));
        let Some(Verdict::Fail { reason, .. }) = FreshdeskHook.classify(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"description":"Validation failed","errors":[{"field":"page","message":"It should be a Positive Integer less than or equal to 300","code":"invalid_value"}]}"#,
        ) else {
            panic!("400 must fail");
        };
        assert!(reason.contains("page: It should be"), "{reason}");
        assert_eq!(
            FreshdeskHook.classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"{}"),
            None
        );
    }
}
