//! The `twitter` connector: X API v2 profiles (`users`), posts (`tweets`), mentions with
//! their authors (`mentions`) and recent search by named query (`search`), for followers,
//! engagement, potential reach, influencers and share of voice.
//!
//! What lives here: the response shapes and error judgement of X API v2 ([`api`]) and the
//! connector with its streams and per-account state ([`source`]). What does not: HTTP
//! mechanics (retries, waiting for `x-rate-limit-reset`, redaction are the kit's,
//! `chorus-http`) and the emulated API (`chorus-sandbox`, platform `x`).

pub mod api;
pub mod source;

/// Registers the `twitter` connector.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(source::Twitter)
}
