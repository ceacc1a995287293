//! The `delta` sink end to end: several processes appending to one table at once all commit;
//! a pipeline writes Delta tables to S3 (moto) that polars reads, and its mart reads them back.

use std::process::{Output, Stdio};

use chorus_sink::testing::s3;

use crate::util::{chorus, copy_demo, output, stderr, stdout};

/// Appended to every script: the deltalake package (1.6, with pyarrow 26) can abort in its
/// thread pools' destructors at interpreter exit ("terminate called without an active
/// exception", delta-io/delta-rs#2184), after the script has printed everything. The script
/// flushes and leaves without running those destructors, so an abort can't fail a good read.
const EXIT_NOW: &str = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_os._exit(0)\n";

pub(crate) fn python(args: &[&str], script: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!("{script}{EXIT_NOW}"))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed (these tests need `python3 -m pip install deltalake polars`, as .ci/run does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn four_processes_appending_to_one_delta_table_at_once_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    for p in 0..4 {
        let data = dir.path().join(format!("data/p{p}"));
        std::fs::create_dir_all(&data).unwrap();
        let mut csv = String::from("id,worker,day\n");
        for i in 0..50 {
            csv.push_str(&format!("{p}-{i},{p},2024-01-0{}\n", 1 + i % 3));
        }
        std::fs::write(data.join("rows.csv"), csv).unwrap();
        // Four pipelines (four workers): each keeps its own state, all write one table.
        let pipeline = dir.path().join(format!("p{p}.toml"));
        std::fs::write(
            &pipeline,
            format!(
                r#"[pipeline]
name = "worker{p}"
state = "state/p{p}"

[sources.src]
type = "files"

[[sources.src.files]]
stream = "rows"
paths = ["data/p{p}/*.csv"]
format = "csv"
schema = {{ day = "date" }}

[sinks.lake]
type = "delta"
inputs = ["src.rows"]
path = "lake"
partition_by = "day"
"#
            ),
        )
        .unwrap();
        children.push(
            chorus(dir.path())
                .arg("run")
                .arg(&pipeline)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    }
    let table = dir.path().join("lake/src__rows");
    let summary = python(
        &[table.to_str().unwrap()],
        r#"
import sys
from deltalake import DeltaTable
import polars as pl
t = DeltaTable(sys.argv[1])
writes = [h for h in t.history() if h["operation"] == "WRITE"]
df = pl.read_delta(sys.argv[1])
print(t.to_pyarrow_table().num_rows, df.height, len(writes), df["worker"].n_unique(), sorted(t.metadata().partition_columns))
"#,
    );
    assert_eq!(summary, "200 200 4 4 ['dt']");
}

const MART: &str = r#"
[marts.contacts_by_stage]
inputs = ["crm.contacts"]
primary_key = ["lifecycle_stage"]
query = """
SELECT lifecycle_stage, COUNT(*) AS contacts
FROM crm.contacts
GROUP BY lifecycle_stage
"""
"#;

#[test]
fn the_files_demo_writes_delta_tables_to_s3_that_polars_reads() {
    let server = s3();
    let bucket = server.bucket("delta");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("type = \"parquet\"", "type = \"delta\"")
        .replace("path = \"out\"", &format!("path = \"s3://{bucket}/delta\""));
    std::fs::write(&pipeline, format!("{text}{MART}")).unwrap();
    for round in 0..2 {
        let mut cmd = chorus(dir.path());
        cmd.arg("run").arg(&pipeline);
        for (k, v) in server.env() {
            cmd.env(k, v);
        }
        let out = output(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            stderr(&out)
        );
        if round == 0 {
            assert!(
                stdout(&out).contains("committed (commit 2)"),
                "{}",
                stdout(&out)
            );
        }
    }
    let keys = server.keys(&bucket);
    assert!(
        keys.iter()
            .any(|k| k.starts_with("delta/crm__contacts/_delta_log/")),
        "{keys:?}"
    );
    assert!(server.multipart_uploads(&bucket).is_empty());
    let endpoint = server.endpoint.clone();
    let counts = python(
        &[&format!("s3://{bucket}/delta"), &endpoint],
        r#"
import sys
import polars as pl
root, endpoint = sys.argv[1], sys.argv[2]
opts = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
contacts = pl.read_delta(root + "/crm__contacts", storage_options=opts)
costs = pl.read_delta(root + "/crm__ad_costs", storage_options=opts)
mart = pl.read_delta(root + "/contacts_by_stage", storage_options=opts)
print(contacts.height, contacts["id"].n_unique(), costs.height, mart["contacts"].sum())
"#,
    );
    assert_eq!(
        counts, "8 8 5 8",
        "merge keeps one row per contact; the mart counts them"
    );
}
