//! The settings of a `slack` source: one strict struct, every field documented, with defaults
//! that respect Slack's published rate limits.

use chorus_core::{ConfigError, ConfigKeyDoc, ConfigTable, Secret};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;

use crate::api::DEFAULT_BASE_URL;

/// `conversations.history` / `conversations.replies` page size: the most an app not approved
/// for the Slack Marketplace may ask for (since 29 May 2025).
pub const DEFAULT_HISTORY_PAGE_SIZE: u32 = 15;
/// `conversations.history` requests per minute: the limit for apps not approved for the
/// Marketplace (Marketplace and internal apps have Tier 3, 50+ a minute).
pub const DEFAULT_HISTORY_PER_MINUTE: u32 = 1;
/// `conversations.replies` requests per minute, as for history.
pub const DEFAULT_REPLIES_PER_MINUTE: u32 = 1;
/// `conversations.list` / `users.list` page size: Slack recommends no more than 200.
pub const DEFAULT_LIST_PAGE_SIZE: u32 = 200;
/// `conversations.list` / `users.list` requests per minute: Tier 2 (20+ a minute).
pub const DEFAULT_LIST_PER_MINUTE: u32 = 20;
/// Days of parent messages whose threads are read again on each run.
pub const DEFAULT_THREAD_LOOKBACK_DAYS: u32 = 7;
/// Days read when no `start_date` is given (the history a free workspace keeps).
pub const DEFAULT_HISTORY_DAYS: u64 = 90;
/// The largest page size the list methods accept.
pub const MAX_PAGE_SIZE: u32 = 999;

/// The settings of a `slack` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The bot token (`xoxb-…`), sent in the `Authorization` header only.
    pub bot_token: Secret,
    /// Channels to read, by id (`C0123ABCD`) or name (`general`, `#general`); default: every
    /// channel the bot is a member of.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// The first day of messages to read (default: 90 days ago).
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// Whether archived channels are listed and read.
    #[serde(default)]
    pub include_archived: bool,
    /// Days of parent messages whose replies are read again on each run.
    #[serde(default = "default_thread_lookback")]
    pub thread_lookback_days: u32,
    /// Messages per `conversations.history` / `conversations.replies` request.
    #[serde(default = "default_history_page_size")]
    pub history_page_size: u32,
    /// `conversations.history` requests per minute.
    #[serde(default = "default_history_per_minute")]
    pub history_requests_per_minute: u32,
    /// `conversations.replies` requests per minute.
    #[serde(default = "default_replies_per_minute")]
    pub replies_requests_per_minute: u32,
    /// Items per `conversations.list` / `users.list` request.
    #[serde(default = "default_list_page_size")]
    pub list_page_size: u32,
    /// `conversations.list` and `users.list` requests per minute (each).
    #[serde(default = "default_list_per_minute")]
    pub list_requests_per_minute: u32,
    /// The Web API root; change it only for a proxy or the sandbox.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Whether each stream keeps the fields it does not read (the source-level
    /// `keep_unknown_fields`, set when the source is built).
    #[serde(skip)]
    pub keep_unknown_fields: bool,
}

const fn default_thread_lookback() -> u32 {
    DEFAULT_THREAD_LOOKBACK_DAYS
}
const fn default_history_page_size() -> u32 {
    DEFAULT_HISTORY_PAGE_SIZE
}
const fn default_history_per_minute() -> u32 {
    DEFAULT_HISTORY_PER_MINUTE
}
const fn default_replies_per_minute() -> u32 {
    DEFAULT_REPLIES_PER_MINUTE
}
const fn default_list_page_size() -> u32 {
    DEFAULT_LIST_PAGE_SIZE
}
const fn default_list_per_minute() -> u32 {
    DEFAULT_LIST_PER_MINUTE
}
fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

impl SlackConfig {
    /// Reads and checks the settings, with located errors.
    pub fn from_table(config: &ConfigTable) -> Result<Self, ConfigError> {
        let settings: SlackConfig = config.deserialize()?;
        settings.validate(config)?;
        Ok(settings)
    }

    /// Checks what serde cannot: ranges, the URL's scheme, empty channel names.
    pub fn validate(&self, config: &ConfigTable) -> Result<(), ConfigError> {
        for (key, value, max) in [
            ("history_page_size", self.history_page_size, MAX_PAGE_SIZE),
            ("list_page_size", self.list_page_size, MAX_PAGE_SIZE),
            (
                "history_requests_per_minute",
                self.history_requests_per_minute,
                10_000_000,
            ),
            (
                "replies_requests_per_minute",
                self.replies_requests_per_minute,
                10_000_000,
            ),
            (
                "list_requests_per_minute",
                self.list_requests_per_minute,
                10_000_000,
            ),
        ] {
            if value == 0 || value > max {
                return Err(ConfigError::new(
                    format!("{key} must be between 1 and {max}, got {value}"),
                    Some(config.span_of(key)),
                ));
            }
        }
        chorus_http::check_base_url(config, "base_url", &self.base_url)?;
        if let Some(list) = &self.channels
            && let Some(i) = list
                .iter()
                .position(|c| c.trim().trim_start_matches('#').is_empty())
        {
            return Err(ConfigError::new(
                "a channel name is empty",
                Some(config.span_at(&["channels", &i.to_string()])),
            )
            .with_help("write a channel id like \"C0123ABCD\" or a name like \"general\""));
        }
        Ok(())
    }

    /// The first instant to read: `start_date` at midnight UTC, or 90 days before `now`.
    pub fn start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let day = self.start_date.unwrap_or_else(|| {
            now.date_naive()
                .checked_sub_days(Days::new(DEFAULT_HISTORY_DAYS))
                .unwrap_or(NaiveDate::MIN)
        });
        day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }

    /// The thread lookback as a duration.
    pub fn thread_lookback(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.thread_lookback_days) * 86_400)
    }
}

/// The documented keys, for `chorus connectors` and the docs.
pub fn keys() -> Vec<ConfigKeyDoc> {
    vec![
        ConfigKeyDoc::secret(
            "bot_token",
            "string",
            true,
            "The bot token (xoxb-…); sent in the Authorization header only and redacted everywhere.",
        ),
        ConfigKeyDoc::plain(
            "channels",
            "list of strings",
            false,
            "Channels by id or name (default: every channel the bot is a member of).",
        ),
        ConfigKeyDoc::plain(
            "start_date",
            "date",
            false,
            "The first day of messages to read (default: 90 days ago).",
        ),
        ConfigKeyDoc::plain(
            "include_archived",
            "bool",
            false,
            "Whether archived channels are listed and read (default false).",
        ),
        ConfigKeyDoc::plain(
            "thread_lookback_days",
            "integer",
            false,
            "Days of parent messages whose thread replies are read again each run (default 7).",
        ),
        ConfigKeyDoc::plain(
            "history_page_size",
            "integer",
            false,
            "Messages per conversations.history/replies request (default 15, the non-Marketplace maximum).",
        ),
        ConfigKeyDoc::plain(
            "history_requests_per_minute",
            "integer",
            false,
            "conversations.history requests per minute (default 1; Marketplace and internal apps may use 50).",
        ),
        ConfigKeyDoc::plain(
            "replies_requests_per_minute",
            "integer",
            false,
            "conversations.replies requests per minute (default 1; Marketplace and internal apps may use 50).",
        ),
        ConfigKeyDoc::plain(
            "list_page_size",
            "integer",
            false,
            "Items per conversations.list/users.list request (default 200).",
        ),
        ConfigKeyDoc::plain(
            "list_requests_per_minute",
            "integer",
            false,
            "conversations.list and users.list requests per minute, each (default 20, Tier 2).",
        ),
        ConfigKeyDoc::plain(
            "base_url",
            "string",
            false,
            "The Web API root (default https://slack.com/api); for proxies and the sandbox.",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> ConfigTable {
        ConfigTable::parse(text, ".").unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn defaults_respect_the_published_limits() {
        let c = SlackConfig::from_table(&table("bot_token = \"x\""))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.history_page_size, 15);
        assert_eq!(c.history_requests_per_minute, 1);
        assert_eq!(c.replies_requests_per_minute, 1);
        assert_eq!(c.list_requests_per_minute, 20);
        assert_eq!(c.base_url, "https://slack.com/api");
        let now = "2026-05-01T10:00:00Z".parse().unwrap_or_default();
        assert_eq!(c.start(now).to_rfc3339(), "2026-01-31T00:00:00+00:00");
    }

    #[test]
    fn bad_values_are_located() {
        for (text, needle) in [
            (
                "bot_token = \"x\"\nhistory_page_size = 0",
                "history_page_size",
            ),
            ("bot_token = \"x\"\nbase_url = \"slack.com\"", "base_url"),
            (
                "bot_token = \"x\"\nchannels = [\"general\", \"#\"]",
                "channel name is empty",
            ),
            ("bot_token = \"x\"\nchanels = []", "chanels"),
        ] {
            let err = SlackConfig::from_table(&table(text))
                .err()
                .unwrap_or_else(|| panic!("{text}"));
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }
}
