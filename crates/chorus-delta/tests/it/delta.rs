//! The `delta` sink driven like the runner drives it (write, then publish), its tables read
//! back by the sink itself, by the `deltalake` Python package and by polars.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Date32Array, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chorus_core::{
    BatchStream, BuildContext, ConfigTable, Sink, SinkFactory, StagedTable, TableSpec,
};
use chorus_delta::DeltaSinkFactory;
use futures::StreamExt;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, true),
        Field::new("campaign", DataType::Utf8, false),
        Field::new("spend", DataType::Float64, true),
    ]))
}

/// Days as offsets from 2024-01-01.
fn batch(rows: &[(i32, &str, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| 19_723 + r.0),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

fn stream(b: RecordBatch) -> BatchStream {
    Box::pin(futures::stream::iter(vec![Ok(b)]))
}

fn sink(dir: &Path, extra: &str) -> Box<dyn Sink> {
    let text = format!("path = \"lake\"\npartition_by = \"day\"\n{extra}\n");
    let config = ConfigTable::parse(&text, dir).unwrap();
    DeltaSinkFactory
        .build(
            &config,
            &BuildContext {
                id: "lake".into(),
                pipeline: "ads".into(),
                ..BuildContext::default()
            },
        )
        .unwrap()
}

fn spec() -> TableSpec {
    TableSpec {
        input: "ads.daily".into(),
        schema: schema(),
        primary_key: vec!["day".into(), "campaign".into()],
        cursor_field: None,
        replace: false,
    }
}

async fn commit(sink: &dyn Sink, run: &str, rows: &[(i32, &str, f64)]) -> StagedTable {
    let staged = sink.write(&spec(), run, stream(batch(rows))).await.unwrap();
    sink.publish(run, std::slice::from_ref(&staged))
        .await
        .unwrap();
    staged
}

/// Appended to every script: the deltalake package (1.6, with pyarrow 26) can abort in its
/// thread pools' destructors at interpreter exit ("terminate called without an active
/// exception", delta-io/delta-rs#2184), after the script has printed everything. The script
/// flushes and leaves without running those destructors, so an abort can't fail a good read.
const EXIT_NOW: &str = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n";

/// Runs a Python script with the table's path as `sys.argv[1]`; returns its stdout.
fn python(table: &Path, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("{script}{EXIT_NOW}"))
        .arg(table)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed (the Delta tests need `python3 -m pip install deltalake polars`, as .ci/run does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The rows as `day|campaign|spend` lines, sorted, read by the deltalake package.
fn rows_by_deltalake(table: &Path) -> Vec<String> {
    let text = python(
        table,
        r#"
import sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()
for r in sorted(t, key=lambda r: (str(r["day"]), r["campaign"])):
    print(f'{r["day"]}|{r["campaign"]}|{r["spend"]}|{r["dt"]}')
"#,
    );
    text.lines().map(str::to_owned).collect()
}

/// The same rows read by polars.
fn rows_by_polars(table: &Path) -> Vec<String> {
    let text = python(
        table,
        r#"
import sys
import polars as pl
df = pl.read_delta(sys.argv[1]).sort(["day", "campaign"])
for r in df.iter_rows(named=True):
    print(f'{r["day"]}|{r["campaign"]}|{r["spend"]}|{r["dt"]}')
"#,
    );
    text.lines().map(str::to_owned).collect()
}

async fn rows_by_sink(sink: &dyn Sink) -> usize {
    let mut stream = sink.read_table(&spec()).await.unwrap().unwrap();
    let mut rows = 0;
    while let Some(b) = stream.next().await {
        rows += b.unwrap().num_rows();
    }
    rows
}

#[tokio::test]
async fn two_appends_are_two_commits_that_python_and_polars_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(dir.path(), "");
    assert_eq!(rows_by_sink(s.as_ref()).await, 0);
    commit(s.as_ref(), "r1", &[(0, "x", 1.0), (1, "x", 2.0)]).await;
    commit(s.as_ref(), "r2", &[(1, "y", 3.0)]).await;
    let table = dir.path().join("lake/ads__daily");
    let want = vec![
        "2024-01-01|x|1.0|2024-01-01",
        "2024-01-02|x|2.0|2024-01-02",
        "2024-01-02|y|3.0|2024-01-02",
    ];
    assert_eq!(rows_by_deltalake(&table), want);
    assert_eq!(rows_by_polars(&table), want);
    assert_eq!(rows_by_sink(s.as_ref()).await, 3);
    let meta = python(
        &table,
        r#"
import sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1])
print(t.version(), t.metadata().partition_columns, t.transaction_version("chorus:ads:lake:ads__daily"))
"#,
    );
    assert_eq!(meta, "2 ['dt'] 2");
    assert!(dir.path().join("lake/ads__daily/dt=2024-01-02").is_dir());
}

#[tokio::test]
async fn overwrite_partitions_replaces_the_days_a_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(dir.path(), "mode = \"overwrite_partitions\"");
    commit(
        s.as_ref(),
        "r1",
        &[(0, "x", 1.0), (1, "x", 2.0), (1, "y", 2.0)],
    )
    .await;
    commit(s.as_ref(), "r2", &[(1, "x", 2.5), (2, "x", 3.0)]).await;
    let table = dir.path().join("lake/ads__daily");
    let want = vec![
        "2024-01-01|x|1.0|2024-01-01",
        "2024-01-02|x|2.5|2024-01-02",
        "2024-01-03|x|3.0|2024-01-03",
    ];
    assert_eq!(rows_by_deltalake(&table), want);
    assert_eq!(rows_by_polars(&table), want);
    let op = python(
        &table,
        r#"
import sys
from deltalake import DeltaTable
h = DeltaTable(sys.argv[1]).history(1)[0]
print(h["operation"], h["operationParameters"]["mode"])
"#,
    );
    assert_eq!(op, "WRITE Overwrite");
}

#[tokio::test]
async fn merge_updates_rows_by_primary_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(dir.path(), "mode = \"merge\"");
    commit(
        s.as_ref(),
        "r1",
        &[(0, "x", 1.0), (1, "x", 2.0), (1, "y", 2.0)],
    )
    .await;
    // A restated day 2 for x, a duplicate key in the run (the later row wins), a new day.
    commit(
        s.as_ref(),
        "r2",
        &[(1, "x", 9.0), (1, "x", 2.5), (2, "x", 3.0)],
    )
    .await;
    let table = dir.path().join("lake/ads__daily");
    let want = vec![
        "2024-01-01|x|1.0|2024-01-01",
        "2024-01-02|x|2.5|2024-01-02",
        "2024-01-02|y|2.0|2024-01-02",
        "2024-01-03|x|3.0|2024-01-03",
    ];
    assert_eq!(rows_by_deltalake(&table), want);
    assert_eq!(rows_by_polars(&table), want);
    assert_eq!(rows_by_sink(s.as_ref()).await, 4);
}

#[tokio::test]
async fn a_publish_retried_with_the_same_transaction_version_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let s = sink(dir.path(), "");
    let staged = commit(s.as_ref(), "r1", &[(0, "x", 1.0)]).await;
    let version = staged.actions["version"].as_i64().unwrap();
    assert_eq!(version, 1);
    // The runner publishes a pending commit record again after a crash.
    s.publish("r1", std::slice::from_ref(&staged))
        .await
        .unwrap();
    s.publish("r1", std::slice::from_ref(&staged))
        .await
        .unwrap();
    let table = dir.path().join("lake/ads__daily");
    assert_eq!(
        rows_by_deltalake(&table),
        vec!["2024-01-01|x|1.0|2024-01-01"]
    );
    let versions = python(
        &table,
        r#"
import sys
from deltalake import DeltaTable
print(DeltaTable(sys.argv[1]).version())
"#,
    );
    assert_eq!(versions, "1", "create + one commit");
    // The next run takes the next transaction version.
    let next = commit(s.as_ref(), "r2", &[(0, "y", 1.0)]).await;
    assert_eq!(next.actions["version"].as_i64().unwrap(), 2);
    assert_eq!(rows_by_deltalake(&table).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_their_own_handles_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let base = dir.path().to_owned();
        tasks.push(tokio::spawn(async move {
            // Each writer is another pipeline, with its own sink and table handle.
            let text = "path = \"lake\"\npartition_by = \"day\"\n";
            let config = ConfigTable::parse(text, &base).unwrap();
            let s = DeltaSinkFactory
                .build(
                    &config,
                    &BuildContext {
                        id: "lake".into(),
                        pipeline: format!("worker{w}"),
                        ..BuildContext::default()
                    },
                )
                .unwrap();
            for run in 0..3 {
                let name = format!("w{w}r{run}");
                commit(s.as_ref(), &name, &[(run, &name, f64::from(w))]).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let table = dir.path().join("lake/ads__daily");
    assert_eq!(rows_by_deltalake(&table).len(), 12);
    assert_eq!(rows_by_polars(&table).len(), 12);
    // The four writers raced to create the table: exactly one CREATE TABLE (one table id) is
    // in the log; the others appended to it.
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(table.join("_delta_log")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let action: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(id) = action["metaData"]["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
    }
    assert_eq!(ids.len(), 1, "one table id, not {ids:?}");
}

#[tokio::test]
async fn a_table_gains_a_new_column_in_append_and_merge_modes() {
    for mode in ["append", "merge"] {
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), &format!("mode = \"{mode}\""));
        commit(s.as_ref(), "r1", &[(0, "x", 1.0), (1, "y", 2.0)]).await;
        // The stream gained `clicks`, placed first so that every other column moves.
        let grown: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("clicks", DataType::Int64, true),
            Field::new("day", DataType::Date32, true),
            Field::new("campaign", DataType::Utf8, false),
            Field::new("spend", DataType::Float64, true),
        ]));
        let b = RecordBatch::try_new(
            Arc::clone(&grown),
            vec![
                Arc::new(arrow::array::Int64Array::from(vec![7, 8])),
                Arc::new(Date32Array::from(vec![19_723 + 1, 19_723 + 2])),
                Arc::new(StringArray::from(vec!["y", "z"])),
                Arc::new(Float64Array::from(vec![2.5, 3.0])),
            ],
        )
        .unwrap();
        let table_spec = TableSpec {
            schema: grown,
            ..spec()
        };
        let staged = s.write(&table_spec, "r2", stream(b)).await.unwrap();
        s.publish("r2", std::slice::from_ref(&staged))
            .await
            .unwrap();
        let table = dir.path().join("lake/ads__daily");
        let rows = python(
            &table,
            r#"
import sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()
for r in sorted(t, key=lambda r: (str(r["day"]), r["campaign"], r["spend"])):
    print(f'{r["day"]}|{r["campaign"]}|{r["spend"]}|{r["clicks"]}')
"#,
        );
        let want = if mode == "merge" {
            // (day 1, y) is a key of both runs: the new row replaces the old one.
            "2024-01-01|x|1.0|None\n2024-01-02|y|2.5|7\n2024-01-03|z|3.0|8"
        } else {
            "2024-01-01|x|1.0|None\n2024-01-02|y|2.0|None\n2024-01-02|y|2.5|7\n2024-01-03|z|3.0|8"
        };
        assert_eq!(rows, want, "{mode}");
    }
}
