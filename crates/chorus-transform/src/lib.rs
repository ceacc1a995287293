//! The chorus transforms: tables computed from other tables.
//!
//! What lives here: the `sql` transform on Apache DataFusion ([`sql`], with the input tables
//! in [`session`]), the KPI functions every query has ([`functions`]), the lexicon- and
//! rule-based sentiment model with language detection ([`sentiment`]), and the `sentiment`
//! ([`sentiment_transform`]) and `dedupe` ([`dedupe`]) transforms, and ad-hoc SQL over
//! committed Parquet ([`query`]).
//!
//! What does not: reading sources, writing sinks and wiring the run graph (`chorus-runner`);
//! the component traits (`chorus-core`).

pub mod dedupe;
pub mod functions;
pub mod query;
pub mod sentiment;
pub mod sentiment_transform;
pub mod session;
pub mod sql;

/// Registers the `sql`, `sentiment` and `dedupe` transform types.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_transform(sql::SqlFactory)?;
    registry.add_transform(sentiment_transform::SentimentFactory)?;
    registry.add_transform(dedupe::DedupeFactory)?;
    Ok(())
}
