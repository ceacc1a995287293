//! The `zendesk` connector: settings, streams, and how each stream pages and resumes.
//!
//! State: `tickets` keeps the export's `after_cursor` (a token Zendesk hands out that stays
//! valid for the next poll), with a checkpoint after every page; `satisfaction_ratings` keeps
//! the newest `created_at` read and re-reads `lookback_days` before it, because an offered
//! rating becomes good or bad later; `ticket_metrics` is read in full on every run (the
//! endpoint has no time filter).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::schema::timestamp_type;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, Error, ErrorKind, EventStream, ReadContext, Result, Secret, Source, Stream,
    StreamEvent, StreamSpec, StreamState, SyncMode,
};
use chorus_http::decode::parse_timestamp;
use chorus_http::extra::{extra_array, with_extra_column};
use chorus_http::produce::{Tx, events, send};
use chorus_http::{Auth, ClientConfig, HttpClient, RateLimit, Request};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::api::{
    self, EXPORT_MAX_PER_PAGE, EXPORT_REQUESTS_PER_MINUTE, ExportPage, MAX_PAGES, MetricsPage,
    PAGE_SIZE, RatingsPage, ZendeskHook,
};

/// The default days of satisfaction ratings re-read before the newest one.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 14;
/// How recent a `start_time` the export accepts: at least a minute in the past.
pub const EXPORT_MIN_AGE_SECS: i64 = 61;

/// The settings of a `zendesk` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// The account's subdomain: `acme` for `https://acme.zendesk.com`.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// The agent's email, with `api_token`.
    #[serde(default)]
    pub email: Option<String>,
    /// An API token (Basic `email/token:api_token`).
    #[serde(default)]
    pub api_token: Option<Secret>,
    /// An OAuth access token (Bearer), instead of `email` and `api_token`.
    #[serde(default)]
    pub oauth_token: Option<Secret>,
    /// The first day of the first sync (`2026-01-01` or RFC 3339).
    pub start_date: String,
    /// Days of satisfaction ratings re-read before the newest one.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// Tickets per export page, 1–1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The API host, replacing `https://{subdomain}.zendesk.com`; for proxies and the sandbox.
    #[serde(default)]
    pub base_url: Option<String>,
}

const fn default_lookback() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}

const fn default_page_size() -> u32 {
    EXPORT_MAX_PER_PAGE
}

/// Reads a date (midnight UTC) or an RFC 3339 instant.
pub fn parse_start(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = text.parse::<NaiveDate>() {
        return Some(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a subdomain is one Zendesk allows: letters, digits and `-`.
pub fn valid_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
}

/// The settings after validation.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The API host, without a trailing `/`.
    pub host: String,
    /// The first instant of the first sync.
    pub start: DateTime<Utc>,
    /// How requests authenticate.
    pub auth: Auth,
    /// Whether each stream keeps the fields it does not read (`keep_unknown_fields`).
    pub keep_unknown_fields: bool,
}

impl ZendeskConfig {
    /// Checks what serde cannot, pointing at the offending key.
    pub fn validate(&self, config: &ConfigTable) -> Result<Checked, ConfigError> {
        let base = self.base_url.as_deref().filter(|b| !b.trim().is_empty());
        let host = match (base, self.subdomain.as_deref()) {
            (Some(b), _) => {
                chorus_http::check_base_url(config, "base_url", b)?;
                b.trim_end_matches('/').to_owned()
            }
            (None, Some(s)) if valid_subdomain(s) => format!("https://{s}.zendesk.com"),
            (None, Some(s)) => {
                return Err(ConfigError::new(
                    format!("\"{s}\" is not a Zendesk subdomain"),
                    Some(config.span_of("subdomain")),
                )
                .with_help("write only the first part of the address: subdomain = \"acme\" for https://acme.zendesk.com"));
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "a zendesk source needs `subdomain`",
                    Some(config.span_of("type")),
                )
                .with_help("add subdomain = \"acme\" for https://acme.zendesk.com"));
            }
        };
        let auth = match (&self.email, &self.api_token, &self.oauth_token) {
            (Some(email), Some(token), None) => {
                if !email.contains('@') {
                    return Err(ConfigError::new(
                        format!("\"{email}\" is not an email address"),
                        Some(config.span_of("email")),
                    )
                    .with_help("write the email of the agent who created the API token"));
                }
                Auth::Basic {
                    user: format!("{email}/token"),
                    password: token.clone(),
                }
            }
            (None, None, Some(token)) => Auth::Bearer(token.clone()),
            (_, _, Some(_)) => {
                return Err(ConfigError::new(
                    "set either `oauth_token` or `email` with `api_token`, not both",
                    Some(config.span_of("oauth_token")),
                ));
            }
            (None, Some(_), None) => {
                return Err(ConfigError::new(
                    "`api_token` needs the `email` of the agent it belongs to",
                    Some(config.span_of("api_token")),
                )
                .with_help("add email = \"agent@example.com\""));
            }
            (_, None, None) => {
                return Err(ConfigError::new(
                    "a zendesk source needs credentials: `email` with `api_token`, or `oauth_token`",
                    Some(config.span_of("type")),
                )
                .with_help("add email = \"agent@example.com\" and api_token = \"${ZENDESK_API_TOKEN}\""));
            }
        };
        let start = parse_start(&self.start_date).ok_or_else(|| {
            ConfigError::new(
                format!(
                    "start_date \"{}\" is not a date or an RFC 3339 time",
                    self.start_date
                ),
                Some(config.span_of("start_date")),
            )
            .with_help("write it like \"2026-01-01\"")
        })?;
        if !(1..=EXPORT_MAX_PER_PAGE).contains(&self.page_size) {
            return Err(ConfigError::new(
                format!(
                    "page_size {} is outside 1–{EXPORT_MAX_PER_PAGE}",
                    self.page_size
                ),
                Some(config.span_of("page_size")),
            ));
        }
        Ok(Checked {
            host,
            start,
            auth,
            keep_unknown_fields: false,
        })
    }
}

/// The registered `zendesk` connector.
pub struct Zendesk;

const TEMPLATE: &str = r#"[sources.{id}]
type = "zendesk"
subdomain = "yourcompany"                  # https://yourcompany.zendesk.com
email = "admin@yourcompany.com"            # the agent who created the API token
api_token = "${ZENDESK_API_TOKEN}"         # or: oauth_token = "${ZENDESK_OAUTH_TOKEN}"
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
# lookback_days = 14                       # ratings re-read: offered ones get answered later
"#;

impl Connector for Zendesk {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "zendesk",
            summary: "Reads Zendesk Support tickets, ticket metrics and satisfaction ratings.",
            keys: vec![
                ConfigKeyDoc::plain(
                    "subdomain",
                    "string",
                    true,
                    "The account's subdomain: `acme` for https://acme.zendesk.com.",
                ),
                ConfigKeyDoc::plain(
                    "email",
                    "string",
                    false,
                    "The email of the agent whose API token is used (with `api_token`).",
                ),
                ConfigKeyDoc::secret(
                    "api_token",
                    "string",
                    false,
                    "An API token, sent as Basic `email/token:api_token`; redacted everywhere.",
                ),
                ConfigKeyDoc::secret(
                    "oauth_token",
                    "string",
                    false,
                    "An OAuth access token with read scope, instead of `email` and `api_token`.",
                ),
                ConfigKeyDoc::plain(
                    "start_date",
                    "string",
                    true,
                    "The first day of the first sync, a date or RFC 3339.",
                ),
                ConfigKeyDoc::plain(
                    "lookback_days",
                    "integer",
                    false,
                    "Days of satisfaction ratings re-read before the newest one (default 14).",
                ),
                ConfigKeyDoc::plain(
                    "page_size",
                    "integer",
                    false,
                    "Tickets per export page, 1–1000 (default 1000).",
                ),
                ConfigKeyDoc::plain(
                    "base_url",
                    "string",
                    false,
                    "Replaces https://{subdomain}.zendesk.com; for proxies and the sandbox.",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        specs(DEFAULT_LOOKBACK_DAYS, false)
    }

    fn keeps_unknown_fields(&self) -> Result<(), &'static str> {
        Ok(())
    }

    fn build(
        &self,
        config: &ConfigTable,
        cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let settings: ZendeskConfig = config.deserialize()?;
        let mut checked = settings.validate(config)?;
        checked.keep_unknown_fields = cx.keep_unknown_fields;
        let export = ClientConfig {
            rate_limit: Some(export_rate()),
            ..ClientConfig::default()
        };
        let source = ZendeskSource::new(settings, checked, ClientConfig::default(), export)
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

/// The export's quota: 10 requests per minute, all of them at once if idle.
pub fn export_rate() -> RateLimit {
    RateLimit {
        requests: EXPORT_REQUESTS_PER_MINUTE,
        per: Duration::from_secs(60),
        burst: EXPORT_REQUESTS_PER_MINUTE,
    }
}

fn tickets_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_at", timestamp_type(), false),
        Field::new("updated_at", timestamp_type(), false),
        Field::new("status", DataType::Utf8, true),
        Field::new("priority", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("requester_id", DataType::Utf8, true),
        Field::new("assignee_id", DataType::Utf8, true),
        Field::new("group_id", DataType::Utf8, true),
        Field::new("organization_id", DataType::Utf8, true),
        Field::new("subject", DataType::Utf8, true),
        Field::new("tags", DataType::Utf8, true),
    ]))
}

/// The duration columns of `ticket_metrics`, in order: (column prefix, JSON field).
const DURATIONS: [&str; 5] = [
    "reply_time",
    "first_resolution_time",
    "full_resolution_time",
    "agent_wait_time",
    "requester_wait_time",
];

fn metrics_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("ticket_id", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("created_at", timestamp_type(), true),
        Field::new("updated_at", timestamp_type(), true),
        Field::new("solved_at", timestamp_type(), true),
    ];
    for d in DURATIONS {
        fields.push(Field::new(
            format!("{d}_calendar_minutes"),
            DataType::Int64,
            true,
        ));
        fields.push(Field::new(
            format!("{d}_business_minutes"),
            DataType::Int64,
            true,
        ));
    }
    fields.push(Field::new("reopens", DataType::Int64, true));
    fields.push(Field::new("replies", DataType::Int64, true));
    Arc::new(Schema::new(fields))
}

fn ratings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ticket_id", DataType::Utf8, true),
        Field::new("score", DataType::Utf8, true),
        Field::new("created_at", timestamp_type(), false),
        Field::new("updated_at", timestamp_type(), true),
        Field::new("comment", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
        Field::new("assignee_id", DataType::Utf8, true),
        Field::new("group_id", DataType::Utf8, true),
        Field::new("requester_id", DataType::Utf8, true),
    ]))
}

fn specs(lookback_days: u32, keep_unknown_fields: bool) -> Vec<StreamSpec> {
    let kept = |schema| with_extra_column(schema, keep_unknown_fields);
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    vec![
        StreamSpec {
            name: "tickets".into(),
            schema: kept(tickets_schema()),
            primary_key: vec!["id".into()],
            cursor_field: Some("updated_at".into()),
            sync_modes: both.clone(),
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "ticket_metrics".into(),
            schema: kept(metrics_schema()),
            primary_key: vec!["ticket_id".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "satisfaction_ratings".into(),
            schema: kept(ratings_schema()),
            primary_key: vec!["id".into()],
            cursor_field: Some("created_at".into()),
            sync_modes: both,
            lookback: Duration::from_secs(u64::from(lookback_days) * 86_400),
        },
    ]
}

/// A configured `zendesk` source.
pub struct ZendeskSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: ZendeskConfig,
    keep: bool,
    start: DateTime<Utc>,
    client: HttpClient,
    export: HttpClient,
    root: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tickets,
    Metrics,
    Ratings,
}

struct ZendeskStream {
    spec: StreamSpec,
    kind: Kind,
    inner: Arc<Inner>,
}

impl ZendeskSource {
    /// A source from validated settings, with the client settings of the ordinary endpoints
    /// (`http`) and of the incremental export (`export`, paced to its quota in production).
    pub fn new(
        settings: ZendeskConfig,
        checked: Checked,
        http: ClientConfig,
        export: ClientConfig,
    ) -> Result<Self> {
        let hook = Arc::new(ZendeskHook);
        let client = HttpClient::new(checked.auth.clone(), http, hook.clone())?;
        let export = HttpClient::new(checked.auth, export, hook)?;
        let inner = Arc::new(Inner {
            root: format!("{}/api/v2", checked.host),
            start: checked.start,
            keep: checked.keep_unknown_fields,
            settings,
            client,
            export,
        });
        let kinds = [Kind::Tickets, Kind::Metrics, Kind::Ratings];
        let streams = specs(inner.settings.lookback_days, inner.keep)
            .into_iter()
            .zip(kinds)
            .map(|(spec, kind)| {
                Arc::new(ZendeskStream {
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
impl Source for ZendeskSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let req = Request::get(format!("{}/ticket_metrics.json", i.root))
            .with_params(&[("page[size]".into(), "1".into())]);
        let _: MetricsPage = api::get(&i.client, &req, "checking the Zendesk credentials").await?;
        Ok(CheckReport {
            detail: format!(
                "the credentials are accepted by {}",
                i.root.trim_end_matches("/api/v2")
            ),
        })
    }
}

impl Stream for ZendeskStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        let kind = self.kind;
        events(move |tx| async move {
            match kind {
                Kind::Tickets => inner.tickets(&spec, &cx, &tx).await,
                Kind::Metrics => inner.metrics(&spec, &tx).await,
                Kind::Ratings => inner.ratings(&spec, &cx, &tx).await,
            }
        })
    }
}

/// Where the export starts.
enum From {
    /// At this time (inclusive): the first call's `start_time`.
    Time(DateTime<Utc>),
    /// After this cursor.
    Cursor(String),
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from(values.collect::<Vec<_>>()))
}

fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values.collect::<Vec<_>>()))
}

fn times(values: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// A required timestamp of each row, or a contract error naming the row.
fn required_times<'a>(
    rows: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    column: &str,
    doing: &str,
) -> Result<Vec<Option<i64>>> {
    rows.map(|(id, t)| {
        t.and_then(parse_timestamp).map(Some).ok_or_else(|| {
            Error::contract(format!(
                "{doing}: row {id} has no readable {column} ({t:?}); Zendesk always sends it"
            ))
        })
    })
    .collect()
}

impl Inner {
    /// The export: a first call with `start_time`, then `cursor` until `end_of_stream`.
    async fn tickets(&self, spec: &StreamSpec, cx: &ReadContext, tx: &Tx) -> Result<()> {
        let backfill = cx.window.is_set();
        let state_cursor = cx.state.as_ref().and_then(|s| s.cursor.clone());
        let mut from = match (cx.window.start_utc(), state_cursor) {
            (Some(t), _) => From::Time(t),
            (None, Some(Cursor::Token(c))) => From::Cursor(c),
            (None, Some(Cursor::Timestamp(t))) => From::Time(t.max(self.start)),
            (None, _) => From::Time(self.start),
        };
        if let From::Time(t) = &from
            && t.timestamp() > Utc::now().timestamp() - EXPORT_MIN_AGE_SECS
        {
            return Ok(()); // nothing can have changed since
        }
        let doing = "reading the Zendesk ticket export";
        let path = format!("{}/incremental/tickets/cursor.json", self.root);
        for _ in 0..MAX_PAGES {
            let mut params = vec![("per_page".to_owned(), self.settings.page_size.to_string())];
            match &from {
                From::Time(t) => {
                    params.push(("start_time".into(), t.timestamp().max(0).to_string()))
                }
                From::Cursor(c) => params.push(("cursor".into(), c.clone())),
            }
            let req = Request::get(path.clone()).with_params(&params);
            let (page, extras) = api::get_kept::<ExportPage, api::Ticket>(
                &self.export,
                &req,
                doing,
                self.keep,
                "tickets",
            )
            .await?;
            let batch = self.tickets_batch(spec, &page, &extras, cx, doing)?;
            let past_end = cx.window.end_utc().is_some_and(|end| {
                page.tickets.iter().any(|t| {
                    t.updated_at
                        .as_deref()
                        .and_then(parse_timestamp)
                        .is_some_and(|u| u >= end.timestamp_micros())
                })
            });
            if batch.num_rows() > 0 && !send(tx, StreamEvent::Batch(batch)).await {
                return Ok(());
            }
            let after = page
                .after_cursor
                .filter(|c| !c.is_empty())
                .ok_or_else(|| Error::contract(format!("{doing}: the page has no after_cursor")))?;
            if !backfill {
                let checkpoint = StreamState::at(Cursor::Token(after.clone()));
                if !send(tx, StreamEvent::Checkpoint(checkpoint)).await {
                    return Ok(());
                }
            }
            if page.end_of_stream || past_end || page.tickets.is_empty() {
                return Ok(());
            }
            from = From::Cursor(after);
        }
        Err(Error::new(
            ErrorKind::External,
            format!(
                "{doing}: stopped after {MAX_PAGES} pages: Zendesk never reached end_of_stream"
            ),
        ))
    }

    fn tickets_batch(
        &self,
        spec: &StreamSpec,
        page: &ExportPage,
        extras: &[Option<String>],
        cx: &ReadContext,
        doing: &str,
    ) -> Result<RecordBatch> {
        let created = required_times(
            page.tickets
                .iter()
                .map(|t| (t.id.as_str(), t.created_at.as_deref())),
            "created_at",
            doing,
        )?;
        let updated = required_times(
            page.tickets
                .iter()
                .map(|t| (t.id.as_str(), t.updated_at.as_deref())),
            "updated_at",
            doing,
        )?;
        // A backfill window keeps only the tickets last changed inside it.
        let keep: Vec<usize> = (0..page.tickets.len())
            .filter(|&i| {
                updated[i]
                    .and_then(DateTime::from_timestamp_micros)
                    .is_some_and(|u| cx.window.contains(u) || !cx.window.is_set())
            })
            .collect();
        let rows: Vec<&api::Ticket> = keep.iter().map(|&i| &page.tickets[i]).collect();
        let channels: Vec<Option<String>> = rows.iter().map(|t| t.channel()).collect();
        let tags: Vec<Option<String>> = rows
            .iter()
            .map(|t| (!t.tags.is_empty()).then(|| t.tags.join(" ")))
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            strings(rows.iter().map(|t| Some(t.id.as_str()))),
            times(keep.iter().map(|&i| created[i]).collect()),
            times(keep.iter().map(|&i| updated[i]).collect()),
            strings(rows.iter().map(|t| t.status.as_deref())),
            strings(rows.iter().map(|t| t.priority.as_deref())),
            strings(rows.iter().map(|t| t.kind.as_deref())),
            strings(channels.iter().map(Option::as_deref)),
            strings(rows.iter().map(|t| t.requester_id.as_deref())),
            strings(rows.iter().map(|t| t.assignee_id.as_deref())),
            strings(rows.iter().map(|t| t.group_id.as_deref())),
            strings(rows.iter().map(|t| t.organization_id.as_deref())),
            strings(rows.iter().map(|t| t.subject.as_deref())),
            strings(tags.iter().map(Option::as_deref)),
        ];
        if self.keep {
            columns.push(kept_column(keep.iter().copied(), extras));
        }
        Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
    }

    /// Every ticket's metrics, page by page (`page[size]`, `page[after]`).
    async fn metrics(&self, spec: &StreamSpec, tx: &Tx) -> Result<()> {
        let doing = "reading Zendesk ticket metrics";
        let path = format!("{}/ticket_metrics.json", self.root);
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = Request::get(path.clone())
                .with_params(&[("page[size]".into(), PAGE_SIZE.to_string())]);
            if let Some(c) = &after {
                req = req.with_params(&[("page[after]".into(), c.clone())]);
            }
            let (page, extras) = api::get_kept::<MetricsPage, api::TicketMetric>(
                &self.client,
                &req,
                doing,
                self.keep,
                "ticket_metrics",
            )
            .await?;
            if !page.ticket_metrics.is_empty() {
                let batch = metrics_batch(spec, &page, self.keep.then_some(&extras[..]))?;
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(());
                }
            }
            match page.meta.after_cursor.filter(|c| !c.is_empty()) {
                Some(c) if page.meta.has_more && !page.ticket_metrics.is_empty() => after = Some(c),
                _ => return Ok(()),
            }
        }
        Err(Error::new(
            ErrorKind::External,
            format!("{doing}: stopped after {MAX_PAGES} pages: Zendesk kept answering has_more"),
        ))
    }

    /// Ratings created since the saved cursor minus the lookback, oldest first.
    async fn ratings(&self, spec: &StreamSpec, cx: &ReadContext, tx: &Tx) -> Result<()> {
        let doing = "reading Zendesk satisfaction ratings";
        let start = cx
            .start_time(spec.lookback, Some(self.start))
            .unwrap_or(self.start);
        if start >= Utc::now() {
            return Ok(());
        }
        let mut params = vec![
            (
                "start_time".to_owned(),
                start.timestamp().max(0).to_string(),
            ),
            ("page[size]".to_owned(), PAGE_SIZE.to_string()),
        ];
        if let Some(end) = cx.window.end_utc() {
            // end_time is inclusive; the window's end is not.
            params.push(("end_time".into(), (end.timestamp() - 1).to_string()));
        }
        let path = format!("{}/satisfaction_ratings.json", self.root);
        let mut newest: Option<DateTime<Utc>> = None;
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut req = Request::get(path.clone()).with_params(&params);
            if let Some(c) = &after {
                req = req.with_params(&[("page[after]".into(), c.clone())]);
            }
            let (page, extras) = api::get_kept::<RatingsPage, api::SatisfactionRating>(
                &self.client,
                &req,
                doing,
                self.keep,
                "satisfaction_ratings",
            )
            .await?;
            if !page.satisfaction_ratings.is_empty() {
                let (batch, latest) =
                    ratings_batch(spec, &page, self.keep.then_some(&extras[..]), doing)?;
                newest = newest.max(latest);
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(());
                }
                if let Some(t) = newest {
                    let checkpoint = StreamState::at(Cursor::Timestamp(t));
                    if !send(tx, StreamEvent::Checkpoint(checkpoint)).await {
                        return Ok(());
                    }
                }
            }
            match page.meta.after_cursor.filter(|c| !c.is_empty()) {
                Some(c) if page.meta.has_more && !page.satisfaction_ratings.is_empty() => {
                    after = Some(c);
                }
                _ => return Ok(()),
            }
        }
        Err(Error::new(
            ErrorKind::External,
            format!("{doing}: stopped after {MAX_PAGES} pages: Zendesk kept answering has_more"),
        ))
    }
}

/// The unknown-fields column of the records at `rows` of a page.
fn kept_column(rows: impl Iterator<Item = usize>, extras: &[Option<String>]) -> ArrayRef {
    extra_array(rows.map(|i| extras.get(i).and_then(Option::as_deref)))
}

fn metrics_batch(
    spec: &StreamSpec,
    page: &MetricsPage,
    extras: Option<&[Option<String>]>,
) -> Result<RecordBatch> {
    let rows = &page.ticket_metrics;
    let ts = |f: fn(&api::TicketMetric) -> Option<&String>| {
        times(
            rows.iter()
                .map(|m| f(m).and_then(|t| parse_timestamp(t)))
                .collect(),
        )
    };
    let mut columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|m| Some(m.ticket_id.as_str()))),
        strings(rows.iter().map(|m| Some(m.id.as_str()))),
        ts(|m| m.created_at.as_ref()),
        ts(|m| m.updated_at.as_ref()),
        ts(|m| m.solved_at.as_ref()),
    ];
    let durations: [fn(&api::TicketMetric) -> Option<api::Minutes>; 5] = [
        |m| m.reply_time_in_minutes,
        |m| m.first_resolution_time_in_minutes,
        |m| m.full_resolution_time_in_minutes,
        |m| m.agent_wait_time_in_minutes,
        |m| m.requester_wait_time_in_minutes,
    ];
    for d in durations {
        columns.push(ints(rows.iter().map(|m| d(m).and_then(|x| x.calendar))));
        columns.push(ints(rows.iter().map(|m| d(m).and_then(|x| x.business))));
    }
    columns.push(ints(rows.iter().map(|m| m.reopens)));
    columns.push(ints(rows.iter().map(|m| m.replies)));
    if let Some(extras) = extras {
        columns.push(kept_column(0..rows.len(), extras));
    }
    Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
}

fn ratings_batch(
    spec: &StreamSpec,
    page: &RatingsPage,
    extras: Option<&[Option<String>]>,
    doing: &str,
) -> Result<(RecordBatch, Option<DateTime<Utc>>)> {
    let rows = &page.satisfaction_ratings;
    let created = required_times(
        rows.iter()
            .map(|r| (r.id.as_str(), r.created_at.as_deref())),
        "created_at",
        doing,
    )?;
    let latest = created
        .iter()
        .flatten()
        .max()
        .and_then(|&m| DateTime::from_timestamp_micros(m));
    let mut columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.id.as_str()))),
        strings(rows.iter().map(|r| r.ticket_id.as_deref())),
        strings(rows.iter().map(|r| r.score.as_deref())),
        times(created),
        times(
            rows.iter()
                .map(|r| r.updated_at.as_deref().and_then(parse_timestamp))
                .collect(),
        ),
        strings(rows.iter().map(|r| r.comment.as_deref())),
        strings(rows.iter().map(|r| r.reason.as_deref())),
        strings(rows.iter().map(|r| r.assignee_id.as_deref())),
        strings(rows.iter().map(|r| r.group_id.as_deref())),
        strings(rows.iter().map(|r| r.requester_id.as_deref())),
    ];
    if let Some(extras) = extras {
        columns.push(kept_column(0..rows.len(), extras));
    }
    Ok((
        RecordBatch::try_new(Arc::clone(&spec.schema), columns)?,
        latest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_follow_zendesk_rules() {
        assert!(valid_subdomain("acme-support"));
        assert!(!valid_subdomain("acme.zendesk.com"));
        assert!(!valid_subdomain("https://acme"));
        assert!(!valid_subdomain(""));
    }

    #[test]
    fn start_dates_are_dates_or_instants() {
        assert_eq!(
            parse_start("2026-01-01").map(|t| t.timestamp()),
            Some(1_767_225_600)
        );
        assert!(parse_start("2026-01-01T12:00:00Z").is_some());
        assert!(parse_start("last week").is_none());
    }

    #[test]
    fn the_metrics_schema_names_calendar_and_business_minutes() {
        let s = metrics_schema();
        assert!(s.index_of("reply_time_calendar_minutes").is_ok());
        assert!(s.index_of("full_resolution_time_business_minutes").is_ok());
        assert_eq!(s.fields().len(), 5 + 2 * DURATIONS.len() + 2);
    }
}
