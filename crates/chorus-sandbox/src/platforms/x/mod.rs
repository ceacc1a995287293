//! The X API v2 platform, under `/x` (so `{base}/x/2/users/by` stands for
//! `https://api.x.com/2/users/by`). Facts and sources: `docs/dev/platforms/x-api-v2.md`.
//!
//! What is emulated:
//! - Auth: `Authorization: Bearer` [`TOKEN`]; anything else is HTTP 401 with X's problem body.
//!   [`TOKEN_NOT_ENROLLED`] is a valid token of an App outside a Project: HTTP 403
//!   `client-forbidden` on every endpoint.
//! - `GET /2/users/by?usernames=` (at most 100, case-insensitive; unknown names are a partial
//!   error: HTTP 200 with `errors[]`, and no `data` when none is found).
//! - `GET /2/users/:id/tweets` and `/2/users/:id/mentions`: newest first, `max_results` 5–100
//!   (default 10), `pagination_token`, `since_id`/`until_id` (exclusive), `start_time`/
//!   `end_time` (inclusive, RFC 3339), `exclude=retweets,replies` on `/tweets` only, and the
//!   depth caps (3,200 posts, 800 with `exclude=replies`, 800 mentions).
//! - `GET /2/tweets/search/recent`: `query` (at most 512 characters; see [`query`]),
//!   `max_results` 10–100, `next_token`, and the seven-day window (`start_time` older than
//!   seven days is refused with 400).
//! - Fields appear only when asked for: `tweet.fields`, `user.fields` and
//!   `expansions=author_id` (de-duplicated `includes.users`); an unknown parameter or field
//!   value is the 400 `invalid-request` envelope listing the valid ones; `meta` carries
//!   `result_count`, `newest_id`, `oldest_id`, `next_token` (absent on the last page); an
//!   empty answer is exactly `{"meta":{"result_count":0}}`.
//! - Rate limits: 15-minute windows per endpoint with `x-rate-limit-limit`, `-remaining` and
//!   `-reset` (epoch seconds) on every response; over the limit, 429 with no `Retry-After`.
//!   The faults `429` and `429reset` answer the same 429 with a reset one second ahead.
//!
//! Simplifications: the sandbox's clock ticks once a day — posts are visible from the UTC day
//! after they were made, and the search window is the seven days before today (UTC midnight),
//! so two reads on the same day see the same data. Posts are generated from [`DATA_DAYS`] days
//! before the sandbox's anchor to [`DAYS_AFTER_ANCHOR`] days after it, so with the default
//! anchor (a week before today) the last week and the days to come are covered. Keywords match
//! words, not hashtags or mentions (unverified). Pagination tokens are opaque but encode an
//! offset.

pub mod dataset;
pub mod query;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::auth;
use crate::data::Truth;
use crate::faults::FaultKind;
use crate::platforms::{Context, Platform};
pub use dataset::{
    BRANDS, DATA_DAYS, DAYS_AFTER_ANCHOR, Dataset, RefKind, Tweet, User, data_end, data_start,
};
use query::Query;

/// The path prefix of the X platform.
pub const PREFIX: &str = "/x";
/// A valid App-only bearer token.
pub const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAChorusSandboxX%2Fbearer0token7Qw2";
/// A valid bearer token of an App that is not attached to a Project (403 everywhere).
pub const TOKEN_NOT_ENROLLED: &str = "AAAAAAAAAAAAAAAAAAAAANotEnrolled%2Fsandbox0token3Lp9";
/// The problem `type` URIs' prefix seen in real traffic.
pub const PROBLEMS: &str = "https://api.twitter.com/2/problems/";
/// The rate-limit window, in seconds.
pub const WINDOW_SECS: u64 = 15 * 60;
/// Per-App requests per window: users lookup, posts timeline, mentions, recent search.
pub const LIMITS: [(Endpoint, u32); 4] = [
    (Endpoint::UsersBy, 300),
    (Endpoint::Tweets, 10_000),
    (Endpoint::Mentions, 450),
    (Endpoint::Search, 450),
];
/// The most posts a user's timeline reaches back.
pub const TWEETS_DEPTH: usize = 3_200;
/// The most posts a timeline with `exclude=replies` reaches back.
pub const TWEETS_DEPTH_NO_REPLIES: usize = 800;
/// The most mentions a mentions timeline reaches back.
pub const MENTIONS_DEPTH: usize = 800;
/// The longest recent-search query.
pub const MAX_QUERY_LEN: usize = 512;

/// The endpoints, for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /2/users/by`.
    UsersBy,
    /// `GET /2/users/:id/tweets`.
    Tweets,
    /// `GET /2/users/:id/mentions`.
    Mentions,
    /// `GET /2/tweets/search/recent`.
    Search,
}

impl Endpoint {
    fn limit(self) -> u32 {
        LIMITS
            .iter()
            .find(|(e, _)| *e == self)
            .map_or(0, |(_, l)| *l)
    }
}

const TWEET_FIELDS: &[&str] = &[
    "article",
    "attachments",
    "author_id",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "edit_history_tweet_ids",
    "entities",
    "geo",
    "id",
    "in_reply_to_user_id",
    "lang",
    "media_metadata",
    "non_public_metrics",
    "note_tweet",
    "organic_metrics",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
    "scopes",
    "source",
    "text",
    "withheld",
];
const USER_FIELDS: &[&str] = &[
    "affiliation",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "location",
    "most_recent_tweet_id",
    "name",
    "pinned_tweet_id",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_type",
    "withheld",
];
const TWEET_EXPANSIONS: &[&str] = &[
    "article.cover_media",
    "article.media_entities",
    "attachments.media_keys",
    "attachments.media_source_tweet",
    "attachments.poll_ids",
    "author_id",
    "edit_history_tweet_ids",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "entities.note.mentions.username",
    "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys",
    "referenced_tweets.id.author_id",
];
const USER_EXPANSIONS: &[&str] = &[
    "affiliation.user_id",
    "most_recent_tweet_id",
    "pinned_tweet_id",
];
const TIMELINE_PARAMS: &[&str] = &[
    "end_time",
    "exclude",
    "expansions",
    "max_results",
    "media.fields",
    "pagination_token",
    "place.fields",
    "poll.fields",
    "since_id",
    "start_time",
    "tweet.fields",
    "until_id",
    "user.fields",
];
const SEARCH_PARAMS: &[&str] = &[
    "query",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "max_results",
    "next_token",
    "pagination_token",
    "sort_order",
    "expansions",
    "tweet.fields",
    "media.fields",
    "poll.fields",
    "place.fields",
    "user.fields",
];
const USERS_PARAMS: &[&str] = &["usernames", "expansions", "tweet.fields", "user.fields"];

struct X {
    truth: Arc<Truth>,
    windows: Mutex<HashMap<Endpoint, (u64, u32)>>,
}

/// A problem response (RFC 7807 in X's flavour): its status and body.
struct Problem(StatusCode, Value);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

fn problem(status: StatusCode, body: Value) -> Problem {
    Problem(status, body)
}

fn unauthorized() -> Problem {
    problem(
        StatusCode::UNAUTHORIZED,
        json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
    )
}

fn not_enrolled() -> Problem {
    problem(
        StatusCode::FORBIDDEN,
        json!({
            "client_id": "29418305",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project. You can create a project via the developer portal.",
            "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
            "title": "Client Forbidden",
            "required_enrollment": "Appropriate Level of API Access",
            "reason": "client-not-enrolled",
            "type": format!("{PROBLEMS}client-forbidden"),
        }),
    )
}

/// The 400 envelope for invalid parameters: one entry per offending parameter.
fn invalid(errors: Vec<(String, String, String)>) -> Problem {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|(param, value, message)| json!({"parameters": {param: [value]}, "message": message}))
        .collect();
    problem(
        StatusCode::BAD_REQUEST,
        json!({
            "errors": errors,
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": format!("{PROBLEMS}invalid-request"),
        }),
    )
}

fn invalid_one(param: &str, value: &str, message: String) -> Problem {
    invalid(vec![(param.to_owned(), value.to_owned(), message)])
}

fn too_many_requests() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429})),
    )
        .into_response()
}

fn rate_headers(limit: u32, remaining: u32, reset: u64) -> [(HeaderName, HeaderValue); 3] {
    [
        (
            HeaderName::from_static("x-rate-limit-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("x-rate-limit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("x-rate-limit-reset"),
            HeaderValue::from(reset),
        ),
    ]
}

/// The query parameters, in order; a repeated parameter is refused as X does.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| invalid_one("query", "", "The query string could not be parsed".into()))?;
        let mut seen = BTreeSet::new();
        for (k, v) in &pairs {
            if !seen.insert(k.as_str()) {
                return Err(invalid_one(
                    k,
                    v,
                    format!("Duplicate parameters are not allowed: the `{k}` query parameter"),
                ));
            }
        }
        Ok(Self(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses parameters the endpoint does not take.
    fn allow(&self, allowed: &[&str]) -> Result<(), Problem> {
        let errors: Vec<_> = self
            .0
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.clone(),
                    format!(
                        "The query parameter [{k}] is not one of [{}]",
                        allowed.join(",")
                    ),
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(invalid(errors))
        }
    }

    /// A comma-separated list whose every value is one of `valid`.
    fn list(&self, name: &str, valid: &[&str]) -> Result<BTreeSet<String>, Problem> {
        let Some(raw) = self.get(name) else {
            return Ok(BTreeSet::new());
        };
        let mut out = BTreeSet::new();
        for v in raw.split(',') {
            if !valid.contains(&v) {
                return Err(invalid_one(
                    name,
                    v,
                    format!(
                        "The `{name}` query parameter value [{v}] is not one of [{}]",
                        valid.join(",")
                    ),
                ));
            }
            out.insert(v.to_owned());
        }
        Ok(out)
    }

    fn max_results(&self, min: usize, max: usize, default: usize) -> Result<usize, Problem> {
        let Some(raw) = self.get("max_results") else {
            return Ok(default);
        };
        match raw.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid_one(
                "max_results",
                raw,
                format!(
                    "The `max_results` query parameter value [{raw}] is not between {min} and {max}"
                ),
            )),
        }
    }

    fn time(&self, name: &str) -> Result<Option<i64>, Problem> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let t = DateTime::parse_from_rfc3339(raw).map_err(|_| {
            invalid_one(
                name,
                raw,
                format!("Invalid '{name}':'{raw}'. '{name}' must be a valid RFC 3339 date-time, e.g. 2010-11-06T00:00:00Z"),
            )
        })?;
        if t.timestamp() < 1_288_998_000 {
            return Err(invalid_one(
                name,
                raw,
                format!("Invalid '{name}':'{raw}'. '{name}' must be on or after 2010-11-06T00:00Z"),
            ));
        }
        Ok(Some(t.timestamp_millis()))
    }

    fn id(&self, name: &str) -> Result<Option<u64>, Problem> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.parse::<u64>().map(Some).map_err(|_| {
            invalid_one(
                name,
                raw,
                format!(
                    "The `{name}` query parameter value [{raw}] does not match ^[0-9]{{1,19}}$"
                ),
            )
        })
    }
}

/// An opaque page token for an offset.
fn page_token(offset: usize) -> String {
    let mut n = (offset as u64) ^ 0x5A5A_5A5A;
    let mut s = String::new();
    while n > 0 {
        let d = (n % 36) as u32;
        s.push(char::from_digit(d, 36).unwrap_or('0'));
        n /= 36;
    }
    format!("7140dibdnow9c7btw4{s}")
}

fn page_offset(token: &str) -> Option<usize> {
    let s = token.strip_prefix("7140dibdnow9c7btw4")?;
    let mut n = 0u64;
    for c in s.chars().rev() {
        n = n.checked_mul(36)?.checked_add(u64::from(c.to_digit(36)?))?;
    }
    usize::try_from(n ^ 0x5A5A_5A5A).ok()
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Midnight UTC today, in unix milliseconds: posts made since are not visible yet.
pub fn visible_before_ms() -> i64 {
    let now = Utc::now();
    now.date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis()
}

/// The earliest post time recent search reaches, in unix milliseconds.
pub fn search_floor_ms() -> i64 {
    visible_before_ms() - 7 * 86_400_000
}

fn user_json(user: &User, fields: &BTreeSet<String>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(user.id));
    m.insert("name".into(), json!(user.name));
    m.insert("username".into(), json!(user.username));
    for f in fields {
        match f.as_str() {
            "created_at" => {
                m.insert(f.clone(), json!(rfc3339_ms(user.created_at * 1000)));
            }
            "verified" => {
                m.insert(f.clone(), json!(user.verified));
            }
            "protected" => {
                m.insert(f.clone(), json!(false));
            }
            "description" => {
                m.insert(f.clone(), json!(user.description));
            }
            "public_metrics" => {
                m.insert(
                    f.clone(),
                    json!({
                        "followers_count": user.followers_count,
                        "following_count": user.following_count,
                        "tweet_count": user.tweet_count,
                        "listed_count": user.listed_count,
                        "like_count": user.tweet_count / 3,
                        "media_count": user.tweet_count / 10,
                    }),
                );
            }
            _ => {}
        }
    }
    Value::Object(m)
}

fn tweet_json(t: &Tweet, data: &Dataset, fields: &BTreeSet<String>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id.to_string()));
    m.insert("text".into(), json!(t.text));
    m.insert("edit_history_tweet_ids".into(), json!([t.id.to_string()]));
    for f in fields {
        let v = match f.as_str() {
            "created_at" => json!(rfc3339_ms(t.created_ms)),
            "author_id" => json!(data.users[t.author].id),
            "lang" => json!(t.lang),
            "conversation_id" => json!(t.conversation_id.to_string()),
            "in_reply_to_user_id" => match t.in_reply_to {
                Some(u) => json!(data.users[u].id),
                None => continue,
            },
            "referenced_tweets" => match t.referenced {
                Some((kind, id)) => json!([{"type": kind.as_str(), "id": id.to_string()}]),
                None => continue,
            },
            "public_metrics" => json!({
                "retweet_count": t.retweet_count,
                "reply_count": t.reply_count,
                "like_count": t.like_count,
                "quote_count": t.quote_count,
                "bookmark_count": t.bookmark_count,
                "impression_count": t.impression_count,
            }),
            "possibly_sensitive" => json!(false),
            "reply_settings" => json!("everyone"),
            _ => continue,
        };
        m.insert(f.clone(), v);
    }
    Value::Object(m)
}

/// What a list of posts asks for.
struct Shape {
    tweet_fields: BTreeSet<String>,
    user_fields: BTreeSet<String>,
    expansions: BTreeSet<String>,
}

impl Shape {
    fn of(params: &Params) -> Result<Self, Problem> {
        Ok(Self {
            tweet_fields: params.list("tweet.fields", TWEET_FIELDS)?,
            user_fields: params.list("user.fields", USER_FIELDS)?,
            expansions: params.list("expansions", TWEET_EXPANSIONS)?,
        })
    }
}

/// A page of posts as X sends it, with `meta` in the endpoint's flavour.
fn posts_page(
    data: &Dataset,
    all: &[&Tweet],
    offset: usize,
    size: usize,
    shape: &Shape,
    previous: bool,
) -> Value {
    let page: Vec<&Tweet> = all.iter().skip(offset).take(size).copied().collect();
    if page.is_empty() {
        return json!({"meta": {"result_count": 0}});
    }
    let mut body = Map::new();
    body.insert(
        "data".into(),
        Value::Array(
            page.iter()
                .map(|t| tweet_json(t, data, &shape.tweet_fields))
                .collect(),
        ),
    );
    let mut users = Vec::new();
    let mut seen = BTreeSet::new();
    for t in &page {
        let mut add = |u: usize| {
            if seen.insert(u) {
                users.push(user_json(&data.users[u], &shape.user_fields));
            }
        };
        if shape.expansions.contains("author_id") {
            add(t.author);
        }
        if shape.expansions.contains("in_reply_to_user_id")
            && let Some(u) = t.in_reply_to
        {
            add(u);
        }
    }
    if !users.is_empty() {
        body.insert("includes".into(), json!({"users": users}));
    }
    let mut meta = Map::new();
    meta.insert("newest_id".into(), json!(page[0].id.to_string()));
    meta.insert(
        "oldest_id".into(),
        json!(page[page.len() - 1].id.to_string()),
    );
    meta.insert("result_count".into(), json!(page.len()));
    if offset + page.len() < all.len() {
        meta.insert("next_token".into(), json!(page_token(offset + page.len())));
    }
    if previous && offset > 0 {
        meta.insert(
            "previous_token".into(),
            json!(page_token(offset.saturating_sub(size))),
        );
    }
    body.insert("meta".into(), Value::Object(meta));
    Value::Object(body)
}

/// The filters every list of posts takes.
struct Range {
    since_id: Option<u64>,
    until_id: Option<u64>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
}

impl Range {
    fn of(params: &Params) -> Result<Self, Problem> {
        let r = Self {
            since_id: params.id("since_id")?,
            until_id: params.id("until_id")?,
            start_ms: params.time("start_time")?,
            end_ms: params.time("end_time")?,
        };
        if let (Some(s), Some(e)) = (r.start_ms, r.end_ms)
            && s >= e
        {
            let raw = params.get("end_time").unwrap_or("");
            return Err(invalid_one(
                "end_time",
                raw,
                "Invalid 'end_time'. 'end_time' must be after 'start_time'".into(),
            ));
        }
        Ok(r)
    }

    fn keeps(&self, t: &Tweet) -> bool {
        self.since_id.is_none_or(|s| t.id > s)
            && self.until_id.is_none_or(|u| t.id < u)
            && self.start_ms.is_none_or(|s| t.created_ms >= s)
            && self.end_ms.is_none_or(|e| t.created_ms <= e)
    }
}

impl X {
    /// Counts a request against its endpoint's window; `Err` when over the limit.
    fn count(&self, endpoint: Endpoint) -> (bool, [(HeaderName, HeaderValue); 3]) {
        let now = auth::now_secs();
        let start = now - now % WINDOW_SECS;
        let limit = endpoint.limit();
        let used = {
            let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
            let w = windows.entry(endpoint).or_insert((start, 0));
            if w.0 != start {
                *w = (start, 0);
            }
            w.1 += 1;
            w.1
        };
        (
            used <= limit,
            rate_headers(limit, limit.saturating_sub(used), start + WINDOW_SECS),
        )
    }

    fn respond(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        answer: impl FnOnce() -> Result<Value, Problem>,
    ) -> Response {
        let (allowed, rate) = self.count(endpoint);
        let mut response = match auth::bearer_token(headers) {
            Some(TOKEN) if allowed => match answer() {
                Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
                Err(p) => p.into_response(),
            },
            Some(TOKEN) => too_many_requests(),
            Some(TOKEN_NOT_ENROLLED) => not_enrolled().into_response(),
            _ => unauthorized().into_response(),
        };
        response.headers_mut().extend(rate);
        response
    }

    fn users_by(&self, params: &Params) -> Result<Value, Problem> {
        params.allow(USERS_PARAMS)?;
        let user_fields = params.list("user.fields", USER_FIELDS)?;
        params.list("tweet.fields", TWEET_FIELDS)?;
        params.list("expansions", USER_EXPANSIONS)?;
        let Some(raw) = params.get("usernames").filter(|s| !s.is_empty()) else {
            return Err(invalid_one(
                "usernames",
                "",
                "The `usernames` query parameter can not be empty".into(),
            ));
        };
        let names: Vec<&str> = raw.split(',').collect();
        if names.len() > 100 {
            return Err(invalid_one(
                "usernames",
                raw,
                format!(
                    "The number of values in the `usernames` query parameter list [{}] is not between 1 and 100",
                    names.len()
                ),
            ));
        }
        let data = &self.truth.x;
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for name in names {
            let valid = !name.is_empty()
                && name.len() <= 15
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(invalid_one(
                    "usernames",
                    name,
                    format!(
                        "The `usernames` query parameter value [{name}] does not match ^[A-Za-z0-9_]{{1,15}}$"
                    ),
                ));
            }
            match data.user_by_name(name) {
                Some(u) => found.push(user_json(&data.users[u], &user_fields)),
                None => errors.push(json!({
                    "value": name,
                    "detail": format!("Could not find user with usernames: [{name}]."),
                    "title": "Not Found Error",
                    "resource_type": "user",
                    "parameter": "usernames",
                    "resource_id": name,
                    "type": format!("{PROBLEMS}resource-not-found"),
                })),
            }
        }
        let mut body = Map::new();
        if !found.is_empty() {
            body.insert("data".into(), Value::Array(found));
        }
        if !errors.is_empty() {
            body.insert("errors".into(), Value::Array(errors));
        }
        Ok(Value::Object(body))
    }

    fn timeline(&self, endpoint: Endpoint, id: &str, params: &Params) -> Result<Value, Problem> {
        let allowed: Vec<&str> = TIMELINE_PARAMS
            .iter()
            .copied()
            .filter(|p| endpoint == Endpoint::Tweets || *p != "exclude")
            .collect();
        params.allow(&allowed)?;
        let shape = Shape::of(params)?;
        let size = params.max_results(5, 100, 10)?;
        let range = Range::of(params)?;
        let exclude = params.list("exclude", &["retweets", "replies"])?;
        let offset = match params.get("pagination_token") {
            Some(t) => page_offset(t).ok_or_else(|| {
                invalid_one(
                    "pagination_token",
                    t,
                    format!("The `pagination_token` query parameter value [{t}] is not valid"),
                )
            })?,
            None => 0,
        };
        let data = &self.truth.x;
        let Some(user) = data.user_by_id(id) else {
            return Ok(json!({"errors": [{
                "value": id,
                "detail": format!("Could not find user with id: [{id}]."),
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": id,
                "type": format!("{PROBLEMS}resource-not-found"),
            }]}));
        };
        let visible = visible_before_ms();
        let (depth, own) = match endpoint {
            Endpoint::Mentions => (MENTIONS_DEPTH, false),
            _ if exclude.contains("replies") => (TWEETS_DEPTH_NO_REPLIES, true),
            _ => (TWEETS_DEPTH, true),
        };
        let all: Vec<&Tweet> = data
            .tweets
            .iter()
            .filter(|t| t.created_ms < visible)
            .filter(|t| {
                if own {
                    t.author == user
                        && !(exclude.contains("retweets") && t.is_retweet())
                        && !(exclude.contains("replies") && t.is_reply())
                } else {
                    t.mentions.contains(&user)
                }
            })
            .take(depth)
            .filter(|t| range.keeps(t))
            .collect();
        Ok(posts_page(data, &all, offset, size, &shape, true))
    }

    fn search(&self, params: &Params) -> Result<Value, Problem> {
        params.allow(SEARCH_PARAMS)?;
        let shape = Shape::of(params)?;
        let size = params.max_results(10, 100, 10)?;
        let range = Range::of(params)?;
        let raw = params.get("query").unwrap_or("");
        if raw.chars().count() > MAX_QUERY_LEN {
            return Err(invalid_one(
                "query",
                raw,
                format!(
                    "There were errors processing your request: Rules must be {MAX_QUERY_LEN} characters or less"
                ),
            ));
        }
        let query = Query::parse(raw).map_err(|m| invalid_one("query", raw, m))?;
        let now_ms = Utc::now().timestamp_millis();
        if let Some(start) = range.start_ms {
            let earliest = now_ms - 7 * 86_400_000;
            if start < earliest - 60_000 {
                let shown = params.get("start_time").unwrap_or("");
                let bound = DateTime::<Utc>::from_timestamp_millis(earliest)
                    .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
                    .unwrap_or_default();
                return Err(invalid_one(
                    "start_time",
                    shown,
                    format!(
                        "Invalid 'start_time':'{shown}'. 'start_time' must be on or after {bound}"
                    ),
                ));
            }
        }
        let token = params.get("next_token").or(params.get("pagination_token"));
        let offset = match token {
            Some(t) => page_offset(t).ok_or_else(|| {
                invalid_one(
                    "next_token",
                    t,
                    format!("The `next_token` query parameter value [{t}] is not valid"),
                )
            })?,
            None => 0,
        };
        let data = &self.truth.x;
        let (floor, visible) = (search_floor_ms(), visible_before_ms());
        let all: Vec<&Tweet> = data
            .tweets
            .iter()
            .filter(|t| t.created_ms < visible && t.created_ms >= floor)
            .filter(|t| range.keeps(t) && query.matches(t, data))
            .collect();
        Ok(posts_page(data, &all, offset, size, &shape, false))
    }

    fn fault_response(&self, path: &str, kind: FaultKind) -> Option<Response> {
        let mut response = match kind {
            FaultKind::TooManyRequests | FaultKind::TooManyRequestsReset | FaultKind::Throttle400 => {
                too_many_requests()
            }
            FaultKind::InternalError => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"title": "Internal Server Error", "detail": "Internal Server Error", "type": "about:blank", "status": 500}),
            )
            .into_response(),
            FaultKind::Unavailable | FaultKind::Error200 => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503}),
            )
            .into_response(),
            FaultKind::Slow | FaultKind::Timeout | FaultKind::Truncate | FaultKind::Reset => {
                return None;
            }
        };
        let endpoint = if path.contains("/search/") {
            Endpoint::Search
        } else if path.ends_with("/mentions") {
            Endpoint::Mentions
        } else if path.ends_with("/tweets") {
            Endpoint::Tweets
        } else {
            Endpoint::UsersBy
        };
        let throttled = response.status() == StatusCode::TOO_MANY_REQUESTS;
        let limit = endpoint.limit();
        let reset = auth::now_secs() + 1;
        let remaining = if throttled { 0 } else { limit - 1 };
        response
            .headers_mut()
            .extend(rate_headers(limit, remaining, reset));
        Some(response)
    }
}

async fn users_by(
    State(x): State<Arc<X>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    x.respond(Endpoint::UsersBy, &headers, || {
        x.users_by(&Params::parse(raw.as_deref())?)
    })
}

async fn tweets(
    State(x): State<Arc<X>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    x.respond(Endpoint::Tweets, &headers, || {
        x.timeline(Endpoint::Tweets, &id, &Params::parse(raw.as_deref())?)
    })
}

async fn mentions(
    State(x): State<Arc<X>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    x.respond(Endpoint::Mentions, &headers, || {
        x.timeline(Endpoint::Mentions, &id, &Params::parse(raw.as_deref())?)
    })
}

async fn search(State(x): State<Arc<X>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    x.respond(Endpoint::Search, &headers, || {
        x.search(&Params::parse(raw.as_deref())?)
    })
}

/// The X platform's routes.
pub(crate) fn platform(ctx: &Context) -> Platform {
    let state = Arc::new(X {
        truth: Arc::clone(&ctx.truth),
        windows: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/2/users/by", get(users_by))
        .route("/2/users/{id}/tweets", get(tweets))
        .route("/2/users/{id}/mentions", get(mentions))
        .route("/2/tweets/search/recent", get(search))
        .with_state(Arc::clone(&state));
    Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(move |path, kind| state.fault_response(path, kind)),
    }
}

/// The posts a timeline serves for `username` (`mentions`: the posts mentioning them),
/// newest first, as of today: what a complete read returns.
pub fn timeline_truth<'a>(data: &'a Dataset, username: &str, mentions: bool) -> Vec<&'a Tweet> {
    let Some(user) = data.user_by_name(username) else {
        return Vec::new();
    };
    let visible = visible_before_ms();
    data.tweets
        .iter()
        .filter(|t| t.created_ms < visible)
        .filter(|t| {
            if mentions {
                t.mentions.contains(&user)
            } else {
                t.author == user
            }
        })
        .take(if mentions {
            MENTIONS_DEPTH
        } else {
            TWEETS_DEPTH
        })
        .collect()
}

/// The posts recent search finds for `query` today.
pub fn search_truth<'a>(data: &'a Dataset, query: &str) -> Result<Vec<&'a Tweet>, String> {
    let q = Query::parse(query)?;
    let (floor, visible) = (search_floor_ms(), visible_before_ms());
    Ok(data
        .tweets
        .iter()
        .filter(|t| t.created_ms < visible && t.created_ms >= floor && q.matches(t, data))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        for offset in [0, 1, 10, 99, 3_199, 123_456] {
            assert_eq!(page_offset(&page_token(offset)), Some(offset));
        }
        assert_eq!(page_offset("nonsense"), None);
    }
}
