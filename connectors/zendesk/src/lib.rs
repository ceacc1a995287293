//! The `zendesk` connector: Zendesk Support tickets (`tickets`, from the cursor-based
//! incremental export), their reply and resolution times (`ticket_metrics`) and customer
//! satisfaction (`satisfaction_ratings`), for support volume by channel, first-reply time,
//! resolution time and CSAT.
//!
//! What lives here: Zendesk's response shapes and error judgement ([`api`]) and the
//! connector with its settings, streams and state ([`source`]). What does not: HTTP
//! mechanics (retries honouring `Retry-After`, pacing, redaction are the kit's,
//! `chorus-http`) and the emulated API (`chorus-sandbox`, platform `zendesk`).

pub mod api;
pub mod source;

/// Registers the `zendesk` connector.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(source::Zendesk)
}
