//! The `freshdesk` connector: Freshdesk tickets with their stats and first-response and
//! resolution minutes (`tickets`), each ticket's conversation (`conversations`) and survey
//! answers (`satisfaction_ratings`), for support volume by channel, first-reply time,
//! resolution time and CSAT.
//!
//! What lives here: Freshdesk's response shapes, codes and error judgement ([`api`]) and the
//! connector with its settings, streams and state ([`source`]). What does not: HTTP
//! mechanics (retries honouring `Retry-After`, redaction are the kit's, `chorus-http`) and
//! the emulated API (`chorus-sandbox`, platform `freshdesk`).

pub mod api;
pub mod source;

/// Registers the `freshdesk` connector.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(source::Freshdesk)
}
