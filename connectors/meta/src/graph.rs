//! The one Graph API client the three connectors share: versioned URLs, the error envelope,
//! throttle codes, usage headers, and paging through an edge.
//!
//! Graph errors arrive as HTTP 400/403 (rarely 5xx, never 429) with a JSON envelope whose
//! `code` says what happened, so [`MetaHook`] classifies by code, not status: throttles
//! (4, 17, 32, 613, 80000–80099) and transient errors (1, 2, `is_transient`) are retried, with
//! the wait `X-Business-Use-Case-Usage` announces; every other Graph error reaches the caller
//! as a [`GraphError`], because only the caller knows whether `(#100)` means "drop this
//! retired metric", "skip this media" or "the request is wrong".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use chorus_core::{Error, ErrorKind, Result};
use chorus_http::decode::Captured;
use chorus_http::{HttpClient, PageDecoder, Request, Response, ResponseHook, Verdict};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// The default Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

/// The default Graph API version: current, and supported until 2028.
pub const DEFAULT_API_VERSION: &str = "v25.0";

/// The most pages one edge read follows before it assumes the API is looping.
pub const MAX_PAGES: u64 = 100_000;

/// A Graph API error body: `{"error": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphError {
    /// The message, usually prefixed with `(#code)`.
    pub message: String,
    /// The error type, e.g. `OAuthException`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The error code.
    pub code: i64,
    /// The error subcode, when there is one.
    #[serde(default)]
    pub error_subcode: Option<i64>,
    /// The title Meta shows users.
    #[serde(default)]
    pub error_user_title: Option<String>,
    /// Whether Meta says a retry may succeed.
    #[serde(default)]
    pub is_transient: Option<bool>,
    /// Meta's trace id, for support requests.
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: GraphError,
}

/// Whether a body is a Graph error envelope (`{"error": …`). Graph sometimes answers HTTP 200
/// with one (a transient code 1 or 2 among them); read as a page it would have no `data` and no
/// `next`, and look like the last page of an edge.
pub fn is_error_envelope(body: &[u8]) -> bool {
    chorus_http::json::first_key_is(body, "error")
}

impl GraphError {
    /// Reads an error envelope, if the body is one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error)
    }

    /// Whether the code is one of Meta's rate-limit codes.
    pub fn is_throttle(&self) -> bool {
        matches!(self.code, 4 | 17 | 32 | 341 | 613 | 80_000..=80_099)
    }

    /// Whether Meta marks the error as temporary.
    pub fn is_transient(&self) -> bool {
        self.is_transient == Some(true)
            || (matches!(self.code, 1 | 2) && self.error_subcode != Some(1_504_041))
    }

    /// Whether the error says a metric does not exist (any more) or does not apply.
    pub fn is_invalid_metric(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.code == 100
            && self.error_subcode != Some(2_108_006)
            && m.contains("metric")
            && (m.contains("valid")
                || m.contains("must be one of")
                || m.contains("not support")
                || m.contains("no longer supported")
                || m.contains("deprecated"))
    }

    /// Whether the error is "media posted before the business account conversion".
    pub fn is_pre_business_media(&self) -> bool {
        self.code == 100 && self.error_subcode == Some(2_108_006)
    }

    /// One line for messages: `(#100/2108006) message [fbtrace_id X]`.
    pub fn describe(&self) -> String {
        let code = match self.error_subcode {
            Some(sub) => format!("{}/{sub}", self.code),
            None => self.code.to_string(),
        };
        let message = self
            .message
            .strip_prefix(&format!("(#{}) ", self.code))
            .unwrap_or(&self.message);
        let trace = self
            .fbtrace_id
            .as_deref()
            .map(|t| format!(" [fbtrace_id {t}]"))
            .unwrap_or_default();
        format!("(#{code}) {message}{trace}")
    }

    /// The chorus error for this Graph error, given what was being done.
    pub fn into_error(self, doing: &str) -> Error {
        let what = self.describe();
        match self.code {
            190 | 102 | 463 | 467 => Error::new(
                ErrorKind::Auth,
                format!(
                    "{doing}: the access token is invalid or expired {what}; create a new token (a long-lived Page or system-user token) and update the variable it comes from"
                ),
            ),
            10 | 3 | 200..=299 => Error::new(
                ErrorKind::Auth,
                format!(
                    "{doing}: the token lacks a permission {what}; grant it to the app and create a new token"
                ),
            ),
            _ => Error::new(ErrorKind::External, format!("{doing}: {what}")),
        }
    }
}

/// Usage figures from Meta's rate-limit headers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// The highest percentage of any budget used (`call_count`, `total_time`, `total_cputime`).
    pub percent: f64,
    /// The wait Meta announces before access returns, from `estimated_time_to_regain_access`
    /// (minutes) or `reset_time_duration` (seconds) when throttled.
    pub regain: Duration,
}

fn percent_of(v: &serde_json::Value) -> f64 {
    [
        "call_count",
        "total_time",
        "total_cputime",
        "acc_id_util_pct",
    ]
    .iter()
    .filter_map(|k| v.get(k).and_then(serde_json::Value::as_f64))
    .fold(0.0, f64::max)
}

/// Reads `X-App-Usage`, `X-Business-Use-Case-Usage` and `X-Ad-Account-Usage`; absent or
/// unreadable headers count as no usage.
pub fn usage(headers: &HeaderMap) -> Usage {
    let json = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
    };
    let mut u = Usage::default();
    if let Some(app) = json("x-app-usage") {
        u.percent = u.percent.max(percent_of(&app));
    }
    if let Some(serde_json::Value::Object(buc)) = json("x-business-use-case-usage") {
        for entry in buc
            .values()
            .filter_map(serde_json::Value::as_array)
            .flatten()
        {
            u.percent = u.percent.max(percent_of(entry));
            let minutes = entry
                .get("estimated_time_to_regain_access")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0);
            u.regain = u
                .regain
                .max(Duration::from_secs_f64(minutes.max(0.0) * 60.0));
        }
    }
    if let Some(ad) = json("x-ad-account-usage") {
        u.percent = u.percent.max(percent_of(&ad));
        if u.percent >= 100.0 {
            let secs = ad
                .get("reset_time_duration")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0);
            u.regain = u.regain.max(Duration::from_secs_f64(secs.max(0.0)));
        }
    }
    u
}

/// The usage above which requests slow down, in percent.
pub const SLOW_DOWN_AT: f64 = 90.0;

/// Judges Graph responses by error code and paces requests by the usage headers.
#[derive(Debug, Clone)]
pub struct MetaHook {
    /// The pause after each response at 100 % usage; it scales down linearly to zero at 90 %.
    pub slowdown: Duration,
}

impl Default for MetaHook {
    fn default() -> Self {
        Self {
            slowdown: Duration::from_secs(30),
        }
    }
}

impl MetaHook {
    /// The pause the usage headers call for: the announced regain time when throttled, a
    /// growing pause once usage passes 90 %, else none.
    pub fn pause_for(&self, usage: Usage) -> Option<Duration> {
        if !usage.regain.is_zero() {
            return Some(usage.regain);
        }
        if usage.percent < SLOW_DOWN_AT {
            return None;
        }
        let share = ((usage.percent - SLOW_DOWN_AT + 1.0) / (100.0 - SLOW_DOWN_AT + 1.0)).min(1.0);
        Some(self.slowdown.mul_f64(share))
    }
}

impl ResponseHook for MetaHook {
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        if status.is_success() && !is_error_envelope(body) {
            return None;
        }
        let Some(error) = GraphError::parse(body) else {
            // An error envelope that does not parse (cut short, or not Graph's shape) is no
            // page of data: read again rather than take it for an empty last page.
            return status.is_success().then(|| Verdict::Retry {
                wait: None,
                reason: "the Graph API answered 200 with an unreadable error body".to_owned(),
            });
        };
        if error.is_throttle() {
            let regain = usage(headers).regain;
            return Some(Verdict::Retry {
                wait: (!regain.is_zero()).then_some(regain),
                reason: format!("throttled by Meta {}", error.describe()),
            });
        }
        if error.is_transient() {
            return Some(Verdict::Retry {
                wait: None,
                reason: format!("temporary Graph error {}", error.describe()),
            });
        }
        // Everything else goes to the caller, which knows what the error means there.
        Some(Verdict::Success)
    }

    fn pause(&self, headers: &HeaderMap) -> Option<Duration> {
        let u = usage(headers);
        let pause = self.pause_for(u)?;
        tracing::debug!(
            usage_percent = u.percent,
            pause_ms = pause.as_millis() as u64,
            "Meta usage is high; slowing down."
        );
        Some(pause)
    }
}

/// The Graph API at one version, over one client.
pub struct Graph {
    client: Arc<HttpClient>,
    root: String,
}

impl Graph {
    /// A Graph client for `base_url` (e.g. `https://graph.facebook.com`) and `version`.
    pub fn new(client: Arc<HttpClient>, base_url: &str, version: &str) -> Self {
        Self {
            client,
            root: format!("{}/{}", base_url.trim_end_matches('/'), version),
        }
    }

    /// The absolute URL of `path` (`{page-id}/posts`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.root, path.trim_start_matches('/'))
    }

    /// The HTTP client, for its statistics and redaction.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Sends a request: the response, or the Graph error the caller has to judge.
    pub async fn call(&self, req: &Request) -> Result<std::result::Result<Response, GraphError>> {
        self.client
            .execute(req, |resp| {
                if resp.status.is_success() && !is_error_envelope(&resp.body) {
                    return Ok(Ok(resp.clone()));
                }
                match GraphError::parse(&resp.body) {
                    Some(e) => Ok(Err(e)),
                    None => Err(Verdict::Fail {
                        kind: ErrorKind::External,
                        reason: format!("http {}", resp.status.as_u16()),
                    }),
                }
            })
            .await
    }

    /// Sends a request whose every Graph error is fatal.
    pub async fn get(&self, req: &Request, doing: &str) -> Result<Response> {
        self.call(req).await?.map_err(|e| e.into_error(doing))
    }

    /// Reads one JSON object.
    pub async fn object(&self, req: &Request, doing: &str) -> Result<serde_json::Value> {
        let resp = self.get(req, doing).await?;
        serde_json::from_slice(&resp.body).map_err(|e| {
            Error::contract(format!("{doing}: the Graph API sent unreadable JSON: {e}"))
        })
    }

    /// Decodes one page of an edge with `decoder`, whose first capture is `paging.next`.
    pub fn decode_page(
        decoder: &PageDecoder,
        resp: &Response,
        doing: &str,
    ) -> Result<(RecordBatch, Option<String>)> {
        let (batch, captured): (RecordBatch, Captured) =
            decoder.decode(&resp.body).map_err(|e| {
                if e.retryable {
                    Error::new(
                        ErrorKind::Transient,
                        format!("{doing}: unreadable page: {e}"),
                    )
                } else {
                    Error::contract(format!("{doing}: the Graph API broke the schema: {e}"))
                }
            })?;
        let next = captured.values.first().cloned().flatten();
        Ok((batch, next.filter(|n| !n.is_empty())))
    }

    /// The request for the page after `base`, from a `paging.next` URL (which already holds
    /// every parameter, and a query token when the API echoes one). A next URL on another
    /// origin than `base` is refused: the token would go there.
    pub fn next_request(base: &Request, next: String, doing: &str) -> Result<Request> {
        let url = chorus_http::check_next_url(&base.full_url()?, &next)
            .map_err(|reason| Error::new(ErrorKind::External, format!("{doing}: {reason}")))?;
        Ok(Request {
            url: url.into(),
            query: Vec::new(),
            ..base.clone()
        })
    }
}

/// Pages through one edge: each call returns the next page's rows until `paging.next` is
/// gone. An empty page with a `next` link is followed, as Meta documents.
///
/// The next page is requested while the current one decodes: `paging` comes after `data` in
/// Graph answers, so [`peek_next`] reads the `next` link from the end of the body at once and
/// the request for it starts on its own task. The full decode then confirms the link; a
/// request for anything else is abandoned and the right page fetched in order, so the pages
/// read are exactly the ones the links name.
pub struct Pager {
    graph: Arc<Graph>,
    decoder: Arc<PageDecoder>,
    base: Request,
    next: Option<Request>,
    pages: u64,
    doing: String,
    prefetch: Option<Prefetch>,
}

/// A page requested before its link was confirmed.
struct Prefetch {
    url: String,
    task: tokio::task::JoinHandle<Result<Response>>,
}

impl Drop for Pager {
    fn drop(&mut self) {
        if let Some(p) = self.prefetch.take() {
            p.task.abort();
        }
    }
}

/// The `paging.next` link of a Graph answer, read from the end of the body without decoding
/// the records; `None` when the body does not end with a `paging` object holding one.
pub fn peek_next(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"paging\":";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)?;
    #[derive(Deserialize)]
    struct Paging {
        next: Option<String>,
    }
    let mut values =
        serde_json::Deserializer::from_slice(&body[at + KEY.len()..]).into_iter::<Paging>();
    values.next()?.ok()?.next.filter(|n| !n.is_empty())
}

impl Pager {
    /// A pager from the first request; `decoder` must capture `paging.next` first.
    pub fn new(
        graph: Arc<Graph>,
        decoder: Arc<PageDecoder>,
        first: Request,
        doing: String,
    ) -> Self {
        Self {
            graph,
            decoder,
            base: first.clone(),
            next: Some(first),
            pages: 0,
            doing,
            prefetch: None,
        }
    }

    /// The next page's rows, or `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<RecordBatch>> {
        let Some(req) = self.next.take() else {
            return Ok(None);
        };
        if self.pages >= MAX_PAGES {
            return Err(Error::new(
                ErrorKind::External,
                format!(
                    "{}: stopped after {} pages: the API kept returning a next page",
                    self.doing, self.pages
                ),
            ));
        }
        let resp = match self.prefetch.take() {
            Some(p) if p.url == req.url => p.task.await.map_err(|e| {
                Error::internal(format!("{}: a page request failed: {e}", self.doing))
            })??,
            other => {
                if let Some(p) = other {
                    p.task.abort();
                }
                self.graph.get(&req, &self.doing).await?
            }
        };
        // A link that fails the origin check is not requested ahead; the full decode below
        // reports it.
        if self.pages + 1 < MAX_PAGES
            && let Some(url) = peek_next(&resp.body)
            && let Ok(ahead) = Graph::next_request(&self.base, url, &self.doing)
        {
            let graph = Arc::clone(&self.graph);
            let doing = self.doing.clone();
            self.prefetch = Some(Prefetch {
                url: ahead.url.clone(),
                task: tokio::spawn(async move { graph.get(&ahead, &doing).await }),
            });
        }
        let (batch, next) = Graph::decode_page(&self.decoder, &resp, &self.doing)?;
        self.pages += 1;
        self.next = next
            .map(|n| Graph::next_request(&self.base, n, &self.doing))
            .transpose()?;
        Ok(Some(batch))
    }
}

/// Parses the query of a URL into a map, for tests and logs.
pub fn query_map(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn peek_next_reads_the_link_at_the_end_and_only_there() {
        let body = br#"{"data":[{"id":"1","message":"\"paging\": {\"next\": \"x\"}"}],"paging":{"cursors":{"before":"a","after":"b"},"next":"https://graph.facebook.com/v25.0/1/posts?after=b"}}"#;
        assert_eq!(
            peek_next(body).as_deref(),
            Some("https://graph.facebook.com/v25.0/1/posts?after=b")
        );
        let last = br#"{"data":[],"paging":{"cursors":{"before":"a","after":"b"}}}"#;
        assert_eq!(peek_next(last), None);
        assert_eq!(peek_next(br#"{"data":[]}"#), None);
        assert_eq!(peek_next(b"not json"), None);
    }

    #[test]
    fn usage_reads_every_header_and_tolerates_none() {
        assert_eq!(usage(&HeaderMap::new()), Usage::default());
        let u = usage(&headers(&[
            (
                "x-app-usage",
                r#"{"call_count":28,"total_time":25,"total_cputime":25}"#,
            ),
            (
                "x-business-use-case-usage",
                r#"{"1234":[{"type":"pages","call_count":97,"total_cputime":23,"total_time":23,"estimated_time_to_regain_access":2}]}"#,
            ),
        ]));
        assert_eq!(u.percent, 97.0);
        assert_eq!(u.regain, Duration::from_secs(120));
        assert_eq!(
            usage(&headers(&[("x-app-usage", "not json")])),
            Usage::default()
        );
    }

    #[test]
    fn pauses_grow_past_ninety_percent() {
        let hook = MetaHook {
            slowdown: Duration::from_secs(10),
        };
        let at = |percent: f64| {
            hook.pause_for(Usage {
                percent,
                regain: Duration::ZERO,
            })
        };
        assert_eq!(at(50.0), None);
        assert_eq!(at(89.9), None);
        let p90 = at(90.0).unwrap();
        let p95 = at(95.0).unwrap();
        assert!(
            p90 < p95 && p95 < Duration::from_secs(10),
            "{p90:?} {p95:?}"
        );
        assert_eq!(at(100.0), Some(Duration::from_secs(10)));
        let regain = Usage {
            percent: 100.0,
            regain: Duration::from_secs(60),
        };
        assert_eq!(hook.pause_for(regain), Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_200_with_an_error_body_is_an_error_not_a_last_page() {
        let hook = MetaHook::default();
        let transient = br#"{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"A1"}}"#;
        assert!(is_error_envelope(transient));
        assert!(is_error_envelope(b" \n{ \"error\" : {}}"));
        assert!(matches!(
            hook.classify(StatusCode::OK, &HeaderMap::new(), transient),
            Some(Verdict::Retry { .. })
        ));
        let broken = br#"{"error":{"message":"cut sho"#;
        assert!(matches!(
            hook.classify(StatusCode::OK, &HeaderMap::new(), broken),
            Some(Verdict::Retry { .. })
        ));
        let fatal = br#"{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100,"fbtrace_id":"A1"}}"#;
        assert!(matches!(
            hook.classify(StatusCode::OK, &HeaderMap::new(), fatal),
            Some(Verdict::Success)
        ));
        // Pages of data, even ones that mention an error, are pages.
        for page in [
            &br#"{"data":[{"id":"1","message":"error"}],"paging":{}}"#[..],
            br#"{"data":[],"error_count":0}"#,
            br#"[]"#,
            b"",
        ] {
            assert!(!is_error_envelope(page));
            assert!(
                hook.classify(StatusCode::OK, &HeaderMap::new(), page)
                    .is_none()
            );
        }
    }

    #[test]
    fn errors_are_judged_by_code_not_status() {
        let hook = MetaHook::default();
        let body = |code: i64, sub: Option<i64>, msg: &str| {
            serde_json::json!({"error": {"message": msg, "type": "OAuthException", "code": code, "error_subcode": sub, "fbtrace_id": "A1"}})
                .to_string()
        };
        let status = StatusCode::BAD_REQUEST;
        for code in [4, 17, 32, 613, 80_000, 80_001, 80_002, 80_004] {
            let v = hook.classify(
                status,
                &HeaderMap::new(),
                body(code, None, "(#4) limit").as_bytes(),
            );
            assert!(
                matches!(v, Some(Verdict::Retry { wait: None, .. })),
                "{code}: {v:?}"
            );
        }
        let throttled = headers(&[(
            "x-business-use-case-usage",
            r#"{"1":[{"type":"ads_insights","call_count":100,"estimated_time_to_regain_access":1}]}"#,
        )]);
        let v = hook.classify(
            StatusCode::FORBIDDEN,
            &throttled,
            body(80_000, Some(2_446_079), "x").as_bytes(),
        );
        assert!(
            matches!(v, Some(Verdict::Retry { wait: Some(w), .. }) if w == Duration::from_secs(60))
        );
        let v = hook.classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            &HeaderMap::new(),
            body(2, None, "x").as_bytes(),
        );
        assert!(matches!(v, Some(Verdict::Retry { .. })));
        let v = hook.classify(
            status,
            &HeaderMap::new(),
            body(
                100,
                None,
                "(#100) The value must be a valid insights metric",
            )
            .as_bytes(),
        );
        assert_eq!(v, Some(Verdict::Success));
        assert_eq!(
            hook.classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>"),
            None
        );
    }

    #[test]
    fn graph_errors_name_their_meaning() {
        let e = |code, sub, msg: &str| GraphError {
            message: msg.to_owned(),
            kind: None,
            code,
            error_subcode: sub,
            error_user_title: None,
            is_transient: None,
            fbtrace_id: Some("T".into()),
        };
        assert!(
            e(
                100,
                None,
                "(#100) The value must be a valid insights metric"
            )
            .is_invalid_metric()
        );
        assert!(e(100, None, "(#100) The Media Insights API does not support the views metric for this media product type.").is_invalid_metric());
        assert!(
            e(
                100,
                None,
                "Starting from version 22 and above, the impressions metric is no longer supported"
            )
            .is_invalid_metric()
        );
        assert!(!e(100, Some(2_108_006), "Invalid parameter").is_invalid_metric());
        assert!(e(100, Some(2_108_006), "Invalid parameter").is_pre_business_media());
        assert!(!e(100, None, "(#100) Tried accessing nonexisting field").is_invalid_metric());
        let err = e(190, Some(463), "Error validating access token").into_error("reading page");
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(err.message().contains("(#190/463)"), "{}", err.message());
        let err = e(10, None, "(#10) Requires read_insights permission").into_error("x");
        assert!(
            err.message().contains("lacks a permission") && err.message().contains("read_insights")
        );
        assert_eq!(
            e(100, None, "(#100) x").into_error("y").kind(),
            ErrorKind::External
        );
    }
}
