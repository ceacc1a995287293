//! The settings of a `files` source.

use serde::Deserialize;

/// A `[sources.<id>]` table of type `files`, minus the runner's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// One entry per stream: `[[sources.<id>.files]]`.
    pub files: Vec<FileStreamConfig>,
}

/// The format of a stream's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma (or `delimiter`) separated values with a header line.
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
}

/// One `[[sources.<id>.files]]` entry: a stream read from files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStreamConfig {
    /// The stream name (`contacts` makes the stream `<id>.contacts`).
    pub stream: String,
    /// Glob patterns, relative to the pipeline file.
    pub paths: Vec<String>,
    /// `csv`, `ndjson` or `parquet`.
    pub format: Format,
    /// The columns that identify a row.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// A date or timestamp column to read incrementally on; without it, files are read
    /// incrementally by modification time.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Column types (`string`, `int64`, `float64`, `bool`, `date`, `timestamp`) that override
    /// or replace inference.
    #[serde(default)]
    pub schema: Option<toml::Table>,
    /// The CSV field delimiter (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Days before the saved cursor that an incremental read starts again (default 0).
    #[serde(default)]
    pub lookback_days: u32,
}

const fn default_delimiter() -> char {
    ','
}
