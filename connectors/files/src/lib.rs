//! The `files` connector: CSV, NDJSON and Parquet files on the local disk as streams — CRM
//! exports, cost sheets, competitor lists.
//!
//! Each `[[sources.<id>.files]]` entry is one stream. Its schema is inferred from the files
//! (normalised to chorus's conventions, see [`infer`]) or declared with `schema`. Reads are
//! incremental on a `cursor` column when one is given, else on file modification time. Files
//! are read on blocking threads and handed over in batches through a bounded channel, so memory
//! does not grow with the size of a file.

pub mod config;
pub mod infer;
pub mod read;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{AsArray, BooleanArray, Scalar, TimestampMicrosecondArray};
use arrow::compute::kernels::cmp::{gt, gt_eq, lt};
use arrow::compute::{and, cast, filter_record_batch};
use arrow::datatypes::{DataType, SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::schema::{is_identifier, timestamp_type};
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Cursor, Error, EventStream, ReadContext, Result, Source, Stream, StreamEvent, StreamSpec,
    StreamState, SyncMode,
};
use chrono::{DateTime, Utc};

use crate::config::{FileStreamConfig, FilesConfig};

/// How many files schema inference looks at per stream.
const INFER_FILES: usize = 20;

/// Registers the `files` connector.
pub fn register(registry: &mut chorus_core::Registry) -> Result<(), chorus_core::RegistryError> {
    registry.add_connector(FilesConnector)
}

/// The registered `files` connector.
pub struct FilesConnector;

const TEMPLATE: &str = r#"[sources.{id}]
type = "files"

[[sources.{id}.files]]
stream = "contacts"              # the stream is {id}.contacts
paths = ["data/*.csv"]           # globs, relative to this file
format = "csv"                   # csv | ndjson | parquet
primary_key = ["id"]
# cursor = "updated_at"          # incremental on this column; else on file modification time
# schema = { amount = "float64" } # string | int64 | float64 | bool | date | timestamp
"#;

impl Connector for FilesConnector {
    fn keeps_unknown_fields(&self) -> std::result::Result<(), &'static str> {
        Err("a files source already keeps every column it finds: its schema is read from the files")
    }

    fn doc(&self) -> ConnectorDoc {
        let key = ConfigKeyDoc::plain;
        ConnectorDoc {
            name: "files",
            summary: "Reads local CSV, NDJSON and Parquet files (CRM exports, cost sheets, competitor lists) as streams.",
            keys: vec![
                key(
                    "files",
                    "array of tables",
                    true,
                    "One entry per stream: [[sources.<id>.files]].",
                ),
                key(
                    "files.stream",
                    "string",
                    true,
                    "The stream name; the stream is <id>.<stream>.",
                ),
                key(
                    "files.paths",
                    "list of strings",
                    true,
                    "Glob patterns, relative to the pipeline file.",
                ),
                key("files.format", "string", true, "csv, ndjson or parquet."),
                key(
                    "files.primary_key",
                    "list of strings",
                    false,
                    "The columns that identify a row.",
                ),
                key(
                    "files.cursor",
                    "string",
                    false,
                    "A date or timestamp column to read incrementally on; without it, files are read incrementally by modification time.",
                ),
                key(
                    "files.schema",
                    "table",
                    false,
                    "Column types (string, int64, float64, bool, date, timestamp) that override inference.",
                ),
                key(
                    "files.delimiter",
                    "string",
                    false,
                    "The CSV field delimiter (default \",\").",
                ),
                key(
                    "files.lookback_days",
                    "integer",
                    false,
                    "Days before the saved cursor that an incremental read starts again (default 0).",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn build(
        &self,
        config: &ConfigTable,
        _cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let settings: FilesConfig = config.deserialize()?;
        let mut streams: Vec<Arc<FileStream>> = Vec::new();
        for (i, entry) in settings.files.into_iter().enumerate() {
            let idx = i.to_string();
            let at = |key: &str| Some(config.span_at(&["files", &idx, key]));
            if !is_identifier(&entry.stream) {
                return Err(ConfigError::new(
                    format!("stream name \"{}\" is not valid", entry.stream),
                    at("stream"),
                )
                .with_help("stream names use [a-z0-9_]+"));
            }
            if streams.iter().any(|s| s.spec.name == entry.stream) {
                return Err(ConfigError::new(
                    format!("stream \"{}\" is defined twice", entry.stream),
                    at("stream"),
                ));
            }
            let patterns: Vec<String> = entry
                .paths
                .iter()
                .map(|p| config.resolve_path(p).to_string_lossy().into_owned())
                .collect();
            let files = list_files(&patterns).map_err(|e| ConfigError::new(e, at("paths")))?;
            if files.is_empty() && entry.schema.is_none() {
                return Err(ConfigError::new(
                    format!("no file matches {}", entry.paths.join(", ")),
                    at("paths"),
                )
                .with_help(format!(
                    "patterns are relative to the pipeline file's folder ({}); or declare `schema` so the stream can be planned before files arrive",
                    config.base_dir().display()
                )));
            }
            let raw = files
                .iter()
                .take(INFER_FILES)
                .map(|(p, _)| infer::infer_file(p, &entry))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::new(e, at("paths")))?;
            let schema = infer::stream_schema(&raw, &entry)
                .map_err(|e| ConfigError::new(e, at("schema")))?;
            for key in &entry.primary_key {
                if schema.field_with_name(key).is_err() {
                    return Err(missing_column(key, &schema, at("primary_key")));
                }
            }
            if let Some(cursor) = &entry.cursor {
                match schema.field_with_name(cursor) {
                    Ok(f)
                        if matches!(f.data_type(), DataType::Timestamp(..) | DataType::Date32) => {}
                    Ok(f) => {
                        return Err(ConfigError::new(
                            format!(
                                "cursor \"{cursor}\" is {}, not a date or timestamp",
                                chorus_core::schema::type_name(f.data_type())
                            ),
                            at("cursor"),
                        )
                        .with_help(format!("declare it with schema = {{ {cursor} = \"timestamp\" }} if it holds times")));
                    }
                    Err(_) => return Err(missing_column(cursor, &schema, at("cursor"))),
                }
            }
            let spec = StreamSpec {
                name: entry.stream.clone(),
                schema,
                primary_key: entry.primary_key.clone(),
                cursor_field: entry.cursor.clone(),
                sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
                lookback: Duration::from_secs(u64::from(entry.lookback_days) * 86_400),
            };
            streams.push(Arc::new(FileStream {
                spec,
                cfg: Arc::new(entry),
                patterns,
            }));
        }
        Ok(Box::new(FilesSource { streams }))
    }
}

fn missing_column(
    name: &str,
    schema: &SchemaRef,
    span: Option<std::ops::Range<usize>>,
) -> ConfigError {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    ConfigError::new(format!("the files have no column \"{name}\""), span)
        .with_help(format!("their columns are: {}", names.join(", ")))
}

/// Every file matching the patterns, with its modification time, oldest first.
fn list_files(patterns: &[String]) -> Result<Vec<(PathBuf, SystemTime)>, String> {
    let mut out = Vec::new();
    for pattern in patterns {
        let paths = glob::glob(pattern).map_err(|e| format!("bad pattern {pattern:?}: {e}"))?;
        for path in paths {
            let path = path.map_err(|e| e.to_string())?;
            let meta = std::fs::metadata(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if meta.is_file() {
                out.push((path, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
    }
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

struct FilesSource {
    streams: Vec<Arc<FileStream>>,
}

#[async_trait]
impl Source for FilesSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams
            .iter()
            .map(|s| Arc::clone(s) as Arc<dyn Stream>)
            .collect()
    }

    async fn check(&self) -> Result<CheckReport> {
        let mut parts = Vec::new();
        for s in &self.streams {
            let files = list_files(&s.patterns).map_err(Error::config)?;
            parts.push(format!("{}: {} files", s.spec.name, files.len()));
        }
        Ok(CheckReport {
            detail: parts.join(", "),
        })
    }
}

struct FileStream {
    spec: StreamSpec,
    cfg: Arc<FileStreamConfig>,
    patterns: Vec<String>,
}

/// The lower bound of an incremental read.
#[derive(Debug, Clone, Copy)]
enum Lower {
    None,
    Inclusive(i64),
    Exclusive(i64),
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn lower_bound(cx: &ReadContext, lookback: Duration) -> Lower {
    if let Some(start) = cx.window.start_utc() {
        return Lower::Inclusive(micros(start));
    }
    match cx.state.as_ref().and_then(|s| s.cursor.as_ref()) {
        Some(Cursor::Timestamp(t)) if lookback.is_zero() => Lower::Exclusive(micros(*t)),
        Some(Cursor::Timestamp(t)) => Lower::Inclusive(micros(
            *t - chrono::Duration::from_std(lookback).unwrap_or_default(),
        )),
        _ => Lower::None,
    }
}

fn passes(lower: Lower, upper: Option<i64>, t: i64) -> bool {
    let above = match lower {
        Lower::None => true,
        Lower::Inclusive(l) => t >= l,
        Lower::Exclusive(l) => t > l,
    };
    above && upper.is_none_or(|u| t < u)
}

/// Keeps the rows whose cursor falls inside the bounds; returns them and their greatest cursor.
fn filter_by_cursor(
    batch: &RecordBatch,
    col: usize,
    lower: Lower,
    upper: Option<i64>,
) -> Result<(RecordBatch, Option<i64>), String> {
    let ts = cast(batch.column(col), &timestamp_type()).map_err(|e| e.to_string())?;
    let ts = ts.as_primitive::<TimestampMicrosecondType>().clone();
    let scalar =
        |v: i64| Scalar::new(TimestampMicrosecondArray::from(vec![v]).with_timezone("UTC"));
    let mut mask: Option<BooleanArray> = match lower {
        Lower::None => None,
        Lower::Inclusive(l) => Some(gt_eq(&ts, &scalar(l)).map_err(|e| e.to_string())?),
        Lower::Exclusive(l) => Some(gt(&ts, &scalar(l)).map_err(|e| e.to_string())?),
    };
    if let Some(u) = upper {
        let below = lt(&ts, &scalar(u)).map_err(|e| e.to_string())?;
        mask = Some(match mask {
            Some(m) => and(&m, &below).map_err(|e| e.to_string())?,
            None => below,
        });
    }
    let kept = match mask {
        Some(m) => filter_record_batch(batch, &m).map_err(|e| e.to_string())?,
        None => batch.clone(),
    };
    let kept_ts = cast(kept.column(col), &timestamp_type()).map_err(|e| e.to_string())?;
    let max = arrow::compute::max(kept_ts.as_primitive::<TimestampMicrosecondType>());
    Ok((kept, max))
}

fn timestamp(micros: i64) -> Cursor {
    Cursor::Timestamp(DateTime::from_timestamp_micros(micros).unwrap_or_default())
}

impl Stream for FileStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<StreamEvent>>(2);
        let cfg = Arc::clone(&self.cfg);
        let schema = Arc::clone(&self.spec.schema);
        let patterns = self.patterns.clone();
        let lookback = self.spec.lookback;
        let cursor_col = cfg.cursor.as_ref().and_then(|c| schema.index_of(c).ok());
        let name = self.spec.name.clone();
        tokio::task::spawn_blocking(move || {
            let result = produce(&cx, &cfg, &schema, &patterns, lookback, cursor_col, &tx);
            if let Err(msg) = result {
                let _ = tx.blocking_send(Err(
                    Error::contract(msg).context(format!("stream \"{name}\""))
                ));
            }
        });
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        }))
    }
}

fn produce(
    cx: &ReadContext,
    cfg: &FileStreamConfig,
    schema: &SchemaRef,
    patterns: &[String],
    lookback: Duration,
    cursor_col: Option<usize>,
    tx: &tokio::sync::mpsc::Sender<Result<StreamEvent>>,
) -> Result<(), String> {
    let lower = lower_bound(cx, lookback);
    let upper = cx.window.end_utc().map(micros);
    let send = |event: StreamEvent| tx.blocking_send(Ok(event)).is_ok();
    let mut max_cursor: Option<i64> = None;
    for (path, modified) in list_files(patterns)? {
        let mtime = micros(DateTime::<Utc>::from(modified));
        if cursor_col.is_none() && !passes(lower, upper, mtime) {
            continue;
        }
        let mut open = true;
        read::read_file(&path, cfg, schema, |batch| {
            let batch = match cursor_col {
                Some(col) => {
                    let (kept, max) = filter_by_cursor(&batch, col, lower, upper)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    max_cursor = max_cursor.max(max);
                    kept
                }
                None => batch,
            };
            if batch.num_rows() > 0 {
                open = send(StreamEvent::Batch(batch));
            }
            Ok(open)
        })?;
        if !open {
            return Ok(());
        }
        if cursor_col.is_none() && !send(StreamEvent::Checkpoint(StreamState::at(timestamp(mtime))))
        {
            return Ok(());
        }
    }
    if cursor_col.is_some()
        && let Some(max) = max_cursor
    {
        send(StreamEvent::Checkpoint(StreamState::at(timestamp(max))));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
