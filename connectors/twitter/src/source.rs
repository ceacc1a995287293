//! The `twitter` connector: settings, streams, and how each stream walks its accounts or
//! queries, pages, and resumes.
//!
//! State: each incremental stream keeps, per user id (or search name), the newest post it
//! has read (`extra.newest[key] = {id, created_at}`), and a checkpoint after every account, so
//! an interrupted run resumes with the accounts not yet read. A run re-reads the last
//! `lookback_days` of each account, because counts (likes, impressions) keep growing after a
//! post is made; with `lookback_days = 0` it asks only for posts after the newest one
//! (`since_id`, exclusive).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::schema::timestamp_type;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, Error, EventStream, ReadContext, Result, Secret, Source, Stream, StreamEvent,
    StreamSpec, StreamState, SyncMode,
};
use chorus_http::decode::parse_timestamp;
use chorus_http::produce::{Tx, events, send};
use chorus_http::{Auth, ClientConfig, HttpClient, Request};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::api::{
    self, AUTHOR_FIELDS, DEFAULT_BASE_URL, MAX_PAGES, Page, TWEET_FIELDS, Tweet, USER_FIELDS,
    USERS_PER_LOOKUP, User, XHook,
};

/// The default days re-read before each account's newest post.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 7;
/// The default posts per request (X allows 5–100 on timelines, 10–100 on search).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// How far back recent search reaches.
pub const SEARCH_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// The longest recent-search query on self-serve access levels.
pub const MAX_QUERY_LEN: usize = 512;

/// The settings of a `twitter` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwitterConfig {
    /// The App-only bearer token.
    pub bearer_token: Secret,
    /// Handles (without `@`) whose profile, posts and mentions are read.
    #[serde(default)]
    pub usernames: Vec<String>,
    /// Recent-search queries by name, e.g. `brand = "acme OR #acme"`.
    #[serde(default)]
    pub searches: BTreeMap<String, String>,
    /// The earliest post to read (`2026-01-01` or RFC 3339).
    #[serde(default)]
    pub start_time: Option<String>,
    /// Days re-read before each account's newest post.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// Posts per request, 10–100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The API host; change it only for a proxy or the sandbox.
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

const fn default_lookback() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}

const fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

/// Whether a handle is one X allows: 1–15 letters, digits or `_`.
pub fn valid_username(name: &str) -> bool {
    (1..=15).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads `start_time`: a date (midnight UTC) or an RFC 3339 instant.
pub fn parse_start(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = text.parse::<NaiveDate>() {
        return Some(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl TwitterConfig {
    /// Checks what serde cannot, pointing at the offending key.
    pub fn validate(&self, config: &ConfigTable) -> Result<Option<DateTime<Utc>>, ConfigError> {
        if self.usernames.is_empty() && self.searches.is_empty() {
            return Err(ConfigError::new(
                "a twitter source needs `usernames`, `searches` or both",
                Some(config.span_of("type")),
            )
            .with_help("add usernames = [\"yourbrand\"] and/or searches = { brand = \"yourbrand OR #yourbrand\" }"));
        }
        for (i, name) in self.usernames.iter().enumerate() {
            if !valid_username(name) {
                let index = i.to_string();
                return Err(ConfigError::new(
                    format!("\"{name}\" is not an X username"),
                    Some(config.span_at(&["usernames", &index])),
                )
                .with_help("write the handle without @: 1–15 letters, digits or _"));
            }
        }
        let mut seen = HashSet::new();
        for name in &self.usernames {
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(ConfigError::new(
                    format!("username \"{name}\" is listed twice"),
                    Some(config.span_of("usernames")),
                ));
            }
        }
        for (name, query) in &self.searches {
            let span = Some(config.span_at(&["searches", name]));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::new(
                    format!("search name \"{name}\" must be letters, digits or _"),
                    span,
                ));
            }
            if query.trim().is_empty() {
                return Err(ConfigError::new(
                    format!("search \"{name}\" has an empty query"),
                    span,
                ));
            }
            if query.chars().count() > MAX_QUERY_LEN {
                return Err(ConfigError::new(
                    format!(
                        "search \"{name}\" is {} characters; recent search takes at most {MAX_QUERY_LEN}",
                        query.chars().count()
                    ),
                    span,
                ));
            }
        }
        if !(10..=100).contains(&self.page_size) {
            return Err(ConfigError::new(
                format!("page_size {} is outside 10–100", self.page_size),
                Some(config.span_of("page_size")),
            ));
        }
        chorus_http::check_base_url(config, "base_url", &self.base_url)?;
        let start = match &self.start_time {
            None => None,
            Some(text) => {
                let t = parse_start(text).ok_or_else(|| {
                    ConfigError::new(
                        format!("start_time \"{text}\" is not a date or an RFC 3339 time"),
                        Some(config.span_of("start_time")),
                    )
                    .with_help("write it like \"2026-01-01\" or \"2026-01-01T00:00:00Z\"")
                })?;
                if t.timestamp() < 1_288_998_000 {
                    return Err(ConfigError::new(
                        "start_time is before 2010-11-06, the earliest time X API v2 accepts",
                        Some(config.span_of("start_time")),
                    ));
                }
                Some(t)
            }
        };
        Ok(start)
    }
}

/// The registered `twitter` connector.
pub struct Twitter;

const TEMPLATE: &str = r#"[sources.{id}]
type = "twitter"
bearer_token = "${X_BEARER_TOKEN}"           # an App-only bearer token
usernames = ["yourbrand", "competitor"]       # profiles, posts and mentions
searches = { brand = "yourbrand OR #yourbrand", competitor = "competitor OR #competitor" }
start_time = "90daysAgo"  # or a date or RFC 3339 time; `NdaysAgo` counts back from the run
# lookback_days = 7                           # counts keep growing: re-read the last week
# page_size = 100
"#;

impl Connector for Twitter {
    fn keeps_unknown_fields(&self) -> std::result::Result<(), &'static str> {
        Err(
            "the X API v2 sends only the fields a request names (`tweet.fields`, `user.fields`), so there are no unknown fields to keep",
        )
    }

    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "twitter",
            summary: "Reads X (Twitter) profiles, posts, mentions and recent searches from X API v2.",
            keys: vec![
                ConfigKeyDoc::secret(
                    "bearer_token",
                    "string",
                    true,
                    "The App-only bearer token; sent in the Authorization header and redacted everywhere.",
                ),
                ConfigKeyDoc::plain(
                    "usernames",
                    "list of strings",
                    false,
                    "Handles without @ (own brand and competitors): users, tweets and mentions.",
                ),
                ConfigKeyDoc::plain(
                    "searches",
                    "table of strings",
                    false,
                    "Recent-search queries by name (the `search` stream; at most 512 characters each).",
                ),
                ConfigKeyDoc::plain(
                    "start_time",
                    "string",
                    false,
                    "The earliest post to read, a date or RFC 3339 (default: as far as X reaches back).",
                ),
                ConfigKeyDoc::plain(
                    "lookback_days",
                    "integer",
                    false,
                    "Days re-read before each account's newest post, so counts stay current (default 7; 0 reads only newer posts).",
                ),
                ConfigKeyDoc::plain(
                    "page_size",
                    "integer",
                    false,
                    "Posts per request, 10–100 (default 100).",
                ),
                ConfigKeyDoc::plain(
                    "base_url",
                    "string",
                    false,
                    "The API host (default https://api.x.com); for proxies and the sandbox.",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        specs(DEFAULT_LOOKBACK_DAYS)
    }

    fn splits_accounts(&self) -> bool {
        true
    }

    fn build(
        &self,
        config: &ConfigTable,
        cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let mut settings: TwitterConfig = config.deserialize()?;
        let start = settings.validate(config)?;
        // Under `--shard`, this worker reads only its share of the accounts and queries.
        settings
            .usernames
            .retain(|u| cx.shard.owns_account(&cx.id, &u.to_lowercase()));
        settings
            .searches
            .retain(|name, _| cx.shard.owns_account(&cx.id, &format!("search:{name}")));
        let source = TwitterSource::new(settings, start, ClientConfig::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

fn tweet_fields() -> Vec<Field> {
    vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("author_id", DataType::Utf8, true),
        Field::new("created_at", timestamp_type(), false),
        Field::new("text", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, true),
        Field::new("conversation_id", DataType::Utf8, true),
        Field::new("in_reply_to_user_id", DataType::Utf8, true),
        Field::new("referenced_type", DataType::Utf8, true),
        Field::new("referenced_id", DataType::Utf8, true),
        Field::new("retweet_count", DataType::Int64, true),
        Field::new("reply_count", DataType::Int64, true),
        Field::new("like_count", DataType::Int64, true),
        Field::new("quote_count", DataType::Int64, true),
        Field::new("bookmark_count", DataType::Int64, true),
        Field::new("impression_count", DataType::Int64, true),
    ]
}

fn author_fields() -> Vec<Field> {
    vec![
        Field::new("author_username", DataType::Utf8, true),
        Field::new("author_followers_count", DataType::Int64, true),
        Field::new("author_verified", DataType::Boolean, true),
    ]
}

fn users_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("username", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("created_at", timestamp_type(), true),
        Field::new("verified", DataType::Boolean, true),
        Field::new("followers_count", DataType::Int64, true),
        Field::new("following_count", DataType::Int64, true),
        Field::new("tweet_count", DataType::Int64, true),
        Field::new("listed_count", DataType::Int64, true),
    ]))
}

fn with_prefix(prefix: Vec<Field>, authors: bool) -> SchemaRef {
    let mut fields = prefix;
    fields.extend(tweet_fields());
    if authors {
        fields.extend(author_fields());
    }
    Arc::new(Schema::new(fields))
}

fn specs(lookback_days: u32) -> Vec<StreamSpec> {
    let lookback = Duration::from_secs(u64::from(lookback_days) * 86_400);
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    let incremental = |name: &str, schema, key: &[&str]| StreamSpec {
        name: name.into(),
        schema,
        primary_key: key.iter().map(|k| (*k).to_owned()).collect(),
        cursor_field: Some("created_at".into()),
        sync_modes: both.clone(),
        lookback,
    };
    vec![
        StreamSpec {
            name: "users".into(),
            schema: users_schema(),
            primary_key: vec!["id".into(), "date".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: Duration::ZERO,
        },
        incremental("tweets", with_prefix(Vec::new(), false), &["id"]),
        incremental(
            "mentions",
            with_prefix(
                vec![
                    Field::new("mentioned_user_id", DataType::Utf8, false),
                    Field::new("mentioned_username", DataType::Utf8, false),
                ],
                true,
            ),
            &["mentioned_user_id", "id"],
        ),
        incremental(
            "search",
            with_prefix(
                vec![
                    Field::new("query_name", DataType::Utf8, false),
                    Field::new("query", DataType::Utf8, false),
                ],
                true,
            ),
            &["query_name", "id"],
        ),
    ]
}

/// A configured `twitter` source.
pub struct TwitterSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: TwitterConfig,
    start: Option<DateTime<Utc>>,
    client: HttpClient,
    root: String,
    users: OnceCell<Arc<Vec<User>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Users,
    Tweets,
    Mentions,
    Search,
}

struct TwitterStream {
    spec: StreamSpec,
    kind: Kind,
    inner: Arc<Inner>,
}

impl TwitterSource {
    /// A source from validated settings (`start` is the parsed `start_time`) and client
    /// settings (tests make them fast).
    pub fn new(
        settings: TwitterConfig,
        start: Option<DateTime<Utc>>,
        http: ClientConfig,
    ) -> Result<Self> {
        let client = HttpClient::new(
            Auth::Bearer(settings.bearer_token.clone()),
            http,
            Arc::new(XHook),
        )?;
        let inner = Arc::new(Inner {
            root: format!("{}/2", settings.base_url.trim_end_matches('/')),
            settings,
            start,
            client,
            users: OnceCell::new(),
        });
        let kinds = [Kind::Users, Kind::Tweets, Kind::Mentions, Kind::Search];
        let streams = specs(inner.settings.lookback_days)
            .into_iter()
            .zip(kinds)
            .map(|(spec, kind)| {
                Arc::new(TwitterStream {
                    spec,
                    kind,
                    inner: Arc::clone(&inner),
                }) as Arc<dyn Stream>
            })
            .collect();
        Ok(Self { inner, streams })
    }
}

#[async_trait]
impl Source for TwitterSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let names: Vec<String> = if i.settings.usernames.is_empty() {
            vec!["XDevelopers".to_owned()]
        } else {
            i.settings
                .usernames
                .iter()
                .take(USERS_PER_LOOKUP)
                .cloned()
                .collect()
        };
        let (found, missing) = i.lookup(&names).await?;
        let mut detail = format!(
            "the bearer token is accepted; found {}",
            found
                .iter()
                .map(|u| format!("@{}", u.username))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !missing.is_empty() {
            detail.push_str(&format!("; X has no user {}", missing.join(", ")));
        }
        Ok(CheckReport { detail })
    }
}

impl Stream for TwitterStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        let kind = self.kind;
        events(move |tx| async move {
            match kind {
                Kind::Users => inner.users_snapshot(&spec, &tx).await,
                Kind::Tweets | Kind::Mentions | Kind::Search => {
                    inner.posts(kind, &spec, &cx, &tx).await
                }
            }
        })
    }
}

/// Where one account's or query's read starts.
#[derive(Debug, Clone, PartialEq)]
enum From {
    /// After this post (exclusive).
    SinceId(String),
    /// At this time (inclusive).
    Time(DateTime<Utc>),
    /// As far back as X reaches.
    Beginning,
}

/// The newest post read for one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct Newest {
    id: String,
    created_at: DateTime<Utc>,
}

/// An id compared as the number it is (ids exceed 2^53, so never through f64).
fn id_later(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

/// One account or query to read.
struct Target {
    key: String,
    path: String,
    prefix: Vec<String>,
    search: bool,
}

impl Inner {
    /// Looks users up by handle, 100 at a time: the users found, and the handles X has not.
    async fn lookup(&self, names: &[String]) -> Result<(Vec<User>, Vec<String>)> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for chunk in names.chunks(USERS_PER_LOOKUP) {
            let req = Request::get(format!("{}/users/by", self.root)).with_params(&[
                ("usernames".into(), chunk.join(",")),
                ("user.fields".into(), USER_FIELDS.into()),
            ]);
            let page: Page<User> = api::get(&self.client, &req, "looking up X users").await?;
            for e in &page.errors {
                let who = e.value.clone().unwrap_or_default();
                tracing::warn!(
                    username = %who,
                    error = %e.describe(),
                    "X has no such user (or it is suspended); it is skipped. Check `usernames`."
                );
                missing.push(format!("@{who}"));
            }
            found.extend(page.data);
        }
        Ok((found, missing))
    }

    /// The configured users, looked up once per run.
    async fn users(&self) -> Result<Arc<Vec<User>>> {
        self.users
            .get_or_try_init(|| async {
                let (found, _) = self.lookup(&self.settings.usernames).await?;
                Ok(Arc::new(found))
            })
            .await
            .cloned()
    }

    async fn users_snapshot(&self, spec: &StreamSpec, tx: &Tx) -> Result<()> {
        let users = self.users().await?;
        if users.is_empty() {
            return Ok(());
        }
        let today = Utc::now().date_naive();
        let day = (today - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days();
        let day = i32::try_from(day).unwrap_or(i32::MAX);
        let metric = |f: fn(&api::UserMetrics) -> Option<i64>| -> ArrayRef {
            Arc::new(Int64Array::from(
                users
                    .iter()
                    .map(|u| u.public_metrics.as_ref().and_then(f))
                    .collect::<Vec<_>>(),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| u.id.as_str()),
            )),
            Arc::new(Date32Array::from(vec![day; users.len()])),
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| u.username.as_str()),
            )),
            Arc::new(StringArray::from(
                users.iter().map(|u| u.name.as_deref()).collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    users
                        .iter()
                        .map(|u| u.created_at.as_deref().and_then(parse_timestamp))
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(BooleanArray::from(
                users.iter().map(|u| u.verified).collect::<Vec<_>>(),
            )),
            metric(|m| m.followers_count),
            metric(|m| m.following_count),
            metric(|m| m.tweet_count),
            metric(|m| m.listed_count),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&spec.schema), columns)?;
        send(tx, StreamEvent::Batch(batch)).await;
        Ok(())
    }

    /// The accounts or queries a posts stream reads.
    async fn targets(&self, kind: Kind) -> Result<Vec<Target>> {
        Ok(match kind {
            Kind::Search => self
                .settings
                .searches
                .iter()
                .map(|(name, query)| Target {
                    key: name.clone(),
                    path: format!("{}/tweets/search/recent", self.root),
                    prefix: vec![name.clone(), query.clone()],
                    search: true,
                })
                .collect(),
            _ => self
                .users()
                .await?
                .iter()
                .map(|u| Target {
                    key: u.id.clone(),
                    path: format!(
                        "{}/users/{}/{}",
                        self.root,
                        u.id,
                        if kind == Kind::Mentions {
                            "mentions"
                        } else {
                            "tweets"
                        }
                    ),
                    prefix: if kind == Kind::Mentions {
                        vec![u.id.clone(), u.username.clone()]
                    } else {
                        Vec::new()
                    },
                    search: false,
                })
                .collect(),
        })
    }

    /// Where `key`'s read starts, from the window, the saved state and the settings.
    fn from(
        &self,
        key: &str,
        cx: &ReadContext,
        newest: &BTreeMap<String, Newest>,
        legacy: Option<DateTime<Utc>>,
    ) -> From {
        if let Some(start) = cx.window.start_utc() {
            return From::Time(start);
        }
        let lookback = chrono::Duration::days(i64::from(self.settings.lookback_days));
        let floor = |t: DateTime<Utc>| self.start.map_or(t, |s| t.max(s));
        if let Some(n) = newest.get(key) {
            return if self.settings.lookback_days == 0 {
                From::SinceId(n.id.clone())
            } else {
                From::Time(floor(n.created_at - lookback))
            };
        }
        if let Some(t) = legacy {
            return From::Time(floor(t - lookback));
        }
        self.start.map_or(From::Beginning, From::Time)
    }

    /// Reads one posts stream: every target in turn, a checkpoint after each.
    async fn posts(&self, kind: Kind, spec: &StreamSpec, cx: &ReadContext, tx: &Tx) -> Result<()> {
        let state = cx.state.clone().unwrap_or_default();
        let mut newest: BTreeMap<String, Newest> = state
            .extra
            .get("newest")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        // A state without per-account detail (written by hand, or a far-future test state)
        // applies its cursor to every account.
        let legacy = match (&state.cursor, state.extra.get("newest")) {
            (Some(Cursor::Timestamp(t)), None) => Some(*t),
            _ => None,
        };
        let now = Utc::now();
        for target in self.targets(kind).await? {
            let from = self.from(&target.key, cx, &newest, legacy);
            let read = self.read_target(spec, &target, from, cx, now, tx).await?;
            let Some(read) = read else {
                return Ok(()); // the reader has gone
            };
            if let Some(n) = read {
                let newer = newest
                    .get(&target.key)
                    .is_none_or(|old| id_later(&n.id, &old.id));
                if newer {
                    newest.insert(target.key.clone(), n);
                }
            }
            let checkpoint = StreamState {
                cursor: None,
                extra: json!({ "newest": newest }),
            };
            if !send(tx, StreamEvent::Checkpoint(checkpoint)).await {
                return Ok(());
            }
        }
        if let Some(latest) = newest.values().map(|n| n.created_at).max() {
            let checkpoint = StreamState {
                cursor: Some(Cursor::Timestamp(latest)),
                extra: json!({ "newest": newest }),
            };
            send(tx, StreamEvent::Checkpoint(checkpoint)).await;
        }
        Ok(())
    }

    /// Reads one target's pages. `None`: the reader has gone; `Some(newest)`: done.
    async fn read_target(
        &self,
        spec: &StreamSpec,
        target: &Target,
        from: From,
        cx: &ReadContext,
        now: DateTime<Utc>,
        tx: &Tx,
    ) -> Result<Option<Option<Newest>>> {
        let mut params: Vec<(String, String)> = vec![
            ("max_results".into(), self.settings.page_size.to_string()),
            ("tweet.fields".into(), TWEET_FIELDS.into()),
        ];
        if target.search {
            params.push(("query".into(), target.prefix[1].clone()));
        }
        if !target.prefix.is_empty() {
            params.push(("expansions".into(), "author_id".into()));
            params.push(("user.fields".into(), AUTHOR_FIELDS.into()));
        }
        let format = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        // Recent search reaches back seven days; ask for a little less so the bound holds
        // when the request arrives.
        let search_floor = now - SEARCH_WINDOW + chrono::Duration::minutes(2);
        match from {
            From::Time(t) if t >= now => return Ok(Some(None)),
            From::Time(t) if target.search => {
                if t > search_floor {
                    params.push(("start_time".into(), format(t)));
                }
            }
            From::Time(t) => params.push(("start_time".into(), format(t))),
            From::SinceId(id) => params.push(("since_id".into(), id)),
            From::Beginning => {}
        }
        if let Some(end) = cx.window.end_utc() {
            let latest = now - chrono::Duration::seconds(30);
            if end <= latest {
                params.push(("end_time".into(), format(end)));
            }
        }
        let doing = format!("reading {}", self.describe(target));
        let token_name = if target.search {
            "next_token"
        } else {
            "pagination_token"
        };
        let mut newest: Option<Newest> = None;
        let mut token: Option<String> = None;
        let mut pages = 0u64;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::new(
                    chorus_core::ErrorKind::External,
                    format!(
                        "{doing}: stopped after {MAX_PAGES} pages: X kept returning a next token"
                    ),
                ));
            }
            let mut req = Request::get(target.path.clone()).with_params(&params);
            if let Some(t) = &token {
                req = req.with_params(&[(token_name.into(), t.clone())]);
            }
            let page: Page<Tweet> = api::get(&self.client, &req, &doing).await?;
            for e in &page.errors {
                tracing::warn!(
                    target = %self.describe(target),
                    error = %e.describe(),
                    "X reported a partial error; the rest of the answer is kept."
                );
            }
            if !page.data.is_empty() {
                let batch = self.batch(spec, target, &page, &doing)?;
                for t in &page.data {
                    let Some(created) = t
                        .created_at
                        .as_deref()
                        .and_then(parse_timestamp)
                        .and_then(DateTime::from_timestamp_micros)
                    else {
                        continue;
                    };
                    if newest.as_ref().is_none_or(|n| id_later(&t.id, &n.id)) {
                        newest = Some(Newest {
                            id: t.id.clone(),
                            created_at: created,
                        });
                    }
                }
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(None);
                }
            }
            match page.meta.next_token.filter(|t| !t.is_empty()) {
                Some(next) if !page.data.is_empty() => token = Some(next),
                _ => break,
            }
        }
        Ok(Some(newest))
    }

    fn describe(&self, target: &Target) -> String {
        if target.search {
            format!("X search \"{}\"", target.key)
        } else {
            format!("X user {}", target.key)
        }
    }

    /// One page as a batch of the stream's schema.
    fn batch(
        &self,
        spec: &StreamSpec,
        target: &Target,
        page: &Page<Tweet>,
        doing: &str,
    ) -> Result<RecordBatch> {
        let rows = &page.data;
        let n = rows.len();
        let authors: BTreeMap<&str, &User> = page
            .includes
            .users
            .iter()
            .map(|u| (u.id.as_str(), u))
            .collect();
        let mut created = Vec::with_capacity(n);
        for t in rows {
            let micros = t.created_at.as_deref().and_then(parse_timestamp).ok_or_else(|| {
                Error::contract(format!(
                    "{doing}: post {} has no readable created_at ({:?}); X always sends it when tweet.fields asks",
                    t.id, t.created_at
                ))
            })?;
            created.push(micros);
        }
        let text = |f: fn(&Tweet) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let count = |f: fn(&api::TweetMetrics) -> Option<i64>| -> ArrayRef {
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|t| t.public_metrics.as_ref().and_then(f))
                    .collect::<Vec<_>>(),
            ))
        };
        let mut columns: Vec<ArrayRef> = target
            .prefix
            .iter()
            .map(|v| Arc::new(StringArray::from(vec![v.as_str(); n])) as ArrayRef)
            .collect();
        columns.extend([
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|t| t.id.as_str()),
            )) as ArrayRef,
            text(|t| t.author_id.as_deref()),
            Arc::new(TimestampMicrosecondArray::from(created).with_timezone("UTC")),
            text(|t| t.text.as_deref()),
            text(|t| t.lang.as_deref()),
            text(|t| t.conversation_id.as_deref()),
            text(|t| t.in_reply_to_user_id.as_deref()),
            text(|t| t.referenced_tweets.first().map(|r| r.kind.as_str())),
            text(|t| t.referenced_tweets.first().map(|r| r.id.as_str())),
            count(|m| m.retweet_count),
            count(|m| m.reply_count),
            count(|m| m.like_count),
            count(|m| m.quote_count),
            count(|m| m.bookmark_count),
            count(|m| m.impression_count),
        ]);
        if !target.prefix.is_empty() || target.search {
            let author = |t: &Tweet| t.author_id.as_deref().and_then(|a| authors.get(a)).copied();
            columns.push(Arc::new(StringArray::from(
                rows.iter()
                    .map(|t| author(t).map(|u| u.username.as_str()))
                    .collect::<Vec<_>>(),
            )));
            columns.push(Arc::new(Int64Array::from(
                rows.iter()
                    .map(|t| {
                        author(t)
                            .and_then(|u| u.public_metrics.as_ref())
                            .and_then(|m| m.followers_count)
                    })
                    .collect::<Vec<_>>(),
            )));
            columns.push(Arc::new(BooleanArray::from(
                rows.iter()
                    .map(|t| author(t).and_then(|u| u.verified))
                    .collect::<Vec<_>>(),
            )));
        }
        Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_numbers_beyond_2_pow_53() {
        assert!(id_later("1524796546306478084", "1524796546306478083"));
        assert!(id_later("10000000000000000000", "9999999999999999999"));
        assert!(!id_later("98765432", "1524796546306478083"));
    }

    #[test]
    fn usernames_follow_x_rules() {
        assert!(valid_username("acme_2"));
        assert!(!valid_username("@acme"));
        assert!(!valid_username("a_name_longer_than_15"));
        assert!(!valid_username(""));
    }

    #[test]
    fn start_times_are_dates_or_instants() {
        assert_eq!(
            parse_start("2026-01-01").map(|t| t.to_rfc3339()),
            Some("2026-01-01T00:00:00+00:00".into())
        );
        assert!(parse_start("2026-01-01T12:00:00Z").is_some());
        assert!(parse_start("yesterday").is_none());
    }
}
