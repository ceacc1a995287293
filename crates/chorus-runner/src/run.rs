//! Running a plan: streams → transforms → sinks through bounded channels, then one commit.
//!
//! Every selected stream reads in its own task (at most `concurrency` at once) and sends its
//! batches, with the metadata columns appended, to every transform and sink that takes it. A
//! failure travels down the same channels, so whatever depends on a failed stream fails too.
//! When everything has finished, the runner decides what can be committed: a table only if
//! every stream behind it succeeded and will advance its cursor, a cursor only if every table
//! it feeds is committed — so a rerun never duplicates what was committed nor skips what was
//! not. Then it writes the commit record, publishes, and marks the record done.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chorus_core::failpoint;
use chorus_core::schema::metadata_fields;
use chorus_core::{
    BatchStream, Error, ErrorKind, ReadContext, Result, Shard, StagedTable, StreamEvent,
    StreamState, TableSpec, Window,
};
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::compile::{MartNode, Origin, Plan};
use crate::contract::{self, BadValuePolicy, Effective};
use crate::lease::Lease;
use crate::state::{CommitLog, CommitRecord, CommittedTable, Head, MartStatus, RECORD_VERSION};
use crate::summary::{RunSummary, SUMMARY_VERSION, Status, StreamSummary, TableSummary};

/// Batches in flight on one edge of the graph.
pub const CHANNEL_BATCHES: usize = 4;

/// What a run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--select` globs over input ids; empty selects everything.
    pub select: Vec<String>,
    /// `--start`/`--end`.
    pub window: Window,
    /// `--full-refresh`: ignore state.
    pub full_refresh: bool,
    /// `--marts-only`: read nothing, rebuild the marts from what is committed (after the
    /// `--shard` workers of a run have all finished).
    pub marts_only: bool,
}

/// Hooks for progress reporting.
pub trait Observer: Send + Sync {
    /// A stream started reading.
    fn stream_started(&self, _id: &str) {}
    /// A stream delivered rows.
    fn rows(&self, _id: &str, _rows: u64) {}
    /// A stream finished, with its error if it failed.
    fn stream_finished(&self, _id: &str, _error: Option<&Error>) {}
}

/// An observer that reports nothing.
pub struct Silent;

impl Observer for Silent {}

/// What a run selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Stream ids to read.
    pub streams: BTreeSet<String>,
    /// Transform ids to run.
    pub transforms: BTreeSet<String>,
    /// (sink index, input id) pairs to write.
    pub tables: Vec<(usize, String)>,
}

/// Resolves `--select` globs: the matching streams and transforms, what depends on them, and
/// whatever those need to be computed.
pub fn select(plan: &Plan, patterns: &[String]) -> std::result::Result<Selection, String> {
    let globs = patterns
        .iter()
        .map(|p| {
            glob::Pattern::new(p).map_err(|e| format!("--select {p:?} is not a valid glob: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut chosen: BTreeSet<String> = plan
        .tables
        .keys()
        .filter(|id| globs.is_empty() || globs.iter().any(|g| g.matches(id)))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "--select {} matches no stream or transform; inputs are: {}",
            patterns.join(" "),
            plan.tables.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    // Descendants: transforms reading anything chosen.
    loop {
        let before = chosen.len();
        for t in &plan.transforms {
            if t.inputs.iter().any(|i| chosen.contains(i)) {
                chosen.insert(t.id.clone());
            }
        }
        if chosen.len() == before {
            break;
        }
    }
    let tables: Vec<(usize, String)> = plan
        .sinks
        .iter()
        .enumerate()
        .flat_map(|(si, s)| {
            s.inputs
                .iter()
                .filter(|i| chosen.contains(*i))
                .map(move |i| (si, i.clone()))
        })
        .collect();
    // Ancestors of what is written.
    let mut sel = Selection {
        tables,
        ..Selection::default()
    };
    let mut todo: Vec<String> = sel.tables.iter().map(|(_, i)| i.clone()).collect();
    while let Some(id) = todo.pop() {
        match plan.tables.get(&id).map(|t| t.origin) {
            Some(Origin::Stream(..)) => {
                sel.streams.insert(id);
            }
            Some(Origin::Transform(ti)) if sel.transforms.insert(id) => {
                todo.extend(plan.transforms[ti].inputs.iter().cloned());
            }
            _ => {}
        }
    }
    Ok(sel)
}

/// A new run id: sortable by time, unique, and ending in the worker's lane under `--shard`.
pub fn new_run_id(shard: Shard) -> String {
    let suffix: u32 = rand::random::<u32>() & 0x00ff_ffff;
    format!(
        "{}-{suffix:06x}{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        chorus_sink::layout::shard_suffix(shard)
    )
}

/// Opens the pipeline's commit log; each `--shard` worker keeps a log (and state) of its own.
pub async fn commit_log(plan: &Plan) -> Result<CommitLog> {
    let store = plan.state_location.store().await?;
    Ok(CommitLog::new(store, plan.state_location.display()).for_shard(plan.shard))
}

/// Finishes a commit a crashed run left pending, then removes staging nobody will publish.
/// Returns the sequence number of the commit it finished, if any.
pub async fn recover(plan: &Plan, log: &CommitLog) -> Result<Option<u64>> {
    let mut finished = None;
    if let Some(Head {
        record,
        done: false,
    }) = log.head().await?
    {
        tracing::warn!(run_id = %record.run_id, seq = record.seq, "Finishing the commit of an interrupted run.");
        publish(plan, &record).await?;
        log.mark_done(record.seq).await?;
        finished = Some(record.seq);
    }
    for s in &plan.sinks {
        s.sink
            .clean_staging()
            .await
            .map_err(|e| e.context(format!("sink \"{}\"", s.id)))?;
    }
    Ok(finished)
}

async fn publish(plan: &Plan, record: &CommitRecord) -> Result<()> {
    let mut by_sink: BTreeMap<&str, Vec<StagedTable>> = BTreeMap::new();
    for t in &record.tables {
        by_sink
            .entry(t.sink.as_str())
            .or_default()
            .push(t.staged.clone());
    }
    for (sink_id, tables) in by_sink {
        let node = plan.sinks.iter().find(|s| s.id == sink_id).ok_or_else(|| {
            Error::config(format!(
                "commit {} of run {} must still publish to sink \"{sink_id}\", which is no longer in the pipeline; restore the sink for one run",
                record.seq, record.run_id
            ))
        })?;
        node.sink
            .publish(&record.run_id, &tables)
            .await
            .map_err(|e| {
                e.context(format!(
                    "failed to publish to sink \"{sink_id}\" at {}",
                    node.sink.location()
                ))
            })?;
    }
    Ok(())
}

type Sender = mpsc::Sender<Result<RecordBatch>>;

fn receiver_stream(rx: mpsc::Receiver<Result<RecordBatch>>) -> BatchStream {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }))
}

async fn broadcast(senders: &mut Vec<Sender>, item: Result<RecordBatch>) {
    match item {
        Ok(batch) => {
            let mut open = Vec::with_capacity(senders.len());
            for tx in senders.drain(..) {
                if tx.send(Ok(batch.clone())).await.is_ok() {
                    open.push(tx);
                }
            }
            *senders = open;
        }
        Err(err) => {
            for tx in senders.iter() {
                let _ = tx.send(Err(Error::new(err.kind(), err.message()))).await;
            }
        }
    }
}

/// Casts the columns of `batch` whose table was committed with another type to that type
/// (see [`contract`]); returns the batch and how many values became NULL under
/// [`BadValuePolicy::Null`]. Under [`BadValuePolicy::Fail`] a value that does not fit fails
/// the stream (exit 65).
fn to_contract(
    batch: RecordBatch,
    id: &str,
    shape: &Effective,
    policy: BadValuePolicy,
) -> Result<(RecordBatch, u64)> {
    if shape.cast.is_empty() {
        return Ok((batch, 0));
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut bad_total = 0;
    for &i in &shape.cast {
        let (Some(col), Some(field)) = (columns.get(i), shape.schema.fields().get(i)) else {
            continue;
        };
        if col.data_type() == field.data_type() {
            continue;
        }
        let (cast, bad, examples) = contract::cast_column(col, field.data_type())
            .map_err(|e| e.context(format!("column \"{}\" of stream \"{id}\"", field.name())))?;
        if bad > 0 {
            let what = format!(
                "column \"{}\" of stream \"{id}\" holds {bad} value(s) that are not {} ({}), the type its table was committed with",
                field.name(),
                chorus_core::schema::type_name(field.data_type()),
                examples
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            match policy {
                BadValuePolicy::Fail => {
                    return Err(Error::contract(format!(
                        "{what}; nothing of this stream is committed. Fix the source, or set on_bad_value = \"null\" in [pipeline] to write NULL instead"
                    )));
                }
                BadValuePolicy::Null => {
                    tracing::warn!("{what}: written as NULL (on_bad_value = \"null\").");
                    bad_total += bad;
                }
            }
        }
        columns[i] = cast;
    }
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::internal(format!("stream \"{id}\": cannot rebuild a batch: {e}")))?;
    Ok((batch, bad_total))
}

/// Checks a batch against the declared schema and appends the metadata columns.
fn stamp(
    batch: RecordBatch,
    id: &str,
    schema: &SchemaRef,
    source: &str,
    run_id: &str,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let declared = schema.fields().len() - 3;
    if batch.num_columns() != declared {
        return Err(Error::contract(format!(
            "stream \"{id}\" sent {} columns, its schema declares {declared}",
            batch.num_columns()
        )));
    }
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        if field.data_type() != col.data_type() {
            return Err(Error::contract(format!(
                "column \"{}\" of stream \"{id}\" is {}, the stream declares {}",
                field.name(),
                chorus_core::schema::type_name(col.data_type()),
                chorus_core::schema::type_name(field.data_type())
            )));
        }
    }
    let now = Utc::now().timestamp_micros();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(source, n),
    )));
    columns.push(Arc::new(
        TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"),
    ));
    columns.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(run_id, n),
    )));
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| {
        Error::contract(format!(
            "stream \"{id}\" sent a batch that does not fit its schema: {e}"
        ))
    })
}

/// What one stream task reports.
struct StreamOutcome {
    id: String,
    rows: u64,
    /// Values that did not fit their column's recorded type and became NULL.
    bad_values: u64,
    batches: u64,
    duration_ms: u64,
    checkpoint: Option<StreamState>,
    error: Option<Error>,
}

enum Done {
    Stream(StreamOutcome),
    Transform(String, Option<Error>),
    Table(usize, String, Result<StagedTable>),
}

fn panic_error(what: &str, panic: Box<dyn std::any::Any + Send>) -> Error {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::internal(format!("{what} panicked: {msg}"))
}

/// What a run did: its summary, and the kinds of every failure (for the exit code).
pub struct RunReport {
    /// The summary.
    pub summary: RunSummary,
    /// The kind of each stream or table failure.
    pub failures: Vec<ErrorKind>,
}

/// Runs the plan once.
pub async fn run(plan: &Plan, opts: &RunOptions, observer: Arc<dyn Observer>) -> Result<RunReport> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let mut sel = if opts.marts_only {
        Selection::default()
    } else {
        select(plan, &opts.select).map_err(Error::config)?
    };
    // Sources another `--shard` worker reads: their streams give this worker no rows.
    for s in plan.sources.iter().filter(|s| !s.owned) {
        for stream in &s.streams {
            sel.streams
                .remove(&format!("{}.{}", s.id, stream.spec().name));
        }
    }
    if plan.shard.is_split() {
        for s in &plan.sinks {
            s.sink.check_shared().map_err(|e| {
                Error::config(format!(
                    "sink \"{}\" cannot take several --shard workers: {e}",
                    s.id
                ))
            })?;
        }
    }
    let log = commit_log(plan).await?;
    let run_id = new_run_id(plan.shard);
    // Before anything else: a second run of this lane must not touch the first one's staging.
    let lease = log.lease(&plan.name, &run_id).await?;
    let result = run_leased(
        plan, opts, observer, sel, &log, &lease, run_id, started_at, clock,
    )
    .await;
    lease.release().await;
    result
}

/// [`run`], once the run holds the lane's lease.
#[allow(clippy::too_many_arguments)]
async fn run_leased(
    plan: &Plan,
    opts: &RunOptions,
    observer: Arc<dyn Observer>,
    sel: Selection,
    log: &CommitLog,
    lease: &Lease,
    run_id: String,
    started_at: DateTime<Utc>,
    clock: Instant,
) -> Result<RunReport> {
    recover(plan, log).await?;
    let head = log.head().await?;
    let state_before = head
        .as_ref()
        .map(|h| h.record.state.clone())
        .unwrap_or_default();
    let contracts_before = head
        .as_ref()
        .map(|h| h.record.contracts.clone())
        .unwrap_or_default();
    // Each stream is written with the column types its table was committed with.
    let effective: BTreeMap<String, Effective> = sel
        .streams
        .iter()
        .filter_map(|id| {
            let declared = &plan.tables.get(id)?.schema;
            let e = contract::effective(declared, contracts_before.get(id).map(Vec::as_slice));
            for &i in &e.cast {
                tracing::warn!(
                    stream = %id,
                    column = %declared.field(i).name(),
                    declared = %chorus_core::schema::type_name(declared.field(i).data_type()),
                    table = %chorus_core::schema::type_name(e.schema.field(i).data_type()),
                    "The stream now declares another type for a column; it is read as the type its table was committed with, so the table's files keep one type."
                );
            }
            Some((id.clone(), e))
        })
        .collect();
    tracing::info!(pipeline = %plan.name, run_id = %run_id, streams = sel.streams.len(), "Run started.");

    // Wire the graph: consumers of every table.
    let mut consumers: HashMap<String, Vec<Sender>> = HashMap::new();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    for (si, input) in &sel.tables {
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        consumers.entry(input.clone()).or_default().push(tx);
        let node = &plan.sinks[*si];
        let info = &plan.tables[input];
        let spec = TableSpec {
            input: input.clone(),
            schema: effective
                .get(input)
                .map_or_else(|| Arc::clone(&info.schema), |e| Arc::clone(&e.schema)),
            primary_key: info.primary_key.clone(),
            cursor_field: info.cursor_field.clone(),
            replace: false,
        };
        let sink = Arc::clone(&node.sink);
        let (si, input, sink_id, run_id) = (*si, input.clone(), node.id.clone(), run_id.clone());
        let location = node.sink.location();
        tasks.spawn(async move {
            let result = AssertUnwindSafe(sink.write(&spec, &run_id, receiver_stream(rx)))
                .catch_unwind()
                .await
                .unwrap_or_else(|p| Err(panic_error(&format!("sink \"{sink_id}\""), p)))
                .map_err(|e| {
                    e.context(format!(
                        "sink \"{sink_id}\" failed to write \"{input}\" under {location}"
                    ))
                });
            Done::Table(si, input, result)
        });
    }
    let mut transform_inputs = Vec::new();
    for t in plan
        .transforms
        .iter()
        .filter(|t| sel.transforms.contains(&t.id))
    {
        let mut inputs = Vec::new();
        for input in &t.inputs {
            let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
            consumers.entry(input.clone()).or_default().push(tx);
            inputs.push((input.clone(), receiver_stream(rx)));
        }
        transform_inputs.push((t, inputs));
    }
    for (t, inputs) in transform_inputs {
        let mut senders = consumers.remove(&t.id).unwrap_or_default();
        let transform = Arc::clone(&t.transform);
        let id = t.id.clone();
        tasks.spawn(async move {
            let result = AssertUnwindSafe(async {
                let mut out = transform.execute(inputs).await?;
                while let Some(item) = out.next().await {
                    let failed = item.is_err();
                    let item = item.map_err(|e| e.context(format!("transform \"{id}\"")));
                    let err = item
                        .as_ref()
                        .err()
                        .map(|e| Error::new(e.kind(), e.message()));
                    broadcast(&mut senders, item).await;
                    if failed {
                        return Err(err.unwrap_or_else(|| Error::internal("lost error")));
                    }
                }
                Ok(())
            })
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(panic_error(&format!("transform \"{id}\""), p)));
            if let Err(e) = &result {
                broadcast(&mut senders, Err(Error::new(e.kind(), e.message()))).await;
            }
            Done::Transform(id, result.err())
        });
    }
    let limit = Arc::new(Semaphore::new(plan.concurrency));
    for s in &plan.sources {
        for stream in &s.streams {
            let id = format!("{}.{}", s.id, stream.spec().name);
            if !sel.streams.contains(&id) {
                continue;
            }
            let senders = consumers.remove(&id).unwrap_or_default();
            let cx = ReadContext {
                state: if opts.full_refresh {
                    None
                } else {
                    state_before.get(&id).cloned()
                },
                window: opts.window,
                run_id: run_id.clone(),
            };
            let stream = Arc::clone(stream);
            let shape = effective.get(&id).cloned().unwrap_or_else(|| Effective {
                schema: Arc::clone(&plan.tables[&id].schema),
                cast: Vec::new(),
            });
            let policy = plan.on_bad_value;
            let (limit, observer, source_id, run_id) = (
                Arc::clone(&limit),
                Arc::clone(&observer),
                s.id.clone(),
                run_id.clone(),
            );
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                observer.stream_started(&id);
                let events = stream.read(cx);
                let read = read_stream(
                    id.clone(),
                    events,
                    senders,
                    shape,
                    policy,
                    source_id,
                    run_id,
                    observer.as_ref(),
                );
                let outcome = AssertUnwindSafe(read)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|p| StreamOutcome {
                        id: id.clone(),
                        rows: 0,
                        bad_values: 0,
                        batches: 0,
                        duration_ms: 0,
                        checkpoint: None,
                        error: Some(panic_error(&format!("stream \"{id}\""), p)),
                    });
                observer.stream_finished(&id, outcome.error.as_ref());
                Done::Stream(outcome)
            });
        }
    }
    drop(consumers);

    let mut streams: BTreeMap<String, StreamOutcome> = BTreeMap::new();
    let mut tables: BTreeMap<(usize, String), Result<StagedTable>> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Done::Stream(o)) => {
                streams.insert(o.id.clone(), o);
            }
            Ok(Done::Transform(id, err)) => {
                // A transform's failure also reaches every sink it feeds, which reports it.
                if let Some(e) = err {
                    tracing::error!(transform = %id, error = %e.redacted(&plan.secrets), "Transform failed.");
                }
            }
            Ok(Done::Table(si, input, r)) => {
                tables.insert((si, input), r);
            }
            Err(e) => return Err(Error::internal(format!("a run task was lost: {e}"))),
        }
    }

    // Decide what commits.
    // The streams behind each written table, walked once.
    let upstream_of: BTreeMap<&str, BTreeSet<String>> = tables
        .keys()
        .map(|(_, input)| (input.as_str(), upstream_streams(plan, input)))
        .collect();
    let none = BTreeSet::new();
    let upstream = |input: &str| upstream_of.get(input).unwrap_or(&none);
    let mut advancing: BTreeSet<String> = streams
        .values()
        .filter(|o| o.error.is_none())
        .map(|o| o.id.clone())
        .collect();
    let mut committed: BTreeSet<(usize, String)> = tables
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(k, _)| k.clone())
        .collect();
    loop {
        let before = (advancing.len(), committed.len());
        committed.retain(|(_, input)| upstream(input).iter().all(|s| advancing.contains(s)));
        advancing.retain(|s| {
            tables
                .keys()
                .filter(|(_, input)| upstream(input).contains(s))
                .all(|k| committed.contains(k))
        });
        if (advancing.len(), committed.len()) == before {
            break;
        }
    }

    let mut state_after = state_before.clone();
    for id in &advancing {
        if let Some(cp) = streams.get(id).and_then(|o| o.checkpoint.clone()) {
            let new = match (opts.full_refresh, state_before.get(id)) {
                (false, Some(old)) => old.clone().advance(cp),
                _ => cp,
            };
            state_after.insert(id.clone(), new);
        }
    }
    // The contract of every stream that wrote rows now holds the types they were written with.
    let mut contracts_after = contracts_before.clone();
    for id in &advancing {
        if let (Some(e), Some(o)) = (effective.get(id), streams.get(id))
            && o.rows > 0
        {
            let recorded = contract::record(
                &e.schema,
                metadata_fields().len(),
                contracts_before.get(id).map(Vec::as_slice),
            );
            contracts_after.insert(id.clone(), recorded);
        }
    }
    let committed_tables: Vec<CommittedTable> = committed
        .iter()
        .filter_map(|k| match tables.get(k) {
            // A table the run added nothing to has nothing to publish.
            Some(Ok(staged)) if staged.files > 0 => Some(CommittedTable {
                sink: plan.sinks[k.0].id.clone(),
                staged: staged.clone(),
            }),
            _ => None,
        })
        .collect();

    let mut commit = None;
    let mut run_error = None;
    if !committed_tables.is_empty() || state_after != state_before {
        let record = CommitRecord {
            version: RECORD_VERSION,
            seq: head.as_ref().map_or(1, |h| h.record.seq + 1),
            run_id: run_id.clone(),
            pipeline: plan.name.clone(),
            created_at: Utc::now(),
            tables: committed_tables,
            state: state_after.clone(),
            contracts: contracts_after.clone(),
        };
        match commit_record(plan, log, lease, &record).await {
            Ok(()) => commit = Some(record.seq),
            Err(e) => run_error = Some(e),
        }
    }
    // After a failed commit the staged files may still be named by a pending record, which
    // the next run finishes: leave them.
    if run_error.is_none() {
        for s in &plan.sinks {
            if let Err(e) = s.sink.clean_staging().await {
                tracing::warn!(sink = %s.id, error = %e, "Could not clean staging.");
            }
        }
    }
    if commit.is_some()
        && let Err(e) = log.prune().await
    {
        tracing::warn!(error = %e, "Could not prune old commit records.");
    }

    // The marts that read a stream which failed: rebuilt all the same, but marked incomplete.
    let incomplete = incomplete_marts(plan, &streams);

    // Marts: recomputed from the committed tables and replaced whole, in a commit of their
    // own, so they always cover every committed row, not just this run's.
    let mut mart_results: Vec<(usize, String, Result<StagedTable>)> = Vec::new();
    let mut mart_commit = None;
    let mut mart_error = None;
    let mut marts_committed: BTreeSet<String> = BTreeSet::new();
    if plan.shard.is_split() && !plan.marts.is_empty() {
        tracing::info!(
            shard = %plan.shard,
            "Marts skipped: they read every worker's rows; run `chorus run --marts-only` once all shards have finished."
        );
    }
    if run_error.is_none() && !plan.marts.is_empty() && !plan.shard.is_split() {
        let mart_run = format!("{run_id}-marts");
        let mut seq = commit.or(head.as_ref().map(|h| h.record.seq)).unwrap_or(0);
        // One commit per mart, in file order, so a mart can read the marts before it.
        for m in &plan.marts {
            let result = run_mart(plan, m, &mart_run).await;
            if let Err(e) = &result {
                tracing::error!(mart = %m.id, error = %e.clone().redacted(&plan.secrets), "Mart failed.");
            }
            if let Ok(staged) = &result {
                seq += 1;
                let record = CommitRecord {
                    version: RECORD_VERSION,
                    seq,
                    run_id: mart_run.clone(),
                    pipeline: plan.name.clone(),
                    created_at: Utc::now(),
                    tables: vec![CommittedTable {
                        sink: plan.sinks[m.sink].id.clone(),
                        staged: staged.clone(),
                    }],
                    state: state_after.clone(),
                    contracts: contracts_after.clone(),
                };
                match commit_record(plan, log, lease, &record).await {
                    Ok(()) => {
                        mart_commit = Some(seq);
                        marts_committed.insert(m.id.clone());
                    }
                    Err(e) => {
                        mart_error = Some(e);
                        mart_results.push((m.sink, m.id.clone(), result));
                        break;
                    }
                }
            }
            mart_results.push((m.sink, m.id.clone(), result));
        }
        if mart_error.is_none() {
            for s in &plan.sinks {
                if let Err(e) = s.sink.clean_staging().await {
                    tracing::warn!(sink = %s.id, error = %e, "Could not clean staging.");
                }
            }
        }
        let status = MartStatus {
            version: RECORD_VERSION,
            run_id: run_id.clone(),
            created_at: Utc::now(),
            incomplete: incomplete.clone(),
        };
        for (mart, missing) in &status.incomplete {
            tracing::warn!(mart = %mart, streams = %missing.join(", "), "Mart rebuilt without this run's rows of streams that failed; it is marked incomplete.");
        }
        if let Err(e) = log.write_mart_status(&status).await {
            tracing::warn!(error = %e, "Could not record which marts are incomplete.");
        }
    }

    // Summarise.
    let committed_ok = commit.is_some() && run_error.is_none();
    let mut failures = Vec::new();
    let mut stream_summaries = Vec::new();
    for s in &plan.sources {
        for stream in &s.streams {
            let id = format!("{}.{}", s.id, stream.spec().name);
            let Some(o) = streams.get(&id) else { continue };
            let error = o.error.as_ref().or_else(|| {
                // A stream that read fine but was held back: blame what it feeds.
                tables
                    .iter()
                    .filter(|((_, input), _)| upstream(input).contains(&id))
                    .find_map(|(_, r)| r.as_ref().err())
            });
            let status = if o.error.is_some() {
                Status::Failed
            } else if advancing.contains(&id)
                && (committed_ok || commit.is_none())
                && run_error.is_none()
            {
                Status::Committed
            } else {
                Status::Skipped
            };
            if let Some(e) = &o.error {
                failures.push(e.kind());
            }
            stream_summaries.push(StreamSummary {
                id: id.clone(),
                status,
                rows: o.rows,
                bad_values: o.bad_values,
                batches: o.batches,
                pages: 0,
                retries: 0,
                duration_ms: o.duration_ms,
                state_before: state_before.get(&id).cloned(),
                state_after: if status == Status::Committed {
                    state_after.get(&id).cloned()
                } else {
                    state_before.get(&id).cloned()
                },
                error: error.map(|e| e.clone().redacted(&plan.secrets).to_string()),
                error_kind: error.map(|e| format!("{:?}", e.kind()).to_lowercase()),
            });
        }
    }
    let mut table_summaries = Vec::new();
    for ((si, input), result) in &tables {
        let node = &plan.sinks[*si];
        let is_committed = committed.contains(&(*si, input.clone())) && committed_ok;
        let (rows, files, bytes, table) = match result {
            Ok(s) => (s.rows, s.files, s.bytes, s.table.clone()),
            Err(_) => (0, 0, 0, node.sink.table_name(input)),
        };
        if let Err(e) = result
            && !upstream(input)
                .iter()
                .any(|s| streams.get(s).is_some_and(|o| o.error.is_some()))
        {
            failures.push(e.kind());
        }
        table_summaries.push(TableSummary {
            sink: node.id.clone(),
            input: input.clone(),
            table,
            location: node.sink.location(),
            status: if is_committed {
                Status::Committed
            } else if result.is_err() {
                Status::Failed
            } else {
                Status::Skipped
            },
            rows: if is_committed { rows } else { 0 },
            files: if is_committed { files } else { 0 },
            bytes: if is_committed { bytes } else { 0 },
            error: result
                .as_ref()
                .err()
                .map(|e| e.clone().redacted(&plan.secrets).to_string()),
            incomplete: Vec::new(),
        });
    }
    for (si, id, result) in &mart_results {
        let node = &plan.sinks[*si];
        let is_committed = marts_committed.contains(id);
        if let Err(e) = result {
            failures.push(e.kind());
        }
        let (rows, files, bytes) = match result {
            Ok(s) if is_committed => (s.rows, s.files, s.bytes),
            _ => (0, 0, 0),
        };
        table_summaries.push(TableSummary {
            sink: node.id.clone(),
            input: id.clone(),
            table: node.sink.table_name(id),
            location: node.sink.location(),
            status: if is_committed {
                Status::Committed
            } else if result.is_err() {
                Status::Failed
            } else {
                Status::Skipped
            },
            rows,
            files,
            bytes,
            error: result
                .as_ref()
                .err()
                .or(mart_error.as_ref())
                .map(|e| e.clone().redacted(&plan.secrets).to_string()),
            incomplete: incomplete.get(id).cloned().unwrap_or_default(),
        });
    }
    if let Some(e) = &mart_error {
        failures.push(e.kind());
    }
    if let Some(e) = &run_error {
        failures.push(e.kind());
    }
    let success = failures.is_empty()
        && stream_summaries
            .iter()
            .all(|s| s.status == Status::Committed)
        && run_error.is_none();
    let summary = RunSummary {
        version: SUMMARY_VERSION,
        pipeline: plan.name.clone(),
        run_id: run_id.clone(),
        started_at,
        finished_at: Utc::now(),
        duration_ms: clock.elapsed().as_millis() as u64,
        success,
        commit: if committed_ok {
            mart_commit.or(commit)
        } else {
            None
        },
        streams: stream_summaries,
        tables: table_summaries,
        error: run_error
            .as_ref()
            .map(|e| e.clone().redacted(&plan.secrets).to_string()),
    };
    tracing::info!(
        pipeline = %plan.name,
        run_id = %run_id,
        success,
        commit = summary.commit.unwrap_or(0),
        "Run finished."
    );
    Ok(RunReport { summary, failures })
}

/// Recomputes one mart from its sink's committed tables and stages it to replace its table.
async fn run_mart(plan: &Plan, mart: &MartNode, run_id: &str) -> Result<StagedTable> {
    let node = &plan.sinks[mart.sink];
    let mut inputs = Vec::new();
    for input in &mart.inputs {
        // An input is a table the sink writes, or a mart before this one.
        let spec = match plan.tables.get(input) {
            Some(info) => TableSpec {
                input: input.clone(),
                schema: Arc::clone(&info.schema),
                primary_key: info.primary_key.clone(),
                cursor_field: info.cursor_field.clone(),
                replace: false,
            },
            None => {
                let earlier =
                    plan.marts.iter().find(|m| m.id == *input).ok_or_else(|| {
                        Error::internal(format!("mart input \"{input}\" is unknown"))
                    })?;
                TableSpec {
                    input: input.clone(),
                    schema: earlier.transform.schema(),
                    primary_key: earlier.transform.primary_key(),
                    cursor_field: None,
                    replace: false,
                }
            }
        };
        let rows = node.sink.read_table(&spec).await?.ok_or_else(|| {
            Error::config(format!(
                "sink \"{}\" cannot read its tables back, so mart \"{}\" cannot run; marts need a parquet sink",
                node.id, mart.id
            ))
        })?;
        inputs.push((input.clone(), rows));
    }
    let out = mart
        .transform
        .execute(inputs)
        .await
        .map_err(|e| e.context(format!("mart \"{}\"", mart.id)))?;
    let spec = TableSpec {
        input: mart.id.clone(),
        schema: mart.transform.schema(),
        primary_key: mart.transform.primary_key(),
        cursor_field: None,
        replace: true,
    };
    node.sink
        .write(&spec, run_id, out)
        .await
        .map_err(|e| e.context(format!("mart \"{}\"", mart.id)))
}

async fn commit_record(
    plan: &Plan,
    log: &CommitLog,
    lease: &Lease,
    record: &CommitRecord,
) -> Result<()> {
    failpoint::hit("commit.before_record");
    lease.check().await?;
    log.write(record).await?;
    failpoint::hit("commit.after_record");
    publish(plan, record).await?;
    failpoint::hit("commit.before_done");
    log.mark_done(record.seq).await?;
    failpoint::hit("commit.after_done");
    Ok(())
}

/// The marts that read a stream which failed in this run, each with those streams.
fn incomplete_marts(
    plan: &Plan,
    streams: &BTreeMap<String, StreamOutcome>,
) -> BTreeMap<String, Vec<String>> {
    plan.marts
        .iter()
        .filter_map(|m| {
            let failed: Vec<String> = upstream_streams(plan, &m.id)
                .into_iter()
                .filter(|s| streams.get(s).is_some_and(|o| o.error.is_some()))
                .collect();
            (!failed.is_empty()).then(|| (m.id.clone(), failed))
        })
        .collect()
}

/// The source streams a table (or a mart) is computed from.
pub fn upstream_streams(plan: &Plan, input: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![input.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        match plan.tables.get(&id).map(|t| t.origin) {
            Some(Origin::Stream(..)) => {
                out.insert(id);
            }
            Some(Origin::Transform(ti)) => todo.extend(plan.transforms[ti].inputs.iter().cloned()),
            None => {
                if let Some(m) = plan.marts.iter().find(|m| m.id == id) {
                    todo.extend(m.inputs.iter().cloned());
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn read_stream(
    id: String,
    mut events: chorus_core::EventStream,
    mut senders: Vec<Sender>,
    shape: Effective,
    policy: BadValuePolicy,
    source_id: String,
    run_id: String,
    observer: &dyn Observer,
) -> StreamOutcome {
    let clock = Instant::now();
    let mut outcome = StreamOutcome {
        id: id.clone(),
        rows: 0,
        bad_values: 0,
        batches: 0,
        duration_ms: 0,
        checkpoint: None,
        error: None,
    };
    while let Some(event) = events.next().await {
        let result = event.and_then(|e| match e {
            StreamEvent::Batch(b) => {
                let (b, bad) = to_contract(b, &id, &shape, policy)?;
                outcome.bad_values += bad;
                stamp(b, &id, &shape.schema, &source_id, &run_id).map(Some)
            }
            StreamEvent::Checkpoint(state) => {
                outcome.checkpoint = Some(state);
                Ok(None)
            }
        });
        match result {
            Ok(Some(batch)) => {
                outcome.rows += batch.num_rows() as u64;
                outcome.batches += 1;
                observer.rows(&id, batch.num_rows() as u64);
                broadcast(&mut senders, Ok(batch)).await;
                failpoint::hit("source.after_batch");
            }
            Ok(None) => {}
            Err(e) => {
                let e = e.context(format!("failed to read stream \"{id}\""));
                tracing::error!(stream = %id, error = %e, "Stream failed.");
                broadcast(&mut senders, Err(Error::new(e.kind(), e.message()))).await;
                outcome.error = Some(e);
                break;
            }
        }
    }
    outcome.duration_ms = clock.elapsed().as_millis() as u64;
    outcome
}
