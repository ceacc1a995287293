//! The X API v2 as this connector speaks it: the response shapes it reads, the problem
//! bodies X sends on errors, and the [`XHook`] that judges them.
//!
//! X signals errors with the HTTP status and an RFC 7807-style body
//! (`{"title","detail","type"}`), so the status mostly decides: 429 is a throttle whose end
//! is the absolute `x-rate-limit-reset` (X sends no `Retry-After`; the kit waits for the reset
//! within its total-wait limit), except a `usage-capped` 429, which no wait within a run
//! fixes; 401 and 403 are credentials or access level; 5xx is retried. A partial error —
//! HTTP 200 with an `errors` array, such as an unknown username — reaches the caller with
//! the data, to warn about and go on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chorus_core::{ErrorKind, Result};
use chorus_http::{HttpClient, Request, ResponseHook, Verdict};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The X API host.
pub const DEFAULT_BASE_URL: &str = "https://api.x.com";

/// The post fields every stream asks for: without them X sends only id and text.
pub const TWEET_FIELDS: &str = "created_at,author_id,lang,conversation_id,in_reply_to_user_id,referenced_tweets,public_metrics";

/// The user fields of the `users` stream.
pub const USER_FIELDS: &str = "created_at,verified,public_metrics";

/// The user fields of authors included with mentions and search results.
pub const AUTHOR_FIELDS: &str = "public_metrics,verified";

/// The most usernames one `GET /2/users/by` takes.
pub const USERS_PER_LOOKUP: usize = 100;

/// The most pages one read follows before it assumes the API is looping.
pub const MAX_PAGES: u64 = 100_000;

/// An error body: a problem (`title`, `detail`, `type`), or the `errors` array of an invalid
/// request or a partial error.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    /// A short summary, e.g. `Invalid Request`.
    #[serde(default)]
    pub title: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub detail: Option<String>,
    /// The problem type URI, e.g. `https://api.twitter.com/2/problems/invalid-request`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The reason of a `client-forbidden` problem.
    #[serde(default)]
    pub reason: Option<String>,
    /// The individual errors.
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

/// One entry of an `errors` array.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorItem {
    /// The message of an invalid-request entry.
    #[serde(default)]
    pub message: Option<String>,
    /// The detail of a partial error.
    #[serde(default)]
    pub detail: Option<String>,
    /// The title of a partial error, e.g. `Not Found Error`.
    #[serde(default)]
    pub title: Option<String>,
    /// The value the error is about (a username, an id).
    #[serde(default)]
    pub value: Option<String>,
    /// The problem type URI.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl ErrorItem {
    /// One line: the detail or message, else the title.
    pub fn describe(&self) -> String {
        self.detail
            .clone()
            .or_else(|| self.message.clone())
            .or_else(|| self.title.clone())
            .unwrap_or_else(|| "unspecified error".to_owned())
    }
}

impl Problem {
    /// Reads an error body, if it is one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|p| p.title.is_some() || p.detail.is_some() || !p.errors.is_empty())
    }

    /// Whether the problem type ends with `name` (`usage-capped`, `client-forbidden`).
    pub fn is(&self, name: &str) -> bool {
        self.kind.as_deref().is_some_and(|k| k.ends_with(name))
    }

    /// One line: `Title: detail (message; message)`.
    pub fn describe(&self) -> String {
        let mut s = match (&self.title, &self.detail) {
            (Some(t), Some(d)) if t != d => format!("{t}: {d}"),
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => "error".to_owned(),
        };
        let items: Vec<String> = self.errors.iter().map(ErrorItem::describe).collect();
        if !items.is_empty() {
            s.push_str(&format!(" ({})", items.join("; ")));
        }
        s
    }
}

/// The wait until `x-rate-limit-reset` once `x-rate-limit-remaining` reaches 0.
pub fn exhausted_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if header("x-rate-limit-remaining")? > 0 {
        return None;
    }
    let reset = UNIX_EPOCH + Duration::from_secs(header("x-rate-limit-reset")?);
    reset.duration_since(now).ok()
}

/// Judges X responses: usage caps, credentials and plan limits fail at once with a message
/// that says what to do; an exhausted window pauses the source until its reset.
#[derive(Debug, Clone, Copy, Default)]
pub struct XHook;

impl ResponseHook for XHook {
    fn classify(&self, status: StatusCode, _headers: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        if status.is_success() {
            return None;
        }
        let problem = Problem::parse(body).unwrap_or_default();
        let what = problem.describe();
        let fail = |kind, reason: String| Some(Verdict::Fail { kind, reason });
        match status.as_u16() {
            429 if problem.is("usage-capped") => fail(
                ErrorKind::External,
                format!(
                    "the X App's usage cap is reached ({what}); no wait within a run helps: raise the cap in the developer portal or wait for the next billing period"
                ),
            ),
            401 => fail(
                ErrorKind::Auth,
                format!(
                    "X refused the bearer token ({what}); create a new App-only bearer token in the developer portal and update the variable it comes from"
                ),
            ),
            403 => fail(
                ErrorKind::Auth,
                format!(
                    "X forbids this request ({what}); the App must belong to a Project whose access level includes this endpoint"
                ),
            ),
            400 => fail(
                ErrorKind::External,
                format!("X refused the request as invalid ({what})"),
            ),
            404 => fail(
                ErrorKind::External,
                format!("X has no such resource ({what})"),
            ),
            _ => None,
        }
    }

    fn pause(&self, headers: &HeaderMap) -> Option<Duration> {
        let wait = exhausted_wait(headers, SystemTime::now())?;
        tracing::info!(
            wait_s = wait.as_secs(),
            "X rate-limit window used up; pausing until it resets."
        );
        Some(wait)
    }
}

/// Public counters of a post.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TweetMetrics {
    /// Retweets.
    #[serde(default)]
    pub retweet_count: Option<i64>,
    /// Replies.
    #[serde(default)]
    pub reply_count: Option<i64>,
    /// Likes.
    #[serde(default)]
    pub like_count: Option<i64>,
    /// Quotes.
    #[serde(default)]
    pub quote_count: Option<i64>,
    /// Bookmarks (absent on old posts).
    #[serde(default)]
    pub bookmark_count: Option<i64>,
    /// Impressions (absent on old posts).
    #[serde(default)]
    pub impression_count: Option<i64>,
}

/// A post this one retweets, quotes or replies to.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    /// `retweeted`, `quoted` or `replied_to`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The referenced post's id.
    pub id: String,
}

/// A post, with the fields of [`TWEET_FIELDS`].
#[derive(Debug, Clone, Deserialize)]
pub struct Tweet {
    /// The id: a decimal string beyond 2^53, never a number.
    pub id: String,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
    /// The author's user id.
    #[serde(default)]
    pub author_id: Option<String>,
    /// When it was posted (RFC 3339 with milliseconds).
    #[serde(default)]
    pub created_at: Option<String>,
    /// The language X detected (BCP 47, `und` when unsure).
    #[serde(default)]
    pub lang: Option<String>,
    /// The id of the thread's first post.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The user replied to.
    #[serde(default)]
    pub in_reply_to_user_id: Option<String>,
    /// What it references; absent for an original post.
    #[serde(default)]
    pub referenced_tweets: Vec<Reference>,
    /// Public counters.
    #[serde(default)]
    pub public_metrics: Option<TweetMetrics>,
}

/// Public counters of a user.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserMetrics {
    /// Followers.
    #[serde(default)]
    pub followers_count: Option<i64>,
    /// Accounts followed.
    #[serde(default)]
    pub following_count: Option<i64>,
    /// Posts.
    #[serde(default)]
    pub tweet_count: Option<i64>,
    /// Lists the user is on.
    #[serde(default)]
    pub listed_count: Option<i64>,
}

/// A user.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The handle, without `@`.
    pub username: String,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// When the account was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Whether the account is verified.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Public counters.
    #[serde(default)]
    pub public_metrics: Option<UserMetrics>,
}

/// Objects expanded into a response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Includes {
    /// Users (authors, with `expansions=author_id`), one per distinct user.
    #[serde(default)]
    pub users: Vec<User>,
}

/// A list's paging and counts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    /// Rows on this page.
    #[serde(default)]
    pub result_count: Option<u64>,
    /// The token of the next page; absent on the last.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// One response: `data`, `includes`, `meta`, and the `errors` of a partial error.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct Page<T> {
    /// The rows (absent when there are none).
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    /// Expanded objects.
    #[serde(default)]
    pub includes: Includes,
    /// Paging.
    #[serde(default)]
    pub meta: Meta,
    /// Partial errors.
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

/// Sends a GET and reads its JSON (see `chorus_http::json`).
pub async fn get<T: DeserializeOwned>(
    client: &HttpClient,
    req: &Request,
    doing: &str,
) -> Result<T> {
    chorus_http::json::get(client, req, "X", doing).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn verdict(status: u16, body: &str) -> Option<Verdict> {
        XHook.classify(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn throttles_retry_but_usage_caps_and_credentials_fail() {
        let throttle = r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#;
        assert_eq!(verdict(429, throttle), None);
        let capped = r#"{"title":"UsageCapExceeded","detail":"Usage cap exceeded: Monthly product cap","type":"https://api.twitter.com/2/problems/usage-capped","period":"Monthly","scope":"Product"}"#;
        assert!(matches!(
            verdict(429, capped),
            Some(Verdict::Fail { kind: ErrorKind::External, reason }) if reason.contains("usage cap")
        ));
        let unauthorized =
            r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#;
        assert!(matches!(
            verdict(401, unauthorized),
            Some(Verdict::Fail {
                kind: ErrorKind::Auth,
                ..
            })
        ));
        assert!(matches!(
            verdict(
                403,
                r#"{"title":"Client Forbidden","detail":"x","type":"https://api.twitter.com/2/problems/client-forbidden","reason":"client-not-enrolled"}"#
            ),
            Some(Verdict::Fail {
                kind: ErrorKind::Auth,
                ..
            })
        ));
        assert_eq!(verdict(503, "<html>"), None);
        assert_eq!(verdict(200, "{}"), None);
    }

    #[test]
    fn invalid_requests_name_the_parameter() {
        let body = r#"{"errors":[{"parameters":{"previous_token":["b26"]},"message":"The query parameter [previous_token] is not one of [query,next_token]"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#;
        let Some(Verdict::Fail { reason, .. }) = verdict(400, body) else {
            panic!("400 must fail");
        };
        assert!(reason.contains("previous_token"), "{reason}");
    }

    #[test]
    fn an_exhausted_window_waits_for_its_reset() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1030"));
        assert_eq!(exhausted_wait(&h, now), Some(Duration::from_secs(30)));
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("3"));
        assert_eq!(exhausted_wait(&h, now), None);
    }

    #[test]
    fn ids_stay_strings_and_empty_pages_have_no_data() {
        let page: Page<Tweet> = serde_json::from_str(r#"{"meta":{"result_count":0}}"#).unwrap();
        assert!(page.data.is_empty() && page.meta.next_token.is_none());
        let page: Page<Tweet> = serde_json::from_str(
            r#"{"data":[{"id":"1524796546306478083","text":"hi","edit_history_tweet_ids":["1524796546306478083"]}],"meta":{"result_count":1,"next_token":"abc"}}"#,
        )
        .unwrap();
        assert_eq!(page.data[0].id, "1524796546306478083");
        assert_eq!(page.meta.next_token.as_deref(), Some("abc"));
    }
}
