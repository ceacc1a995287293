//! The Slack connector (`slack`): channels, users, messages and thread replies from the Slack
//! Web API, for community KPIs (daily active members, messages per member, thread
//! participation).
//!
//! What lives here: the strict settings ([`config`]), the Web API client with Slack's error
//! envelope, per-method pacing and cursor paging ([`api`]), the streams' schemas and how a
//! page becomes a batch ([`streams`]), and the source with its reads and `check` ([`source`]).
//! What does not: HTTP mechanics (retries, `Retry-After`, redaction are the kit's,
//! `chorus-http`) and the emulated Web API (`chorus-sandbox`). User documentation:
//! `docs/connectors/slack.md`; facts about the API with sources:
//! `docs/dev/platforms/slack-web-api.md`.

pub mod api;
pub mod config;
pub mod source;
pub mod streams;

/// Registers the `slack` connector.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(source::SlackConnector)
}
