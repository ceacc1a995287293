//! The chorus data model and the contracts between its parts.
//!
//! What lives here: the [`StreamSpec`] every stream declares, the conventions of its Arrow
//! schema ([`schema`]), incremental [`state`], the [`Error`] type with its domain and retry
//! hint, [`Secret`], the component traits ([`Connector`] → [`Source`] → [`Stream`],
//! [`TransformFactory`] → [`Transform`], [`SinkFactory`] → [`Sink`]), the spanned
//! [`ConfigTable`] a component deserializes its settings from, the explicit [`Registry`], and
//! [`failpoint`]s for crash tests, the [`Shard`] a worker reads, and the [`calendar`] days and
//! date slices of a platform's own time zone.
//!
//! What does not: HTTP (`chorus-http`), pipeline files and the run graph (`chorus-runner`),
//! Parquet (`chorus-sink`), SQL (`chorus-transform`).

pub mod calendar;
pub mod config;
pub mod connector;
pub mod error;
pub mod failpoint;
pub mod registry;
pub mod schema;
pub mod secret;
pub mod shard;
pub mod sink;
pub mod state;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transform;

pub use config::{ConfigError, ConfigTable};
pub use connector::{
    BuildContext, CheckReport, ConfigKeyDoc, Connector, ConnectorDoc, EXTRA_FIELDS_COLUMN, Source,
};
pub use error::{Error, ErrorDomain, ErrorKind, Result};
pub use registry::{Registry, RegistryError};
pub use secret::Secret;
pub use shard::Shard;
pub use sink::{Sink, SinkFactory, StagedTable, TableSpec};
pub use state::{Cursor, StreamState};
pub use stream::{
    BatchStream, Bound, EventStream, ReadContext, Stream, StreamEvent, StreamSpec, SyncMode, Window,
};
pub use transform::{Transform, TransformFactory, TransformInput};
