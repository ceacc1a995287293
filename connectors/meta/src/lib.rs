//! The Meta connectors: `facebook_pages`, `facebook_ads` and `instagram`, on one Graph API
//! client.
//!
//! What lives here: the Graph client with Meta's error codes, throttles and usage headers
//! ([`graph`]), what the three connectors share ([`common`]), insights requests that drop
//! metrics Meta has retired ([`insights`]), the permission check ([`check`]), and one module
//! per connector. What does not: HTTP mechanics (retries, pacing, redaction, JSON to Arrow
//! are the kit's, `chorus-http`) and the emulated Graph API (`chorus-sandbox`).

pub mod ads;
pub mod check;
pub mod common;
pub mod graph;
pub mod insights;
pub mod instagram;
pub mod pages;

/// Registers the three Meta connectors.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(pages::FacebookPages)?;
    registry.add_connector(ads::FacebookAds)?;
    registry.add_connector(instagram::Instagram)
}
