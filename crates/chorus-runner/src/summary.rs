//! The run summary: what `--summary-json` writes, versioned for orchestrators to parse.

use chorus_core::StreamState;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The version of the summary format.
pub const SUMMARY_VERSION: u32 = 1;

/// How a stream or table ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Read (or written) and committed.
    Committed,
    /// Failed; nothing of it was committed.
    Failed,
    /// Read fine, but not committed because something it feeds or is fed with failed.
    Skipped,
    /// The plan was printed; nothing was read or written (`--dry-run`).
    Planned,
}

/// One stream in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    /// `source.stream`.
    pub id: String,
    /// How it ended.
    pub status: Status,
    /// Rows read.
    pub rows: u64,
    /// Values that did not fit their column's recorded type and were written as NULL
    /// (`on_bad_value = "null"`).
    pub bad_values: u64,
    /// Batches read.
    pub batches: u64,
    /// Pages fetched (HTTP connectors).
    pub pages: u64,
    /// Requests retried (HTTP connectors).
    pub retries: u64,
    /// Time spent reading, in milliseconds.
    pub duration_ms: u64,
    /// The committed state before the run.
    pub state_before: Option<StreamState>,
    /// The committed state after the run.
    pub state_after: Option<StreamState>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The error's kind, when it failed.
    pub error_kind: Option<String>,
}

/// One table written by one sink.
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    /// The sink id.
    pub sink: String,
    /// The input id.
    pub input: String,
    /// The table folder.
    pub table: String,
    /// Where the sink writes.
    pub location: String,
    /// How it ended.
    pub status: Status,
    /// Rows written.
    pub rows: u64,
    /// Files published.
    pub files: u64,
    /// Bytes published.
    pub bytes: u64,
    /// The error, when it failed.
    pub error: Option<String>,
    /// For a mart: the streams it reads that failed in this run, so it lacks their new rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<String>,
}

/// The summary of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The format version.
    pub version: u32,
    /// The pipeline name.
    pub pipeline: String,
    /// The run id.
    pub run_id: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Whether every selected stream committed.
    pub success: bool,
    /// The commit sequence number, when something was committed.
    pub commit: Option<u64>,
    /// Streams, in plan order.
    pub streams: Vec<StreamSummary>,
    /// Tables, in plan order.
    pub tables: Vec<TableSummary>,
    /// A failure of the run as a whole (state store, commit), if any.
    pub error: Option<String>,
}
