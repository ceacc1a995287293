//! Data contracts of the files connector's tables: a bad value in a later file never changes a
//! column's type. It fails the stream with exit 65 (the default), or becomes NULL and is counted
//! with `on_bad_value = "null"`; a bad value in a declared column is bad data (65) with the
//! file's own line.
//! Every reader an analyst uses then reads the table with no options.

use std::path::Path;

use crate::delta::python;
use crate::util::{chorus, copy_demo, output, stderr, stream_summary};

const HEADER: &str = "id,email,company,lifecycle_stage,source_channel,created_at,updated_at\n";

/// Replaces `from` with `to` in the pipeline file, which must contain it.
fn edit(pipeline: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(pipeline).unwrap();
    assert!(text.contains(from), "the pipeline has no {from:?}");
    std::fs::write(pipeline, text.replace(from, to)).unwrap();
}

/// A new CRM export arriving: `contacts_2024_03.csv` with `text` (header included).
fn arrive(dir: &Path, text: &str) {
    std::fs::write(dir.join("data/crm/contacts_2024_03.csv"), text).unwrap();
}

fn run(dir: &Path, pipeline: &Path) -> std::process::Output {
    output(
        chorus(dir)
            .arg("run")
            .arg(pipeline)
            .args(["--summary-json", "summary.json"]),
    )
}

/// DuckDB, polars and pyarrow.dataset read the table with no options; each prints its rows and
/// the type of `created_at`.
fn read_everywhere(table: &Path) -> String {
    python(
        &[&table.to_string_lossy()],
        r#"
import sys, duckdb, polars as pl, pyarrow.dataset as ds
t = sys.argv[1]
d = duckdb.sql(f"SELECT count(*), any_value(typeof(created_at)) FROM read_parquet('{t}/**/*.parquet')").fetchall()[0]
p = pl.read_parquet(f"{t}/**/*.parquet")
a = ds.dataset(t).to_table()
print(d[0], d[1], p.height, p.schema["created_at"], a.num_rows, a.schema.field("created_at").type)
"#,
    )
}

#[test]
fn a_bad_value_in_a_later_file_never_changes_a_columns_type_in_merge_mode() {
    bad_value_in_a_later_file("merge");
}

#[test]
fn a_bad_value_in_a_later_file_never_changes_a_columns_type_in_append_mode() {
    bad_value_in_a_later_file("append");
}

/// The files demo with its sink in `mode`: a bad value in a later export.
fn bad_value_in_a_later_file(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    edit(&pipeline, "mode = \"merge\"", &format!("mode = \"{mode}\""));
    let first = run(dir.path(), &pipeline);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let table = dir.path().join("out/crm__contacts");
    let before = read_everywhere(&table);
    let rows: usize = before.split(' ').next().unwrap().parse().unwrap();
    assert!(
        before.starts_with(&format!("{rows} TIMESTAMP WITH TIME ZONE {rows}")),
        "{before}"
    );

    // One more export, one of whose rows holds a created_at that is no time.
    arrive(
        dir.path(),
        &format!(
            "{HEADER}00201,zed@example.com,Initech,lead,x,not-a-time,2030-01-01T00:00:00Z\n00202,yan@example.com,Initech,lead,x,2024-03-04T00:00:00Z,2030-01-01T00:00:00Z\n"
        ),
    );
    let failed = run(dir.path(), &pipeline);
    assert_eq!(failed.status.code(), Some(65), "{}", stderr(&failed));
    let message = stderr(&failed);
    assert!(
        message.contains("column \"created_at\"") && message.contains("\"not-a-time\""),
        "{message}"
    );
    assert!(message.contains("on_bad_value = \"null\""), "{message}");
    assert_eq!(
        read_everywhere(&table),
        before,
        "nothing of the stream was committed"
    );

    // Asked to, chorus writes NULL for the bad value and counts it; the type stays.
    edit(
        &pipeline,
        "[pipeline]\n",
        "[pipeline]\non_bad_value = \"null\"\n",
    );
    let nulled = run(dir.path(), &pipeline);
    assert_eq!(nulled.status.code(), Some(0), "{}", stderr(&nulled));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let contacts = stream_summary(&summary, "crm.contacts");
    assert_eq!(contacts["rows"], 2);
    assert_eq!(contacts["bad_values"], 1);
    // Every reader reads the two new rows, and the column is a timestamp for all of them.
    let after = read_everywhere(&table);
    let want = rows + 2;
    assert!(
        after.starts_with(&format!("{want} TIMESTAMP WITH TIME ZONE {want}")),
        "{after}"
    );
    assert!(
        after.ends_with(&format!("{want} timestamp[us, tz=UTC]")),
        "{after}"
    );
}

#[test]
fn a_bad_value_in_a_declared_cursor_is_bad_data_with_the_files_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    edit(
        &pipeline,
        "cursor = \"updated_at\"\n",
        "cursor = \"updated_at\"\nschema = { updated_at = \"timestamp\" }\n",
    );
    arrive(
        dir.path(),
        &format!(
            "{HEADER}00201,zed@example.com,Initech,lead,x,2024-03-04T00:00:00Z,2030-01-01T00:00:00Z\n00202,yan@example.com,Initech,lead,x,2024-03-04T00:00:00Z,not-a-time\n"
        ),
    );
    let out = run(dir.path(), &pipeline);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("contacts_2024_03.csv") && message.contains("(\"updated_at\") at line 3"),
        "{message}"
    );
}

#[test]
fn a_new_column_reaches_every_file_of_the_table_in_merge_and_append_modes() {
    for mode in ["merge", "append"] {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = copy_demo(dir.path());
        edit(&pipeline, "mode = \"merge\"", &format!("mode = \"{mode}\""));
        let first = run(dir.path(), &pipeline);
        assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
        let table = dir.path().join("out/crm__contacts");
        let before = read_everywhere(&table);
        let rows: usize = before.split(' ').next().unwrap().parse().unwrap();
        // The next export has a column the table does not.
        arrive(
            dir.path(),
            "id,email,company,lifecycle_stage,source_channel,created_at,updated_at,score\n00201,zed@example.com,Initech,lead,x,2024-03-04T00:00:00Z,2030-01-01T00:00:00Z,7\n",
        );
        let second = run(dir.path(), &pipeline);
        assert_eq!(second.status.code(), Some(0), "{mode}: {}", stderr(&second));
        let seen = python(
            &[&table.to_string_lossy()],
            r#"
import sys, duckdb, polars as pl, pyarrow.dataset as ds
t = sys.argv[1]
d = duckdb.sql(f"SELECT count(*), count(score), sum(score) FROM read_parquet('{t}/**/*.parquet')").fetchall()[0]
p = pl.read_parquet(f"{t}/**/*.parquet")
a = ds.dataset(t).to_table()
print(d[0], d[1], d[2], p.height, p["score"].count(), a.num_rows, a.column("score").null_count)
"#,
        );
        let want = rows + 1;
        assert_eq!(
            seen,
            format!("{want} 1 7 {want} 1 {want} {}", want - 1),
            "{mode}"
        );
    }
}
