//! Streams: what a source yields and how a run asks for it.
//!
//! A [`Stream`] declares a [`StreamSpec`] (schema, primary key, cursor, sync modes, lookback)
//! and, given a [`ReadContext`], yields [`StreamEvent`]s: record batches interleaved with
//! checkpoints. A checkpoint is the state that becomes true once every batch before it has
//! been committed.

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::error::Result;
use crate::state::StreamState;

/// How a stream can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every run reads everything.
    FullRefresh,
    /// A run reads from the saved cursor minus the lookback.
    Incremental,
}

/// What a stream declares about itself.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// The stream's name within its source (`posts`); the run knows it as `source.posts`.
    pub name: String,
    /// The Arrow schema of its batches, without the runner's metadata columns.
    pub schema: SchemaRef,
    /// The columns that identify a row; may be empty for append-only logs.
    pub primary_key: Vec<String>,
    /// The column the incremental cursor follows, if any.
    pub cursor_field: Option<String>,
    /// The sync modes the stream supports.
    pub sync_modes: Vec<SyncMode>,
    /// How far before the saved cursor an incremental read starts again, for numbers that
    /// keep changing after the fact.
    pub lookback: Duration,
}

impl StreamSpec {
    /// Whether the stream can read incrementally.
    pub fn is_incremental(&self) -> bool {
        self.sync_modes.contains(&SyncMode::Incremental)
    }
}

/// A time window handed to a read: start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// The first instant to read, if bounded.
    pub start: Option<DateTime<Utc>>,
    /// The first instant not to read, if bounded.
    pub end: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

/// What a run asks of one stream.
#[derive(Debug, Clone)]
pub struct ReadContext {
    /// The committed state, unless `--full-refresh` or a backfill window is in force.
    pub state: Option<StreamState>,
    /// The window given with `--start`/`--end`; when set it overrides the state.
    pub window: Window,
    /// The id of this run.
    pub run_id: String,
}

impl ReadContext {
    /// Where an incremental read starts: the window's start when one is given, else the saved
    /// timestamp cursor minus `lookback`, else `default_start`.
    pub fn start_time(
        &self,
        lookback: Duration,
        default_start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        if let Some(start) = self.window.start {
            return Some(start);
        }
        let from_state = self.state.as_ref().and_then(|s| match &s.cursor {
            Some(crate::state::Cursor::Timestamp(t)) => {
                let lookback = chrono::Duration::from_std(lookback).unwrap_or_default();
                Some(*t - lookback)
            }
            _ => None,
        });
        match (from_state, default_start) {
            (Some(s), Some(d)) => Some(s.max(d)),
            (s, d) => s.or(d),
        }
    }
}

/// One item of a stream's output.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// Rows matching the stream's schema.
    Batch(RecordBatch),
    /// The state that holds once the batches before it are committed.
    Checkpoint(StreamState),
}

/// A stream of stream events.
pub type EventStream = BoxStream<'static, Result<StreamEvent>>;

/// A stream of record batches, between the runner, transforms and sinks.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// One stream of a source.
pub trait Stream: Send + Sync {
    /// What the stream declares about itself.
    fn spec(&self) -> &StreamSpec;

    /// Reads the stream: batches interleaved with checkpoints, ending after the last one.
    fn read(&self, cx: ReadContext) -> EventStream;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Cursor, StreamState};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn start_time_subtracts_lookback_but_not_below_the_start_date() {
        let cx = ReadContext {
            state: Some(StreamState::at(Cursor::Timestamp(t(
                "2024-03-10T00:00:00Z",
            )))),
            window: Window::default(),
            run_id: "r".into(),
        };
        let day = Duration::from_secs(86_400);
        assert_eq!(
            cx.start_time(day * 3, Some(t("2024-01-01T00:00:00Z"))),
            Some(t("2024-03-07T00:00:00Z"))
        );
        assert_eq!(
            cx.start_time(day * 3, Some(t("2024-03-09T00:00:00Z"))),
            Some(t("2024-03-09T00:00:00Z"))
        );
    }

    #[test]
    fn a_window_overrides_the_state() {
        let cx = ReadContext {
            state: Some(StreamState::at(Cursor::Timestamp(t(
                "2024-03-10T00:00:00Z",
            )))),
            window: Window {
                start: Some(t("2023-01-01T00:00:00Z")),
                end: None,
            },
            run_id: "r".into(),
        };
        assert_eq!(
            cx.start_time(Duration::ZERO, None),
            Some(t("2023-01-01T00:00:00Z"))
        );
        assert!(cx.window.contains(t("2024-01-01T00:00:00Z")));
    }
}
