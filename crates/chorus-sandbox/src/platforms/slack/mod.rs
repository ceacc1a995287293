//! The Slack Web API platform, under `/slack`: `GET` or form `POST` to `/slack/api/{method}`,
//! as `https://slack.com/api/{method}`. Facts and sources: `docs/dev/platforms/slack-web-api.md`.
//!
//! What is emulated:
//! - Auth: the token from `Authorization: Bearer` or a `token` parameter (query or form), as
//!   Slack accepts both. [`TOKEN`] has every scope the connector needs; [`TOKEN_NO_HISTORY`]
//!   lacks `channels:history` and `groups:history`; [`REVOKED_TOKEN`] answers `token_revoked`;
//!   no token `not_authed`; anything else `invalid_auth`. Every error is HTTP 200 with
//!   `{"ok": false, "error": …}`; `missing_scope` adds `needed` and `provided`.
//! - `auth.test`; `conversations.list` (`types`, `exclude_archived`, `limit` up to 1000, default
//!   100, `cursor`; private channels only where the bot is a member; `next_cursor` `""` on the
//!   last page); `users.list` (`limit`, no limit means everything, `cursor`);
//!   `conversations.history` (`channel`, `oldest`, `latest`, `inclusive`, `limit`, `cursor`;
//!   newest first; `not_in_channel` where the bot is not a member, `channel_not_found` for an
//!   unknown id); `conversations.replies` (`channel`, `ts`, the same window and paging; the
//!   parent first, then the replies oldest first; `thread_not_found`).
//! - The limits of an app not approved for the Marketplace: `conversations.history` and
//!   `conversations.replies` default to and cap `limit` at [`HISTORY_MAX_LIMIT`] (15). The
//!   one-request-a-minute pace is not enforced (tests would wait minutes); the connector's
//!   pacing is tested on its own.
//! - Status faults: `429` and `429reset` are HTTP 429 with `Retry-After: 1` and
//!   `{"ok":false,"error":"ratelimited"}`; `throttle400` is the same body in an HTTP 200 (with
//!   `Retry-After: 1`); `error200` is HTTP 200 `internal_error`; `500`/`503` are `internal_error`
//!   and `service_unavailable` bodies with those statuses.
//!
//! Unverified shape choices (not confirmed against a live workspace): cursor strings
//! (base64 of `next_ts:`/`next:` positions), `response_metadata` omitted from history and
//! replies pages without more, the parent of a thread returned on every first replies page
//! whatever the window, `tz` absent on deactivated members, the `unknown_method` answer
//! (HTTP 404), and the bodies of 5xx answers.

mod dataset;

pub use dataset::{Channel, Dataset, Message, Reaction, USERS_PER_SCALE, User, parse_ts, ts_of};

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::auth;
use crate::data::{self, Truth};
use crate::faults::FaultKind;
use crate::platforms::{Context, Platform};

/// The path prefix of the Slack platform (the API is under `/slack/api`).
pub const PREFIX: &str = "/slack";
/// A bot token with every scope the connector uses.
pub const TOKEN: &str = "xoxb-1000000001-2000000002-chorusSandboxSlackToken7";
/// A bot token without `channels:history` and `groups:history`.
pub const TOKEN_NO_HISTORY: &str = "xoxb-1000000001-2000000003-chorusNoHistoryScope4";
/// A bot token that was revoked (`token_revoked`).
pub const REVOKED_TOKEN: &str = "xoxb-1000000001-2000000004-chorusRevokedToken9";
/// The workspace id.
pub const TEAM_ID: &str = "T0CHORUS01";
/// The workspace name.
pub const TEAM_NAME: &str = "Chorus Sandbox Community";
/// The bot's user id.
pub const BOT_USER_ID: &str = "U0CHORUSBOT";
/// The bot id of the app.
pub const BOT_ID: &str = "B0CHORUSAPP";
/// The scopes of [`TOKEN_NO_HISTORY`].
pub const SCOPES_NO_HISTORY: &[&str] = &["channels:read", "groups:read", "users:read"];
/// The scopes of [`TOKEN`].
pub const SCOPES: &[&str] = &[
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "users:read",
];
/// The default and largest `limit` of `conversations.history` and `conversations.replies`
/// for an app not approved for the Marketplace.
pub const HISTORY_MAX_LIMIT: usize = 15;
/// The default `limit` of `conversations.list`.
pub const LIST_DEFAULT_LIMIT: usize = 100;
/// The largest `limit` of `conversations.list` and `users.list`.
pub const LIST_MAX_LIMIT: usize = 1000;
/// The days of top-level messages, ending at the anchor (2026-08-01..2026-11-01 at
/// [`crate::data::REFERENCE_ANCHOR`]).
pub const DATA_DAYS: i64 = 92;

/// The first day of generated messages (UTC): [`DATA_DAYS`] before `anchor`.
pub fn data_start(anchor: NaiveDate) -> NaiveDate {
    data::offset(anchor, -DATA_DAYS)
}

/// The day no top-level message reaches (UTC): the anchor; replies trail their parents by up
/// to 2 days.
pub fn data_end(anchor: NaiveDate) -> NaiveDate {
    anchor
}

/// Shared state of the Slack routes.
struct Slack {
    truth: Arc<Truth>,
}

/// Builds the Slack platform.
pub(crate) fn platform(ctx: &Context) -> Platform {
    let state = Arc::new(Slack {
        truth: ctx.truth.clone(),
    });
    let router = Router::new()
        .route("/api/{method}", get(get_method).post(post_method))
        .with_state(state);
    Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(|_path, kind| fault_response(kind)),
    }
}

/// A Slack answer: HTTP 200 with `ok`.
fn ok(mut body: Value) -> Response {
    if let Some(o) = body.as_object_mut() {
        o.insert("ok".to_owned(), json!(true));
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// A Slack error: HTTP 200 with `ok: false`.
fn error(code: &str) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"ok": false, "error": code})),
    )
        .into_response()
}

/// An `ok: false` answer on its way out (HTTP 200).
struct Refusal(Value);

impl Refusal {
    fn into_response(self) -> Response {
        (StatusCode::OK, axum::Json(self.0)).into_response()
    }
}

/// A Slack error as a [`Refusal`].
fn refuse(code: &str) -> Refusal {
    Refusal(json!({"ok": false, "error": code}))
}

fn fault_response(kind: FaultKind) -> Option<Response> {
    let ratelimited = || {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    };
    Some(match kind {
        FaultKind::TooManyRequests | FaultKind::TooManyRequestsReset => ratelimited(),
        FaultKind::Throttle400 => {
            let mut r = error("ratelimited");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        FaultKind::Error200 => error("internal_error"),
        FaultKind::InternalError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"ok": false, "error": "internal_error"})),
        )
            .into_response(),
        FaultKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"ok": false, "error": "service_unavailable"})),
        )
            .into_response(),
        FaultKind::Slow | FaultKind::Timeout | FaultKind::Truncate | FaultKind::Reset => {
            return None;
        }
    })
}

async fn get_method(
    State(s): State<Arc<Slack>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    s.serve(&method, query.as_deref(), &headers, &[])
}

async fn post_method(
    State(s): State<Arc<Slack>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.serve(&method, query.as_deref(), &headers, &body)
}

/// Query and form parameters.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// `limit`, or `default`, capped at `max`; `Err` for a value that is not a number.
    fn limit(&self, default: usize, max: usize) -> Result<usize, Refusal> {
        match self.get("limit") {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(0) => Ok(default),
                Ok(n) => Ok(n.min(max)),
                Err(_) => Err(refuse("invalid_limit")),
            },
        }
    }
}

/// A cursor: base64 of `{tag}:{position}`.
fn cursor(tag: &str, position: &str) -> String {
    STANDARD.encode(format!("{tag}:{position}"))
}

/// The position a cursor points at; `Err` for one this sandbox never handed out.
fn position(params: &Params, tag: &str) -> Result<Option<String>, Refusal> {
    let Some(c) = params.get("cursor").filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    STANDARD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(&format!("{tag}:")).map(str::to_owned))
        .map(Some)
        .ok_or_else(|| refuse("invalid_cursor"))
}

/// Which scopes a token has.
enum Caller {
    Scopes(&'static [&'static str]),
}

impl Slack {
    fn serve(
        &self,
        method: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let mut pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        if !body.is_empty() {
            pairs.extend(
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default(),
            );
        }
        let params = Params(pairs);
        let token = auth::bearer_token(headers)
            .map(str::to_owned)
            .or_else(|| params.get("token").map(str::to_owned));
        let caller = match token.as_deref() {
            None => return error("not_authed"),
            Some(TOKEN) => Caller::Scopes(SCOPES),
            Some(TOKEN_NO_HISTORY) => Caller::Scopes(SCOPES_NO_HISTORY),
            Some(REVOKED_TOKEN) => return error("token_revoked"),
            Some(_) => return error("invalid_auth"),
        };
        let result = match method {
            "auth.test" => Ok(self.auth_test()),
            "conversations.list" => self.conversations_list(&caller, &params),
            "users.list" => self.users_list(&caller, &params),
            "conversations.history" => self.history(&caller, &params),
            "conversations.replies" => self.replies(&caller, &params),
            _ => {
                let body = json!({"ok": false, "error": "unknown_method", "req_method": method});
                return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
            }
        };
        result.unwrap_or_else(Refusal::into_response)
    }

    fn auth_test(&self) -> Response {
        ok(json!({
            "url": "https://chorus-sandbox.slack.com/",
            "team": TEAM_NAME,
            "user": "chorus_bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": false,
        }))
    }

    fn conversations_list(&self, caller: &Caller, params: &Params) -> Result<Response, Refusal> {
        let types = params.get("types").unwrap_or("public_channel");
        let (public, private) = (
            types.contains("public_channel"),
            types.contains("private_channel"),
        );
        if types.split(',').any(|t| {
            !matches!(
                t.trim(),
                "public_channel" | "private_channel" | "mpim" | "im"
            )
        }) {
            return Err(refuse("invalid_types"));
        }
        need(caller, "channels:read")?;
        if private {
            need(caller, "groups:read")?;
        }
        let limit = params.limit(LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)?;
        let exclude_archived = params.flag("exclude_archived");
        let visible: Vec<&Channel> = self
            .truth
            .slack
            .channels
            .iter()
            .filter(|c| {
                if c.is_private {
                    private && c.is_member
                } else {
                    public
                }
            })
            .filter(|c| !(exclude_archived && c.is_archived))
            .collect();
        let start = match position(params, "next")? {
            Some(p) => p.parse::<usize>().map_err(|_| refuse("invalid_cursor"))?,
            None => 0,
        };
        let page: Vec<Value> = visible
            .iter()
            .skip(start)
            .take(limit)
            .map(|c| channel_json(c))
            .collect();
        let next = if start + limit < visible.len() {
            cursor("next", &(start + limit).to_string())
        } else {
            String::new()
        };
        Ok(ok(
            json!({"channels": page, "response_metadata": {"next_cursor": next}}),
        ))
    }

    fn users_list(&self, caller: &Caller, params: &Params) -> Result<Response, Refusal> {
        need(caller, "users:read")?;
        let users = &self.truth.slack.users;
        let limit = params.limit(users.len(), LIST_MAX_LIMIT)?;
        let start = match position(params, "next")? {
            Some(p) => p.parse::<usize>().map_err(|_| refuse("invalid_cursor"))?,
            None => 0,
        };
        let page: Vec<Value> = users
            .iter()
            .skip(start)
            .take(limit)
            .map(user_json)
            .collect();
        let next = if start + limit < users.len() {
            cursor("next", &(start + limit).to_string())
        } else {
            String::new()
        };
        Ok(ok(json!({
            "members": page,
            "cache_ts": data::utc_midnight(self.truth.slack.data_end),
            "response_metadata": {"next_cursor": next},
        })))
    }

    /// The channel a history or replies request names, once the caller may read it.
    fn readable(&self, caller: &Caller, params: &Params) -> Result<&Channel, Refusal> {
        let channel = params
            .get("channel")
            .and_then(|id| self.truth.slack.channel(id))
            .ok_or_else(|| refuse("channel_not_found"))?;
        need(
            caller,
            if channel.is_private {
                "groups:history"
            } else {
                "channels:history"
            },
        )?;
        if !channel.is_member {
            return Err(refuse("not_in_channel"));
        }
        Ok(channel)
    }

    fn history(&self, caller: &Caller, params: &Params) -> Result<Response, Refusal> {
        let channel = self.readable(caller, params)?;
        let limit = params.limit(HISTORY_MAX_LIMIT, HISTORY_MAX_LIMIT)?;
        let window = Window::of(params)?;
        // Newest first; a cursor is the ts of the next (older) message to send.
        let from = position(params, "next_ts")?
            .map(|p| parse_ts(&p).ok_or_else(|| refuse("invalid_cursor")))
            .transpose()?;
        let selected: Vec<&Message> = channel
            .messages
            .iter()
            .rev()
            .filter(|m| window.contains(m.micros()))
            .filter(|m| from.is_none_or(|f| m.micros() <= f))
            .take(limit + 1)
            .collect();
        Ok(page_of(&selected, limit, "next_ts"))
    }

    fn replies(&self, caller: &Caller, params: &Params) -> Result<Response, Refusal> {
        let channel = self.readable(caller, params)?;
        let limit = params.limit(HISTORY_MAX_LIMIT, HISTORY_MAX_LIMIT)?;
        let window = Window::of(params)?;
        let parent = params
            .get("ts")
            .and_then(|ts| channel.messages.iter().find(|m| m.ts == ts))
            .ok_or_else(|| refuse("thread_not_found"))?;
        let from = position(params, "next_ts")?
            .map(|p| parse_ts(&p).ok_or_else(|| refuse("invalid_cursor")))
            .transpose()?;
        let first_page = from.is_none();
        let thread: Vec<&Message> = std::iter::once(parent)
            .filter(|_| first_page)
            .chain(
                parent
                    .replies
                    .iter()
                    .filter(|m| window.contains(m.micros()))
                    .filter(|m| from.is_none_or(|f| m.micros() >= f)),
            )
            .take(limit + 1)
            .collect();
        Ok(page_of(&thread, limit, "next_ts"))
    }
}

/// A history page: the first `limit` messages, `has_more`, and a cursor at the next one.
fn page_of(selected: &[&Message], limit: usize, tag: &str) -> Response {
    let has_more = selected.len() > limit;
    let messages: Vec<Value> = selected.iter().take(limit).map(|m| m.to_json()).collect();
    let mut body = json!({
        "messages": messages,
        "has_more": has_more,
        "pin_count": 0,
        "channel_actions_ts": null,
        "channel_actions_count": 0,
    });
    if has_more && let (Some(next), Some(o)) = (selected.get(limit), body.as_object_mut()) {
        o.insert(
            "response_metadata".to_owned(),
            json!({"next_cursor": cursor(tag, &next.ts)}),
        );
    }
    ok(body)
}

/// `oldest`/`latest`/`inclusive`, in microseconds.
struct Window {
    oldest: i64,
    latest: i64,
    inclusive: bool,
}

impl Window {
    fn of(params: &Params) -> Result<Self, Refusal> {
        let oldest = match params.get("oldest").filter(|v| !v.is_empty()) {
            Some(v) => parse_ts(v).ok_or_else(|| refuse("invalid_ts_oldest"))?,
            None => 0,
        };
        let latest = match params.get("latest").filter(|v| !v.is_empty()) {
            Some(v) => parse_ts(v).ok_or_else(|| refuse("invalid_ts_latest"))?,
            None => i64::try_from(auth::now_secs()).unwrap_or(i64::MAX) * 1_000_000,
        };
        Ok(Self {
            oldest,
            latest,
            inclusive: params.flag("inclusive"),
        })
    }

    fn contains(&self, t: i64) -> bool {
        if self.inclusive {
            t >= self.oldest && t <= self.latest
        } else {
            t > self.oldest && t < self.latest
        }
    }
}

fn need(caller: &Caller, scope: &str) -> Result<(), Refusal> {
    let Caller::Scopes(have) = caller;
    if have.contains(&scope) {
        return Ok(());
    }
    Err(Refusal(json!({
        "ok": false,
        "error": "missing_scope",
        "needed": scope,
        "provided": have.join(","),
    })))
}

fn channel_json(c: &Channel) -> Value {
    let about =
        |value: &str| json!({"value": value, "creator": "USLACKBOT", "last_set": c.created});
    json!({
        "id": c.id,
        "name": c.name,
        "is_channel": true,
        "is_group": false,
        "is_im": false,
        "is_mpim": false,
        "is_private": c.is_private,
        "created": c.created,
        "is_archived": c.is_archived,
        "is_general": c.name == "general",
        "unlinked": 0,
        "name_normalized": c.name,
        "is_shared": false,
        "is_org_shared": false,
        "is_pending_ext_shared": false,
        "pending_shared": [],
        "context_team_id": TEAM_ID,
        "creator": "USLACKBOT",
        "is_ext_shared": false,
        "shared_team_ids": [TEAM_ID],
        "pending_connected_team_ids": [],
        "is_member": c.is_member,
        "topic": about(&c.topic),
        "purpose": about(&c.purpose),
        "previous_names": [],
        "num_members": c.num_members,
    })
}

fn user_json(u: &User) -> Value {
    let mut v = json!({
        "id": u.id,
        "team_id": TEAM_ID,
        "name": u.name,
        "deleted": u.deleted,
        "color": "9f69e7",
        "real_name": u.real_name,
        "profile": {
            "real_name": u.real_name,
            "real_name_normalized": u.real_name,
            "display_name": u.name,
            "team": TEAM_ID,
        },
        "is_admin": false,
        "is_owner": false,
        "is_bot": u.is_bot,
        "is_app_user": false,
        "updated": u.updated,
    });
    if let (Some(tz), Some(o)) = (&u.tz, v.as_object_mut()) {
        o.insert("tz".to_owned(), json!(tz));
        o.insert("tz_label".to_owned(), json!(tz));
    }
    v
}
