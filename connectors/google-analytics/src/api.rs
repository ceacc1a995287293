//! The Data API as chorus talks to it: the `runReport` request and response, Google's error
//! envelope, the quota errors, and [`Ga4Hook`], which judges responses by their body.
//!
//! Quotas are the one oddity: a 429 `RESOURCE_EXHAUSTED` for concurrent requests is retried by
//! the kit like any throttle, but an exhausted token quota (per hour, per project per hour, per
//! day) has no `Retry-After` and refills only with the next window. The hook hands those
//! answers to the caller ([`Answer::Exhausted`]) so that the stream decides: wait for the next
//! hour, or stop at the last checkpoint when the day's tokens are gone.

use chorus_core::ErrorKind;
use chorus_http::{Response, ResponseHook, Verdict};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// `{"error": {"code", "message", "status"}}`, the Google API error model.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleError {
    /// The HTTP status as a number.
    #[serde(default)]
    pub code: u16,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
    /// The `google.rpc.Code` name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …).
    #[serde(default)]
    pub status: String,
}

#[derive(Deserialize)]
struct Envelope {
    error: GoogleError,
}

/// A token endpoint's error: `{"error": "invalid_grant", "error_description": "…"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthError {
    /// The error code.
    pub error: String,
    /// Google's explanation.
    #[serde(default)]
    pub error_description: Option<String>,
}

impl GoogleError {
    /// Reads the error envelope, if the body is one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error)
    }

    /// `STATUS: message`, for error messages.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.status, self.message.trim())
    }
}

/// Which quota a 429 `RESOURCE_EXHAUSTED` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// `concurrentRequests`: retry shortly.
    Concurrent,
    /// An hourly quota (tokens per hour, per project per hour, thresholded requests, server
    /// errors): wait for the next window.
    Hourly,
    /// `tokensPerDay`: nothing more today (it refills at midnight Pacific time).
    Daily,
}

impl Quota {
    /// Classifies an exhaustion message (Google's wording varies, so by keywords).
    pub fn of_message(message: &str) -> Quota {
        let m = message.to_ascii_lowercase();
        if m.contains("concurrent") {
            Quota::Concurrent
        } else if m.contains("per day") || m.contains("daily") {
            Quota::Daily
        } else {
            Quota::Hourly
        }
    }
}

/// A `runReport` outcome the stream acts on.
#[derive(Debug)]
pub enum Answer<T> {
    /// The parsed response.
    Report(T),
    /// A token quota ran out; the message is Google's.
    Exhausted(Quota, String),
}

/// One `{value}` of a row.
#[derive(Debug, Clone, Deserialize)]
pub struct Value {
    /// Always a string, metrics included.
    #[serde(default)]
    pub value: Option<String>,
}

/// A row.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// In the order of `dimensionHeaders`.
    #[serde(default)]
    pub dimension_values: Vec<Value>,
    /// In the order of `metricHeaders`.
    #[serde(default)]
    pub metric_values: Vec<Value>,
}

/// A dimension header.
#[derive(Debug, Clone, Deserialize)]
pub struct DimensionHeader {
    /// The dimension's API name.
    pub name: String,
}

/// A metric header.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricHeader {
    /// The metric's API name.
    pub name: String,
    /// `TYPE_INTEGER`, `TYPE_FLOAT`, `TYPE_CURRENCY`, `TYPE_SECONDS`, …
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The currency of currency metrics.
    #[serde(default)]
    pub currency_code: Option<String>,
    /// The property's reporting time zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether rows were folded into an `(other)` row.
    #[serde(default)]
    pub data_loss_from_other_row: bool,
    /// Whether thresholding may have dropped rows.
    #[serde(default)]
    pub subject_to_thresholding: bool,
}

/// `{consumed, remaining}` of one quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct QuotaStatus {
    /// Used by this request.
    #[serde(default)]
    pub consumed: i64,
    /// Left after this request.
    #[serde(default)]
    pub remaining: i64,
}

/// `propertyQuota`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyQuota {
    /// `tokensPerDay`.
    #[serde(default)]
    pub tokens_per_day: Option<QuotaStatus>,
    /// `tokensPerHour`.
    #[serde(default)]
    pub tokens_per_hour: Option<QuotaStatus>,
    /// `tokensPerProjectPerHour`.
    #[serde(default)]
    pub tokens_per_project_per_hour: Option<QuotaStatus>,
    /// `concurrentRequests`.
    #[serde(default)]
    pub concurrent_requests: Option<QuotaStatus>,
}

/// A `runReport` response.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReportResponse {
    /// The dimension headers.
    #[serde(default)]
    pub dimension_headers: Vec<DimensionHeader>,
    /// The metric headers.
    #[serde(default)]
    pub metric_headers: Vec<MetricHeader>,
    /// The rows; absent when there are none.
    #[serde(default)]
    pub rows: Vec<Row>,
    /// The total rows of the report; absent (0) when there are none.
    #[serde(default)]
    pub row_count: u64,
    /// Currency, time zone and data-quality flags.
    #[serde(default)]
    pub metadata: Metadata,
    /// The quota state, when asked for.
    #[serde(default)]
    pub property_quota: Option<PropertyQuota>,
    /// `analyticsData#runReport`.
    #[serde(default)]
    pub kind: Option<String>,
}

impl RunReportResponse {
    /// Parses a 200 body; an error envelope or anything else unreadable is worth a retry.
    pub fn parse(body: &[u8]) -> Result<Self, Verdict> {
        if let Some(e) = GoogleError::parse(body) {
            return Err(Verdict::Retry {
                wait: None,
                reason: format!("an error in a successful answer ({})", e.describe()),
            });
        }
        serde_json::from_slice(body).map_err(|e| Verdict::Retry {
            wait: None,
            reason: format!("the report is unreadable: {e}"),
        })
    }
}

/// Turns a `runReport` response (a report or a token-quota 429) into an [`Answer`].
pub fn answer(resp: &Response) -> Result<Answer<RunReportResponse>, Verdict> {
    if resp.status == StatusCode::TOO_MANY_REQUESTS {
        let e = GoogleError::parse(&resp.body).unwrap_or(GoogleError {
            code: 429,
            message: String::new(),
            status: "RESOURCE_EXHAUSTED".into(),
        });
        return Ok(Answer::Exhausted(
            Quota::of_message(&e.message),
            e.message.trim().to_owned(),
        ));
    }
    RunReportResponse::parse(&resp.body).map(Answer::Report)
}

/// Judges Data API and token-endpoint answers by their bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ga4Hook;

impl ResponseHook for Ga4Hook {
    fn classify(&self, status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        if status.is_success() {
            // Google sends errors with an error status; a 200 holding one (from a proxy) is no
            // report, and read as one it would be empty: ask again.
            return chorus_http::json::first_key_is(body, "error").then(|| Verdict::Retry {
                wait: None,
                reason: format!(
                    "http 200 with an error body: {}",
                    GoogleError::parse(body)
                        .map_or_else(|| "unreadable".to_owned(), |e| e.describe())
                ),
            });
        }
        if let Some(e) = GoogleError::parse(body) {
            let what = e.describe();
            return Some(match (status.as_u16(), e.status.as_str()) {
                (429, _) | (_, "RESOURCE_EXHAUSTED") => match Quota::of_message(&e.message) {
                    Quota::Concurrent => Verdict::Retry {
                        wait: None,
                        reason: format!("http 429 {what}"),
                    },
                    // The stream waits for the window or stops at a checkpoint.
                    Quota::Hourly | Quota::Daily => Verdict::Success,
                },
                (401, _) | (_, "UNAUTHENTICATED") => Verdict::Fail {
                    kind: ErrorKind::Auth,
                    reason: format!("http 401 {what}"),
                },
                (403, _) | (_, "PERMISSION_DENIED") => Verdict::Fail {
                    kind: ErrorKind::Auth,
                    reason: format!("http 403 {what}"),
                },
                (400, _) | (_, "INVALID_ARGUMENT") => Verdict::Fail {
                    kind: ErrorKind::Config,
                    reason: format!("http 400 {what}"),
                },
                (408 | 500..=599, _) => Verdict::Retry {
                    wait: None,
                    reason: format!("http {} {what}", status.as_u16()),
                },
                _ => Verdict::Fail {
                    kind: ErrorKind::External,
                    reason: format!("http {} {what}", status.as_u16()),
                },
            });
        }
        // The token endpoint refuses a key with an OAuth error: retrying will not help.
        if let Ok(e) = serde_json::from_slice::<OAuthError>(body)
            && status.is_client_error()
            && status != StatusCode::TOO_MANY_REQUESTS
        {
            return Some(Verdict::Fail {
                kind: ErrorKind::Auth,
                reason: format!(
                    "{}{}",
                    e.error,
                    e.error_description
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_messages_are_classified() {
        assert_eq!(
            Quota::of_message("Exhausted concurrent requests quota."),
            Quota::Concurrent
        );
        assert_eq!(
            Quota::of_message("Exhausted property tokens for a project per hour."),
            Quota::Hourly
        );
        assert_eq!(
            Quota::of_message("Exhausted property tokens per day."),
            Quota::Daily
        );
    }

    #[test]
    fn errors_are_judged_by_body() {
        let hook = Ga4Hook;
        let body = |status: &str, code: u16| {
            format!(r#"{{"error":{{"code":{code},"message":"m","status":"{status}"}}}}"#)
        };
        let judge = |code: u16, status: &str| {
            hook.classify(
                StatusCode::from_u16(code).unwrap(),
                &HeaderMap::new(),
                body(status, code).as_bytes(),
            )
        };
        assert!(matches!(
            judge(403, "PERMISSION_DENIED"),
            Some(Verdict::Fail {
                kind: ErrorKind::Auth,
                ..
            })
        ));
        assert!(matches!(
            judge(400, "INVALID_ARGUMENT"),
            Some(Verdict::Fail {
                kind: ErrorKind::Config,
                ..
            })
        ));
        assert!(matches!(
            judge(503, "UNAVAILABLE"),
            Some(Verdict::Retry { .. })
        ));
        assert_eq!(judge(429, "RESOURCE_EXHAUSTED"), Some(Verdict::Success));
        let grant = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        assert!(matches!(
            hook.classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), grant),
            Some(Verdict::Fail {
                kind: ErrorKind::Auth,
                ..
            })
        ));
        let empty = RunReportResponse::parse(br#"{"dimensionHeaders":[{"name":"date"}],"metricHeaders":[{"name":"sessions","type":"TYPE_INTEGER"}],"metadata":{"currencyCode":"USD"},"kind":"analyticsData#runReport"}"#).unwrap();
        assert_eq!((empty.rows.len(), empty.row_count), (0, 0));
    }
}
