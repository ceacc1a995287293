//! A run killed at any failpoint or at any moment, then run again, leaves exactly what an
//! uninterrupted run leaves: the same rows, no duplicates, and never a partial or stray file
//! under a table. Two pipelines: local files, and X through HTTP with transforms and a mart.

use std::path::Path;

use chorus_core::failpoint::FAILPOINTS;

use crate::meta::{copy_pipeline, start_sandbox};
use crate::util::{chorus, copy_demo, files_below, output, stderr, table_rows};

const MARCH: &str = "id,email,company,lifecycle_stage,source_channel,created_at,updated_at\n\
    00109,ivy@example.com,Oscorp,lead,facebook,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z\n\
    00101,ana@example.com,Acme,customer,facebook,2024-01-02T09:15:00Z,2024-03-02T10:00:00Z\n";

const MARCH_COSTS: &str = "{\"date\": \"2024-03-01\", \"platform\": \"x\", \"campaign\": \"spring\", \"spend\": 10.0, \"clicks\": 5}\n\
    {\"date\": \"2024-01-03\", \"platform\": \"instagram\", \"campaign\": \"launch\", \"spend\": 61.0, \"clicks\": 151}\n";

/// First run, then new files arrive for the second run.
fn prepare(dir: &Path) -> std::path::PathBuf {
    let pipeline = copy_demo(dir);
    let out = output(chorus(dir).arg("run").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(dir.join("data/crm/contacts_2024_03.csv"), MARCH).unwrap();
    std::fs::write(dir.join("data/costs/ad_costs_2024_03.ndjson"), MARCH_COSTS).unwrap();
    pipeline
}

fn snapshot(dir: &Path) -> Vec<Vec<String>> {
    ["out/crm__contacts", "out/crm__ad_costs"]
        .iter()
        .map(|t| table_rows(&dir.join(t)))
        .collect()
}

/// Whatever a reader sees in `tables` under `dir` is whole Parquet files only.
fn assert_only_whole_files(dir: &Path, tables: &[&str], what: &str) {
    for table in tables {
        for f in files_below(&dir.join(table)) {
            assert!(f.ends_with(".parquet"), "{what}: partial file {f} visible");
        }
        let _ = table_rows(&dir.join(table));
    }
}

/// Whether a run was killed at a failpoint (or by a signal) rather than finishing.
fn was_killed(out: &std::process::Output) -> bool {
    !out.status.success() && (out.status.code().is_none() || stderr(out).contains("failpoint"))
}

#[test]
fn a_kill_at_any_failpoint_then_a_rerun_equals_an_uninterrupted_run() {
    let reference = tempfile::tempdir().unwrap();
    let pipeline = prepare(reference.path());
    let out = output(chorus(reference.path()).arg("run").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = snapshot(reference.path());
    assert_eq!(expected[0].len(), 9);

    // Every failpoint at its first, second and third pass; the per-file ones further on.
    let points: Vec<String> = FAILPOINTS
        .iter()
        .flat_map(|p| {
            let passes = if p.ends_with("stage_file") || p.ends_with("after_move") {
                6
            } else {
                3
            };
            (1..=passes).map(move |n| format!("{p}:{n}"))
        })
        .collect();
    let mut kills = 0;
    let mut missed = Vec::new();
    for point in &points {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = prepare(dir.path());
        let out = output(
            chorus(dir.path())
                .arg("run")
                .arg(&pipeline)
                .env("CHORUS_FAILPOINT", point),
        );
        if was_killed(&out) {
            kills += 1;
        } else {
            // The run never passed that point that often: it must simply have finished.
            assert_eq!(out.status.code(), Some(0), "{point}: {}", stderr(&out));
            missed.push(point.clone());
        }
        assert_only_whole_files(
            dir.path(),
            &["out/crm__contacts", "out/crm__ad_costs"],
            point,
        );
        let out = output(chorus(dir.path()).arg("run").arg(&pipeline));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{point}: rerun failed: {}",
            stderr(&out)
        );
        assert_eq!(
            snapshot(dir.path()),
            expected,
            "{point}: output differs from an uninterrupted run"
        );
        let staging = files_below(&dir.path().join("out/_chorus/staging"));
        assert!(
            staging.is_empty(),
            "{point}: staging left behind: {staging:?}"
        );
        // And a further run changes nothing.
        let out = output(chorus(dir.path()).arg("run").arg(&pipeline));
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            snapshot(dir.path()),
            expected,
            "{point}: a third run changed the output"
        );
    }
    eprintln!("files pipeline: {kills} kills at failpoints; not reached: {missed:?}");
    assert!(kills >= 18, "only {kills} failpoints were reached");
}

/// The tables of `pipelines/twitter.toml`: streams, transforms and a mart.
const X_TABLES: &[&str] = &[
    "out/x__users",
    "out/x__tweets",
    "out/mentions_scored",
    "out/search_scored",
    "out/share_of_voice_daily",
];

/// How an HTTP run is interrupted.
enum Kill {
    /// `CHORUS_FAILPOINT` set to this.
    At(String),
    /// SIGKILL after this many milliseconds.
    After(u64),
}

fn x_run(dir: &Path, port: u16) -> std::process::Command {
    let mut cmd = chorus(dir);
    cmd.arg("run")
        .arg(dir.join("twitter.toml"))
        .env("X_API_URL", format!("http://127.0.0.1:{port}/x"))
        .env("X_BEARER_TOKEN", crate::kpi::X_TOKEN);
    cmd
}

#[test]
fn an_http_pipeline_killed_anywhere_then_resumed_equals_an_uninterrupted_run() {
    let snapshot = |dir: &Path| -> Vec<Vec<String>> {
        X_TABLES.iter().map(|t| table_rows(&dir.join(t))).collect()
    };
    let sb = start_sandbox();
    let reference = tempfile::tempdir().unwrap();
    copy_pipeline(reference.path(), "twitter");
    let started = std::time::Instant::now();
    let out = output(&mut x_run(reference.path(), sb.port));
    let run_ms = started.elapsed().as_millis() as u64;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = snapshot(reference.path());
    assert!(expected.iter().all(|t| !t.is_empty()));
    drop(sb);

    let mut kills: Vec<Kill> = Vec::new();
    for (point, hits) in [
        (
            "http.after_response",
            &[1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14][..],
        ),
        ("source.after_batch", &[1, 3, 6][..]),
        ("sink.after_stage_file", &[1, 3][..]),
        ("sink.after_stage_table", &[1, 3][..]),
        ("commit.before_record", &[1, 2][..]),
        ("commit.after_record", &[1, 2][..]),
        ("publish.after_move", &[1, 4][..]),
        ("publish.after_table", &[1, 3][..]),
        ("commit.before_done", &[1, 2][..]),
        ("commit.after_done", &[1][..]),
    ] {
        kills.extend(hits.iter().map(|n| Kill::At(format!("{point}:{n}"))));
    }
    // And at moments no failpoint marks: spread over the first 80 % of an uninterrupted run,
    // measured on this machine, so a faster or slower machine still kills runs mid-way.
    kills.extend((0..16).map(|i| Kill::After(run_ms * (1 + (i * 7) % 16) / 20)));

    let mut killed = 0;
    let mut missed = Vec::new();
    for kill in &kills {
        let sb = start_sandbox();
        let dir = tempfile::tempdir().unwrap();
        copy_pipeline(dir.path(), "twitter");
        let what = match kill {
            Kill::At(point) => point.clone(),
            Kill::After(ms) => format!("SIGKILL after {ms} ms"),
        };
        let out = match kill {
            Kill::At(point) => output(x_run(dir.path(), sb.port).env("CHORUS_FAILPOINT", point)),
            Kill::After(ms) => {
                let mut child = x_run(dir.path(), sb.port)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(*ms));
                let _ = child.kill();
                child.wait_with_output().unwrap()
            }
        };
        if was_killed(&out) {
            killed += 1;
        } else {
            assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
            missed.push(what.clone());
        }
        assert_only_whole_files(dir.path(), X_TABLES, &what);
        let out = output(&mut x_run(dir.path(), sb.port));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: resume failed: {}",
            stderr(&out)
        );
        assert_eq!(
            snapshot(dir.path()),
            expected,
            "{what}: output differs from an uninterrupted run"
        );
        assert!(
            files_below(&dir.path().join("out/_chorus/staging")).is_empty(),
            "{what}: staging left behind"
        );
    }
    eprintln!(
        "twitter pipeline: {killed} of {} runs killed; finished first: {missed:?}",
        kills.len()
    );
    // With the 18 of the files pipeline: at least 54 kill points in all.
    assert!(killed >= 36, "only {killed} runs were killed");
}
