//! Pipelines on object storage: the files demo into `s3://` (moto on loopback) read back with
//! its mart, two concurrent runs of one pipeline of which exactly one commits (on S3 and on a
//! local disk), and a stream
//! that fails mid-upload leaving no multipart upload and no file behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use chorus_sink::testing::{S3Server, s3};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::util::{chorus, copy_demo, output, repo, stderr, stdout};

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

fn with_s3<'a>(cmd: &'a mut Command, server: &S3Server) -> &'a mut Command {
    for (k, v) in server.env() {
        cmd.env(k, v);
    }
    cmd
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The rows of every Parquet file under `prefix`, read back through `object_store` (a client
/// per call: its connections belong to the runtime that made them).
fn s3_rows(server: &S3Server, bucket: &str, prefix: &str) -> Vec<RecordBatch> {
    runtime().block_on(async {
        let store: Arc<dyn ObjectStore> = server.store(bucket);
        let store = &store;
        let mut files: Vec<String> = store
            .list(Some(&ObjectPath::from(prefix)))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            assert!(f.ends_with(".parquet"), "a reader would see {f}");
            let batches: Vec<RecordBatch> = chorus_sink::reader::read_file(store, &f)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            out.extend(batches);
        }
        out
    })
}

fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[test]
fn the_files_demo_runs_into_s3_and_its_mart_reads_the_committed_tables_back() {
    let server = s3();
    let bucket = server.bucket("demo");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("path = \"out\"", &format!("path = \"s3://{bucket}/lake\""));
    std::fs::write(&pipeline, format!("{text}{MART}")).unwrap();

    // `validate` opens no connection: it passes with the endpoint pointing nowhere.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = output(
        chorus(dir.path())
            .arg("validate")
            .arg(&pipeline)
            .env("AWS_ENDPOINT_URL", format!("http://{nowhere}"))
            .env_remove("AWS_ACCESS_KEY_ID"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let run = || {
        let out = output(with_s3(
            chorus(dir.path()).arg("run").arg(&pipeline),
            server,
        ));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let first = run();
    assert!(
        first.contains("committed (commit 2)"),
        "ingest, then the mart: {first}"
    );
    assert!(first.contains(&format!("s3://{bucket}/lake")), "{first}");
    assert!(!dir.path().join("out").exists());

    let keys = server.keys(&bucket);
    assert!(
        keys.contains(&"lake/_chorus/commits/0000000001.json".to_owned()),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.starts_with("lake/_chorus/staging")),
        "{keys:?}"
    );
    assert!(server.multipart_uploads(&bucket).is_empty());

    let contacts = count(&s3_rows(server, &bucket, "lake/crm__contacts"));
    assert_eq!(contacts, 8, "merge keeps one row per contact");
    assert_eq!(count(&s3_rows(server, &bucket, "lake/crm__ad_costs")), 5);
    let mart = s3_rows(server, &bucket, "lake/contacts_by_stage");
    let mart_rows = count(&mart);
    let counted: i64 = mart
        .iter()
        .map(|b| {
            let col = b.column_by_name("contacts").unwrap();
            arrow::compute::sum(
                col.as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap(),
            )
            .unwrap_or(0)
        })
        .sum();
    assert_eq!(counted, contacts as i64);

    // A second run finds nothing new (state is read back from the bucket) and rebuilds the mart.
    run();
    assert_eq!(
        count(&s3_rows(server, &bucket, "lake/crm__contacts")),
        contacts
    );
    assert_eq!(
        count(&s3_rows(server, &bucket, "lake/contacts_by_stage")),
        mart_rows
    );
    let state = output(with_s3(
        chorus(dir.path()).args(["state", "show"]).arg(&pipeline),
        server,
    ));
    assert_eq!(state.status.code(), Some(0), "{}", stderr(&state));
    assert!(
        stdout(&state).contains("crm.contacts"),
        "{}",
        stdout(&state)
    );
}

fn start_slow_sandbox() -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = chorus(&repo())
        .args(["sandbox", "--port", &port.to_string()])
        .args(["--faults", "slow=1.0,slow_ms=1500"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /_sandbox/truth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if text.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the sandbox did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

const X_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAChorusSandboxX%2Fbearer0token7Qw2";

/// The race pipeline: one slow request (the sandbox delays every answer), into `sink_path`.
fn race_pipeline(dir: &Path, port: u16, sink_path: &str) -> std::path::PathBuf {
    let pipeline = dir.join("race.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"[pipeline]
name = "race"

[sources.x]
type = "twitter"
bearer_token = "${{X_BEARER_TOKEN}}"
base_url = "http://127.0.0.1:{port}/x"
usernames = ["acme"]
streams = ["users"]

[sinks.lake]
type = "parquet"
inputs = ["x.users"]
path = "{sink_path}"
"#
        ),
    )
    .unwrap();
    pipeline
}

/// Two runs of one pipeline at once, first started together and then with the second started
/// while the first holds the lease: each time exactly one commits (exit 0) and the other exits
/// 75 before it reads or writes anything, with a message that says to run again. `lease_keys`
/// lists the lease objects of the pipeline.
fn two_runs_at_once(spawn: &dyn Fn() -> Child, lease_keys: &dyn Fn() -> Vec<String>) {
    let check = |outs: &[Output]| {
        let mut codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![Some(0), Some(75)],
            "{}\n---\n{}",
            stderr(&outs[0]),
            stderr(&outs[1])
        );
        let loser = outs.iter().find(|o| o.status.code() == Some(75)).unwrap();
        let message = stderr(loser);
        assert!(
            message.contains("another run of pipeline \"race\""),
            "{message}"
        );
        assert!(message.contains("Run the pipeline again"), "{message}");
    };
    // Started together: they race for the lease itself.
    let outs: Vec<Output> = [spawn(), spawn()]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    check(&outs);
    // The second starts while the first holds the lease, and ends while the first still runs.
    let first = spawn();
    let before = lease_keys();
    let deadline = Instant::now() + Duration::from_secs(20);
    while lease_keys() == before {
        assert!(Instant::now() < deadline, "the first run took no lease");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut first = first;
    let second = spawn().wait_with_output().unwrap();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the second run waited for the first"
    );
    let first = first.wait_with_output().unwrap();
    check(&[first, second]);
}

#[test]
fn of_two_concurrent_runs_of_a_pipeline_on_s3_exactly_one_commits_and_the_other_exits_75() {
    let server = s3();
    let bucket = server.bucket("race");
    let (mut sandbox, port) = start_slow_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = race_pipeline(dir.path(), port, &format!("s3://{bucket}/lake"));
    let spawn = || {
        with_s3(chorus(dir.path()).arg("run").arg(&pipeline), server)
            .env("X_BEARER_TOKEN", X_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let lease_keys = || {
        server
            .keys(&bucket)
            .into_iter()
            .filter(|k| k.starts_with("lake/_chorus/lease/"))
            .collect::<Vec<_>>()
    };
    two_runs_at_once(&spawn, &lease_keys);
    let _ = sandbox.kill();
    let _ = sandbox.wait();

    // Two commits, one per pair; nothing staged is left, and the table has its one row once.
    let keys = server.keys(&bucket);
    let records: Vec<_> = keys
        .iter()
        .filter(|k| k.starts_with("lake/_chorus/commits/") && k.ends_with(".json"))
        .collect();
    assert_eq!(
        records,
        vec![
            "lake/_chorus/commits/0000000001.json",
            "lake/_chorus/commits/0000000002.json"
        ]
    );
    assert!(
        !keys.iter().any(|k| k.starts_with("lake/_chorus/staging/")),
        "{keys:?}"
    );
    assert_eq!(
        count(&s3_rows(server, &bucket, "lake/x__users")),
        2,
        "{keys:?}"
    );
    assert!(server.multipart_uploads(&bucket).is_empty());
}

#[test]
fn of_two_concurrent_runs_of_a_pipeline_on_local_disk_exactly_one_commits_and_the_other_exits_75() {
    let (mut sandbox, port) = start_slow_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = race_pipeline(dir.path(), port, "lake");
    let spawn = || {
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .env("X_BEARER_TOKEN", X_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let lease_dir = dir.path().join("lake/_chorus/lease");
    let lease_keys = || {
        let mut names: Vec<String> = std::fs::read_dir(&lease_dir)
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    two_runs_at_once(&spawn, &lease_keys);
    let chorus_dir = dir.path().join("lake/_chorus");
    let mut records: Vec<String> = std::fs::read_dir(chorus_dir.join("commits"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    records.sort();
    assert_eq!(records, vec!["0000000001.json", "0000000002.json"]);
    let staged = std::fs::read_dir(chorus_dir.join("staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "staging left behind");
    // A later run is not held back: the lease was released.
    let out = chorus(dir.path())
        .arg("run")
        .arg(&pipeline)
        .env("X_BEARER_TOKEN", X_TOKEN)
        .output()
        .unwrap();
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A CSV of `rows` rows of incompressible text whose last row breaks the `id` column.
fn write_big_csv(path: &Path, rows: usize) {
    let mut text = String::with_capacity(rows * 140);
    text.push_str("id,note\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        text.push_str(&i.to_string());
        text.push(',');
        for _ in 0..16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("{:08x}", x as u32));
        }
        text.push('\n');
    }
    text.push_str("not-a-number,the row that fails the stream\n");
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_stream_failing_mid_upload_leaves_no_multipart_upload_and_no_file() {
    let server = s3();
    let bucket = server.bucket("fail");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    // ~20 MiB of Parquet before the bad row: the file is a multipart upload when it fails.
    write_big_csv(&dir.path().join("data/big.csv"), 150_000);
    let pipeline = dir.path().join("big.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"[pipeline]
name = "big"

[sources.src]
type = "files"

[[sources.src.files]]
stream = "rows"
paths = ["data/*.csv"]
format = "csv"
schema = {{ id = "int64" }}

[sinks.lake]
type = "parquet"
inputs = ["src.rows"]
path = "s3://{bucket}/lake"
compression = "none"
row_group_rows = 10000
"#
        ),
    )
    .unwrap();
    let out = output(with_s3(
        chorus(dir.path()).arg("run").arg(&pipeline),
        server,
    ));
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stderr(&out).contains("src.rows"), "{}", stderr(&out));
    assert!(
        server.multipart_uploads(&bucket).is_empty(),
        "dangling uploads: {:?}",
        server.multipart_uploads(&bucket)
    );
    let keys = server.keys(&bucket);
    assert!(
        !keys
            .iter()
            .any(|k| k.ends_with(".parquet") || k.contains("staging")),
        "{keys:?}"
    );
}
