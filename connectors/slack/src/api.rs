//! The Slack Web API client: one paced HTTP client per method, Slack's `ok: false` error
//! envelope, and cursor paging through `response_metadata.next_cursor`.
//!
//! Slack answers errors with HTTP 200 and `{"ok": false, "error": "…"}`, so [`SlackHook`]
//! reads the body before the status is trusted: `ratelimited`, `internal_error`,
//! `fatal_error`, `service_unavailable` and `request_timeout` are retried (honouring
//! `Retry-After`); every other error reaches the caller as a [`SlackError`], because only the
//! caller knows whether `not_in_channel` means "skip this channel" or "fail". HTTP 429 with
//! `Retry-After` is the kit's, and pauses only the method that was throttled: Slack's limits
//! are per method, per workspace, per app.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chorus_core::{Error, ErrorKind, Result, Secret};
use chorus_http::{
    Auth, ClientConfig, HttpClient, RateLimit, Request, ResponseHook, Verdict, retry::retry_after,
};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The Web API root.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// The most pages one listing follows before it assumes the API is looping.
pub const MAX_PAGES: u64 = 1_000_000;

/// The Web API methods the connector calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `auth.test` (special tier: hundreds a minute).
    AuthTest,
    /// `conversations.list` (Tier 2).
    ConversationsList,
    /// `users.list` (Tier 2).
    UsersList,
    /// `conversations.history` (Tier 3, or 1 a minute for non-Marketplace apps).
    History,
    /// `conversations.replies` (Tier 3, or 1 a minute for non-Marketplace apps).
    Replies,
}

impl Method {
    /// Every method, in the order of [`Pacing::per_minute`].
    pub const ALL: [Method; 5] = [
        Method::AuthTest,
        Method::ConversationsList,
        Method::UsersList,
        Method::History,
        Method::Replies,
    ];

    /// The method's name in the URL.
    pub fn name(self) -> &'static str {
        match self {
            Method::AuthTest => "auth.test",
            Method::ConversationsList => "conversations.list",
            Method::UsersList => "users.list",
            Method::History => "conversations.history",
            Method::Replies => "conversations.replies",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

/// Requests per minute for each method; `None` leaves a method unpaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Indexed like [`Method::ALL`].
    pub per_minute: [Option<u32>; 5],
}

/// An `ok: false` answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slack answered {method} with error {code}{}", self.scope_detail())]
pub struct SlackError {
    /// The method that answered.
    pub method: &'static str,
    /// Slack's error code, e.g. `not_in_channel`.
    pub code: String,
    /// The scope a `missing_scope` answer says is needed.
    pub needed: Option<String>,
    /// The scopes the token has, from a `missing_scope` answer.
    pub provided: Option<String>,
}

/// What a caller does with a [`SlackError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The channel cannot be read by this token: skip it with a warning.
    SkipChannel,
    /// The token is invalid, revoked or lacks a scope: exit 77.
    Auth,
    /// Anything else: the request was wrong or the API misbehaved.
    Other,
}

impl SlackError {
    fn scope_detail(&self) -> String {
        match (&self.needed, &self.provided) {
            (Some(n), Some(p)) => format!(" (needs {n}; the token has {p})"),
            (Some(n), None) => format!(" (needs {n})"),
            _ => String::new(),
        }
    }

    /// What the error means for the caller.
    pub fn severity(&self) -> Severity {
        match self.code.as_str() {
            "not_in_channel" | "channel_not_found" => Severity::SkipChannel,
            "invalid_auth"
            | "not_authed"
            | "token_revoked"
            | "token_expired"
            | "account_inactive"
            | "missing_scope"
            | "no_permission"
            | "not_allowed_token_type"
            | "ekm_access_denied"
            | "team_access_not_granted"
            | "access_denied" => Severity::Auth,
            _ => Severity::Other,
        }
    }

    /// The chorus error for this answer, given what was being done.
    pub fn into_error(self, doing: &str) -> Error {
        match (self.severity(), self.code.as_str()) {
            (Severity::Auth, "missing_scope") => {
                let needed = self.needed.clone().unwrap_or_else(|| "a scope".to_owned());
                let has = self
                    .provided
                    .as_deref()
                    .map(|p| format!(" (it has {p})"))
                    .unwrap_or_default();
                Error::new(
                    ErrorKind::Auth,
                    format!(
                        "{doing}: the Slack token lacks the scope {needed}{has}; add {needed} to the app's Bot Token Scopes (OAuth & Permissions), reinstall the app to the workspace and update the token"
                    ),
                )
            }
            (Severity::Auth, code) => Error::new(
                ErrorKind::Auth,
                format!(
                    "{doing}: Slack refused the token ({code}): it is invalid, revoked or expired; create a new bot token (xoxb-…) and update the variable it comes from"
                ),
            ),
            _ => Error::new(ErrorKind::External, format!("{doing}: {self}")),
        }
    }
}

/// Whether an `ok: false` code is worth another try.
pub fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "ratelimited"
            | "rate_limited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
    )
}

/// The part of every answer that says whether it worked.
#[derive(Debug, Deserialize)]
struct Status {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    needed: Option<String>,
    #[serde(default)]
    provided: Option<String>,
}

/// Judges Slack answers by their `ok` field before their status.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackHook;

impl ResponseHook for SlackHook {
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        if !status.is_success() {
            return None;
        }
        // An unreadable body is judged by the parser, which asks for a retry.
        let s = serde_json::from_slice::<Status>(body).ok()?;
        if s.ok {
            return None;
        }
        let code = s.error.unwrap_or_default();
        if is_transient(&code) {
            return Some(Verdict::Retry {
                wait: retry_after(headers, SystemTime::now()),
                reason: format!("slack error {code}"),
            });
        }
        Some(Verdict::Success)
    }
}

/// `response_metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseMetadata {
    /// The cursor of the next page; empty or absent on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// An answer that pages with a cursor.
pub trait Paged: DeserializeOwned {
    /// The next page's cursor, if there is one.
    fn next_cursor(&self) -> Option<&str>;

    /// Gives each record the fields this connector does not read, from the page's `body`.
    fn keep_unknown_fields(&mut self, body: &[u8]) -> std::result::Result<(), serde_json::Error>;
}

macro_rules! paged {
    ($t:ty, $records:ident, $record:ty) => {
        impl Paged for $t {
            fn next_cursor(&self) -> Option<&str> {
                self.response_metadata
                    .as_ref()
                    .and_then(|m| m.next_cursor.as_deref())
                    .filter(|c| !c.is_empty())
            }

            fn keep_unknown_fields(
                &mut self,
                body: &[u8],
            ) -> std::result::Result<(), serde_json::Error> {
                let extras = chorus_http::extra::unknown_fields(
                    body,
                    stringify!($records),
                    chorus_http::extra::fields_of::<$record>(),
                )?;
                for (record, extra) in self.$records.iter_mut().zip(extras) {
                    record.extra = extra;
                }
                Ok(())
            }
        }
    };
}

/// A `topic` or `purpose`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct About {
    /// The text.
    #[serde(default)]
    pub value: Option<String>,
}

/// A channel from `conversations.list`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Channel {
    /// `C…`.
    pub id: String,
    /// The name, without `#`.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it is private.
    #[serde(default)]
    pub is_private: Option<bool>,
    /// Whether it is archived.
    #[serde(default)]
    pub is_archived: Option<bool>,
    /// Whether the bot is a member.
    #[serde(default)]
    pub is_member: Option<bool>,
    /// Creation, unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// Member count.
    #[serde(default)]
    pub num_members: Option<i64>,
    /// The topic.
    #[serde(default)]
    pub topic: Option<About>,
    /// The purpose.
    #[serde(default)]
    pub purpose: Option<About>,
    /// The fields this connector does not read, as JSON, when the source keeps them.
    #[serde(skip)]
    pub extra: Option<String>,
}

/// A `conversations.list` page.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelsPage {
    /// The channels.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// The cursor.
    #[serde(default)]
    pub response_metadata: Option<ResponseMetadata>,
}
paged!(ChannelsPage, channels, Channel);

/// A member's profile.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    /// The full name.
    #[serde(default)]
    pub real_name: Option<String>,
}

/// A member from `users.list`.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// `U…` or `W…`.
    pub id: String,
    /// The handle.
    #[serde(default)]
    pub name: Option<String>,
    /// The full name (also in the profile).
    #[serde(default)]
    pub real_name: Option<String>,
    /// The profile.
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Whether it is a bot user.
    #[serde(default)]
    pub is_bot: Option<bool>,
    /// Whether it is deactivated.
    #[serde(default)]
    pub deleted: Option<bool>,
    /// The IANA zone.
    #[serde(default)]
    pub tz: Option<String>,
    /// The last change, unix seconds.
    #[serde(default)]
    pub updated: Option<i64>,
    /// The fields this connector does not read, as JSON, when the source keeps them.
    #[serde(skip)]
    pub extra: Option<String>,
}

/// A `users.list` page.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersPage {
    /// The members.
    #[serde(default)]
    pub members: Vec<User>,
    /// The cursor.
    #[serde(default)]
    pub response_metadata: Option<ResponseMetadata>,
}
paged!(UsersPage, members, User);

/// One reaction on a message.
#[derive(Debug, Clone, Deserialize)]
pub struct Reaction {
    /// How many people reacted with it.
    #[serde(default)]
    pub count: i64,
}

/// A message from `conversations.history` or `conversations.replies`.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// The message id within its channel, `1730000000.000123`.
    pub ts: String,
    /// The author.
    #[serde(default)]
    pub user: Option<String>,
    /// The posting bot.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// `channel_join`, `bot_message`, … or absent.
    #[serde(default)]
    pub subtype: Option<String>,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
    /// The thread's parent ts (a parent carries its own).
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Replies in its thread.
    #[serde(default)]
    pub reply_count: Option<i64>,
    /// Distinct repliers.
    #[serde(default)]
    pub reply_users_count: Option<i64>,
    /// Reactions.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The fields this connector does not read, as JSON, when the source keeps them.
    #[serde(skip)]
    pub extra: Option<String>,
}

impl Message {
    /// Whether the message starts a thread with replies.
    pub fn is_thread_parent(&self) -> bool {
        self.reply_count.unwrap_or(0) > 0 && self.thread_ts.as_deref() == Some(self.ts.as_str())
    }
}

/// A `conversations.history` or `conversations.replies` page.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesPage {
    /// The messages.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Whether more pages follow.
    #[serde(default)]
    pub has_more: Option<bool>,
    /// The cursor.
    #[serde(default)]
    pub response_metadata: Option<ResponseMetadata>,
}
paged!(MessagesPage, messages, Message);

/// The `auth.test` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthTest {
    /// The workspace URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The workspace name.
    #[serde(default)]
    pub team: Option<String>,
    /// The workspace id.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The bot user's handle.
    #[serde(default)]
    pub user: Option<String>,
    /// The bot id, for bot tokens.
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// The Web API over one paced client per method.
pub struct Api {
    root: String,
    clients: Vec<Arc<HttpClient>>,
    /// Whether paged records keep the fields this connector does not read.
    keep_unknown_fields: bool,
}

impl Api {
    /// A client for `base_url` with `token` in the `Authorization` header.
    pub fn new(
        token: &Secret,
        base_url: &str,
        pacing: &Pacing,
        config: &ClientConfig,
        keep_unknown_fields: bool,
    ) -> Result<Self> {
        let clients = Method::ALL
            .iter()
            .map(|m| {
                let mut config = config.clone();
                config.rate_limit = pacing.per_minute[m.index()].map(|n| RateLimit {
                    requests: n.max(1),
                    per: Duration::from_secs(60),
                    burst: 1,
                });
                HttpClient::new(Auth::Bearer(token.clone()), config, Arc::new(SlackHook))
                    .map(Arc::new)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            root: base_url.trim_end_matches('/').to_owned(),
            clients,
            keep_unknown_fields,
        })
    }

    /// The URL of a method.
    pub fn url(&self, method: Method) -> String {
        format!("{}/{}", self.root, method.name())
    }

    /// Secret values to redact from messages.
    pub fn secrets(&self) -> &[String] {
        self.clients.first().map_or(&[], |c| c.secrets())
    }

    /// Requests sent so far, over every method.
    pub fn requests(&self) -> u64 {
        self.clients
            .iter()
            .map(|c| c.stats.requests.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    /// Calls `method` with `params` (a GET; the token rides in the header): the answer, or the
    /// `ok: false` error for the caller to judge.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        params: &[(String, String)],
    ) -> Result<std::result::Result<T, SlackError>> {
        self.call_with(method, params, |_, _| Ok(())).await
    }

    /// [`Api::call`] for a paged method: with the source's `keep_unknown_fields`, each record
    /// keeps the fields this connector does not read.
    pub async fn call_paged<T: Paged>(
        &self,
        method: Method,
        params: &[(String, String)],
    ) -> Result<std::result::Result<T, SlackError>> {
        let keep = self.keep_unknown_fields;
        self.call_with(method, params, move |page: &mut T, body| {
            if keep {
                page.keep_unknown_fields(body)?;
            }
            Ok(())
        })
        .await
    }

    /// [`Api::call`], with `then` run on the page and its body once it has been read.
    async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        params: &[(String, String)],
        then: impl Fn(&mut T, &[u8]) -> std::result::Result<(), serde_json::Error>,
    ) -> Result<std::result::Result<T, SlackError>> {
        let req = Request::get(self.url(method)).with_params(params);
        let client = &self.clients[method.index()];
        client
            .execute(&req, |resp| {
                let status: Status =
                    serde_json::from_slice(&resp.body).map_err(|e| Verdict::Retry {
                        wait: None,
                        reason: format!("unreadable answer: {e}"),
                    })?;
                if !status.ok {
                    return Ok(Err(SlackError {
                        method: method.name(),
                        code: status.error.unwrap_or_else(|| "unknown".to_owned()),
                        needed: status.needed,
                        provided: status.provided,
                    }));
                }
                serde_json::from_slice::<T>(&resp.body)
                    .and_then(|mut page| then(&mut page, &resp.body).map(|()| page))
                    .map(Ok)
                    .map_err(|e| Verdict::Fail {
                        kind: ErrorKind::Contract,
                        reason: format!("the answer of {} broke its shape: {e}", method.name()),
                    })
            })
            .await
    }
}

/// Pages through one cursor-paged method.
pub struct Pager<'a> {
    api: &'a Api,
    method: Method,
    params: Vec<(String, String)>,
    cursor: Option<String>,
    done: bool,
    pages: u64,
}

impl<'a> Pager<'a> {
    /// A pager over `method` with fixed `params` (limit, channel, window).
    pub fn new(api: &'a Api, method: Method, params: Vec<(String, String)>) -> Self {
        Self {
            api,
            method,
            params,
            cursor: None,
            done: false,
            pages: 0,
        }
    }

    /// The next page, `None` after the last, or the error Slack answered.
    pub async fn next<T: Paged>(&mut self) -> Result<Option<std::result::Result<T, SlackError>>> {
        if self.done {
            return Ok(None);
        }
        if self.pages >= MAX_PAGES {
            return Err(Error::new(
                ErrorKind::External,
                format!(
                    "{}: stopped after {} pages: the API kept returning a next cursor",
                    self.method.name(),
                    self.pages
                ),
            ));
        }
        let mut params = self.params.clone();
        if let Some(c) = &self.cursor {
            params.push(("cursor".to_owned(), c.clone()));
        }
        let page = match self.api.call_paged::<T>(self.method, &params).await? {
            Ok(p) => p,
            Err(e) => {
                self.done = true;
                return Ok(Some(Err(e)));
            }
        };
        self.pages += 1;
        self.cursor = page.next_cursor().map(str::to_owned);
        self.done = self.cursor.is_none();
        Ok(Some(Ok(page)))
    }
}

/// Parses a Slack ts (`1730000000.000123`, or whole seconds) to microseconds since the epoch,
/// exactly (no float rounding).
pub fn parse_ts(ts: &str) -> Option<i64> {
    let ts = ts.trim();
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = format!("{frac:0<6}").parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Formats microseconds since the epoch as a Slack ts.
pub fn format_ts(micros: i64) -> String {
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn ts_parses_exactly() {
        assert_eq!(parse_ts("1512085950.000216"), Some(1_512_085_950_000_216));
        assert_eq!(parse_ts("1512085950"), Some(1_512_085_950_000_000));
        assert_eq!(format_ts(1_512_085_950_000_216), "1512085950.000216");
        assert_eq!(parse_ts("1512085950.1234567"), None);
        assert_eq!(parse_ts("abc"), None);
    }

    #[test]
    fn the_hook_reads_ok_false_in_http_200() {
        let h = SlackHook;
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let v = h.classify(
            StatusCode::OK,
            &headers,
            br#"{"ok":false,"error":"ratelimited"}"#,
        );
        assert!(
            matches!(v, Some(Verdict::Retry { wait: Some(w), .. }) if w == Duration::from_secs(7)),
            "{v:?}"
        );
        let v = h.classify(
            StatusCode::OK,
            &HeaderMap::new(),
            br#"{"ok":false,"error":"internal_error"}"#,
        );
        assert!(matches!(v, Some(Verdict::Retry { wait: None, .. })));
        let v = h.classify(
            StatusCode::OK,
            &HeaderMap::new(),
            br#"{"ok":false,"error":"not_in_channel"}"#,
        );
        assert_eq!(v, Some(Verdict::Success));
        assert_eq!(
            h.classify(StatusCode::OK, &HeaderMap::new(), br#"{"ok":true}"#),
            None
        );
        assert_eq!(
            h.classify(StatusCode::OK, &HeaderMap::new(), br#"{"ok":tr"#),
            None
        );
        assert_eq!(
            h.classify(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}"),
            None
        );
    }

    #[test]
    fn errors_map_to_what_a_user_can_do() {
        let e = |code: &str, needed: Option<&str>| SlackError {
            method: "conversations.history",
            code: code.to_owned(),
            needed: needed.map(str::to_owned),
            provided: needed.map(|_| "channels:read".to_owned()),
        };
        assert_eq!(e("not_in_channel", None).severity(), Severity::SkipChannel);
        assert_eq!(
            e("channel_not_found", None).severity(),
            Severity::SkipChannel
        );
        let err = e("missing_scope", Some("channels:history")).into_error("reading #general");
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(
            err.message()
                .contains("lacks the scope channels:history (it has channels:read)"),
            "{err}"
        );
        for code in ["invalid_auth", "token_revoked", "not_authed"] {
            let err = e(code, None).into_error("x");
            assert_eq!(err.kind(), ErrorKind::Auth, "{code}");
            assert!(err.message().contains(code), "{err}");
        }
        assert_eq!(
            e("invalid_cursor", None).into_error("x").kind(),
            ErrorKind::External
        );
    }
}
