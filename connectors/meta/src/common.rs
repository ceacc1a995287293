//! What the three connectors share: settings, the client they build, Meta's day convention,
//! insights values, metric lists that shrink when Meta retires a metric, and the plumbing
//! from a producing task to an [`EventStream`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::record_batch::RecordBatch;
use chorus_core::{ConfigError, ConfigTable, Error, Result, Secret};
use chorus_http::{Auth, ClientConfig, HttpClient};
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::graph::{DEFAULT_API_VERSION, DEFAULT_BASE_URL, Graph, MetaHook};

/// Meta's reporting day for Pages and Instagram insights ends at midnight in this zone.
pub const META_TZ: Tz = chrono_tz::America::Los_Angeles;

/// The default lookback: Meta keeps restating counts and insights for 28 days.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 28;

/// The settings every Meta source has.
#[derive(Debug, Clone)]
pub struct Access {
    /// The access token (a Page, system-user or user token).
    pub access_token: Secret,
    /// The Graph API version, e.g. `v25.0`.
    pub api_version: String,
    /// The Graph API host; change it only for a proxy or the sandbox.
    pub base_url: String,
    /// The first day to read.
    pub start_date: Option<NaiveDate>,
    /// Days before the saved cursor that an incremental read starts again.
    pub lookback_days: u32,
}

/// Defines a connector's settings struct: its own fields plus the [`Access`] settings, with
/// unknown keys refused (serde cannot refuse them through `flatten`).
macro_rules! meta_settings {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The access token.
            pub access_token: chorus_core::Secret,
            /// The Graph API version.
            #[serde(default = "crate::common::default_version")]
            pub api_version: String,
            /// The Graph API host.
            #[serde(default = "crate::common::default_base_url")]
            pub base_url: String,
            /// The first day to read.
            #[serde(default)]
            pub start_date: Option<chrono::NaiveDate>,
            /// Days re-read before the saved cursor.
            #[serde(default = "crate::common::default_lookback")]
            pub lookback_days: u32,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The settings every Meta source has.
            pub fn access(&self) -> crate::common::Access {
                crate::common::Access {
                    access_token: self.access_token.clone(),
                    api_version: self.api_version.clone(),
                    base_url: self.base_url.clone(),
                    start_date: self.start_date,
                    lookback_days: self.lookback_days,
                }
            }
        }
    };
}
pub(crate) use meta_settings;

/// The default `api_version`.
pub fn default_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}

/// The default `base_url`.
pub fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

/// The default `lookback_days`.
pub const fn default_lookback() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}

impl Access {
    /// Checks what serde cannot: the version's shape and the URL's scheme.
    pub fn validate(&self, config: &ConfigTable) -> Result<(), ConfigError> {
        let v = self.api_version.strip_prefix('v').unwrap_or("");
        let ok = v
            .split_once('.')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
        if !ok {
            return Err(ConfigError::new(
                format!(
                    "api_version \"{}\" is not a Graph API version",
                    self.api_version
                ),
                Some(config.span_of("api_version")),
            )
            .with_help(format!("write it like \"{DEFAULT_API_VERSION}\"")));
        }
        chorus_http::check_base_url(config, "base_url", &self.base_url)?;
        Ok(())
    }

    /// The lookback as a duration.
    pub fn lookback(&self) -> Duration {
        Duration::from_secs(u64::from(self.lookback_days) * 86_400)
    }

    /// The start date, or two years ago (the oldest insights Meta keeps).
    pub fn start(&self, today: NaiveDate) -> NaiveDate {
        self.start_date
            .unwrap_or_else(|| today.checked_sub_days(Days::new(730)).unwrap_or(today))
    }

    /// The Graph client for these settings.
    pub fn graph(&self, http: &Http) -> Result<Arc<Graph>> {
        let client = HttpClient::new(
            Auth::Bearer(self.access_token.clone()),
            http.config.clone(),
            Arc::new(http.hook.clone()),
        )?;
        Ok(Arc::new(Graph::new(
            Arc::new(client),
            &self.base_url,
            &self.api_version,
        )))
    }
}

/// How a source talks HTTP: the client settings and the usage hook (tests make them fast).
#[derive(Debug, Clone, Default)]
pub struct Http {
    /// Timeouts, retries and concurrency.
    pub config: ClientConfig,
    /// Throttle classification and the slowdown above 90 % usage.
    pub hook: MetaHook,
    /// The pause between polls of an async report job.
    pub poll_interval: Option<Duration>,
}

/// Reads a source's settings, turning serde's error into a located one.
pub fn settings<T: serde::de::DeserializeOwned>(config: &ConfigTable) -> Result<T, ConfigError> {
    config.deserialize()
}

/// Midnight at the start of `day` in `tz`, as an instant.
pub fn midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    chorus_core::calendar::midnight(day, &tz)
}

/// The day an instant falls on in `tz`.
pub fn day_in(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    chorus_core::calendar::day_in(t, &tz)
}

/// The day a daily insights value belongs to, from its `end_time` (the next midnight in
/// Pacific time, 07:00 or 08:00 UTC): the Pacific day that ends there.
pub fn day_of_end_time(end_time: &str) -> Option<NaiveDate> {
    let t = chorus_http::decode::parse_timestamp(end_time)?;
    let t = DateTime::from_timestamp_micros(t)?;
    Some((t - chrono::Duration::hours(12)).date_naive())
}

/// Days since 1970-01-01, as Arrow's `Date32` counts them.
pub fn date32(day: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((day - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Whether a value for `day` can still change: it is final once `lookback_days` have passed.
pub fn is_final(day: NaiveDate, today: NaiveDate, lookback_days: u32) -> bool {
    day.checked_add_days(Days::new(u64::from(lookback_days)))
        .is_some_and(|d| d < today)
}

/// The `is_final` column.
pub fn is_final_field() -> Field {
    Field::new("is_final", DataType::Boolean, false)
}

/// Appends the `is_final` column, computed per row from a timestamp column (microseconds).
pub fn with_is_final(
    batch: &RecordBatch,
    schema: &SchemaRef,
    time_column: &str,
    today: NaiveDate,
    lookback_days: u32,
) -> Result<RecordBatch> {
    use arrow::array::AsArray;
    use arrow::datatypes::TimestampMicrosecondType;
    let times = batch
        .column_by_name(time_column)
        .ok_or_else(|| Error::internal(format!("no column {time_column}")))?
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| Error::internal(format!("{time_column} is not a timestamp")))?;
    let flags: BooleanArray = times
        .iter()
        .map(|t| {
            Some(
                t.and_then(DateTime::from_timestamp_micros)
                    .is_some_and(|t| is_final(day_in(t, META_TZ), today, lookback_days)),
            )
        })
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(flags));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// One insights value as the API sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct InsightValue {
    /// A number, or an object of numbers for `*_by_type` metrics.
    #[serde(default)]
    pub value: serde_json::Value,
    /// The end of the period (daily values only).
    #[serde(default)]
    pub end_time: Option<String>,
}

/// One metric of an insights response.
#[derive(Debug, Clone, Deserialize)]
pub struct Insight {
    /// The metric name.
    pub name: String,
    /// `day`, `week`, `days_28`, `lifetime`.
    #[serde(default)]
    pub period: String,
    /// The values (time series).
    #[serde(default)]
    pub values: Vec<InsightValue>,
    /// The one total (`metric_type=total_value`).
    #[serde(default)]
    pub total_value: Option<InsightValue>,
}

/// An insights response: `{"data": [...]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct InsightsPage {
    /// The metrics.
    #[serde(default)]
    pub data: Vec<Insight>,
}

impl InsightsPage {
    /// Parses an insights body.
    pub fn parse(body: &[u8], doing: &str) -> Result<Self> {
        serde_json::from_slice(body).map_err(|e| {
            Error::contract(format!(
                "{doing}: the Graph API sent unreadable insights: {e}"
            ))
        })
    }
}

/// The name of one key of an object-valued metric: `post_reactions_by_type_total` + `like`
/// gives `post_reactions_like_total`; other metrics get the key appended.
pub fn expanded_name(metric: &str, key: &str) -> String {
    let key = column_safe(key);
    match metric.split_once("_by_type") {
        Some((head, tail)) => format!("{head}_{key}{tail}"),
        None => format!("{metric}_{key}"),
    }
}

/// A value flattened into `(metric, number)` pairs; objects expand one pair per key.
pub fn flatten_value(metric: &str, value: &serde_json::Value) -> Vec<(String, f64)> {
    let number = |v: &serde_json::Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse::<f64>().ok()))
    };
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| number(v).map(|n| (expanded_name(metric, k), n)))
            .collect(),
        v => number(v)
            .map(|n| vec![(metric.to_owned(), n)])
            .unwrap_or_default(),
    }
}

/// The metrics a stream requests, per group (a media product type, or one group), which
/// shrink when Meta rejects one; each drop is warned about once.
#[derive(Debug)]
pub struct Metrics {
    stream: String,
    lists: Mutex<HashMap<String, Vec<String>>>,
    dropped: Mutex<BTreeSet<String>>,
}

impl Metrics {
    /// The metric lists of `stream`, by group.
    pub fn new(stream: &str, lists: HashMap<String, Vec<String>>) -> Self {
        Self {
            stream: stream.to_owned(),
            lists: Mutex::new(lists),
            dropped: Mutex::new(BTreeSet::new()),
        }
    }

    /// One list for every object.
    pub fn single(stream: &str, list: Vec<String>) -> Self {
        Self::new(stream, HashMap::from([(String::new(), list)]))
    }

    /// The current metrics of `group`; a group `A/B` falls back to `A`, then to `""`.
    pub fn get(&self, group: &str) -> Vec<String> {
        let lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        Self::lookup(&lists, group)
    }

    fn lookup(lists: &HashMap<String, Vec<String>>, group: &str) -> Vec<String> {
        let parent = group.split_once('/').map_or("", |(p, _)| p);
        lists
            .get(group)
            .or_else(|| lists.get(parent))
            .or_else(|| lists.get(""))
            .cloned()
            .unwrap_or_default()
    }

    /// Drops `metric` from `group` with one warning that quotes Meta's reason.
    pub fn drop_metric(&self, group: &str, metric: &str, reason: &str) {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let list = Self::lookup(&lists, group);
        lists.insert(
            group.to_owned(),
            list.into_iter().filter(|m| m != metric).collect(),
        );
        let label = if group.is_empty() {
            metric.to_owned()
        } else {
            format!("{metric} ({group})")
        };
        if self
            .dropped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.clone())
        {
            tracing::warn!(
                stream = %self.stream,
                metric = %label,
                reason = %reason,
                "Meta rejected an insights metric (retired or not offered here); it is dropped and the stream goes on. Remove it from the pipeline's metric list."
            );
        }
    }

    /// Every metric dropped so far, for tests and summaries.
    pub fn dropped(&self) -> Vec<String> {
        self.dropped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The metric a rejection names, if its message names one of `asked`: by position
/// (`metric[2] must be one of …`, which then lists valid names) or by name.
pub fn named_metric<'a>(message: &str, asked: &'a [String]) -> Option<&'a String> {
    if let Some((_, rest)) = message.split_once("metric[") {
        let index = rest
            .split_once(']')
            .and_then(|(i, _)| i.parse::<usize>().ok());
        return index.and_then(|i| asked.get(i));
    }
    let words: BTreeSet<&str> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    asked.iter().find(|m| words.contains(m.as_str()))
}

/// One insights row, before it becomes columns.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightRow {
    /// The object the value is about (page, post, media, IG user, ad).
    pub object_id: String,
    /// When the object was created (posts, media), in microseconds.
    pub object_time: Option<i64>,
    /// The object's group (a media product type).
    pub group: Option<String>,
    /// The metric, expanded for object values.
    pub metric: String,
    /// The period (`day`, `lifetime`).
    pub period: String,
    /// The day the value belongs to, for daily values.
    pub date: Option<NaiveDate>,
    /// The value.
    pub value: f64,
    /// Whether the value can no longer change.
    pub is_final: bool,
}

/// Where an insights answer's rows belong: the object, and how a value finds its day.
pub struct RowsOf<'a> {
    /// The object the values are about.
    pub object_id: &'a str,
    /// When the object was created, in microseconds.
    pub object_time: Option<i64>,
    /// The object's group.
    pub group: Option<&'a str>,
    /// Whether lifetime values (no day) are final.
    pub lifetime_final: bool,
    /// Days younger than this are not final.
    pub lookback_days: u32,
    /// Today, in Meta's zone.
    pub today: NaiveDate,
}

impl RowsOf<'_> {
    /// Every value of every metric in `answer`, objects expanded; `day_of` gives a value its
    /// day (`Some(None)` for a lifetime value) or leaves it out (`None`).
    pub fn rows(
        &self,
        answer: InsightsPage,
        day_of: impl Fn(&InsightValue) -> Option<Option<NaiveDate>>,
    ) -> Vec<InsightRow> {
        let mut rows = Vec::new();
        for metric in answer.data {
            for v in metric.values.iter().chain(metric.total_value.iter()) {
                let Some(date) = day_of(v) else {
                    continue;
                };
                let is_final = date.map_or(self.lifetime_final, |d| {
                    is_final(d, self.today, self.lookback_days)
                });
                for (name, value) in flatten_value(&metric.name, &v.value) {
                    rows.push(InsightRow {
                        object_id: self.object_id.to_owned(),
                        object_time: self.object_time,
                        group: self.group.map(str::to_owned),
                        metric: name,
                        period: metric.period.clone(),
                        date,
                        value,
                        is_final,
                    });
                }
            }
        }
        rows
    }
}

/// The column-safe form of a name: lowercase ASCII letters and digits, `_` for the rest.
pub fn column_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The columns of an insights stream whose object is called `object` (`page`, `post`, …):
/// `{object}_id`, then `extra` fields, then `metric`, `period`, `value`, `is_final`.
pub fn insight_schema(object_id: &str, extra: Vec<Field>) -> SchemaRef {
    let mut fields = vec![Field::new(object_id, DataType::Utf8, false)];
    fields.extend(extra);
    fields.extend([
        Field::new("metric", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        is_final_field(),
    ]);
    Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Builds a batch of `schema` (made by [`insight_schema`]) from rows, filling each column by
/// its role: the first column is the object id, `date` the day, a timestamp the object's
/// time, `media_product_type` the group.
pub fn insight_batch(schema: &SchemaRef, rows: &[InsightRow]) -> Result<RecordBatch> {
    use arrow::array::{Date32Array, Float64Array, StringArray, TimestampMicrosecondArray};
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| -> ArrayRef {
            match (i, f.name().as_str(), f.data_type()) {
                (0, ..) => Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.object_id.as_str()),
                )),
                (_, "metric", _) => Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.metric.as_str()),
                )),
                (_, "period", _) => Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.period.as_str()),
                )),
                (_, "value", _) => {
                    Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value)))
                }
                (_, "is_final", _) => Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.is_final).collect::<Vec<_>>(),
                )),
                (_, "date", _) => Arc::new(Date32Array::from(
                    rows.iter().map(|r| r.date.map(date32)).collect::<Vec<_>>(),
                )),
                (_, _, DataType::Timestamp(..)) => Arc::new(
                    TimestampMicrosecondArray::from(
                        rows.iter().map(|r| r.object_time).collect::<Vec<_>>(),
                    )
                    .with_timezone("UTC"),
                ),
                _ => Arc::new(StringArray::from(
                    rows.iter().map(|r| r.group.as_deref()).collect::<Vec<_>>(),
                )),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// One row of an object's current fields, for a snapshot stream (`page`, `account`): each
/// column of `schema` is filled from the field of its name, `date` with `day`.
pub fn snapshot_batch(
    object: &serde_json::Value,
    schema: &SchemaRef,
    day: NaiveDate,
) -> Result<RecordBatch> {
    use arrow::array::{Date32Array, Int64Array, StringArray};
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> Result<ArrayRef> {
            let v = object.get(f.name());
            Ok(match (f.name().as_str(), f.data_type()) {
                ("date", _) => Arc::new(Date32Array::from(vec![date32(day)])),
                (_, DataType::Int64) => Arc::new(Int64Array::from(vec![v.and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })])),
                (name, _) => {
                    let text = v.and_then(|v| match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                    if text.is_none() && !f.is_nullable() {
                        return Err(Error::contract(format!(
                            "the Graph API answer has no \"{name}\""
                        )));
                    }
                    Arc::new(StringArray::from(vec![text]))
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

pub use chorus_http::produce::{Tx, events, send};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_time_maps_to_the_pacific_day_it_closes() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            day_of_end_time("2018-01-02T08:00:00+0000"),
            Some(d("2018-01-01"))
        );
        assert_eq!(
            day_of_end_time("2017-04-16T07:00:00+0000"),
            Some(d("2017-04-15"))
        );
        assert_eq!(day_of_end_time("nonsense"), None);
        assert_eq!(
            midnight(d("2024-01-02"), META_TZ).to_rfc3339(),
            "2024-01-02T08:00:00+00:00"
        );
        assert_eq!(
            midnight(d("2024-07-02"), META_TZ).to_rfc3339(),
            "2024-07-02T07:00:00+00:00"
        );
    }

    #[test]
    fn values_flatten_and_expand() {
        assert_eq!(
            expanded_name("post_reactions_by_type_total", "like"),
            "post_reactions_like_total"
        );
        assert_eq!(
            expanded_name("post_clicks_by_type", "link clicks"),
            "post_clicks_link_clicks"
        );
        assert_eq!(expanded_name("page_fan_adds", "paid"), "page_fan_adds_paid");
        let v = serde_json::json!({"like": 3, "love": "1"});
        let mut f = flatten_value("post_reactions_by_type_total", &v);
        f.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            f,
            vec![
                ("post_reactions_like_total".into(), 3.0),
                ("post_reactions_love_total".into(), 1.0)
            ]
        );
        assert_eq!(flatten_value("m", &serde_json::json!(null)), vec![]);
        assert_eq!(
            flatten_value("m", &serde_json::json!(2.5)),
            vec![("m".into(), 2.5)]
        );
    }

    #[test]
    fn finality_follows_the_lookback() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(is_final(d("2024-01-01"), d("2024-02-01"), 28));
        assert!(!is_final(d("2024-01-10"), d("2024-02-01"), 28));
        assert!(is_final(d("2024-01-31"), d("2024-02-01"), 0));
        assert!(!is_final(d("2024-02-01"), d("2024-02-01"), 0));
    }

    #[test]
    fn metrics_drop_once_per_group() {
        let m = Metrics::new(
            "s",
            HashMap::from([(String::new(), vec!["a".into(), "b".into()])]),
        );
        m.drop_metric("STORY", "a", "why");
        assert_eq!(m.get("STORY"), vec!["b".to_owned()]);
        assert_eq!(m.get("FEED"), vec!["a".to_owned(), "b".to_owned()]);
        m.drop_metric("STORY", "a", "why");
        assert_eq!(m.dropped(), vec!["a (STORY)".to_owned()]);
        let asked = vec!["views".to_owned(), "reach".to_owned()];
        assert_eq!(
            named_metric("(#100) does not support the views metric", &asked),
            Some(&asked[0])
        );
        assert_eq!(
            named_metric("(#100) The value must be a valid insights metric", &asked),
            None
        );
    }
}
