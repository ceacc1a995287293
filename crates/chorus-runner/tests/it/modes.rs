//! The sink modes: append keeps, overwrite_partitions replaces the days a run wrote, merge
//! upserts on the primary key.

use std::path::Path;

use crate::support::{plan, registry, run, table};

fn pipeline(mode: &str) -> String {
    format!(
        r#"[pipeline]
name = "modes"

[sources.ads]
type = "files"

[[sources.ads.files]]
stream = "daily"
paths = ["data/*.ndjson"]
format = "ndjson"
primary_key = ["day", "campaign"]
schema = {{ day = "date" }}

[sinks.lake]
type = "parquet"
inputs = ["ads.daily"]
path = "out"
partition_by = "day"
mode = "{mode}"
"#
    )
}

fn write(dir: &Path, name: &str, lines: &[&str]) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join(name), lines.join("\n") + "\n").unwrap();
    // Modification times must move forward for the next run to see the file again.
    std::thread::sleep(std::time::Duration::from_millis(20));
}

async fn scenario(mode: &str) -> (usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(|_| {});
    write(
        dir.path(),
        "a.ndjson",
        &[
            r#"{"day": "2024-01-01", "campaign": "x", "spend": 1.0}"#,
            r#"{"day": "2024-01-02", "campaign": "x", "spend": 2.0}"#,
        ],
    );
    let p = plan(dir.path(), &pipeline(mode), &r, &[]).unwrap();
    assert!(run(&p).await.summary.success);
    // The export for the 2nd is restated, and a new day arrives.
    write(
        dir.path(),
        "b.ndjson",
        &[
            r#"{"day": "2024-01-02", "campaign": "x", "spend": 2.5}"#,
            r#"{"day": "2024-01-03", "campaign": "x", "spend": 3.0}"#,
        ],
    );
    let report = run(&p).await;
    assert!(report.summary.success, "{:?}", report.summary);
    table(&dir.path().join("out/ads__daily"))
}

#[tokio::test]
async fn append_keeps_every_row() {
    let (rows, files) = scenario("append").await;
    assert_eq!(rows, 4);
    assert_eq!(files.len(), 4);
}

#[tokio::test]
async fn overwrite_partitions_replaces_the_days_a_run_wrote() {
    let (rows, files) = scenario("overwrite_partitions").await;
    assert_eq!(rows, 3, "{files:?}");
    let days: Vec<_> = files
        .iter()
        .map(|f| f.split('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(days, ["dt=2024-01-01", "dt=2024-01-02", "dt=2024-01-03"]);
}

#[tokio::test]
async fn merge_replaces_rows_by_key() {
    let (rows, _) = scenario("merge").await;
    assert_eq!(rows, 3);
}

#[tokio::test]
async fn merge_never_lets_a_backfill_rewind_a_row() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/jan.csv"),
        "id,stage,updated_at\n1,lead,2024-01-10T00:00:00Z\n2,lead,2024-01-11T00:00:00Z\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("data/mar.csv"),
        "id,stage,updated_at\n1,customer,2024-03-01T00:00:00Z\n",
    )
    .unwrap();
    let text = r#"[pipeline]
name = "backfill"

[sources.crm]
type = "files"

[[sources.crm.files]]
stream = "contacts"
paths = ["data/*.csv"]
format = "csv"
primary_key = ["id"]
cursor = "updated_at"

[sinks.lake]
type = "parquet"
inputs = ["crm.contacts"]
path = "out"
mode = "merge"
"#;
    let r = registry(|_| {});
    let p = plan(dir.path(), text, &r, &[]).unwrap();
    assert!(run(&p).await.summary.success);
    // A January backfill reads contact 1's January row again; the March row must stay.
    let opts = chorus_runner::RunOptions {
        window: chorus_core::Window {
            start: Some(chorus_core::Bound::Instant(
                "2024-01-01T00:00:00Z".parse().unwrap(),
            )),
            end: Some(chorus_core::Bound::Instant(
                "2024-02-01T00:00:00Z".parse().unwrap(),
            )),
        },
        ..Default::default()
    };
    let report = chorus_runner::run(&p, &opts, std::sync::Arc::new(chorus_runner::Silent))
        .await
        .unwrap();
    assert!(report.summary.success, "{:?}", report.summary);
    assert_eq!(report.summary.streams[0].rows, 2);
    let (rows, _) = table(&dir.path().join("out/crm__contacts"));
    assert_eq!(rows, 2);
    let text = stage_of(&dir.path().join("out/crm__contacts"), "1");
    assert_eq!(text, "customer");
}

fn stage_of(table: &Path, id: &str) -> String {
    use arrow::array::AsArray;
    for e in std::fs::read_dir(table).unwrap().flatten() {
        let f = std::fs::File::open(e.path()).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            let b = b.unwrap();
            let ids = b.column_by_name("id").unwrap().as_string::<i32>().clone();
            let stages = b
                .column_by_name("stage")
                .unwrap()
                .as_string::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                if ids.value(i) == id {
                    return stages.value(i).to_owned();
                }
            }
        }
    }
    panic!("no row {id}");
}
