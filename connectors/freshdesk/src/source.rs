//! The `freshdesk` connector: settings, streams, and how each stream pages, slices past the
//! 300-page limit and resumes.
//!
//! State: `tickets` and `conversations` keep the newest ticket `updated_at` read (a checkpoint
//! after every page of tickets) and ask for `updated_since` it next time; `satisfaction_ratings`
//! keeps the newest `created_at` and asks for `created_since` it. Both filters are inclusive, so
//! a resumed read may repeat the rows of that one second; a sink in `merge` mode keeps one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::schema::timestamp_type;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, EXTRA_FIELDS_COLUMN, Error, ErrorKind, EventStream, ReadContext, Result, Secret,
    Source, Stream, StreamEvent, StreamSpec, StreamState, SyncMode,
};
use chorus_http::decode::parse_timestamp;
use chorus_http::extra::{extra_array, with_extra_column};
use chorus_http::produce::{Tx, events, send};
use chorus_http::{Auth, ClientConfig, HttpClient, Request};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use crate::api::{
    self, Conversation, FreshdeskHook, MAX_PAGE, MAX_PAGES, MAX_PER_PAGE, NOT_FOUND,
    SatisfactionRating, Ticket,
};

/// The settings of a `freshdesk` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshdeskConfig {
    /// The helpdesk's domain: `acme` for `https://acme.freshdesk.com`.
    #[serde(default)]
    pub domain: Option<String>,
    /// The agent's API key (Basic `api_key:X`).
    pub api_key: Secret,
    /// The first day of the first sync (`2026-01-01` or RFC 3339).
    pub start_date: String,
    /// Items per page, 1–100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The API host, replacing `https://{domain}.freshdesk.com`; for proxies and the sandbox.
    #[serde(default)]
    pub base_url: Option<String>,
}

const fn default_page_size() -> u32 {
    MAX_PER_PAGE
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

/// Whether a domain is a Freshdesk subdomain: letters, digits and `-`.
pub fn valid_domain(s: &str) -> bool {
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
    /// Whether each stream keeps the fields it does not read (`keep_unknown_fields`).
    pub keep_unknown_fields: bool,
}

impl FreshdeskConfig {
    /// Checks what serde cannot, pointing at the offending key.
    pub fn validate(&self, config: &ConfigTable) -> Result<Checked, ConfigError> {
        let base = self.base_url.as_deref().filter(|b| !b.trim().is_empty());
        let host = match (base, self.domain.as_deref()) {
            (Some(b), _) => {
                chorus_http::check_base_url(config, "base_url", b)?;
                b.trim_end_matches('/').to_owned()
            }
            (None, Some(d)) if valid_domain(d) => format!("https://{d}.freshdesk.com"),
            (None, Some(d)) => {
                return Err(ConfigError::new(
                    format!("\"{d}\" is not a Freshdesk domain"),
                    Some(config.span_of("domain")),
                )
                .with_help("write only the first part of the address: domain = \"acme\" for https://acme.freshdesk.com"));
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "a freshdesk source needs `domain`",
                    Some(config.span_of("type")),
                )
                .with_help("add domain = \"acme\" for https://acme.freshdesk.com"));
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
        if !(1..=MAX_PER_PAGE).contains(&self.page_size) {
            return Err(ConfigError::new(
                format!("page_size {} is outside 1–{MAX_PER_PAGE}", self.page_size),
                Some(config.span_of("page_size")),
            ));
        }
        Ok(Checked {
            host,
            start,
            keep_unknown_fields: false,
        })
    }
}

/// The registered `freshdesk` connector.
pub struct Freshdesk;

const TEMPLATE: &str = r#"[sources.{id}]
type = "freshdesk"
domain = "yourcompany"                     # https://yourcompany.freshdesk.com
api_key = "${FRESHDESK_API_KEY}"           # Profile settings > View API key
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
# page_size = 100
"#;

impl Connector for Freshdesk {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "freshdesk",
            summary: "Reads Freshdesk tickets with their stats, conversations and satisfaction ratings.",
            keys: vec![
                ConfigKeyDoc::plain(
                    "domain",
                    "string",
                    true,
                    "The helpdesk's domain: `acme` for https://acme.freshdesk.com.",
                ),
                ConfigKeyDoc::secret(
                    "api_key",
                    "string",
                    true,
                    "The agent's API key, sent as Basic `api_key:X`; redacted everywhere.",
                ),
                ConfigKeyDoc::plain(
                    "start_date",
                    "string",
                    true,
                    "The first day of the first sync, a date or RFC 3339.",
                ),
                ConfigKeyDoc::plain(
                    "page_size",
                    "integer",
                    false,
                    "Items per page, 1–100 (default 100).",
                ),
                ConfigKeyDoc::plain(
                    "base_url",
                    "string",
                    false,
                    "Replaces https://{domain}.freshdesk.com; for proxies and the sandbox.",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        specs(false)
    }

    fn keeps_unknown_fields(&self) -> Result<(), &'static str> {
        Ok(())
    }

    fn build(
        &self,
        config: &ConfigTable,
        cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let settings: FreshdeskConfig = config.deserialize()?;
        let mut checked = settings.validate(config)?;
        checked.keep_unknown_fields = cx.keep_unknown_fields;
        let source = FreshdeskSource::new(settings, checked, ClientConfig::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

fn tickets_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_at", timestamp_type(), false),
        Field::new("updated_at", timestamp_type(), false),
        Field::new("subject", DataType::Utf8, true),
        Field::new("status", DataType::Int64, true),
        Field::new("status_label", DataType::Utf8, true),
        Field::new("priority", DataType::Int64, true),
        Field::new("priority_label", DataType::Utf8, true),
        Field::new("source", DataType::Int64, true),
        Field::new("source_label", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
        Field::new("requester_id", DataType::Utf8, true),
        Field::new("responder_id", DataType::Utf8, true),
        Field::new("group_id", DataType::Utf8, true),
        Field::new("company_id", DataType::Utf8, true),
        Field::new("tags", DataType::Utf8, true),
        Field::new("first_responded_at", timestamp_type(), true),
        Field::new("resolved_at", timestamp_type(), true),
        Field::new("closed_at", timestamp_type(), true),
        Field::new("first_response_minutes", DataType::Int64, true),
        Field::new("resolution_minutes", DataType::Int64, true),
    ]))
}

fn conversations_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ticket_id", DataType::Utf8, false),
        Field::new("ticket_updated_at", timestamp_type(), false),
        Field::new("created_at", timestamp_type(), true),
        Field::new("updated_at", timestamp_type(), true),
        Field::new("incoming", DataType::Boolean, true),
        Field::new("private", DataType::Boolean, true),
        Field::new("source", DataType::Int64, true),
        Field::new("user_id", DataType::Utf8, true),
    ]))
}

fn ratings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("ticket_id", DataType::Utf8, true),
        Field::new("survey_id", DataType::Utf8, true),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("agent_id", DataType::Utf8, true),
        Field::new("group_id", DataType::Utf8, true),
        Field::new("rating", DataType::Int64, true),
        Field::new("rating_label", DataType::Utf8, true),
        Field::new("feedback", DataType::Utf8, true),
        Field::new("created_at", timestamp_type(), false),
        Field::new("updated_at", timestamp_type(), true),
    ]))
}

fn specs(keep_unknown_fields: bool) -> Vec<StreamSpec> {
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    let spec = |name: &str, schema, key: &str, cursor: &str| StreamSpec {
        name: name.into(),
        schema: with_extra_column(schema, keep_unknown_fields),
        primary_key: vec![key.into()],
        cursor_field: Some(cursor.into()),
        sync_modes: both.clone(),
        lookback: Duration::ZERO,
    };
    vec![
        spec("tickets", tickets_schema(), "id", "updated_at"),
        spec(
            "conversations",
            conversations_schema(),
            "id",
            "ticket_updated_at",
        ),
        spec("satisfaction_ratings", ratings_schema(), "id", "created_at"),
    ]
}

/// A configured `freshdesk` source.
pub struct FreshdeskSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: FreshdeskConfig,
    keep: bool,
    start: DateTime<Utc>,
    client: HttpClient,
    root: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tickets,
    Conversations,
    Ratings,
}

struct FreshdeskStream {
    spec: StreamSpec,
    kind: Kind,
    inner: Arc<Inner>,
}

impl FreshdeskSource {
    /// A source from validated settings and client settings (tests make them fast).
    pub fn new(settings: FreshdeskConfig, checked: Checked, http: ClientConfig) -> Result<Self> {
        let auth = Auth::BasicKey {
            key: settings.api_key.clone(),
            password: "X".into(),
        };
        let client = HttpClient::new(auth, http, Arc::new(FreshdeskHook))?;
        let inner = Arc::new(Inner {
            root: format!("{}/api/v2", checked.host),
            start: checked.start,
            keep: checked.keep_unknown_fields,
            settings,
            client,
        });
        let kinds = [Kind::Tickets, Kind::Conversations, Kind::Ratings];
        let streams = specs(checked.keep_unknown_fields)
            .into_iter()
            .zip(kinds)
            .map(|(spec, kind)| {
                Arc::new(FreshdeskStream {
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
impl Source for FreshdeskSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let req = Request::get(format!("{}/tickets", i.root))
            .with_params(&[("per_page".into(), "1".into())]);
        let _: (Vec<Ticket>, bool) =
            api::get_page(&i.client, &req, "checking the Freshdesk API key").await?;
        Ok(CheckReport {
            detail: format!(
                "the API key is accepted by {}",
                i.root.trim_end_matches("/api/v2")
            ),
        })
    }
}

impl Stream for FreshdeskStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        let kind = self.kind;
        events(move |tx| async move {
            match kind {
                Kind::Tickets | Kind::Conversations => inner.tickets(kind, &spec, &cx, &tx).await,
                Kind::Ratings => inner.ratings(&spec, &cx, &tx).await,
            }
        })
    }
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

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn micros(t: Option<&str>) -> Option<i64> {
    t.and_then(parse_timestamp)
}

/// A ticket with its parsed times.
struct Read {
    ticket: Ticket,
    /// The fields of the ticket this connector does not read, when kept.
    extra: Option<String>,
    created: i64,
    updated: i64,
}

/// Walks `/tickets` by `updated_at`, page by page, restarting from the last `updated_at`
/// when page 300 is reached.
struct TicketPages<'a> {
    inner: &'a Inner,
    since: DateTime<Utc>,
    page: u32,
    /// Ids already read at `since` (the boundary second of a restart).
    boundary: HashSet<String>,
    /// The latest `updated_at` of this slice and the ids read at it.
    latest: (i64, HashSet<String>),
    done: bool,
    stats: bool,
    /// Whether the tickets' unknown fields are kept (the `tickets` stream's).
    keep_extra: bool,
}

impl TicketPages<'_> {
    async fn next(&mut self) -> Result<Option<Vec<Read>>> {
        if self.done {
            return Ok(None);
        }
        let doing = format!(
            "reading Freshdesk tickets updated since {}",
            fmt_time(self.since)
        );
        let mut params = vec![
            ("updated_since".to_owned(), fmt_time(self.since)),
            ("order_by".to_owned(), "updated_at".to_owned()),
            ("order_type".to_owned(), "asc".to_owned()),
            (
                "per_page".to_owned(),
                self.inner.settings.page_size.to_string(),
            ),
            ("page".to_owned(), self.page.to_string()),
        ];
        if self.stats {
            params.push(("include".into(), "stats".into()));
        }
        let req = Request::get(format!("{}/tickets", self.inner.root)).with_params(&params);
        let (tickets, more) =
            api::get_records::<Ticket>(&self.inner.client, &req, &doing, self.keep_extra).await?;
        let mut rows = Vec::with_capacity(tickets.len());
        for (t, extra) in tickets {
            let (Some(created), Some(updated)) = (
                micros(t.created_at.as_deref()),
                micros(t.updated_at.as_deref()),
            ) else {
                return Err(Error::contract(format!(
                    "{doing}: ticket {} has no readable created_at or updated_at; Freshdesk always sends them",
                    t.id
                )));
            };
            rows.push(Read {
                ticket: t,
                extra,
                created,
                updated,
            });
        }
        let last = rows.last().map(|r| r.updated);
        // The tickets of the restart second that the previous slice already returned.
        let at = self.since.timestamp_micros();
        let boundary = &self.boundary;
        let rows: Vec<Read> = rows
            .into_iter()
            .filter(|r| !(r.updated == at && boundary.contains(&r.ticket.id)))
            .collect();
        for r in &rows {
            if r.updated > self.latest.0 {
                self.latest = (r.updated, HashSet::new());
            }
            if r.updated == self.latest.0 {
                self.latest.1.insert(r.ticket.id.clone());
            }
        }
        if !more || last.is_none() {
            self.done = true;
        } else if self.page >= MAX_PAGE {
            // Freshdesk serves 300 pages at most: go on from the last second read.
            let Some(last) = last.and_then(DateTime::from_timestamp_micros) else {
                self.done = true;
                return Ok(Some(rows));
            };
            if last <= self.since {
                return Err(Error::new(
                    ErrorKind::External,
                    format!(
                        "{doing}: more than {MAX_PAGE} pages of tickets changed within the second {}; Freshdesk cannot page past them",
                        fmt_time(self.since)
                    ),
                ));
            }
            self.boundary = std::mem::take(&mut self.latest.1);
            self.since = last;
            self.page = 1;
            return Ok(Some(rows));
        } else {
            self.page += 1;
        }
        Ok(Some(rows))
    }
}

impl Inner {
    /// Where a tickets or conversations read starts.
    fn since(&self, cx: &ReadContext) -> DateTime<Utc> {
        cx.start_time(Duration::ZERO, Some(self.start))
            .unwrap_or(self.start)
    }

    /// `tickets` (each page as a batch) or `conversations` (each page's tickets' entries as a
    /// batch), with a checkpoint at the newest `updated_at` after every page.
    async fn tickets(
        &self,
        kind: Kind,
        spec: &StreamSpec,
        cx: &ReadContext,
        tx: &Tx,
    ) -> Result<()> {
        let since = self.since(cx);
        if since >= Utc::now() {
            return Ok(());
        }
        let mut pages = TicketPages {
            inner: self,
            since,
            page: 1,
            boundary: HashSet::new(),
            latest: (i64::MIN, HashSet::new()),
            done: false,
            stats: kind == Kind::Tickets,
            keep_extra: kind == Kind::Tickets && self.keep,
        };
        let mut newest: Option<i64> = None;
        for _ in 0..MAX_PAGES {
            let Some(rows) = pages.next().await? else {
                return Ok(());
            };
            let rows: Vec<Read> = rows
                .into_iter()
                .filter(|r| {
                    cx.window
                        .end_utc()
                        .is_none_or(|e| r.updated < e.timestamp_micros())
                })
                .collect();
            if let Some(max) = rows.iter().map(|r| r.updated).max() {
                newest = newest.max(Some(max));
            }
            if !rows.is_empty() {
                let batch = match kind {
                    Kind::Tickets => tickets_batch(spec, &rows)?,
                    _ => self.conversations_batch(spec, &rows).await?,
                };
                if batch.num_rows() > 0 && !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(());
                }
            }
            if let Some(t) = newest.and_then(DateTime::from_timestamp_micros) {
                let checkpoint = StreamState::at(Cursor::Timestamp(t));
                if !send(tx, StreamEvent::Checkpoint(checkpoint)).await {
                    return Ok(());
                }
            }
        }
        Err(Error::new(
            ErrorKind::External,
            format!(
                "stopped after {MAX_PAGES} pages of Freshdesk tickets: the API kept sending a next page"
            ),
        ))
    }

    /// Every conversation entry of `rows`' tickets, in one batch.
    async fn conversations_batch(&self, spec: &StreamSpec, rows: &[Read]) -> Result<RecordBatch> {
        let mut entries: Vec<((Conversation, Option<String>), &Read)> = Vec::new();
        for r in rows {
            let doing = format!(
                "reading the conversation of Freshdesk ticket {}",
                r.ticket.id
            );
            let path = format!("{}/tickets/{}/conversations", self.root, r.ticket.id);
            let mut page = 1u32;
            loop {
                let req = Request::get(path.clone()).with_params(&[
                    ("per_page".into(), self.settings.page_size.to_string()),
                    ("page".into(), page.to_string()),
                ]);
                let (list, more) = match api::get_records::<Conversation>(
                    &self.client,
                    &req,
                    &doing,
                    self.keep,
                )
                .await
                {
                    Ok(v) => v,
                    Err(e)
                        if e.kind() == ErrorKind::External && e.message().contains(NOT_FOUND) =>
                    {
                        tracing::warn!(ticket = %r.ticket.id, "Freshdesk no longer has this ticket (deleted since it was listed); its conversation is skipped.");
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let empty = list.is_empty();
                entries.extend(list.into_iter().map(|c| (c, r)));
                if !more || empty || page >= MAX_PAGE {
                    break;
                }
                page += 1;
            }
        }
        let mut columns: Vec<ArrayRef> =
            vec![
                strings(entries.iter().map(|((c, _), _)| Some(c.id.as_str()))),
                strings(entries.iter().map(|((c, _), r)| {
                    Some(c.ticket_id.as_deref().unwrap_or(r.ticket.id.as_str()))
                })),
                times(entries.iter().map(|(_, r)| Some(r.updated)).collect()),
                times(
                    entries
                        .iter()
                        .map(|((c, _), _)| micros(c.created_at.as_deref()))
                        .collect(),
                ),
                times(
                    entries
                        .iter()
                        .map(|((c, _), _)| micros(c.updated_at.as_deref()))
                        .collect(),
                ),
                Arc::new(BooleanArray::from(
                    entries
                        .iter()
                        .map(|((c, _), _)| c.incoming)
                        .collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(
                    entries
                        .iter()
                        .map(|((c, _), _)| c.private)
                        .collect::<Vec<_>>(),
                )),
                ints(entries.iter().map(|((c, _), _)| c.source)),
                strings(entries.iter().map(|((c, _), _)| c.user_id.as_deref())),
            ];
        if self.keep {
            columns.push(extra_array(entries.iter().map(|((_, e), _)| e.as_deref())));
        }
        Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
    }

    /// Survey answers created since the saved cursor, page by page.
    async fn ratings(&self, spec: &StreamSpec, cx: &ReadContext, tx: &Tx) -> Result<()> {
        let since = self.since(cx);
        if since >= Utc::now() {
            return Ok(());
        }
        let doing = "reading Freshdesk satisfaction ratings";
        let path = format!("{}/surveys/satisfaction_ratings", self.root);
        let mut newest: Option<i64> = None;
        for page in 1..=MAX_PAGE {
            let req = Request::get(path.clone()).with_params(&[
                ("created_since".into(), fmt_time(since)),
                ("per_page".into(), self.settings.page_size.to_string()),
                ("page".into(), page.to_string()),
            ]);
            let (list, more) =
                api::get_records::<SatisfactionRating>(&self.client, &req, doing, self.keep)
                    .await?;
            let mut created = Vec::with_capacity(list.len());
            for (r, _) in &list {
                let c = micros(r.created_at.as_deref()).ok_or_else(|| {
                    Error::contract(format!(
                        "{doing}: rating {} has no readable created_at; Freshdesk always sends it",
                        r.id
                    ))
                })?;
                created.push(c);
            }
            let keep: Vec<usize> = (0..list.len())
                .filter(|&i| {
                    cx.window
                        .end_utc()
                        .is_none_or(|e| created[i] < e.timestamp_micros())
                })
                .collect();
            if let Some(max) = keep.iter().map(|&i| created[i]).max() {
                newest = newest.max(Some(max));
            }
            if !keep.is_empty() {
                let rows: Vec<&SatisfactionRating> = keep.iter().map(|&i| &list[i].0).collect();
                let value = |r: &SatisfactionRating| r.ratings.get("default_question").copied();
                let mut columns: Vec<ArrayRef> = vec![
                    strings(rows.iter().map(|r| Some(r.id.as_str()))),
                    strings(rows.iter().map(|r| r.ticket_id.as_deref())),
                    strings(rows.iter().map(|r| r.survey_id.as_deref())),
                    strings(rows.iter().map(|r| r.user_id.as_deref())),
                    strings(rows.iter().map(|r| r.agent_id.as_deref())),
                    strings(rows.iter().map(|r| r.group_id.as_deref())),
                    ints(rows.iter().map(|r| value(r))),
                    strings(rows.iter().map(|r| value(r).and_then(api::rating_label))),
                    strings(rows.iter().map(|r| r.feedback.as_deref())),
                    times(keep.iter().map(|&i| Some(created[i])).collect()),
                    times(
                        rows.iter()
                            .map(|r| micros(r.updated_at.as_deref()))
                            .collect(),
                    ),
                ];
                if self.keep {
                    columns.push(extra_array(keep.iter().map(|&i| list[i].1.as_deref())));
                }
                let batch = RecordBatch::try_new(Arc::clone(&spec.schema), columns)?;
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(());
                }
            }
            if let Some(t) = newest.and_then(DateTime::from_timestamp_micros) {
                let checkpoint = StreamState::at(Cursor::Timestamp(t));
                if !send(tx, StreamEvent::Checkpoint(checkpoint)).await {
                    return Ok(());
                }
            }
            if !more || list.is_empty() {
                return Ok(());
            }
        }
        tracing::warn!(
            "Freshdesk serves {MAX_PAGE} pages of ratings at most; the rest is read on the next run, from the newest one read."
        );
        Ok(())
    }
}

fn tickets_batch(spec: &StreamSpec, rows: &[Read]) -> Result<RecordBatch> {
    let stat = |f: fn(&api::Stats) -> Option<&String>| -> Vec<Option<i64>> {
        rows.iter()
            .map(|r| {
                r.ticket
                    .stats
                    .as_ref()
                    .and_then(f)
                    .and_then(|t| parse_timestamp(t))
            })
            .collect()
    };
    let first = stat(|s| s.first_responded_at.as_ref());
    let resolved = stat(|s| s.resolved_at.as_ref());
    let minutes = |to: &[Option<i64>]| -> ArrayRef {
        ints(
            rows.iter()
                .zip(to)
                .map(|(r, t)| t.map(|t| (t - r.created).div_euclid(60_000_000))),
        )
    };
    let tags: Vec<Option<String>> = rows
        .iter()
        .map(|r| (!r.ticket.tags.is_empty()).then(|| r.ticket.tags.join(",")))
        .collect();
    let mut columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| Some(r.ticket.id.as_str()))),
        times(rows.iter().map(|r| Some(r.created)).collect()),
        times(rows.iter().map(|r| Some(r.updated)).collect()),
        strings(rows.iter().map(|r| r.ticket.subject.as_deref())),
        ints(rows.iter().map(|r| r.ticket.status)),
        strings(
            rows.iter()
                .map(|r| r.ticket.status.and_then(api::status_label)),
        ),
        ints(rows.iter().map(|r| r.ticket.priority)),
        strings(
            rows.iter()
                .map(|r| r.ticket.priority.and_then(api::priority_label)),
        ),
        ints(rows.iter().map(|r| r.ticket.source)),
        strings(
            rows.iter()
                .map(|r| r.ticket.source.and_then(api::source_label)),
        ),
        strings(rows.iter().map(|r| r.ticket.kind.as_deref())),
        strings(rows.iter().map(|r| r.ticket.requester_id.as_deref())),
        strings(rows.iter().map(|r| r.ticket.responder_id.as_deref())),
        strings(rows.iter().map(|r| r.ticket.group_id.as_deref())),
        strings(rows.iter().map(|r| r.ticket.company_id.as_deref())),
        strings(tags.iter().map(Option::as_deref)),
        times(first.clone()),
        times(resolved.clone()),
        times(stat(|s| s.closed_at.as_ref())),
        minutes(&first),
        minutes(&resolved),
    ];
    if spec.schema.column_with_name(EXTRA_FIELDS_COLUMN).is_some() {
        columns.push(extra_array(rows.iter().map(|r| r.extra.as_deref())));
    }
    Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_follow_freshdesk_rules() {
        assert!(valid_domain("acme-help"));
        assert!(!valid_domain("acme.freshdesk.com"));
        assert!(!valid_domain(""));
    }

    #[test]
    fn start_dates_are_dates_or_instants() {
        assert!(parse_start("2026-01-01").is_some());
        assert!(parse_start("2026-01-01T00:00:00Z").is_some());
        assert!(parse_start("soon").is_none());
    }
}
