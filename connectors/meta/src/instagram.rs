//! `instagram`: an Instagram professional account (Facebook Login flavour, on
//! `graph.facebook.com`), its media, their insights, the account's daily insights, and the
//! media it is tagged in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use async_trait::async_trait;
use chorus_core::schema::timestamp_type;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, Error, EventStream, ReadContext, Result, Source, Stream, StreamEvent, StreamSpec,
    StreamState, SyncMode,
};
use chorus_http::{PageDecoder, Request};
use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::common::{
    self, Access, Http, META_TZ, Metrics, RowsOf, Tx, day_in, day_of_end_time, events,
    insight_batch, insight_schema, is_final, is_final_field, meta_settings, midnight, send,
    with_is_final,
};
use crate::graph::{Graph, Pager};
use crate::insights::{self, Fetched};
use crate::pages::access_keys;

/// Account insights metrics read by default, one total per day (`metric_type=total_value`).
pub const ACCOUNT_METRICS: &[&str] = &[
    "reach",
    "views",
    "accounts_engaged",
    "total_interactions",
    "profile_views",
    "website_clicks",
];

/// Media insights metrics read by default, per media product type.
pub fn default_media_metrics() -> HashMap<String, Vec<String>> {
    let list = |m: &[&str]| m.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let feed = [
        "reach",
        "views",
        "likes",
        "comments",
        "shares",
        "saved",
        "total_interactions",
    ];
    let mut reels = feed.to_vec();
    reels.extend(["ig_reels_avg_watch_time", "ig_reels_video_view_total_time"]);
    HashMap::from([
        ("FEED".to_owned(), list(&feed)),
        ("REELS".to_owned(), list(&reels)),
        (
            "STORY".to_owned(),
            list(&["reach", "views", "shares", "replies", "total_interactions"]),
        ),
    ])
}

const MEDIA_FIELDS: &str =
    "id,caption,media_type,media_product_type,timestamp,permalink,like_count,comments_count";

meta_settings! {
    /// The settings of an `instagram` source.
    pub struct InstagramConfig {
        /// The Instagram professional account's id (`instagram_business_account` of its Page).
        pub ig_user_id: String,
        /// Account insights metrics (default [`ACCOUNT_METRICS`]).
        #[serde(default)]
        pub account_metrics: Option<Vec<String>>,
        /// Media insights metrics per media product type (`FEED`, `REELS`, `STORY`).
        #[serde(default)]
        pub media_metrics: Option<HashMap<String, Vec<String>>>,
        /// Media per request (default 100).
        #[serde(default = "default_page_size")]
        pub page_size: u32,
    }
}

const fn default_page_size() -> u32 {
    100
}

/// The registered `instagram` connector.
pub struct Instagram;

const TEMPLATE: &str = r#"[sources.{id}]
type = "instagram"
ig_user_id = "17841400000000001"
access_token = "${INSTAGRAM_TOKEN}"  # instagram_basic, instagram_manage_insights, pages_read_engagement
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
# api_version = "v25.0"
# lookback_days = 28
# account_metrics = ["reach", "views", "accounts_engaged", "total_interactions"]
# media_metrics = { FEED = ["reach", "views", "likes"], REELS = ["reach", "views"], STORY = ["reach"] }
"#;

impl Connector for Instagram {
    fn keeps_unknown_fields(&self) -> std::result::Result<(), &'static str> {
        Err(
            "the Graph API sends only the fields a request names in `fields=`, so there are no unknown fields to keep",
        )
    }

    fn doc(&self) -> ConnectorDoc {
        let mut keys = vec![ConfigKeyDoc::plain(
            "ig_user_id",
            "string",
            true,
            "The Instagram professional account id.",
        )];
        keys.extend(access_keys());
        keys.extend([
            ConfigKeyDoc::plain(
                "account_metrics",
                "list of strings",
                false,
                "Account insights metrics; retired ones are dropped with a warning.",
            ),
            ConfigKeyDoc::plain(
                "media_metrics",
                "table of lists",
                false,
                "Media insights metrics per media product type (FEED, REELS, STORY).",
            ),
            ConfigKeyDoc::plain(
                "page_size",
                "integer",
                false,
                "Media per request (default 100).",
            ),
        ]);
        ConnectorDoc {
            name: "instagram",
            summary: "Reads an Instagram professional account, its media, insights and tags from the Graph API.",
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
        let settings: InstagramConfig = common::settings(config)?;
        settings.access().validate(config)?;
        if settings.ig_user_id.trim().is_empty() {
            return Err(ConfigError::new(
                "ig_user_id is empty",
                Some(config.span_of("ig_user_id")),
            ));
        }
        let source = InstagramSource::new(settings, &Http::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

fn media_fields(with_username: bool) -> Vec<Field> {
    let mut fields = vec![Field::new("id", DataType::Utf8, false)];
    if with_username {
        fields.push(Field::new("username", DataType::Utf8, true));
    }
    fields.extend([
        Field::new("caption", DataType::Utf8, true),
        Field::new("media_type", DataType::Utf8, true),
        Field::new("media_product_type", DataType::Utf8, true),
        Field::new("timestamp", timestamp_type(), false),
        Field::new("permalink", DataType::Utf8, true),
        Field::new("like_count", DataType::Int64, true),
        Field::new("comments_count", DataType::Int64, true),
    ]);
    fields
}

fn with_final(mut fields: Vec<Field>) -> SchemaRef {
    fields.push(is_final_field());
    Arc::new(Schema::new(fields))
}

fn specs(lookback_days: u32) -> Vec<StreamSpec> {
    let lookback = Duration::from_secs(u64::from(lookback_days) * 86_400);
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    let full = vec![SyncMode::FullRefresh];
    vec![
        StreamSpec {
            name: "account".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("date", DataType::Date32, false),
                Field::new("username", DataType::Utf8, true),
                Field::new("followers_count", DataType::Int64, true),
                Field::new("follows_count", DataType::Int64, true),
                Field::new("media_count", DataType::Int64, true),
            ])),
            primary_key: vec!["id".into(), "date".into()],
            cursor_field: None,
            sync_modes: full.clone(),
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "media".into(),
            schema: with_final(media_fields(false)),
            primary_key: vec!["id".into()],
            cursor_field: None,
            sync_modes: full.clone(),
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "media_insights".into(),
            schema: insight_schema(
                "media_id",
                vec![
                    Field::new("media_timestamp", timestamp_type(), true),
                    Field::new("media_product_type", DataType::Utf8, true),
                ],
            ),
            primary_key: vec!["media_id".into(), "metric".into()],
            cursor_field: Some("media_timestamp".into()),
            sync_modes: both.clone(),
            lookback,
        },
        StreamSpec {
            name: "account_insights".into(),
            schema: insight_schema(
                "ig_user_id",
                vec![Field::new("date", DataType::Date32, false)],
            ),
            primary_key: vec!["ig_user_id".into(), "metric".into(), "date".into()],
            cursor_field: Some("date".into()),
            sync_modes: both,
            lookback,
        },
        StreamSpec {
            name: "tags".into(),
            schema: with_final(media_fields(true)),
            primary_key: vec!["id".into()],
            cursor_field: None,
            sync_modes: full,
            lookback: Duration::ZERO,
        },
    ]
}

/// A configured `instagram` source.
pub struct InstagramSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: InstagramConfig,
    access: Access,
    graph: Arc<Graph>,
    account_metrics: Metrics,
    media_metrics: Metrics,
    media_decoder: Arc<PageDecoder>,
    tags_decoder: Arc<PageDecoder>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Account,
    Media,
    MediaInsights,
    AccountInsights,
    Tags,
}

struct IgStream {
    spec: StreamSpec,
    kind: Kind,
    inner: Arc<Inner>,
}

impl InstagramSource {
    /// A source from its settings and HTTP behaviour.
    pub fn new(settings: InstagramConfig, http: &Http) -> Result<Self> {
        let decoder = |fields| {
            PageDecoder::new(Arc::new(Schema::new(fields)), "data", &[], &["paging.next"])
                .map(Arc::new)
                .map_err(|e| Error::internal(format!("media decoder: {e}")))
        };
        let access = settings.access();
        let account_metrics = settings
            .account_metrics
            .clone()
            .unwrap_or_else(|| ACCOUNT_METRICS.iter().map(|s| (*s).to_owned()).collect());
        let media_metrics = settings
            .media_metrics
            .clone()
            .unwrap_or_else(default_media_metrics);
        let inner = Arc::new(Inner {
            account_metrics: Metrics::single("account_insights", account_metrics),
            media_metrics: Metrics::new("media_insights", media_metrics),
            media_decoder: decoder(media_fields(false))?,
            tags_decoder: decoder(media_fields(true))?,
            graph: access.graph(http)?,
            access,
            settings,
        });
        let kinds = [
            Kind::Account,
            Kind::Media,
            Kind::MediaInsights,
            Kind::AccountInsights,
            Kind::Tags,
        ];
        let streams = specs(inner.access.lookback_days)
            .into_iter()
            .zip(kinds)
            .map(|(spec, kind)| {
                Arc::new(IgStream {
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
        let mut all = self.inner.account_metrics.dropped();
        all.extend(self.inner.media_metrics.dropped());
        all
    }
}

#[async_trait]
impl Source for InstagramSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let ig = i.settings.ig_user_id.as_str();
        let req =
            Request::get(i.graph.url(ig)).with_params(&[("fields".into(), "id,username".into())]);
        let found = i
            .graph
            .object(&req, &format!("reading Instagram account {ig}"))
            .await?;
        let name = found
            .get("username")
            .and_then(|n| n.as_str())
            .unwrap_or(ig)
            .to_owned();
        crate::check::permissions(
            &i.graph,
            &[
                "instagram_basic",
                "instagram_manage_insights",
                "pages_read_engagement",
            ],
            &format!("{ig}/insights"),
            &[
                ("metric", "reach"),
                ("period", "day"),
                ("metric_type", "total_value"),
            ],
        )
        .await?;
        Ok(CheckReport {
            detail: format!("Instagram account @{name} ({ig}) is readable, with its insights"),
        })
    }
}

impl Stream for IgStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        let kind = self.kind;
        events(move |tx| async move {
            match kind {
                Kind::Account => inner.account(&spec, &tx).await,
                Kind::Media => inner.list(&spec, "media", false, &tx).await,
                Kind::Tags => inner.list(&spec, "tags", true, &tx).await,
                Kind::MediaInsights => inner.media_insights(&spec, cx, &tx).await,
                Kind::AccountInsights => inner.account_insights(&spec, cx, &tx).await,
            }
        })
    }
}

/// Media insights that could not be read, counted for one warning at the end of the read.
#[derive(Default)]
struct Skipped {
    pre_business: Vec<String>,
    few_viewers: usize,
}

impl Inner {
    fn today(&self) -> NaiveDate {
        day_in(Utc::now(), META_TZ)
    }

    fn start(&self, cx: &ReadContext, spec: &StreamSpec) -> DateTime<Utc> {
        let default_start = midnight(self.access.start(self.today()), META_TZ);
        cx.start_time_in(&META_TZ, spec.lookback, Some(default_start))
            .unwrap_or(default_start)
    }

    fn media_pager(&self, edge: &str, with_username: bool) -> Pager {
        let ig = &self.settings.ig_user_id;
        let fields = if with_username {
            format!("id,username,{}", &MEDIA_FIELDS[3..])
        } else {
            MEDIA_FIELDS.to_owned()
        };
        let req = Request::get(self.graph.url(&format!("{ig}/{edge}"))).with_params(&[
            ("fields".into(), fields),
            ("limit".into(), self.settings.page_size.to_string()),
        ]);
        let decoder = if with_username {
            &self.tags_decoder
        } else {
            &self.media_decoder
        };
        Pager::new(
            Arc::clone(&self.graph),
            Arc::clone(decoder),
            req,
            format!("reading {edge} of Instagram account {ig}"),
        )
    }

    async fn account(&self, spec: &StreamSpec, tx: &Tx) -> Result<()> {
        let ig = &self.settings.ig_user_id;
        let req = Request::get(self.graph.url(ig)).with_params(&[(
            "fields".into(),
            "id,username,followers_count,follows_count,media_count".into(),
        )]);
        let doing = format!("reading Instagram account {ig}");
        let v = self.graph.object(&req, &doing).await?;
        let batch = common::snapshot_batch(&v, &spec.schema, Utc::now().date_naive())
            .map_err(|e| e.context(doing))?;
        send(tx, StreamEvent::Batch(batch)).await;
        Ok(())
    }

    async fn list(
        &self,
        spec: &StreamSpec,
        edge: &str,
        with_username: bool,
        tx: &Tx,
    ) -> Result<()> {
        let today = self.today();
        let mut pager = self.media_pager(edge, with_username);
        while let Some(batch) = pager.next_page().await? {
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = with_is_final(
                &batch,
                &spec.schema,
                "timestamp",
                today,
                self.access.lookback_days,
            )?;
            if !send(tx, StreamEvent::Batch(batch)).await {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn media_insights(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let started = Utc::now();
        let start = self.start(&cx, spec);
        let end = cx.window.end_at(&META_TZ).unwrap_or(started).min(started);
        let today = self.today();
        let mut skipped = Skipped::default();
        let mut pager = self.media_pager("media", false);
        let schema = self.media_decoder.schema().clone();
        let col = |name: &str| schema.index_of(name).unwrap_or(0);
        let (id_col, type_col, product_col, time_col) = (
            col("id"),
            col("media_type"),
            col("media_product_type"),
            col("timestamp"),
        );
        let mut older = false;
        let mut stories = false;
        // Media come newest first: stop at the first page that reaches before the start.
        // Stories are not in `/media`; `/stories` lists the live ones (24 hours) after it.
        loop {
            let batch = match pager.next_page().await? {
                Some(batch) if !older => batch,
                _ if !stories => {
                    stories = true;
                    older = false;
                    pager = self.media_pager("stories", false);
                    continue;
                }
                _ => break,
            };
            let ids = batch.column(id_col).as_string::<i32>();
            let types = batch.column(type_col).as_string::<i32>();
            let products = batch.column(product_col).as_string::<i32>();
            let times = batch
                .column(time_col)
                .as_primitive::<TimestampMicrosecondType>();
            let mut rows = Vec::new();
            for i in 0..batch.num_rows() {
                let Some(at) = DateTime::from_timestamp_micros(times.value(i)) else {
                    continue;
                };
                if at < start {
                    older = true;
                    continue;
                }
                if at >= end {
                    continue;
                }
                let product = if products.is_valid(i) {
                    products.value(i)
                } else {
                    "FEED"
                };
                let media_type = if types.is_valid(i) {
                    types.value(i)
                } else {
                    ""
                };
                let media = ids.value(i);
                let group = format!("{product}/{media_type}");
                let doing = format!("reading insights of media {media}");
                let answer = match insights::fetch(
                    &self.graph,
                    &format!("{media}/insights"),
                    &[],
                    &self.media_metrics,
                    &group,
                    &doing,
                )
                .await?
                {
                    Fetched::Page(p) => p,
                    Fetched::Refused(Some(e)) if e.is_pre_business_media() => {
                        skipped.pre_business.push(media.to_owned());
                        continue;
                    }
                    Fetched::Refused(Some(e))
                        if e.code == 10 && e.message.to_ascii_lowercase().contains("viewers") =>
                    {
                        skipped.few_viewers += 1;
                        continue;
                    }
                    Fetched::Refused(None) => continue,
                    Fetched::Refused(e) => {
                        return Err(insights::refused(e, &doing, "media_metrics"));
                    }
                };
                let of = RowsOf {
                    object_id: media,
                    object_time: Some(at.timestamp_micros()),
                    group: Some(product),
                    lifetime_final: is_final(day_in(at, META_TZ), today, self.access.lookback_days),
                    lookback_days: self.access.lookback_days,
                    today,
                };
                rows.extend(of.rows(answer, |_| Some(None)));
            }
            if !rows.is_empty()
                && !send(tx, StreamEvent::Batch(insight_batch(&spec.schema, &rows)?)).await
            {
                return Ok(());
            }
        }
        if !skipped.pre_business.is_empty() {
            let shown: Vec<&str> = skipped
                .pre_business
                .iter()
                .take(5)
                .map(String::as_str)
                .collect();
            tracing::warn!(
                stream = "media_insights",
                count = skipped.pre_business.len(),
                media = %shown.join(", "),
                "Skipped media posted before the account became a business account: Meta keeps no insights for them (#100/2108006)."
            );
        }
        if skipped.few_viewers > 0 {
            tracing::info!(
                stream = "media_insights",
                count = skipped.few_viewers,
                "Skipped stories with too few viewers for Meta to show insights (#10)."
            );
        }
        send(
            tx,
            StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(end))),
        )
        .await;
        Ok(())
    }

    async fn account_insights(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let now = Utc::now();
        let today = self.today();
        let mut day = day_in(self.start(&cx, spec), META_TZ);
        let last = day_in(cx.window.end_at(&META_TZ).unwrap_or(now).min(now), META_TZ);
        let ig = &self.settings.ig_user_id;
        let doing = format!("reading insights of Instagram account {ig}");
        // One day per request: `total_value` sums over since..until, so a daily row needs a
        // one-day window (well inside Instagram's 30-day limit).
        while day < last {
            let next = day.checked_add_days(Days::new(1)).unwrap_or(last);
            let params = [
                ("period".to_owned(), "day".to_owned()),
                ("metric_type".to_owned(), "total_value".to_owned()),
                (
                    "since".to_owned(),
                    midnight(day, META_TZ).timestamp().to_string(),
                ),
                (
                    "until".to_owned(),
                    midnight(next, META_TZ).timestamp().to_string(),
                ),
            ];
            let answer = match insights::fetch(
                &self.graph,
                &format!("{ig}/insights"),
                &params,
                &self.account_metrics,
                "",
                &doing,
            )
            .await?
            {
                Fetched::Page(p) => p,
                Fetched::Refused(e) => return Err(insights::refused(e, &doing, "account_metrics")),
            };
            let of = RowsOf {
                object_id: ig,
                object_time: None,
                group: None,
                lifetime_final: false,
                lookback_days: self.access.lookback_days,
                today,
            };
            // A total belongs to the one-day window; a time-series value to its end_time's day.
            let rows = of.rows(answer, |v| match v.end_time.as_deref() {
                None => Some(Some(day)),
                Some(t) => day_of_end_time(t).filter(|d| *d == day).map(Some),
            });
            if !rows.is_empty()
                && !send(tx, StreamEvent::Batch(insight_batch(&spec.schema, &rows)?)).await
            {
                return Ok(());
            }
            let through = midnight(next, META_TZ);
            if !send(
                tx,
                StreamEvent::Checkpoint(StreamState::at(Cursor::Timestamp(through))),
            )
            .await
            {
                return Ok(());
            }
            day = next;
        }
        Ok(())
    }
}
