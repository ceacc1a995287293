//! The `google_analytics` connector: Google Analytics 4 reports from the Data API (`v1beta`),
//! one stream per report.
//!
//! What lives here: the settings ([`config`]), the streams as data with their metric types and
//! additivity marks ([`streams`]), the API's request and response types and the hook that
//! judges its errors and quotas ([`api`]), reading a report in day slices with offset paging
//! ([`read`]), and the typed report errors ([`error`]). What does not: HTTP mechanics and the
//! service-account token exchange (the kit's, `chorus-http`), and the emulated API
//! (`chorus-sandbox`'s `ga4` platform). User documentation: `docs/connectors/google_analytics.md`.

pub mod api;
pub mod config;
pub mod error;
pub mod read;
pub mod streams;

use std::sync::Arc;

use async_trait::async_trait;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Error, ErrorKind, EventStream, ReadContext, Result, Source, Stream, StreamSpec,
};
use chrono::Utc;

use crate::config::{DEFAULT_LOOKBACK_DAYS, Settings};
use crate::read::{Http, Property, ReportStream, request_body};
use crate::streams::{Report, default_reports, report_spec};

/// Registers the `google_analytics` connector.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(GoogleAnalytics)
}

/// The registered `google_analytics` connector.
pub struct GoogleAnalytics;

const TEMPLATE: &str = r#"[sources.{id}]
type = "google_analytics"
property_id = "123456789"                      # GA4 Admin > Property details (not the G- id)
credentials_json = "${GA4_CREDENTIALS_JSON}"   # the service account's JSON key; the account is a Viewer of the property
# credentials_file = "secrets/ga4-key.json"    # or the key file's path instead
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
# end_date = "2026-06-30"                      # default: today
# lookback_days = 3                            # GA4 restates recent days; rows inside carry is_final = false
# Default reports: traffic_sources, landing_pages, daily_overview. Or your own, one stream each:
# [[sources.{id}.reports]]
# name = "traffic_sources"
# dimensions = ["date", "sessionSource", "sessionMedium", "sessionCampaignName", "sessionDefaultChannelGroup"]
# metrics = ["sessions", "totalUsers", "engagedSessions", "bounceRate", "averageSessionDuration", "keyEvents", "totalRevenue"]
"#;

impl Connector for GoogleAnalytics {
    fn keeps_unknown_fields(&self) -> std::result::Result<(), &'static str> {
        Err(
            "a report holds only the dimensions and metrics the request names, so there are no unknown fields to keep",
        )
    }

    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "google_analytics",
            summary: "Reads Google Analytics 4 reports (sessions, users, engagement, key events, revenue by day and traffic source) from the GA4 Data API.",
            keys: vec![
                ConfigKeyDoc::plain(
                    "property_id",
                    "string",
                    true,
                    "The numeric GA4 property id.",
                ),
                ConfigKeyDoc::secret(
                    "credentials_json",
                    "string",
                    false,
                    "The service-account key JSON, from an environment variable; or use credentials_file.",
                ),
                ConfigKeyDoc::plain(
                    "credentials_file",
                    "string",
                    false,
                    "The path of the service-account key file, instead of credentials_json.",
                ),
                ConfigKeyDoc::plain("start_date", "date", true, "The first day to read."),
                ConfigKeyDoc::plain(
                    "end_date",
                    "date",
                    false,
                    "The last day to read, inclusive (default: today).",
                ),
                ConfigKeyDoc::plain(
                    "reports",
                    "list of tables",
                    false,
                    "Reports as { name, dimensions, metrics }, one stream each; default traffic_sources, landing_pages, daily_overview.",
                ),
                ConfigKeyDoc::plain(
                    "lookback_days",
                    "integer",
                    false,
                    "Days re-read before the saved cursor; rows that recent have is_final = false (default 3).",
                ),
                ConfigKeyDoc::plain(
                    "slice_days",
                    "integer",
                    false,
                    "Days per request chain and checkpoint (default 7).",
                ),
                ConfigKeyDoc::plain(
                    "page_size",
                    "integer",
                    false,
                    "Rows per request (default 10000, at most 250000).",
                ),
                ConfigKeyDoc::plain(
                    "max_concurrent_requests",
                    "integer",
                    false,
                    "Requests in flight for the property (default 4, at most 10, GA4's quota).",
                ),
                ConfigKeyDoc::plain(
                    "base_url",
                    "string",
                    false,
                    "The Data API host (default https://analyticsdata.googleapis.com); for proxies and the sandbox.",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        default_reports()
            .iter()
            .map(|r| report_spec(r, DEFAULT_LOOKBACK_DAYS))
            .collect()
    }

    fn build(
        &self,
        config: &ConfigTable,
        _cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let settings = Settings::from_config(config)?;
        let source = Ga4Source::new(settings, Http::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?;
        Ok(Box::new(source))
    }
}

/// A configured `google_analytics` source: one property, its report streams.
pub struct Ga4Source {
    property: Arc<Property>,
    streams: Vec<Arc<dyn Stream>>,
}

struct GaStream(ReportStream);

impl Stream for GaStream {
    fn spec(&self) -> &StreamSpec {
        &self.0.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        self.0.read(cx)
    }
}

impl Ga4Source {
    /// A source from checked settings and HTTP behaviour.
    pub fn new(settings: Settings, http: Http) -> Result<Self> {
        let reports = settings.reports.clone();
        let lookback = settings.lookback_days;
        let property = Arc::new(Property::new(settings, http)?);
        let streams = reports
            .into_iter()
            .map(|report| {
                Arc::new(GaStream(ReportStream {
                    spec: report_spec(&report, lookback),
                    report,
                    property: Arc::clone(&property),
                })) as Arc<dyn Stream>
            })
            .collect();
        Ok(Self { property, streams })
    }

    /// The property's shared state: exchanges, tokens used, the last quota.
    pub fn property(&self) -> &Property {
        &self.property
    }
}

#[async_trait]
impl Source for Ga4Source {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let settings = &self.property.settings;
        let probe = Report {
            name: "check".into(),
            dimensions: vec!["date".into()],
            metrics: vec!["sessions".into()],
        };
        let today = Utc::now().date_naive();
        let from = today
            .checked_sub_days(chrono::Days::new(7))
            .unwrap_or(today);
        let body = request_body(&probe, from, today, 0, 1);
        let doing = format!(
            "checking GA4 property {} with a one-row report",
            settings.property_id
        );
        let answer = self
            .property
            .run_report(&body, &doing)
            .await?
            .map_err(|stop| {
                Error::new(
                    ErrorKind::Transient,
                    format!(
                        "{doing}: the property's quota is exhausted ({}); try again later",
                        stop.0
                    ),
                )
            })?;
        let left = answer
            .property_quota
            .and_then(|q| q.tokens_per_day)
            .map(|s| format!("; {} quota tokens left today", s.remaining))
            .unwrap_or_default();
        Ok(CheckReport {
            detail: format!(
                "GA4 property {} is readable by {} (time zone {}, currency {}){left}",
                settings.property_id,
                settings.key.client_email,
                answer.metadata.time_zone.as_deref().unwrap_or("unknown"),
                answer
                    .metadata
                    .currency_code
                    .as_deref()
                    .unwrap_or("unknown"),
            ),
        })
    }
}
