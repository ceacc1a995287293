//! The Delta Lake sink.
//!
//! What lives here: the `delta` sink type ([`DeltaSinkFactory`]), which writes each input as a
//! Delta table on a local folder or object storage, and commits each run to the table's log
//! with an application transaction so that a retried publish is a no-op. It takes the same
//! settings as the `parquet` sink ([`chorus_sink::SinkSettings`]) and writes its files with the
//! same streaming writer ([`chorus_sink::writer::TableWriter`]); what it adds is the Delta log
//! (through the `deltalake` crate, without its DataFusion engine: chorus plans appends,
//! partition overwrites and merges itself and commits their `add`/`remove` actions).
//!
//! It is a crate of its own so that only the binary builds `deltalake`; the runner and the
//! Parquet sink do not depend on it.

mod sink;
mod table;

pub use sink::{DeltaSink, DeltaSinkFactory, PARTITION_COLUMN};

/// Registers the sink types of this crate.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_sink(DeltaSinkFactory)
}
