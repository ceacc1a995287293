//! The streams as data: one per report, its columns typed from the metric catalogue, its key,
//! cursor and the additivity marks in its schema metadata.
//!
//! A stream's schema must be known offline (for `validate` and SQL planning), before any
//! `metricHeaders` arrive, so each metric's type comes from [`metric_info`]: the GA4 metrics
//! chorus knows, with the type the Data API reports for them. Metrics it does not know are
//! declared `Float64`, which holds every GA4 metric type. At run time the `metricHeaders` are
//! checked against these declarations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chorus_core::{StreamSpec, SyncMode};

/// How a metric may be re-aggregated across days or dimension values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// A count or an amount: summing rows gives the total.
    Sum,
    /// A count of distinct users: the same user is in several rows, so sums overcount.
    DistinctCount,
    /// A ratio of two sums: recompute it from its parts.
    Ratio,
    /// A mean: re-aggregate weighted by its base (sessions for `averageSessionDuration`).
    Mean,
    /// A metric chorus does not know.
    Unknown,
}

impl Aggregation {
    /// The name written in the schema metadata.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::DistinctCount => "distinct_count",
            Aggregation::Ratio => "ratio",
            Aggregation::Mean => "mean",
            Aggregation::Unknown => "unknown",
        }
    }

    /// Whether summing the metric across rows is meaningful.
    pub fn is_additive(self) -> Option<bool> {
        match self {
            Aggregation::Sum => Some(true),
            Aggregation::Unknown => None,
            _ => Some(false),
        }
    }
}

/// Known GA4 metrics: name, whether the API types them `TYPE_INTEGER`, and their aggregation.
/// Types follow the Data API's metadata (`GET properties/{id}/metadata`); every type other than
/// INTEGER (FLOAT, CURRENCY, SECONDS, …) is a floating-point value.
const KNOWN_METRICS: &[(&str, bool, Aggregation)] = &[
    ("sessions", true, Aggregation::Sum),
    ("engagedSessions", true, Aggregation::Sum),
    ("keyEvents", true, Aggregation::Sum),
    ("conversions", true, Aggregation::Sum),
    ("eventCount", true, Aggregation::Sum),
    ("screenPageViews", true, Aggregation::Sum),
    ("ecommercePurchases", true, Aggregation::Sum),
    ("transactions", true, Aggregation::Sum),
    ("addToCarts", true, Aggregation::Sum),
    ("checkouts", true, Aggregation::Sum),
    ("totalUsers", true, Aggregation::DistinctCount),
    ("activeUsers", true, Aggregation::DistinctCount),
    ("newUsers", true, Aggregation::DistinctCount),
    ("active1DayUsers", true, Aggregation::DistinctCount),
    ("active7DayUsers", true, Aggregation::DistinctCount),
    ("active28DayUsers", true, Aggregation::DistinctCount),
    ("totalPurchasers", true, Aggregation::DistinctCount),
    ("bounceRate", false, Aggregation::Ratio),
    ("engagementRate", false, Aggregation::Ratio),
    ("sessionsPerUser", false, Aggregation::Ratio),
    ("screenPageViewsPerSession", false, Aggregation::Ratio),
    ("screenPageViewsPerUser", false, Aggregation::Ratio),
    ("eventsPerSession", false, Aggregation::Ratio),
    ("sessionKeyEventRate", false, Aggregation::Ratio),
    ("userKeyEventRate", false, Aggregation::Ratio),
    ("averageSessionDuration", false, Aggregation::Mean),
    ("averagePurchaseRevenue", false, Aggregation::Mean),
    ("averageRevenuePerUser", false, Aggregation::Mean),
    ("userEngagementDuration", false, Aggregation::Sum),
    ("totalRevenue", false, Aggregation::Sum),
    ("purchaseRevenue", false, Aggregation::Sum),
    ("grossPurchaseRevenue", false, Aggregation::Sum),
    ("advertiserAdCost", false, Aggregation::Sum),
];

/// The declared Arrow type and the aggregation of a metric.
pub fn metric_info(name: &str) -> (DataType, Aggregation) {
    match KNOWN_METRICS.iter().find(|(n, ..)| *n == name) {
        Some((_, true, agg)) => (DataType::Int64, *agg),
        Some((_, false, agg)) => (DataType::Float64, *agg),
        None => (DataType::Float64, Aggregation::Unknown),
    }
}

/// A report as configured: its stream name, dimensions and metrics (GA4 API names).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The stream name, `[a-z0-9_]+`.
    pub name: String,
    /// GA4 dimension names; `date` must be one of them.
    pub dimensions: Vec<String>,
    /// GA4 metric names.
    pub metrics: Vec<String>,
}

/// The reports read when none are configured.
pub fn default_reports() -> Vec<Report> {
    let report = |name: &str, dimensions: &[&str], metrics: &[&str]| Report {
        name: name.to_owned(),
        dimensions: dimensions.iter().map(|s| (*s).to_owned()).collect(),
        metrics: metrics.iter().map(|s| (*s).to_owned()).collect(),
    };
    vec![
        report(
            "traffic_sources",
            &[
                "date",
                "sessionSource",
                "sessionMedium",
                "sessionCampaignName",
                "sessionDefaultChannelGroup",
            ],
            &[
                "sessions",
                "totalUsers",
                "engagedSessions",
                "bounceRate",
                "averageSessionDuration",
                "keyEvents",
                "totalRevenue",
            ],
        ),
        report(
            "landing_pages",
            &["date", "landingPage", "sessionDefaultChannelGroup"],
            &[
                "sessions",
                "totalUsers",
                "engagedSessions",
                "bounceRate",
                "keyEvents",
                "totalRevenue",
            ],
        ),
        report(
            "daily_overview",
            &["date"],
            &[
                "sessions",
                "totalUsers",
                "activeUsers",
                "newUsers",
                "engagedSessions",
                "engagementRate",
                "bounceRate",
                "averageSessionDuration",
                "screenPageViews",
                "eventCount",
                "keyEvents",
                "totalRevenue",
            ],
        ),
    ]
}

/// The column name of a GA4 field: snake_case, with anything but letters and digits as `_`
/// (`sessionSource` → `session_source`, `customEvent:plan` → `custom_event_plan`).
pub fn column_name(api_name: &str) -> String {
    let mut out = String::with_capacity(api_name.len() + 4);
    let mut prev_lower = false;
    for c in api_name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_matches('_').to_owned()
}

/// The column every row carries with the GA4 property id.
pub const PROPERTY_COLUMN: &str = "property_id";
/// The column with the currency of the currency metrics (`metadata.currencyCode`).
pub const CURRENCY_COLUMN: &str = "currency_code";
/// The column saying whether GA4 may still restate the row.
pub const FINAL_COLUMN: &str = "is_final";
/// Schema metadata: the non-additive metric columns, comma-separated.
pub const NON_ADDITIVE_KEY: &str = "chorus.non_additive";
/// Field metadata: the metric's GA4 API name.
pub const API_NAME_KEY: &str = "ga4.api_name";
/// Field metadata: how the metric re-aggregates (`sum`, `distinct_count`, `ratio`, `mean`, `unknown`).
pub const AGGREGATION_KEY: &str = "chorus.aggregation";
/// Field metadata: `true`, `false` or `unknown`.
pub const ADDITIVE_KEY: &str = "chorus.additive";

/// The columns chorus adds around the report's own.
pub const FIXED_COLUMNS: &[&str] = &[PROPERTY_COLUMN, CURRENCY_COLUMN, FINAL_COLUMN];

/// The schema of a report: `property_id`, the dimensions (`date` as `Date32`, the rest
/// strings), the metrics typed by [`metric_info`], `currency_code`, `is_final`.
pub fn report_schema(report: &Report) -> SchemaRef {
    let mut fields = vec![Field::new(PROPERTY_COLUMN, DataType::Utf8, false)];
    for d in &report.dimensions {
        let ty = if d == "date" {
            DataType::Date32
        } else {
            DataType::Utf8
        };
        fields.push(
            Field::new(column_name(d), ty, false)
                .with_metadata(HashMap::from([(API_NAME_KEY.to_owned(), d.clone())])),
        );
    }
    let mut non_additive = Vec::new();
    for m in &report.metrics {
        let (ty, agg) = metric_info(m);
        let column = column_name(m);
        let additive = match agg.is_additive() {
            Some(true) => "true",
            Some(false) => {
                non_additive.push(column.clone());
                "false"
            }
            None => "unknown",
        };
        fields.push(Field::new(&column, ty, true).with_metadata(HashMap::from([
            (API_NAME_KEY.to_owned(), m.clone()),
            (AGGREGATION_KEY.to_owned(), agg.name().to_owned()),
            (ADDITIVE_KEY.to_owned(), additive.to_owned()),
        ])));
    }
    fields.push(Field::new(CURRENCY_COLUMN, DataType::Utf8, true));
    fields.push(Field::new(FINAL_COLUMN, DataType::Boolean, false));
    let metadata = HashMap::from([(NON_ADDITIVE_KEY.to_owned(), non_additive.join(","))]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The stream of a report: keyed by property and every dimension, cursor `date`.
pub fn report_spec(report: &Report, lookback_days: u32) -> StreamSpec {
    let mut primary_key = vec![PROPERTY_COLUMN.to_owned()];
    primary_key.extend(report.dimensions.iter().map(|d| column_name(d)));
    StreamSpec {
        name: report.name.clone(),
        schema: report_schema(report),
        primary_key,
        cursor_field: Some("date".to_owned()),
        sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        lookback: Duration::from_secs(u64::from(lookback_days) * 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_snake_case() {
        assert_eq!(column_name("sessionSource"), "session_source");
        assert_eq!(column_name("date"), "date");
        assert_eq!(
            column_name("sessionDefaultChannelGroup"),
            "session_default_channel_group"
        );
        assert_eq!(
            column_name("customEvent:plan_tier"),
            "custom_event_plan_tier"
        );
        assert_eq!(column_name("active28DayUsers"), "active28_day_users");
    }

    #[test]
    fn metrics_are_typed_and_marked() {
        let schema = report_schema(&default_reports()[0]);
        let field = |n: &str| schema.field_with_name(n).unwrap().clone();
        assert_eq!(field("date").data_type(), &DataType::Date32);
        assert_eq!(field("sessions").data_type(), &DataType::Int64);
        assert_eq!(field("bounce_rate").data_type(), &DataType::Float64);
        assert_eq!(field("total_revenue").data_type(), &DataType::Float64);
        assert_eq!(field("total_users").metadata()[ADDITIVE_KEY], "false");
        assert_eq!(field("sessions").metadata()[AGGREGATION_KEY], "sum");
        assert_eq!(
            schema.metadata()[NON_ADDITIVE_KEY],
            "total_users,bounce_rate,average_session_duration"
        );
        assert_eq!(metric_info("customEvent:x").1, Aggregation::Unknown);
    }
}
