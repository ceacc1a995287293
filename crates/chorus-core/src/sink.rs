//! Sinks: where tables are written.
//!
//! A [`Sink`] writes each input table to a staging area ([`Sink::write`]) and publishes what it
//! staged in one idempotent step ([`Sink::publish`]). The runner owns the commit protocol
//! around those two calls: it records the staged tables and the new state in one atomic commit
//! record before publishing, so a crash at any instant can be finished or rolled back.

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigTable};
use crate::connector::{BuildContext, ConnectorDoc};
use crate::error::Result;
use crate::stream::BatchStream;

/// One table a sink receives.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The input id (`brand.posts` or a transform id).
    pub input: String,
    /// The table's schema, metadata columns included.
    pub schema: SchemaRef,
    /// The primary key, for `merge`.
    pub primary_key: Vec<String>,
    /// The cursor column, for `merge` (latest wins).
    pub cursor_field: Option<String>,
    /// Whether the run's rows replace the whole table whatever the sink's mode (marts, which
    /// are recomputed from committed tables on every run).
    pub replace: bool,
}

/// What a sink staged for one table, as recorded in the commit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedTable {
    /// The input id.
    pub input: String,
    /// The table (folder) name.
    pub table: String,
    /// Rows staged.
    pub rows: u64,
    /// Files staged.
    pub files: u64,
    /// Bytes staged.
    pub bytes: u64,
    /// Sink-specific detail of what publishing does (files to move, files to remove).
    pub actions: serde_json::Value,
}

/// The factory for one sink `type`.
pub trait SinkFactory: Send + Sync + 'static {
    /// Describes the sink type: its settings and template.
    fn doc(&self) -> ConnectorDoc;

    /// Builds the sink from its settings, offline.
    fn build(&self, config: &ConfigTable, cx: &BuildContext) -> Result<Box<dyn Sink>, ConfigError>;
}

/// A configured sink.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Where the sink writes, for plans and messages (never holds a secret).
    fn location(&self) -> String;

    /// The table (folder) name for an input, after any renaming in the settings.
    fn table_name(&self, input: &str) -> String;

    /// Checks, offline, that an input fits the sink's settings (its partition column exists
    /// and is a date or timestamp, `merge` has a primary key).
    fn check_input(
        &self,
        input: &str,
        schema: &Schema,
        primary_key: &[String],
    ) -> Result<(), ConfigError>;

    /// Checks, offline, that the table an input (or a mart) is written to is a safe folder
    /// name: it cannot leave the sink's root nor land among the sink's own bookkeeping.
    fn check_table_name(&self, _input: &str) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Checks, offline, settings that name inputs (`tables`, per-input `partition_by`) against
    /// the sink's actual inputs, so a misspelt input is not silently ignored.
    fn check_inputs(&self, _inputs: &[String]) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Checks that the destination can be written, without leaving anything behind.
    async fn check_writable(&self) -> Result<()>;

    /// Writes a table's batches to staging for run `run_id`; nothing is visible to readers.
    async fn write(
        &self,
        table: &TableSpec,
        run_id: &str,
        data: BatchStream,
    ) -> Result<StagedTable>;

    /// Makes staged tables visible. Must be idempotent: after a crash the runner calls it
    /// again with the same tables, some of which may already be published.
    async fn publish(&self, run_id: &str, staged: &[StagedTable]) -> Result<()>;

    /// Removes staging left behind by runs that never committed.
    async fn clean_staging(&self) -> Result<()>;

    /// Whether several `--shard` workers may write this sink at once; the error says why not
    /// and what to configure instead.
    fn check_shared(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Streams the committed rows of an input's table, for marts; `None` when the sink
    /// cannot read its tables back. A table that does not exist yet streams no rows.
    async fn read_table(&self, _table: &TableSpec) -> Result<Option<BatchStream>> {
        Ok(None)
    }
}
