//! The settings of a `google_analytics` source: one strict struct, checked offline into
//! [`Settings`] with errors that point at the offending key.

use std::collections::BTreeSet;

use chorus_core::schema::is_identifier;
use chorus_core::{ConfigError, ConfigTable, Secret};
use chorus_http::ServiceAccountKey;
use chrono::NaiveDate;
use serde::Deserialize;

use crate::streams::{FIXED_COLUMNS, Report, column_name, default_reports};

/// The Data API host.
pub const DEFAULT_BASE_URL: &str = "https://analyticsdata.googleapis.com";
/// Days re-read before the saved cursor; rows inside it carry `is_final = false`.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 3;
/// Days one request chain covers before a checkpoint.
pub const DEFAULT_SLICE_DAYS: u32 = 7;
/// Rows per request (the API's default).
pub const DEFAULT_PAGE_SIZE: u32 = 10_000;
/// The most rows the API returns per request.
pub const MAX_PAGE_SIZE: u32 = 250_000;
/// Requests in flight per property by default.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// GA4's `concurrentRequests` quota of a standard property.
pub const MAX_CONCURRENCY: u32 = 10;
/// The OAuth scope the connector asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/analytics.readonly";

/// The settings as written in the pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ga4Config {
    /// The numeric GA4 property id.
    pub property_id: String,
    /// The service-account key JSON, from an environment variable.
    #[serde(default)]
    pub credentials_json: Option<Secret>,
    /// A path to the service-account key file.
    #[serde(default)]
    pub credentials_file: Option<String>,
    /// The first day to read.
    pub start_date: NaiveDate,
    /// The last day to read (inclusive); default today.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// The reports, one stream each; default the three built-in ones.
    #[serde(default)]
    pub reports: Option<Vec<Report>>,
    /// Days re-read before the saved cursor.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    /// Days per request chain and checkpoint.
    #[serde(default = "default_slice")]
    pub slice_days: u32,
    /// Rows per request.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests in flight at once for the property.
    #[serde(default = "default_concurrency")]
    pub max_concurrent_requests: u32,
    /// The Data API host.
    #[serde(default = "default_base_url")]
    pub base_url: String,
}

const fn default_lookback() -> u32 {
    DEFAULT_LOOKBACK_DAYS
}
const fn default_slice() -> u32 {
    DEFAULT_SLICE_DAYS
}
const fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
const fn default_concurrency() -> u32 {
    DEFAULT_CONCURRENCY
}
fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

/// Checked settings, ready to build a source from.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The numeric property id.
    pub property_id: String,
    /// The service-account key.
    pub key: ServiceAccountKey,
    /// The first day to read.
    pub start_date: NaiveDate,
    /// The last day to read, inclusive.
    pub end_date: Option<NaiveDate>,
    /// The reports.
    pub reports: Vec<Report>,
    /// Days re-read before the saved cursor.
    pub lookback_days: u32,
    /// Days per request chain.
    pub slice_days: u32,
    /// Rows per request.
    pub page_size: u32,
    /// Requests in flight.
    pub concurrency: u32,
    /// The Data API host, without a trailing slash.
    pub base_url: String,
}

fn error(config: &ConfigTable, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(message, Some(config.span_of(key)))
}

impl Settings {
    /// Reads and checks a source's settings; reads `credentials_file` if given.
    pub fn from_config(config: &ConfigTable) -> Result<Self, ConfigError> {
        let raw: Ga4Config = config.deserialize()?;
        Self::check(raw, config)
    }

    /// Checks what serde cannot.
    pub fn check(raw: Ga4Config, config: &ConfigTable) -> Result<Self, ConfigError> {
        let property_id = raw.property_id.trim().to_owned();
        if property_id.is_empty() || !property_id.bytes().all(|b| b.is_ascii_digit()) {
            let digits: String = property_id.chars().filter(char::is_ascii_digit).collect();
            let help = if property_id.starts_with("properties/") || property_id.starts_with("G-") {
                format!(
                    "write only the numeric id{} (GA4 Admin > Property details); a measurement id like G-XXXX is not a property id",
                    if digits.is_empty() {
                        String::new()
                    } else {
                        format!(", e.g. \"{digits}\"")
                    }
                )
            } else {
                "write the numeric property id shown in GA4 Admin > Property details".to_owned()
            };
            return Err(error(
                config,
                "property_id",
                format!("property_id \"{property_id}\" is not a numeric GA4 property id"),
            )
            .with_help(help));
        }
        let key = key(&raw, config)?;
        if let Some(end) = raw.end_date
            && end < raw.start_date
        {
            return Err(error(
                config,
                "end_date",
                format!("end_date {end} is before start_date {}", raw.start_date),
            ));
        }
        if raw.slice_days == 0 {
            return Err(error(config, "slice_days", "slice_days must be at least 1"));
        }
        if raw.page_size == 0 || raw.page_size > MAX_PAGE_SIZE {
            return Err(error(
                config,
                "page_size",
                format!("page_size must be between 1 and {MAX_PAGE_SIZE} (the Data API's cap)"),
            ));
        }
        if raw.max_concurrent_requests == 0 || raw.max_concurrent_requests > MAX_CONCURRENCY {
            return Err(error(
                config,
                "max_concurrent_requests",
                format!(
                    "max_concurrent_requests must be between 1 and {MAX_CONCURRENCY}, GA4's concurrent-requests quota per property"
                ),
            ));
        }
        chorus_http::check_base_url(config, "base_url", &raw.base_url)?;
        let reports = match raw.reports {
            Some(reports) => {
                check_reports(&reports, config)?;
                reports
            }
            None => default_reports(),
        };
        Ok(Settings {
            property_id,
            key,
            start_date: raw.start_date,
            end_date: raw.end_date,
            reports,
            lookback_days: raw.lookback_days,
            slice_days: raw.slice_days,
            page_size: raw.page_size,
            concurrency: raw.max_concurrent_requests,
            base_url: raw.base_url.trim_end_matches('/').to_owned(),
        })
    }
}

/// The service-account key from exactly one of `credentials_json` and `credentials_file`.
fn key(raw: &Ga4Config, config: &ConfigTable) -> Result<ServiceAccountKey, ConfigError> {
    let (text, key_name) = match (&raw.credentials_json, &raw.credentials_file) {
        (Some(_), Some(_)) => {
            return Err(error(
                config,
                "credentials_file",
                "credentials_json and credentials_file are both set",
            )
            .with_help(
                "keep one: the key JSON from an environment variable, or the key file's path",
            ));
        }
        (None, None) => {
            return Err(ConfigError::new(
                "the service-account key is missing",
                Some(config.span_of("property_id")),
            )
            .with_help(
                "add credentials_json = \"${GA4_CREDENTIALS_JSON}\" (the key file's JSON in that variable) or credentials_file = \"path/to/key.json\"",
            ));
        }
        (Some(json), None) => (json.expose().to_owned(), "credentials_json"),
        (None, Some(path)) => {
            let resolved = config.resolve_path(path);
            let text = std::fs::read_to_string(&resolved).map_err(|e| {
                error(
                    config,
                    "credentials_file",
                    format!("cannot read the key file {}: {e}", resolved.display()),
                )
            })?;
            (text, "credentials_file")
        }
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        error(config, key_name, "the service-account key is not JSON").with_help(
            "use the JSON key file downloaded from Google Cloud (IAM > Service accounts > Keys)",
        )
    })?;
    if value.get("installed").is_some() || value.get("web").is_some() {
        return Err(error(
            config,
            key_name,
            "this is an OAuth client file, not a service-account key",
        )
        .with_help(
            "create a key for a service account (IAM > Service accounts > Keys > Add key > JSON)",
        ));
    }
    if value.get("type").and_then(serde_json::Value::as_str) != Some("service_account") {
        return Err(error(
            config,
            key_name,
            "the key's \"type\" is not \"service_account\"",
        )
        .with_help(
            "use the JSON key of a service account that was added as a Viewer of the property",
        ));
    }
    let key =
        ServiceAccountKey::from_json(&text).map_err(|e| error(config, key_name, e.message()))?;
    // Signing once proves the private key is usable before any run starts.
    key.signed_jwt(&[SCOPE.to_owned()], std::time::SystemTime::now())
        .map_err(|e| {
            error(config, key_name, e.message()).with_help(
                "the key's private_key is damaged; download a new JSON key for the service account",
            )
        })?;
    Ok(key)
}

/// Names, dimensions and metrics of configured reports.
fn check_reports(reports: &[Report], config: &ConfigTable) -> Result<(), ConfigError> {
    if reports.is_empty() {
        return Err(error(config, "reports", "reports is empty").with_help(
            "remove the key to read the built-in reports, or add a [[sources.<id>.reports]] table",
        ));
    }
    let mut names = BTreeSet::new();
    for (i, r) in reports.iter().enumerate() {
        let index = i.to_string();
        let at = |field: &str| Some(config.span_at(&["reports", &index, field]));
        if !is_identifier(&r.name) {
            return Err(ConfigError::new(
                format!("report name \"{}\" is not a valid stream name", r.name),
                at("name"),
            )
            .with_help("use lowercase letters, digits and _, like \"traffic_sources\""));
        }
        if !names.insert(r.name.as_str()) {
            return Err(ConfigError::new(
                format!("two reports are named \"{}\"", r.name),
                at("name"),
            ));
        }
        if !r.dimensions.iter().any(|d| d == "date") {
            return Err(ConfigError::new(
                format!("report \"{}\" has no \"date\" dimension", r.name),
                at("dimensions"),
            )
            .with_help(
                "add \"date\": reports are read day by day, keyed and checkpointed by date",
            ));
        }
        if r.metrics.is_empty() {
            return Err(ConfigError::new(
                format!("report \"{}\" has no metrics", r.name),
                at("metrics"),
            )
            .with_help("add metrics such as \"sessions\" and \"totalUsers\""));
        }
        let mut columns: BTreeSet<String> = FIXED_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        for (field, list) in [("dimensions", &r.dimensions), ("metrics", &r.metrics)] {
            for name in list {
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
                if !valid {
                    return Err(ConfigError::new(
                        format!("\"{name}\" in report \"{}\" is not a GA4 {field} name", r.name),
                        at(field),
                    )
                    .with_help("use the API names from https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema, like \"sessionSource\""));
                }
                if !columns.insert(column_name(name)) {
                    return Err(ConfigError::new(
                        format!(
                            "\"{name}\" in report \"{}\" gives the column \"{}\" twice (or a column chorus adds itself)",
                            r.name,
                            column_name(name)
                        ),
                        at(field),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const TEST_PEM: &str =
        include_str!("../../../crates/chorus-sandbox/fixtures/ga4_service_account_key.pem");

    fn key_json(pem: &str) -> String {
        serde_json::json!({
            "type": "service_account",
            "client_email": "a@b.iam.gserviceaccount.com",
            "private_key": pem,
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    /// Settings of property 123 with a test key, plus `body`.
    pub(crate) fn settings(body: &str) -> Result<Settings, ConfigError> {
        let key = key_json(TEST_PEM);
        let text = format!(
            "property_id = \"123\"\nstart_date = \"2026-01-01\"\ncredentials_json = '{key}'\n{body}"
        );
        Settings::from_config(&ConfigTable::parse(&text, ".").unwrap())
    }

    #[test]
    fn defaults_are_the_three_built_in_reports() {
        let s = settings("").unwrap();
        let names: Vec<_> = s.reports.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["traffic_sources", "landing_pages", "daily_overview"]
        );
        assert_eq!(s.lookback_days, 3);
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
    }

    #[test]
    fn bad_settings_say_what_to_write() {
        let text = "property_id = \"G-ABC123\"\nstart_date = \"2026-01-01\"\ncredentials_file = \"k.json\"";
        let e = Settings::from_config(&ConfigTable::parse(text, ".").unwrap()).unwrap_err();
        assert!(e.message.contains("not a numeric GA4 property id"), "{e:?}");
        assert!(e.help.unwrap().contains("G-XXXX"));

        let e = settings(
            "[[reports]]\nname = \"x\"\ndimensions = [\"country\"]\nmetrics = [\"sessions\"]",
        )
        .unwrap_err();
        assert!(e.message.contains("no \"date\" dimension"), "{e:?}");

        let e = settings("page_size = 300000").unwrap_err();
        assert!(e.message.contains("page_size"), "{e:?}");

        let e = settings("max_concurrent_requests = 11").unwrap_err();
        assert!(e.message.contains("concurrent"), "{e:?}");

        let e = settings("credentials_file = \"x.json\"").unwrap_err();
        assert!(e.message.contains("both set"), "{e:?}");
    }

    #[test]
    fn a_damaged_private_key_is_refused_offline() {
        let key = key_json("-----BEGIN PRIVATE KEY-----\nMIIEvAIB\n-----END PRIVATE KEY-----\n");
        let text =
            format!("property_id = \"1\"\nstart_date = \"2026-01-01\"\ncredentials_json = '{key}'");
        let e = Settings::from_config(&ConfigTable::parse(&text, ".").unwrap()).unwrap_err();
        assert!(e.message.contains("not a PKCS#8 PEM RSA key"), "{e:?}");
        assert!(!e.message.contains("MIIEvAIB"));
    }

    #[test]
    fn a_client_file_is_not_a_key() {
        let text = "property_id = \"1\"\nstart_date = \"2026-01-01\"\ncredentials_json = '{\"installed\":{\"client_id\":\"x\"}}'";
        let e = Settings::from_config(&ConfigTable::parse(text, ".").unwrap()).unwrap_err();
        assert!(e.message.contains("OAuth client file"), "{e:?}");
    }
}
