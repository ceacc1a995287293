//! `facebook_ads`: Marketing API insights per day through async report jobs, and the
//! campaigns, ad sets and ads they are about.
//!
//! Insights run as async jobs (create, poll, fetch): a job that fails, is skipped, times out
//! or reports too much data is split into two halves of its date range, down to single days,
//! which is what Meta's own guidance asks for. Days are the ad account's days, in its
//! `timezone_name`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::schema::timestamp_type;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, Error, ErrorKind, EventStream, ReadContext, Result, Source, Stream, StreamEvent,
    StreamSpec, StreamState, SyncMode,
};
use chorus_http::{PageDecoder, Request};
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use reqwest::Method;
use serde::Deserialize;

use crate::common::{
    self, Access, Http, Tx, date32, day_in, events, is_final, is_final_field, meta_settings,
    midnight, send,
};
use crate::graph::{Graph, GraphError, Pager};
use crate::pages::access_keys;

/// Action types expanded into `actions_<type>` and `action_values_<type>` columns by default.
pub const ACTION_TYPES: &[&str] = &[
    "link_click",
    "landing_page_view",
    "post_engagement",
    "page_engagement",
    "post_reaction",
    "comment",
    "video_view",
    "lead",
    "complete_registration",
    "add_to_cart",
    "initiate_checkout",
    "purchase",
    "omni_purchase",
];

/// Every effective status, so deleted and archived objects are read too.
const ALL_STATUSES: &str = r#"["ACTIVE","PAUSED","DELETED","PENDING_REVIEW","DISAPPROVED","PREAPPROVED","PENDING_BILLING_INFO","CAMPAIGN_PAUSED","ARCHIVED","ADSET_PAUSED","IN_PROCESS","WITH_ISSUES"]"#;

meta_settings! {
    /// The settings of a `facebook_ads` source.
    pub struct AdsConfig {
        /// The ad account id, with or without `act_`.
        pub account_id: String,
        /// `account`, `campaign`, `adset` or `ad` (default `ad`).
        #[serde(default = "default_level")]
        pub level: Level,
        /// Action types expanded into columns (default [`ACTION_TYPES`]).
        #[serde(default)]
        pub action_types: Option<Vec<String>>,
        /// Days per async report job before any split (default 30).
        #[serde(default = "default_report_days")]
        pub report_days: u32,
        /// Minutes a report job may take before it is split (default 30).
        #[serde(default = "default_job_timeout")]
        pub job_timeout_minutes: u32,
        /// Rows per request (default 500).
        #[serde(default = "default_page_size")]
        pub page_size: u32,
    }
}

/// The level insights rows are broken down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// One row per account and day.
    Account,
    /// One row per campaign and day.
    Campaign,
    /// One row per ad set and day.
    Adset,
    /// One row per ad and day.
    Ad,
}

impl Level {
    /// The name Meta uses.
    pub fn name(self) -> &'static str {
        match self {
            Level::Account => "account",
            Level::Campaign => "campaign",
            Level::Adset => "adset",
            Level::Ad => "ad",
        }
    }

    /// The id and name columns this level fills.
    fn id_fields(self) -> &'static [&'static str] {
        match self {
            Level::Account => &["account_id", "account_name"],
            Level::Campaign => &["account_id", "campaign_id", "campaign_name"],
            Level::Adset => &[
                "account_id",
                "campaign_id",
                "campaign_name",
                "adset_id",
                "adset_name",
            ],
            Level::Ad => &[
                "account_id",
                "campaign_id",
                "campaign_name",
                "adset_id",
                "adset_name",
                "ad_id",
                "ad_name",
            ],
        }
    }
}

const fn default_level() -> Level {
    Level::Ad
}

const fn default_report_days() -> u32 {
    30
}

const fn default_job_timeout() -> u32 {
    30
}

const fn default_page_size() -> u32 {
    500
}

/// The registered `facebook_ads` connector.
pub struct FacebookAds;

const TEMPLATE: &str = r#"[sources.{id}]
type = "facebook_ads"
account_id = "act_100000000000001"
access_token = "${FACEBOOK_ADS_TOKEN}"  # ads_read (a system-user token is best)
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
level = "ad"                            # account | campaign | adset | ad
# api_version = "v25.0"
# lookback_days = 28                    # Meta restates conversions for 28 days
# action_types = ["link_click", "purchase", "lead"]
"#;

impl Connector for FacebookAds {
    fn keeps_unknown_fields(&self) -> std::result::Result<(), &'static str> {
        Err(
            "the Graph API sends only the fields a request names in `fields=`, so there are no unknown fields to keep",
        )
    }

    fn doc(&self) -> ConnectorDoc {
        let mut keys = vec![ConfigKeyDoc::plain(
            "account_id",
            "string",
            true,
            "The ad account id, with or without act_.",
        )];
        keys.extend(access_keys());
        keys.extend([
            ConfigKeyDoc::plain(
                "level",
                "string",
                false,
                "account, campaign, adset or ad (default ad).",
            ),
            ConfigKeyDoc::plain(
                "action_types",
                "list of strings",
                false,
                "Action types expanded into actions_<type> and action_values_<type> columns.",
            ),
            ConfigKeyDoc::plain(
                "report_days",
                "integer",
                false,
                "Days per async report job before any split (default 30).",
            ),
            ConfigKeyDoc::plain(
                "job_timeout_minutes",
                "integer",
                false,
                "Minutes a report job may run before it is split (default 30).",
            ),
            ConfigKeyDoc::plain(
                "page_size",
                "integer",
                false,
                "Rows per request (default 500).",
            ),
        ]);
        ConnectorDoc {
            name: "facebook_ads",
            summary: "Reads Facebook and Instagram ads insights, campaigns, ad sets and ads from the Marketing API.",
            keys,
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        let types: Vec<String> = ACTION_TYPES.iter().map(|s| (*s).to_owned()).collect();
        specs(Level::Ad, &types, common::DEFAULT_LOOKBACK_DAYS)
    }

    fn build(
        &self,
        config: &ConfigTable,
        _cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let settings: AdsConfig = common::settings(config)?;
        settings.access().validate(config)?;
        let digits = settings.account_id.trim_start_matches("act_");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::new(
                format!(
                    "account_id \"{}\" is not an ad account id",
                    settings.account_id
                ),
                Some(config.span_of("account_id")),
            )
            .with_help("write it like \"act_1234567890\" (Ads Manager shows it)"));
        }
        if settings.report_days == 0 {
            return Err(ConfigError::new(
                "report_days must be at least 1",
                Some(config.span_of("report_days")),
            ));
        }
        let source = AdsSource::new(settings, &Http::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

/// The column name of one action type: non-alphanumerics become `_`.
pub fn action_column(prefix: &str, action_type: &str) -> String {
    format!("{prefix}_{}", common::column_safe(action_type))
}

fn insights_schema(level: Level, action_types: &[String]) -> SchemaRef {
    let mut fields: Vec<Field> = level
        .id_fields()
        .iter()
        .map(|f| Field::new(*f, DataType::Utf8, true))
        .collect();
    fields.push(Field::new("date_start", DataType::Date32, false));
    fields.extend([
        Field::new("impressions", DataType::Int64, true),
        Field::new("reach", DataType::Int64, true),
        Field::new("clicks", DataType::Int64, true),
        Field::new("spend", DataType::Float64, true),
        Field::new("ctr", DataType::Float64, true),
    ]);
    for prefix in ["actions", "action_values"] {
        fields.extend(
            action_types
                .iter()
                .map(|t| Field::new(action_column(prefix, t), DataType::Float64, true)),
        );
    }
    fields.push(is_final_field());
    Arc::new(Schema::new(fields))
}

fn entity_fields(edge: &str) -> Vec<Field> {
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("account_id", DataType::Utf8, true),
    ];
    if edge != "campaigns" {
        fields.push(Field::new("campaign_id", DataType::Utf8, true));
    }
    if edge == "ads" {
        fields.push(Field::new("adset_id", DataType::Utf8, true));
    }
    fields.extend([
        Field::new("name", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("effective_status", DataType::Utf8, true),
    ]);
    match edge {
        "campaigns" => fields.push(Field::new("objective", DataType::Utf8, true)),
        "adsets" => fields.push(Field::new("daily_budget", DataType::Int64, true)),
        _ => {}
    }
    fields.extend([
        Field::new("created_time", timestamp_type(), true),
        Field::new("updated_time", timestamp_type(), false),
    ]);
    fields
}

const ENTITY_EDGES: [&str; 3] = ["campaigns", "adsets", "ads"];

fn specs(level: Level, action_types: &[String], lookback_days: u32) -> Vec<StreamSpec> {
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    let mut key: Vec<String> = vec![format!("{}_id", level.name())];
    key.insert(0, "date_start".into());
    let mut specs = vec![StreamSpec {
        name: "ads_insights".into(),
        schema: insights_schema(level, action_types),
        primary_key: key,
        cursor_field: Some("date_start".into()),
        sync_modes: both.clone(),
        lookback: Duration::from_secs(u64::from(lookback_days) * 86_400),
    }];
    specs.extend(ENTITY_EDGES.iter().map(|edge| StreamSpec {
        name: (*edge).into(),
        schema: Arc::new(Schema::new(entity_fields(edge))),
        primary_key: vec!["id".into()],
        cursor_field: Some("updated_time".into()),
        sync_modes: both.clone(),
        lookback: Duration::ZERO,
    }));
    specs
}

/// A configured `facebook_ads` source.
pub struct AdsSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: AdsConfig,
    access: Access,
    account: String,
    graph: Arc<Graph>,
    action_types: Vec<String>,
    poll_interval: Duration,
    timezone: tokio::sync::OnceCell<Tz>,
    decoders: HashMap<&'static str, Arc<PageDecoder>>,
}

struct AdsStream {
    spec: StreamSpec,
    inner: Arc<Inner>,
}

impl AdsSource {
    /// A source from its settings and HTTP behaviour.
    pub fn new(settings: AdsConfig, http: &Http) -> Result<Self> {
        let access = settings.access();
        let action_types = settings
            .action_types
            .clone()
            .unwrap_or_else(|| ACTION_TYPES.iter().map(|s| (*s).to_owned()).collect());
        let mut decoders = HashMap::new();
        for edge in ENTITY_EDGES {
            let d = PageDecoder::new(
                Arc::new(Schema::new(entity_fields(edge))),
                "data",
                &[],
                &["paging.next"],
            )
            .map_err(|e| Error::internal(format!("{edge} decoder: {e}")))?;
            decoders.insert(edge, Arc::new(d));
        }
        let inner = Arc::new(Inner {
            account: format!("act_{}", settings.account_id.trim_start_matches("act_")),
            graph: access.graph(http)?,
            poll_interval: http.poll_interval.unwrap_or(Duration::from_millis(500)),
            timezone: tokio::sync::OnceCell::new(),
            decoders,
            access,
            action_types,
            settings,
        });
        let streams = specs(
            inner.settings.level,
            &inner.action_types,
            inner.access.lookback_days,
        )
        .into_iter()
        .map(|spec| {
            Arc::new(AdsStream {
                spec,
                inner: Arc::clone(&inner),
            }) as Arc<dyn Stream>
        })
        .collect();
        Ok(Self { inner, streams })
    }
}

#[async_trait]
impl Source for AdsSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let tz = i.timezone().await?;
        crate::check::permissions(
            &i.graph,
            &["ads_read"],
            &format!("{}/insights", i.account),
            &[
                ("date_preset", "yesterday"),
                ("fields", "impressions"),
                ("limit", "1"),
            ],
        )
        .await?;
        Ok(CheckReport {
            detail: format!(
                "ad account {} is readable, with its insights (timezone {tz})",
                i.account
            ),
        })
    }
}

impl Stream for AdsStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        events(move |tx| async move {
            match spec.name.as_str() {
                "ads_insights" => inner.insights(&spec, cx, &tx).await,
                edge => inner.entities(&spec, edge, cx, &tx).await,
            }
        })
    }
}

/// How one report job ended.
enum Job {
    /// Completed: its id, to fetch the rows from.
    Done(String),
    /// Failed, skipped, timed out or too large: worth splitting.
    Failed(String),
}

impl Inner {
    async fn timezone(&self) -> Result<Tz> {
        self.timezone
            .get_or_try_init(|| async {
                let req = Request::get(self.graph.url(&self.account)).with_params(&[(
                    "fields".into(),
                    "id,name,account_status,currency,timezone_name".into(),
                )]);
                let v = self
                    .graph
                    .object(&req, &format!("reading ad account {}", self.account))
                    .await?;
                let name = v
                    .get("timezone_name")
                    .and_then(|t| t.as_str())
                    .unwrap_or("UTC");
                name.parse::<Tz>().map_err(|_| {
                    Error::contract(format!(
                        "ad account {} has an unknown timezone_name \"{name}\"",
                        self.account
                    ))
                })
            })
            .await
            .copied()
    }

    async fn entities(
        &self,
        spec: &StreamSpec,
        edge: &str,
        cx: ReadContext,
        tx: &Tx,
    ) -> Result<()> {
        let entity = edge.trim_end_matches('s');
        let window_start = match cx.window.start {
            Some(b) => Some(b.at(&self.timezone().await?)),
            None => None,
        };
        let since = match (window_start, &cx.state) {
            (Some(s), _) => Some(s),
            (
                None,
                Some(StreamState {
                    cursor: Some(Cursor::Timestamp(t)),
                    ..
                }),
            ) => Some(*t),
            _ => None,
        };
        let mut filtering = vec![format!(
            r#"{{"field":"{entity}.effective_status","operator":"IN","value":{ALL_STATUSES}}}"#
        )];
        if let Some(s) = since {
            // Objects edited in the cursor's own second are read again rather than missed.
            filtering.push(format!(
                r#"{{"field":"{entity}.updated_time","operator":"GREATER_THAN","value":{}}}"#,
                s.timestamp() - 1
            ));
        }
        let decoder = self
            .decoders
            .get(edge)
            .ok_or_else(|| Error::internal(format!("no decoder for {edge}")))?;
        let fields: Vec<&str> = decoder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let req = Request::get(self.graph.url(&format!("{}/{edge}", self.account))).with_params(&[
            ("fields".into(), fields.join(",")),
            ("filtering".into(), format!("[{}]", filtering.join(","))),
            ("limit".into(), self.settings.page_size.min(500).to_string()),
        ]);
        let mut pager = Pager::new(
            Arc::clone(&self.graph),
            Arc::clone(decoder),
            req,
            format!("reading {edge} of ad account {}", self.account),
        );
        let updated = spec.schema.index_of("updated_time")?;
        let mut newest: Option<i64> = None;
        while let Some(batch) = pager.next_page().await? {
            if batch.num_rows() == 0 {
                continue;
            }
            let col = batch.column(updated).as_ref();
            if let Some(max) = arrow::compute::max(arrow::array::AsArray::as_primitive::<
                arrow::datatypes::TimestampMicrosecondType,
            >(col))
            {
                newest = Some(newest.map_or(max, |n| n.max(max)));
            }
            if !send(tx, StreamEvent::Batch(batch)).await {
                return Ok(());
            }
        }
        if let Some(t) = newest.and_then(DateTime::from_timestamp_micros) {
            send(
                tx,
                StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(t))),
            )
            .await;
        }
        Ok(())
    }

    async fn insights(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let tz = self.timezone().await?;
        let now = Utc::now();
        let today = day_in(now, tz);
        let default_start = midnight(self.access.start(today), tz);
        let start = cx
            .start_time_in(&tz, spec.lookback, Some(default_start))
            .unwrap_or(default_start);
        let first = day_in(start, tz);
        // Complete days only: today's numbers are still moving.
        let last = day_in(cx.window.end_at(&tz).unwrap_or(now).min(now), tz);
        let mut ranges = VecDeque::new();
        let mut day = first;
        while day < last {
            let next = day
                .checked_add_days(Days::new(u64::from(self.settings.report_days)))
                .unwrap_or(last)
                .min(last);
            ranges.push_back((day, next.pred_opt().unwrap_or(day)));
            day = next;
        }
        while let Some((since, until)) = ranges.pop_front() {
            match self.run_job(since, until).await? {
                Job::Done(run) => {
                    match self.fetch_report(spec, &run, today, tx).await? {
                        Fetch::Done => {}
                        Fetch::Gone => return Ok(()),
                        Fetch::Failed(why) => {
                            ranges.push_front((since, until));
                            if since == until {
                                return Err(Error::new(
                                    ErrorKind::External,
                                    format!(
                                        "the insights report of ad account {} for {since} failed: {why}",
                                        self.account
                                    ),
                                ));
                            }
                            let (a, b) = halves(since, until);
                            ranges.pop_front();
                            ranges.push_front(b);
                            ranges.push_front(a);
                            continue;
                        }
                    }
                    let through = midnight(until.succ_opt().unwrap_or(until), tz);
                    if !send(
                        tx,
                        StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(through))),
                    )
                    .await
                    {
                        return Ok(());
                    }
                }
                Job::Failed(why) if since < until => {
                    tracing::warn!(
                        account = %self.account,
                        since = %since,
                        until = %until,
                        reason = %why,
                        "An insights report job failed; splitting its date range in two."
                    );
                    let (a, b) = halves(since, until);
                    ranges.push_front(b);
                    ranges.push_front(a);
                }
                Job::Failed(why) => {
                    return Err(Error::new(
                        ErrorKind::External,
                        format!(
                            "the insights report of ad account {} for {since} failed even for one day at level {}: {why}; try a coarser level or fewer action types, or retry later",
                            self.account,
                            self.settings.level.name()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn report_params(&self, since: NaiveDate, until: NaiveDate) -> Vec<(String, String)> {
        let level = self.settings.level;
        let mut fields: Vec<&str> = level.id_fields().to_vec();
        fields.extend([
            "date_start",
            "date_stop",
            "impressions",
            "reach",
            "clicks",
            "spend",
            "ctr",
            "actions",
            "action_values",
        ]);
        let mut params = vec![
            ("level".to_owned(), level.name().to_owned()),
            ("fields".to_owned(), fields.join(",")),
            (
                "time_range".to_owned(),
                format!(r#"{{"since":"{since}","until":"{until}"}}"#),
            ),
            ("time_increment".to_owned(), "1".to_owned()),
            ("action_breakdowns".to_owned(), "action_type".to_owned()),
        ];
        if level != Level::Account {
            params.push((
                "filtering".to_owned(),
                format!(
                    r#"[{{"field":"{}.effective_status","operator":"IN","value":{ALL_STATUSES}}}]"#,
                    level.name()
                ),
            ));
        }
        params
    }

    /// Creates a report job and polls it to its end.
    async fn run_job(&self, since: NaiveDate, until: NaiveDate) -> Result<Job> {
        let doing = format!(
            "creating an insights report for ad account {} ({since}..{until})",
            self.account
        );
        let mut create = Request::get(self.graph.url(&format!("{}/insights", self.account)));
        create.method = Method::POST;
        create.form = Some(self.report_params(since, until));
        let created = match self.graph.call(&create).await? {
            Ok(resp) => resp,
            Err(e) if splittable(&e) => return Ok(Job::Failed(e.describe())),
            Err(e) => return Err(e.into_error(&doing)),
        };
        let run = serde_json::from_slice::<serde_json::Value>(&created.body)
            .ok()
            .and_then(|v| match v.get("report_run_id") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| Error::contract(format!("{doing}: the answer has no report_run_id")))?;
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(u64::from(self.settings.job_timeout_minutes) * 60);
        let poll = Request::get(self.graph.url(&run)).with_params(&[(
            "fields".into(),
            "id,async_status,async_percent_completion".into(),
        )]);
        let mut wait = self.poll_interval;
        loop {
            let status = self
                .graph
                .object(&poll, &format!("polling insights report {run}"))
                .await?;
            let state = status
                .get("async_status")
                .and_then(|s| s.as_str())
                .unwrap_or_default();
            let percent = status
                .get("async_percent_completion")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0);
            match state {
                "Job Completed" if percent >= 100.0 => return Ok(Job::Done(run)),
                "Job Failed" | "Job Skipped" => return Ok(Job::Failed(format!("{state} ({run})"))),
                _ => {}
            }
            if tokio::time::Instant::now() + wait > deadline {
                return Ok(Job::Failed(format!(
                    "still \"{state}\" at {percent}% after {} minutes",
                    self.settings.job_timeout_minutes
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2)
                .min(Duration::from_secs(30))
                .max(self.poll_interval);
        }
    }

    /// Pages through a completed report's rows.
    async fn fetch_report(
        &self,
        spec: &StreamSpec,
        run: &str,
        today: NaiveDate,
        tx: &Tx,
    ) -> Result<Fetch> {
        let doing = format!("reading insights report {run}");
        let first = Request::get(self.graph.url(&format!("{run}/insights")))
            .with_params(&[("limit".into(), self.settings.page_size.to_string())]);
        let mut req = first.clone();
        let mut pages = 0u64;
        loop {
            let resp = match self.graph.call(&req).await? {
                Ok(resp) => resp,
                // Nothing was sent yet: the caller can split and ask again.
                Err(e) if pages == 0 && splittable(&e) => return Ok(Fetch::Failed(e.describe())),
                Err(e) => return Err(e.into_error(&doing)),
            };
            let page: ReportPage = serde_json::from_slice(&resp.body).map_err(|e| {
                Error::contract(format!(
                    "{doing}: the Graph API sent an unreadable page: {e}"
                ))
            })?;
            pages += 1;
            if !page.data.is_empty() {
                let batch = self.insights_batch(spec, &page.data, today)?;
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(Fetch::Gone);
                }
            }
            match page.paging.and_then(|p| p.next) {
                Some(next) if pages < crate::graph::MAX_PAGES => {
                    req = Graph::next_request(&first, next, &doing)?;
                }
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::External,
                        format!(
                            "{doing}: stopped after {pages} pages: the API kept returning a next page"
                        ),
                    ));
                }
                None => return Ok(Fetch::Done),
            }
        }
    }

    fn insights_batch(
        &self,
        spec: &StreamSpec,
        rows: &[serde_json::Map<String, serde_json::Value>],
        today: NaiveDate,
    ) -> Result<RecordBatch> {
        let text = |v: Option<&serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let number = |v: Option<&serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => s.parse::<f64>().ok(),
            Some(v) => v.as_f64(),
            None => None,
        };
        let actions: Vec<[HashMap<String, f64>; 2]> = rows
            .iter()
            .map(|r| {
                ["actions", "action_values"].map(|k| {
                    r.get(k)
                        .and_then(|a| a.as_array())
                        .map(|list| {
                            list.iter()
                                .filter_map(|a| {
                                    let t = a.get("action_type")?.as_str()?;
                                    Some((t.to_owned(), number(a.get("value"))?))
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
            })
            .collect();
        let dates: Vec<NaiveDate> = rows
            .iter()
            .map(|r| {
                text(r.get("date_start"))
                    .and_then(|d| d.parse::<NaiveDate>().ok())
                    .ok_or_else(|| Error::contract("an insights row has no readable date_start"))
            })
            .collect::<Result<_>>()?;
        let mut columns: Vec<ArrayRef> = Vec::new();
        for f in spec.schema.fields() {
            let name = f.name().as_str();
            let col: ArrayRef = if name == "date_start" {
                Arc::new(Date32Array::from(
                    dates.iter().map(|d| date32(*d)).collect::<Vec<_>>(),
                ))
            } else if name == "is_final" {
                Arc::new(BooleanArray::from(
                    dates
                        .iter()
                        .map(|d| is_final(*d, today, self.access.lookback_days))
                        .collect::<Vec<_>>(),
                ))
            } else if let Some(t) = name.strip_prefix("action_values_") {
                Arc::new(self.action_column(&actions, 1, t))
            } else if let Some(t) = name.strip_prefix("actions_") {
                Arc::new(self.action_column(&actions, 0, t))
            } else {
                match f.data_type() {
                    DataType::Int64 => Arc::new(Int64Array::from(
                        rows.iter()
                            .map(|r| number(r.get(name)).map(|n| n.round() as i64))
                            .collect::<Vec<_>>(),
                    )),
                    DataType::Float64 => Arc::new(Float64Array::from(
                        rows.iter().map(|r| number(r.get(name))).collect::<Vec<_>>(),
                    )),
                    _ => Arc::new(StringArray::from(
                        rows.iter().map(|r| text(r.get(name))).collect::<Vec<_>>(),
                    )),
                }
            };
            columns.push(col);
        }
        Ok(RecordBatch::try_new(Arc::clone(&spec.schema), columns)?)
    }

    fn action_column(
        &self,
        actions: &[[HashMap<String, f64>; 2]],
        which: usize,
        column_suffix: &str,
    ) -> Float64Array {
        let action_type = self
            .action_types
            .iter()
            .find(|t| action_column("", t).trim_start_matches('_') == column_suffix)
            .cloned()
            .unwrap_or_else(|| column_suffix.to_owned());
        actions
            .iter()
            .map(|a| a[which].get(&action_type).copied())
            .collect()
    }
}

/// How fetching a report's rows ended.
enum Fetch {
    /// Every row was sent.
    Done,
    /// The reader has gone.
    Gone,
    /// Meta refused before any row was sent: worth splitting.
    Failed(String),
}

/// The two halves of an inclusive date range of at least two days.
fn halves(since: NaiveDate, until: NaiveDate) -> ((NaiveDate, NaiveDate), (NaiveDate, NaiveDate)) {
    let mid = since + chrono::Duration::days((until - since).num_days() / 2);
    ((since, mid), (mid.succ_opt().unwrap_or(until), until))
}

/// Errors Meta answers when a report asks for too much at once: split and try again.
fn splittable(e: &GraphError) -> bool {
    matches!(
        e.error_subcode,
        Some(1_487_534 | 1_504_018 | 1_504_038 | 2_490_547)
    )
}

#[derive(Deserialize)]
struct ReportPage {
    #[serde(default)]
    data: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    paging: Option<ReportPaging>,
}

#[derive(Deserialize)]
struct ReportPaging {
    #[serde(default)]
    next: Option<String>,
}
