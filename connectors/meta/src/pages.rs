//! `facebook_pages`: a Facebook Page, its posts, and their insights.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, Int64Array};
use arrow::compute::kernels::zip::zip;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::calendar;
use chorus_core::schema::timestamp_type;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, Error, EventStream, ReadContext, Result, Source, Stream, StreamEvent, StreamSpec,
    StreamState, SyncMode,
};
use chorus_http::{PageDecoder, Request};
use chrono::{DateTime, NaiveDate, Utc};

use crate::common::{
    self, Access, Http, META_TZ, Metrics, RowsOf, Tx, day_in, day_of_end_time, events,
    insight_batch, insight_schema, is_final, is_final_field, meta_settings, midnight, send,
    with_is_final,
};
use crate::graph::{Graph, Pager};
use crate::insights::{self, Fetched};

/// Page insights metrics read by default: current (2026) names only.
pub const PAGE_METRICS: &[&str] = &[
    "page_media_view",
    "page_total_media_view_unique",
    "page_follows",
    "page_daily_follows",
    "page_daily_follows_unique",
    "page_daily_unfollows_unique",
    "page_post_engagements",
    "page_views_total",
    "page_total_actions",
    "page_video_views",
];

/// Post insights metrics read by default (lifetime values).
pub const POST_METRICS: &[&str] = &[
    "post_total_media_view_unique",
    "post_media_view",
    "post_clicks",
    "post_clicks_by_type",
    "post_reactions_by_type_total",
];

/// The most days one Page insights request may span, counted in seconds from `since` to
/// `until` (90 × 86,400 s): "Only 90 days of insights can be viewed at one time when using the
/// since and until parameters" (Graph API reference, Page Insights; see
/// `docs/dev/platforms/meta-graph-api.md`). Across the November clock change 90 Pacific days
/// are one hour longer, so such a slice holds 89 days.
pub const INSIGHTS_WINDOW_DAYS: u32 = 90;

/// How many days of posts one request chain covers before a checkpoint.
const POSTS_SLICE_DAYS: u64 = 30;

const POST_FIELDS: &str = "id,created_time,message,story,permalink_url,status_type,shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)";

meta_settings! {
    /// The settings of a `facebook_pages` source.
    pub struct PagesConfig {
        /// The Page id.
        pub page_id: String,
        /// Page insights metrics (default [`PAGE_METRICS`]).
        #[serde(default)]
        pub page_metrics: Option<Vec<String>>,
        /// Post insights metrics (default [`POST_METRICS`]).
        #[serde(default)]
        pub post_metrics: Option<Vec<String>>,
        /// Posts per page (Meta allows up to 100).
        #[serde(default = "default_page_size")]
        pub page_size: u32,
    }
}

const fn default_page_size() -> u32 {
    100
}

/// The registered `facebook_pages` connector.
pub struct FacebookPages;

const TEMPLATE: &str = r#"[sources.{id}]
type = "facebook_pages"
page_id = "104857600000001"
access_token = "${FACEBOOK_PAGE_TOKEN}"  # a Page token with pages_read_engagement, read_insights
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
# api_version = "v25.0"
# lookback_days = 28                     # Meta restates counts and insights for 28 days
# page_metrics = ["page_media_view", "page_follows", "page_post_engagements"]
# post_metrics = ["post_total_media_view_unique", "post_clicks", "post_reactions_by_type_total"]
"#;

/// The settings every Meta connector documents.
pub(crate) fn access_keys() -> Vec<ConfigKeyDoc> {
    vec![
        ConfigKeyDoc::secret(
            "access_token",
            "string",
            true,
            "The access token; sent in the Authorization header and redacted everywhere.",
        ),
        ConfigKeyDoc::plain(
            "api_version",
            "string",
            false,
            "The Graph API version (default v25.0).",
        ),
        ConfigKeyDoc::plain(
            "start_date",
            "date",
            false,
            "The first day to read (default: two years ago, the oldest insights Meta keeps).",
        ),
        ConfigKeyDoc::plain(
            "lookback_days",
            "integer",
            false,
            "Days re-read before the saved cursor, and the age at which rows become final (default 28).",
        ),
        ConfigKeyDoc::plain(
            "base_url",
            "string",
            false,
            "The Graph API host (default https://graph.facebook.com); for proxies and the sandbox.",
        ),
    ]
}

impl Connector for FacebookPages {
    fn keeps_unknown_fields(&self) -> std::result::Result<(), &'static str> {
        Err(
            "the Graph API sends only the fields a request names in `fields=`, so there are no unknown fields to keep",
        )
    }

    fn doc(&self) -> ConnectorDoc {
        let mut keys = vec![ConfigKeyDoc::plain(
            "page_id",
            "string",
            true,
            "The Facebook Page id.",
        )];
        keys.extend(access_keys());
        keys.extend([
            ConfigKeyDoc::plain(
                "page_metrics",
                "list of strings",
                false,
                "Page insights metrics; retired ones are dropped with a warning.",
            ),
            ConfigKeyDoc::plain(
                "post_metrics",
                "list of strings",
                false,
                "Post insights metrics; retired ones are dropped with a warning.",
            ),
            ConfigKeyDoc::plain(
                "page_size",
                "integer",
                false,
                "Posts per request (default 100).",
            ),
        ]);
        ConnectorDoc {
            name: "facebook_pages",
            summary: "Reads a Facebook Page, its posts and their insights from the Graph API.",
            keys,
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        specs(common::DEFAULT_LOOKBACK_DAYS)
    }

    fn build(
        &self,
        config: &ConfigTable,
        _cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let settings: PagesConfig = common::settings(config)?;
        settings.access().validate(config)?;
        if settings.page_id.trim().is_empty() {
            return Err(ConfigError::new(
                "page_id is empty",
                Some(config.span_of("page_id")),
            ));
        }
        let source = PagesSource::new(settings, &Http::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

fn specs(lookback_days: u32) -> Vec<StreamSpec> {
    let lookback = Duration::from_secs(u64::from(lookback_days) * 86_400);
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    vec![
        StreamSpec {
            name: "page".into(),
            schema: page_schema(),
            primary_key: vec!["id".into(), "date".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "posts".into(),
            schema: posts_schema(),
            primary_key: vec!["id".into()],
            cursor_field: Some("created_time".into()),
            sync_modes: both.clone(),
            lookback,
        },
        StreamSpec {
            name: "post_insights".into(),
            schema: post_insights_schema(),
            primary_key: vec!["post_id".into(), "metric".into()],
            cursor_field: Some("post_created_time".into()),
            sync_modes: both.clone(),
            lookback,
        },
        StreamSpec {
            name: "page_insights".into(),
            schema: page_insights_schema(),
            primary_key: vec!["page_id".into(), "metric".into(), "date".into()],
            cursor_field: Some("date".into()),
            sync_modes: both,
            lookback,
        },
    ]
}

fn page_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("fan_count", DataType::Int64, true),
        Field::new("followers_count", DataType::Int64, true),
        Field::new("talking_about_count", DataType::Int64, true),
    ]))
}

fn posts_api_fields() -> Vec<Field> {
    vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_time", timestamp_type(), false),
        Field::new("message", DataType::Utf8, true),
        Field::new("story", DataType::Utf8, true),
        Field::new("permalink_url", DataType::Utf8, true),
        Field::new("status_type", DataType::Utf8, true),
        Field::new("reactions", DataType::Int64, true),
        Field::new("comments", DataType::Int64, true),
        Field::new("shares", DataType::Int64, true),
    ]
}

fn posts_schema() -> SchemaRef {
    let mut fields = posts_api_fields();
    fields.push(is_final_field());
    Arc::new(Schema::new(fields))
}

fn post_insights_schema() -> SchemaRef {
    insight_schema(
        "post_id",
        vec![Field::new("post_created_time", timestamp_type(), true)],
    )
}

fn page_insights_schema() -> SchemaRef {
    insight_schema("page_id", vec![Field::new("date", DataType::Date32, false)])
}

/// A configured `facebook_pages` source.
pub struct PagesSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: PagesConfig,
    access: Access,
    graph: Arc<Graph>,
    page_metrics: Metrics,
    post_metrics: Metrics,
    posts_decoder: Arc<PageDecoder>,
    post_ids_decoder: Arc<PageDecoder>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Page,
    Posts,
    PostInsights,
    PageInsights,
}

struct PagesStream {
    spec: StreamSpec,
    kind: Kind,
    inner: Arc<Inner>,
}

impl PagesSource {
    /// A source from its settings and HTTP behaviour.
    pub fn new(settings: PagesConfig, http: &Http) -> Result<Self> {
        let list = |given: &Option<Vec<String>>, default: &[&str]| {
            given
                .clone()
                .unwrap_or_else(|| default.iter().map(|s| (*s).to_owned()).collect())
        };
        let api_schema = Arc::new(Schema::new(posts_api_fields()));
        let paths = [
            ("reactions", "reactions.summary.total_count"),
            ("comments", "comments.summary.total_count"),
            ("shares", "shares.count"),
        ];
        let ids_schema = Arc::new(Schema::new(posts_api_fields()[..2].to_vec()));
        let decoder = |schema, paths: &[(&str, &str)]| {
            PageDecoder::new(schema, "data", paths, &["paging.next"])
                .map(Arc::new)
                .map_err(|e| Error::internal(format!("posts decoder: {e}")))
        };
        let access = settings.access();
        let inner = Arc::new(Inner {
            page_metrics: Metrics::single(
                "page_insights",
                list(&settings.page_metrics, PAGE_METRICS),
            ),
            post_metrics: Metrics::single(
                "post_insights",
                list(&settings.post_metrics, POST_METRICS),
            ),
            posts_decoder: decoder(api_schema, &paths)?,
            post_ids_decoder: decoder(ids_schema, &[])?,
            graph: access.graph(http)?,
            access,
            settings,
        });
        let kinds = [
            Kind::Page,
            Kind::Posts,
            Kind::PostInsights,
            Kind::PageInsights,
        ];
        let streams = specs(inner.access.lookback_days)
            .into_iter()
            .zip(kinds)
            .map(|(spec, kind)| {
                Arc::new(PagesStream {
                    spec,
                    kind,
                    inner: Arc::clone(&inner),
                }) as Arc<dyn Stream>
            })
            .collect();
        Ok(Self { inner, streams })
    }

    /// The metrics dropped so far, for tests.
    pub fn dropped_metrics(&self) -> Vec<String> {
        let mut all = self.inner.page_metrics.dropped();
        all.extend(self.inner.post_metrics.dropped());
        all
    }
}

#[async_trait]
impl Source for PagesSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let page = i.settings.page_id.as_str();
        let req =
            Request::get(i.graph.url(page)).with_params(&[("fields".into(), "id,name".into())]);
        let found = i
            .graph
            .object(&req, &format!("reading Page {page}"))
            .await?;
        let name = found
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or(page)
            .to_owned();
        crate::check::permissions(
            &i.graph,
            &["pages_read_engagement", "read_insights"],
            &format!("{page}/insights"),
            &[("metric", "page_post_engagements"), ("period", "day")],
        )
        .await?;
        Ok(CheckReport {
            detail: format!("Page \"{name}\" ({page}) is readable, with its insights"),
        })
    }
}

impl Stream for PagesStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        let kind = self.kind;
        events(move |tx| async move {
            match kind {
                Kind::Page => inner.page(&spec, &tx).await,
                Kind::Posts => inner.posts(&spec, cx, &tx).await,
                Kind::PostInsights => inner.post_insights(&spec, cx, &tx).await,
                Kind::PageInsights => inner.page_insights(&spec, cx, &tx).await,
            }
        })
    }
}

/// The instants a posts read covers: from the saved cursor minus the lookback (or the start
/// date) to the window's end or now.
fn read_range(
    cx: &ReadContext,
    spec: &StreamSpec,
    access: &Access,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    let default_start = midnight(access.start(day_in(now, META_TZ)), META_TZ);
    let start = cx
        .start_time_in(&META_TZ, spec.lookback, Some(default_start))
        .unwrap_or(default_start);
    let end = cx.window.end_at(&META_TZ).unwrap_or(now).min(now);
    (start, end)
}

/// Splits `[start, end)` into slices of at most `days` days.
fn slices(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    days: u64,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    chorus_http::rest::slices(start, end, Duration::from_secs(days * 86_400))
}

impl Inner {
    fn today(&self) -> NaiveDate {
        day_in(Utc::now(), META_TZ)
    }

    async fn page(&self, spec: &StreamSpec, tx: &Tx) -> Result<()> {
        let page = self.settings.page_id.as_str();
        let req = Request::get(self.graph.url(page)).with_params(&[(
            "fields".into(),
            "id,name,fan_count,followers_count,talking_about_count".into(),
        )]);
        let v = self
            .graph
            .object(&req, &format!("reading Page {page}"))
            .await?;
        let batch = common::snapshot_batch(&v, &spec.schema, Utc::now().date_naive())
            .map_err(|e| e.context(format!("reading Page {page}")))?;
        send(tx, StreamEvent::Batch(batch)).await;
        Ok(())
    }

    fn posts_request(&self, fields: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> Request {
        let page = &self.settings.page_id;
        Request::get(self.graph.url(&format!("{page}/posts"))).with_params(&[
            ("fields".into(), fields.into()),
            ("limit".into(), self.settings.page_size.to_string()),
            ("since".into(), since.timestamp().to_string()),
            ("until".into(), until.timestamp().to_string()),
        ])
    }

    async fn posts(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let (start, end) = read_range(&cx, spec, &self.access);
        let today = self.today();
        for (since, until) in slices(start, end, POSTS_SLICE_DAYS) {
            let mut pager = Pager::new(
                Arc::clone(&self.graph),
                Arc::clone(&self.posts_decoder),
                self.posts_request(POST_FIELDS, since, until),
                format!("reading posts of Page {}", self.settings.page_id),
            );
            while let Some(batch) = pager.next_page().await? {
                if batch.num_rows() == 0 {
                    continue;
                }
                let batch = shares_default_zero(&batch)?;
                let batch = with_is_final(
                    &batch,
                    &spec.schema,
                    "created_time",
                    today,
                    self.access.lookback_days,
                )?;
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(());
                }
            }
            if !send(
                tx,
                StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(until))),
            )
            .await
            {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn post_insights(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let (start, end) = read_range(&cx, spec, &self.access);
        let today = self.today();
        let lifetime = [("period".to_owned(), "lifetime".to_owned())];
        for (since, until) in slices(start, end, POSTS_SLICE_DAYS) {
            let mut pager = Pager::new(
                Arc::clone(&self.graph),
                Arc::clone(&self.post_ids_decoder),
                self.posts_request("id,created_time", since, until),
                format!("listing posts of Page {}", self.settings.page_id),
            );
            while let Some(batch) = pager.next_page().await? {
                let ids = batch.column(0).as_string::<i32>();
                let times = batch
                    .column(1)
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                let mut rows = Vec::new();
                for i in 0..batch.num_rows() {
                    let post = ids.value(i);
                    let created = times.is_valid(i).then(|| times.value(i));
                    let final_ = created
                        .and_then(DateTime::from_timestamp_micros)
                        .is_some_and(|t| {
                            is_final(day_in(t, META_TZ), today, self.access.lookback_days)
                        });
                    let doing = format!("reading insights of post {post}");
                    let page = match insights::fetch(
                        &self.graph,
                        &format!("{post}/insights"),
                        &lifetime,
                        &self.post_metrics,
                        "",
                        &doing,
                    )
                    .await?
                    {
                        Fetched::Page(p) => p,
                        Fetched::Refused(e) => {
                            return Err(insights::refused(e, &doing, "post_metrics"));
                        }
                    };
                    let of = RowsOf {
                        object_id: post,
                        object_time: created,
                        group: None,
                        lifetime_final: final_,
                        lookback_days: self.access.lookback_days,
                        today,
                    };
                    rows.extend(of.rows(page, |_| Some(None)));
                }
                if !rows.is_empty()
                    && !send(tx, StreamEvent::Batch(insight_batch(&spec.schema, &rows)?)).await
                {
                    return Ok(());
                }
            }
            if !send(
                tx,
                StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(until))),
            )
            .await
            {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn page_insights(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let (start, end) = read_range(&cx, spec, &self.access);
        let today = self.today();
        let first = day_in(start, META_TZ);
        let last = day_in(end, META_TZ); // exclusive: today is not over yet
        let page = &self.settings.page_id;
        let doing = format!("reading insights of Page {page}");
        // Pacific days, cut so that no request spans more than Meta's limit in seconds.
        for (day, until) in calendar::day_slices(
            first,
            last,
            &META_TZ,
            INSIGHTS_WINDOW_DAYS,
            i64::from(INSIGHTS_WINDOW_DAYS) * 86_400,
        ) {
            let params = [
                ("period".to_owned(), "day".to_owned()),
                (
                    "since".to_owned(),
                    midnight(day, META_TZ).timestamp().to_string(),
                ),
                (
                    "until".to_owned(),
                    midnight(until, META_TZ).timestamp().to_string(),
                ),
            ];
            let answer = match insights::fetch(
                &self.graph,
                &format!("{page}/insights"),
                &params,
                &self.page_metrics,
                "",
                &doing,
            )
            .await?
            {
                Fetched::Page(p) => p,
                Fetched::Refused(e) => return Err(insights::refused(e, &doing, "page_metrics")),
            };
            let of = RowsOf {
                object_id: page,
                object_time: None,
                group: None,
                lifetime_final: false,
                lookback_days: self.access.lookback_days,
                today,
            };
            // `paging.next` never ends on insights: the window is ours to bound.
            let rows = of.rows(answer, |v| {
                let d = v.end_time.as_deref().and_then(day_of_end_time)?;
                (d >= day && d < until).then_some(Some(d))
            });
            if !rows.is_empty()
                && !send(tx, StreamEvent::Batch(insight_batch(&spec.schema, &rows)?)).await
            {
                return Ok(());
            }
            let through = midnight(until, META_TZ);
            if !send(
                tx,
                StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(through))),
            )
            .await
            {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Meta omits `shares` when a post has none: that is 0, not unknown.
fn shares_default_zero(batch: &RecordBatch) -> Result<RecordBatch> {
    let Ok(idx) = batch.schema().index_of("shares") else {
        return Ok(batch.clone());
    };
    let shares = batch.column(idx).as_primitive::<Int64Type>();
    if shares.null_count() == 0 {
        return Ok(batch.clone());
    }
    let valid = arrow::array::BooleanArray::from(
        (0..shares.len())
            .map(|i| shares.is_valid(i))
            .collect::<Vec<_>>(),
    );
    let zero = arrow::array::Scalar::new(Int64Array::from(vec![0]));
    let filled = zip(&valid, shares, &zero)?;
    let mut columns = batch.columns().to_vec();
    columns[idx] = filled;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
