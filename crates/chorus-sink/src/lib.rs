//! The Parquet sink.
//!
//! What lives here: the `parquet` sink type ([`ParquetSinkFactory`]), its settings
//! ([`config`]), where files go ([`layout`]), the storage it writes through ([`store`]), the
//! staged writer with partitions and rolling files ([`writer`]), and `merge` on a primary key
//! ([`merge`]). What does not: the commit record and state (the runner owns the protocol and
//! calls [`chorus_core::Sink::write`] then [`chorus_core::Sink::publish`]).

pub mod config;
pub mod layout;
pub mod merge;
mod parquet_sink;
pub mod reader;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upload;
pub mod writer;

pub use parquet_sink::{ParquetSink, ParquetSinkFactory, SinkSettings};

/// Registers the sink types of this crate.
pub fn register_all(
    registry: &mut chorus_core::Registry,
) -> Result<(), chorus_core::RegistryError> {
    registry.add_sink(ParquetSinkFactory)
}
