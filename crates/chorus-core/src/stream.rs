//! Streams: what a source yields and how a run asks for it.
//!
//! A [`Stream`] declares a [`StreamSpec`] (schema, primary key, cursor, sync modes, lookback)
//! and, given a [`ReadContext`], yields [`StreamEvent`]s: record batches interleaved with
//! checkpoints. A checkpoint is the state that becomes true once every batch before it has
//! been committed.

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::stream::BoxStream;

use crate::calendar;
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

/// One end of a backfill window: a calendar day, or an instant.
///
/// A day is read in the calendar of the stream it is handed to (Facebook Pages: US Pacific;
/// an ad account: its own zone; most others: UTC), so `--start 2024-03-01` means the first of
/// March there. An instant is the same instant for every stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A calendar day (`2024-03-01`).
    Day(NaiveDate),
    /// An instant (`2024-03-01T00:00:00Z`).
    Instant(DateTime<Utc>),
}

impl Bound {
    /// The instant this bound stands for in `tz`: a day's first instant there, or the instant.
    pub fn at<Tz: TimeZone>(&self, tz: &Tz) -> DateTime<Utc> {
        match self {
            Self::Day(d) => calendar::midnight(*d, tz),
            Self::Instant(t) => *t,
        }
    }

    /// The first calendar day in `tz` that begins at or after this bound: the day itself, or,
    /// for an instant, the day it falls on when it is that day's midnight and else the next.
    pub fn day<Tz: TimeZone>(&self, tz: &Tz) -> NaiveDate {
        match self {
            Self::Day(d) => *d,
            Self::Instant(t) => {
                let day = calendar::day_in(*t, tz);
                if calendar::midnight(day, tz) < *t {
                    day.succ_opt().unwrap_or(day)
                } else {
                    day
                }
            }
        }
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Day(d) => write!(f, "{d}"),
            Self::Instant(t) => f.write_str(&t.to_rfc3339()),
        }
    }
}

/// A time window handed to a read: start inclusive, end exclusive.
///
/// A daily stream reads the days of its calendar that begin inside the window; a stream of
/// timestamped records reads the records whose time is inside it. Both ask for the zone the
/// stream reports in, so that days given as dates are that stream's days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// The first day or instant to read, if bounded.
    pub start: Option<Bound>,
    /// The first day or instant not to read, if bounded.
    pub end: Option<Bound>,
}

impl Window {
    /// Whether either end is set.
    pub fn is_set(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }

    /// The window's start as an instant, its days read in `tz`.
    pub fn start_at<Tz: TimeZone>(&self, tz: &Tz) -> Option<DateTime<Utc>> {
        self.start.map(|b| b.at(tz))
    }

    /// The window's end as an instant, its days read in `tz`.
    pub fn end_at<Tz: TimeZone>(&self, tz: &Tz) -> Option<DateTime<Utc>> {
        self.end.map(|b| b.at(tz))
    }

    /// The window's start as an instant, its days read in UTC.
    pub fn start_utc(&self) -> Option<DateTime<Utc>> {
        self.start_at(&Utc)
    }

    /// The window's end as an instant, its days read in UTC.
    pub fn end_utc(&self) -> Option<DateTime<Utc>> {
        self.end_at(&Utc)
    }

    /// The first calendar day of `tz` to read.
    pub fn start_day<Tz: TimeZone>(&self, tz: &Tz) -> Option<NaiveDate> {
        self.start.map(|b| b.day(tz))
    }

    /// The first calendar day of `tz` not to read.
    pub fn end_day<Tz: TimeZone>(&self, tz: &Tz) -> Option<NaiveDate> {
        self.end.map(|b| b.day(tz))
    }

    /// Whether `t` falls inside the window, its days read in `tz`.
    pub fn contains_in<Tz: TimeZone>(&self, t: DateTime<Utc>, tz: &Tz) -> bool {
        self.start_at(tz).is_none_or(|s| t >= s) && self.end_at(tz).is_none_or(|e| t < e)
    }

    /// Whether `t` falls inside the window, its days read in UTC.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.contains_in(t, &Utc)
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
    /// Where an incremental read starts, for a stream whose days are UTC days: see
    /// [`ReadContext::start_time_in`].
    pub fn start_time(
        &self,
        lookback: Duration,
        default_start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        self.start_time_in(&Utc, lookback, default_start)
    }

    /// Where an incremental read starts: the window's start (its days read in `tz`) when one
    /// is given, else the saved timestamp cursor minus `lookback`, else `default_start`.
    pub fn start_time_in<Tz: TimeZone>(
        &self,
        tz: &Tz,
        lookback: Duration,
        default_start: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        if let Some(start) = self.window.start_at(tz) {
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
                start: Some(Bound::Instant(t("2023-01-01T00:00:00Z"))),
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

    #[test]
    fn a_day_is_read_in_the_stream_calendar_and_an_instant_is_not() {
        let la: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let w = Window {
            start: Some(Bound::Day(d("2024-03-01"))),
            end: Some(Bound::Day(d("2024-03-15"))),
        };
        assert_eq!(w.start_at(&la), Some(t("2024-03-01T08:00:00Z")));
        // 2024-03-10 is the spring change: the 15th begins at 07:00 UTC.
        assert_eq!(w.end_at(&la), Some(t("2024-03-15T07:00:00Z")));
        assert_eq!(w.start_utc(), Some(t("2024-03-01T00:00:00Z")));
        assert_eq!(w.start_day(&la), Some(d("2024-03-01")));
        assert_eq!(w.end_day(&la), Some(d("2024-03-15")));
        assert!(w.contains_in(t("2024-03-15T06:59:59Z"), &la));
        assert!(!w.contains(t("2024-03-15T06:59:59Z")));

        let i = Window {
            start: Some(Bound::Instant(t("2024-03-01T00:00:00Z"))),
            end: Some(Bound::Instant(t("2024-03-15T08:00:00Z"))),
        };
        assert_eq!(i.start_at(&la), i.start_utc());
        // Pacific days that begin inside the window: the 1st begins at 08:00 UTC, inside.
        assert_eq!(i.start_day(&la), Some(d("2024-03-01")));
        assert_eq!(i.end_day(&la), Some(d("2024-03-16")));
        assert_eq!(i.start_day(&Utc), Some(d("2024-03-01")));
        assert_eq!(i.end_day(&Utc), Some(d("2024-03-16")));
        assert_eq!(Bound::Day(d("2024-03-01")).to_string(), "2024-03-01");
    }
}
