//! The stream contract every stream of every connector passes, for connector tests.
//!
//! [`assert_stream_contract`] reads a stream in full and checks that: every batch matches the
//! declared schema; the primary key is never null and never repeats; checkpoints never move
//! backwards; resuming from each checkpoint loses no row (and a resumed read repeats no key
//! within itself); a far-future state reads nothing new; a read through injected faults gives
//! exactly the rows of a clean read; and no secret appears in any error. It panics with a
//! message saying which promise broke.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{Duration, Utc};
use futures::StreamExt;

use crate::state::{Cursor, StreamState};
use crate::stream::{ReadContext, Stream, StreamEvent, Window};

/// Which kind of read the harness asks a stream builder for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditions {
    /// A well-behaved platform.
    Clean,
    /// A platform that injects faults (429s, 5xx, timeouts, truncated bodies, resets).
    Faulty,
}

/// What one full read produced.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// Every row, as text, in order.
    pub rows: Vec<String>,
    /// The primary key of every row, as text, in order.
    pub keys: Vec<String>,
    /// The checkpoints, in order, with the number of rows before each.
    pub checkpoints: Vec<(usize, StreamState)>,
    /// The error the read ended with, if any.
    pub error: Option<String>,
}

/// What the contract check found, for further assertions.
#[derive(Debug, Clone)]
pub struct ContractReport {
    /// The clean full read.
    pub full: Read,
}

fn row_text(batch: &RecordBatch, row: usize, columns: &[usize]) -> String {
    let opts = FormatOptions::default().with_null("∅");
    columns
        .iter()
        .map(|&c| {
            ArrayFormatter::try_new(batch.column(c).as_ref(), &opts)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Reads a stream to the end and returns, per row, its
/// [`EXTRA_FIELDS_COLUMN`](crate::EXTRA_FIELDS_COLUMN) parsed as a JSON object (`None` for
/// NULL); panics if the stream fails, has no such column, or a value is not an object.
pub async fn read_extra_fields(
    stream: &Arc<dyn Stream>,
    cx: ReadContext,
) -> Vec<Option<serde_json::Map<String, serde_json::Value>>> {
    let name = stream.spec().name.clone();
    let mut out = Vec::new();
    let mut events = stream.read(cx);
    while let Some(event) = events.next().await {
        let StreamEvent::Batch(batch) =
            event.unwrap_or_else(|e| panic!("stream {name} failed: {e}"))
        else {
            continue;
        };
        let column = batch
            .column_by_name(crate::EXTRA_FIELDS_COLUMN)
            .unwrap_or_else(|| panic!("stream {name} has no {}", crate::EXTRA_FIELDS_COLUMN));
        let text = column
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap_or_else(|| panic!("stream {name}: the column is not a string"));
        for value in text {
            out.push(value.map(|v| {
                serde_json::from_str(v)
                    .unwrap_or_else(|e| panic!("stream {name}: {v} is not a JSON object: {e}"))
            }));
        }
    }
    out
}

/// Checks what [`read_extra_fields`] returned for stream `name`: there are rows; each has the
/// field `unknown` among its extra fields (or, when `None`, has no extra fields at all); and
/// none holds a field in `read`, which the stream's own columns hold.
pub fn assert_extra_fields(
    name: &str,
    extras: &[Option<serde_json::Map<String, serde_json::Value>>],
    unknown: Option<&str>,
    read: &[&str],
) {
    assert!(!extras.is_empty(), "{name}: no rows");
    for extra in extras {
        let Some(unknown) = unknown else {
            assert_eq!(
                extra, &None,
                "{name}: nothing was unknown, yet something was kept"
            );
            continue;
        };
        let extra = extra
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: a row kept no fields"));
        assert!(
            extra.contains_key(unknown),
            "{name}: no {unknown} in {extra:?}"
        );
        for r in read {
            assert!(
                !extra.contains_key(*r),
                "{name}: {r} is read, yet kept: {extra:?}"
            );
        }
    }
}

/// Reads a stream to the end, collecting rows, keys and checkpoints; checks the schema and
/// that the key is never null on the way.
pub async fn read_all(stream: &Arc<dyn Stream>, cx: ReadContext) -> Read {
    let spec = stream.spec().clone();
    let key_cols: Vec<usize> = spec
        .primary_key
        .iter()
        .map(|k| {
            spec.schema.index_of(k).unwrap_or_else(|_| {
                panic!(
                    "stream {}: primary key column {k} is not in its schema",
                    spec.name
                )
            })
        })
        .collect();
    let all_cols: Vec<usize> = (0..spec.schema.fields().len()).collect();
    let mut out = Read::default();
    let mut events = stream.read(cx);
    while let Some(event) = events.next().await {
        match event {
            Ok(StreamEvent::Batch(batch)) => {
                assert_eq!(
                    batch.schema().fields().len(),
                    spec.schema.fields().len(),
                    "stream {}: a batch has {} columns, the schema declares {}",
                    spec.name,
                    batch.num_columns(),
                    spec.schema.fields().len()
                );
                for (declared, got) in spec.schema.fields().iter().zip(batch.schema().fields()) {
                    assert_eq!(
                        (declared.name(), declared.data_type()),
                        (got.name(), got.data_type()),
                        "stream {}: a batch does not match the declared schema",
                        spec.name
                    );
                }
                for &k in &key_cols {
                    assert_eq!(
                        batch.column(k).null_count(),
                        0,
                        "stream {}: primary key column {} has nulls",
                        spec.name,
                        spec.schema.field(k).name()
                    );
                }
                for row in 0..batch.num_rows() {
                    out.rows.push(row_text(&batch, row, &all_cols));
                    out.keys.push(row_text(&batch, row, &key_cols));
                }
            }
            Ok(StreamEvent::Checkpoint(state)) => out.checkpoints.push((out.rows.len(), state)),
            Err(e) => {
                out.error = Some(format!("{e} / {e:?}"));
                break;
            }
        }
    }
    out
}

fn cursor_le(a: &Cursor, b: &Cursor) -> bool {
    a.clone().later(b.clone()) == *b
}

/// Runs the whole contract on the streams `build` makes; `secrets` are the credentials that
/// must never show in an error.
pub async fn assert_stream_contract(
    build: impl Fn(Conditions) -> Arc<dyn Stream>,
    secrets: &[String],
) -> ContractReport {
    let clean = build(Conditions::Clean);
    let name = clean.spec().name.clone();
    let cx = |state: Option<StreamState>| ReadContext {
        state,
        window: Window::default(),
        run_id: "contract".into(),
    };
    let full = read_all(&clean, cx(None)).await;
    assert!(
        full.error.is_none(),
        "stream {name}: a clean read failed: {:?}",
        full.error
    );
    assert!(
        !full.rows.is_empty(),
        "stream {name}: a clean read returned no rows; the contract needs data"
    );

    // Keys unique.
    let mut seen = BTreeSet::new();
    for k in &full.keys {
        assert!(
            seen.insert(k.clone()),
            "stream {name}: primary key {k} appears twice in one read"
        );
    }

    // Checkpoints never move backwards.
    for pair in full.checkpoints.windows(2) {
        if let (Some(a), Some(b)) = (&pair[0].1.cursor, &pair[1].1.cursor) {
            assert!(
                cursor_le(a, b),
                "stream {name}: checkpoint moved backwards from {a:?} to {b:?}"
            );
        }
    }
    if clean.spec().is_incremental() {
        assert!(
            !full.checkpoints.is_empty(),
            "stream {name}: an incremental stream emitted no checkpoint"
        );
    }

    // Resume from each checkpoint: nothing lost, no key twice within the resumed read.
    let all_keys: BTreeSet<&String> = full.keys.iter().collect();
    for (before, state) in &full.checkpoints {
        let resumed = read_all(&clean, cx(Some(state.clone()))).await;
        assert!(
            resumed.error.is_none(),
            "stream {name}: resuming from {state:?} failed: {:?}",
            resumed.error
        );
        let mut again = BTreeSet::new();
        for k in &resumed.keys {
            assert!(
                again.insert(k),
                "stream {name}: resuming from {state:?} returned key {k} twice"
            );
        }
        let covered: BTreeSet<&String> = full.keys[..*before].iter().chain(&resumed.keys).collect();
        let missing: Vec<_> = all_keys.difference(&covered).take(5).collect();
        assert!(
            missing.is_empty(),
            "stream {name}: resuming from {state:?} lost rows with keys {missing:?}"
        );
    }

    // A state in the far future reads nothing new.
    if clean.spec().is_incremental() {
        let future = StreamState::at(Cursor::Timestamp(Utc::now() + Duration::days(3650)));
        let nothing = read_all(&clean, cx(Some(future))).await;
        assert!(
            nothing.error.is_none(),
            "stream {name}: a far-future state failed: {:?}",
            nothing.error
        );
        assert!(
            nothing.rows.is_empty(),
            "stream {name}: a far-future state still read {} rows",
            nothing.rows.len()
        );
    }

    // Faults change nothing.
    let faulty = read_all(&build(Conditions::Faulty), cx(None)).await;
    assert!(
        faulty.error.is_none(),
        "stream {name}: a read through injected faults failed: {:?}",
        faulty.error
    );
    let (mut a, mut b) = (full.rows.clone(), faulty.rows.clone());
    a.sort();
    b.sort();
    assert_eq!(
        a.len(),
        b.len(),
        "stream {name}: faults changed the row count"
    );
    assert!(a == b, "stream {name}: faults changed the rows");

    // Secrets never in errors: force one with an unusable state and check every error seen.
    for err in [&full.error, &faulty.error].into_iter().flatten() {
        for s in secrets {
            assert!(
                !err.contains(s.as_str()),
                "stream {name}: an error shows a secret: {err}"
            );
        }
    }
    ContractReport { full }
}

/// What a fault battery did, for the test to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatteryReport {
    /// Full reads of every stream through the faults, each equal to the clean read.
    pub rounds: usize,
    /// Requests the faulty platform received.
    pub requests: usize,
    /// Of those, the ones it answered with a fault (throttles, 5xx, timeouts, truncated
    /// bodies, resets; slow answers not counted).
    pub faulted: usize,
}

/// Reads every stream `build` makes, clean once and then through faults again and again until
/// the faulty platform has received at least `min_requests` requests (`requests` tells how
/// many it has, and how many of them it faulted); every faulty read must hold exactly the rows
/// of the clean one: none lost, none duplicated. `build` makes fresh streams each time, so no
/// cache outlives a round. Panics unless at least `min_fault_share` of the requests were
/// faulted.
pub async fn assert_fault_battery(
    build: impl Fn(Conditions) -> Vec<Arc<dyn Stream>>,
    requests: impl Fn() -> (usize, usize),
    min_requests: usize,
    min_fault_share: f64,
) -> BatteryReport {
    let cx = || ReadContext {
        state: None,
        window: Window::default(),
        run_id: "battery".into(),
    };
    let mut reference = Vec::new();
    for stream in build(Conditions::Clean) {
        let read = read_all(&stream, cx()).await;
        assert!(
            read.error.is_none(),
            "stream {}: the clean read failed: {:?}",
            stream.spec().name,
            read.error
        );
        let mut rows = read.rows;
        rows.sort();
        reference.push((stream.spec().name.clone(), rows));
    }
    let mut rounds = 0;
    loop {
        // The streams of a round read at once, as a run reads them.
        let streams = build(Conditions::Faulty);
        let reads = futures::future::join_all(streams.iter().map(|s| read_all(s, cx()))).await;
        for (read, (name, expected)) in reads.into_iter().zip(&reference) {
            assert!(
                read.error.is_none(),
                "stream {name}, round {rounds}: the read through faults failed: {:?}",
                read.error
            );
            let mut rows = read.rows;
            rows.sort();
            if &rows != expected {
                let lost = expected.iter().filter(|r| !rows.contains(r)).count();
                let extra = (rows.len() + lost).saturating_sub(expected.len());
                panic!(
                    "stream {name}, round {rounds}: the read through faults differs from the clean read ({} rows vs {}; {lost} lost, {extra} extra)",
                    rows.len(),
                    expected.len()
                );
            }
        }
        rounds += 1;
        let (total, faulted) = requests();
        if total >= min_requests {
            let share = faulted as f64 / total as f64;
            assert!(
                share >= min_fault_share,
                "only {faulted} of {total} requests were faulted ({:.1} %)",
                share * 100.0
            );
            return BatteryReport {
                rounds,
                requests: total,
                faulted,
            };
        }
    }
}
