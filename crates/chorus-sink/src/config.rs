//! The settings of a `parquet` sink.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How a run's rows meet the rows already in a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Add the run's files; keep everything already there.
    #[default]
    Append,
    /// Replace every partition the run wrote to (the whole table when unpartitioned).
    OverwritePartitions,
    /// Upsert on the primary key: a run's row replaces the stored row with the same key.
    Merge,
}

/// The compression codec of written files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Zstandard, the default: small files, fast to read.
    #[default]
    Zstd,
    /// Snappy, for old readers.
    Snappy,
    /// No compression.
    None,
}

/// `partition_by`: one column for every input, or one per input.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PartitionBy {
    /// The same column name for every input (each must have it).
    All(String),
    /// A column per input id.
    PerInput(BTreeMap<String, String>),
}

/// The settings of a `[sinks.<id>]` table of type `parquet`, minus `type` and `inputs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkConfig {
    /// Where tables go: a folder (relative to the pipeline file), a `file://` URL, or an
    /// object-store URL (`s3://`, `gs://`, `az://`).
    pub path: String,
    /// A date or timestamp column whose day partitions the files into `dt=YYYY-MM-DD/`.
    #[serde(default)]
    pub partition_by: Option<PartitionBy>,
    /// `append` (default), `overwrite_partitions` or `merge`.
    #[serde(default)]
    pub mode: Mode,
    /// `zstd` (default), `snappy` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// The zstd level, 1 to 22 (default 3).
    #[serde(default = "default_level")]
    pub compression_level: i32,
    /// Table (folder) names for inputs, instead of the input id with `.` replaced by `__`.
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
    /// The size at which a file is closed and the next one started, in MiB (default 128).
    #[serde(default = "default_file_mb")]
    pub target_file_size_mb: u64,
    /// The most rows in one row group (default 1,048,576).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
}

const fn default_level() -> i32 {
    3
}

const fn default_file_mb() -> u64 {
    128
}

const fn default_row_group_rows() -> usize {
    1_048_576
}

impl ParquetSinkConfig {
    /// The partition column for an input, if any.
    pub fn partition_column(&self, input: &str) -> Option<&str> {
        match &self.partition_by {
            None => None,
            Some(PartitionBy::All(col)) => Some(col),
            Some(PartitionBy::PerInput(map)) => map.get(input).map(String::as_str),
        }
    }
}
