//! A full, read-only or size-limited output ends the run with an error that says what failed,
//! where and what to do, exit code 1 (SPEC: "failed for other reasons"), and nothing of the
//! failed run visible to readers; once the space returns, the next run's output equals that of
//! a run that never failed.
//!
//! The output folder is a small tmpfs mounted in a private mount namespace (`unshare -m`, as
//! root, which CI is), so a full disk is a real `ENOSPC` at whatever write comes first: a
//! Parquet file, a commit record or its `.done` marker. The file-size limit case needs no
//! privilege: `ulimit -f` with `SIGXFSZ` ignored makes writes fail with `EFBIG`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{chorus, copy_demo, files_below, output, stderr, table_rows};

const MARCH: &str = "id,email,company,lifecycle_stage,source_channel,created_at,updated_at\n\
    00109,ivy@example.com,Oscorp,lead,facebook,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z\n\
    00101,ana@example.com,Acme,customer,facebook,2024-01-02T09:15:00Z,2024-03-02T10:00:00Z\n";

const MARCH_COSTS: &str = "{\"date\": \"2024-03-01\", \"platform\": \"x\", \"campaign\": \"spring\", \"spend\": 10.0, \"clicks\": 5}\n\
    {\"date\": \"2024-01-03\", \"platform\": \"instagram\", \"campaign\": \"launch\", \"spend\": 61.0, \"clicks\": 151}\n";

const TABLES: [&str; 2] = ["crm__contacts", "crm__ad_costs"];

/// The demo pipeline in `dir` with its output at `dir/out`, and the files that arrive for the
/// second run kept aside in `dir/next`.
fn prepare(dir: &Path) -> PathBuf {
    let pipeline = copy_demo(dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::create_dir_all(dir.join("next/crm")).unwrap();
    std::fs::create_dir_all(dir.join("next/costs")).unwrap();
    std::fs::write(dir.join("next/crm/contacts_2024_03.csv"), MARCH).unwrap();
    std::fs::write(dir.join("next/costs/ad_costs_2024_03.ndjson"), MARCH_COSTS).unwrap();
    pipeline
}

/// The rows readers see in each table of `out`, checking that nothing but Parquet is there.
fn visible(out: &Path) -> Vec<Vec<String>> {
    TABLES.iter().map(|t| table_rows(&out.join(t))).collect()
}

/// The tables after two uninterrupted runs on an ordinary disk.
fn reference() -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = prepare(dir.path());
    for _ in 0..2 {
        let out = output(chorus(dir.path()).arg("run").arg(&pipeline));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        arrive(dir.path());
    }
    visible(&dir.path().join("out"))
}

/// The second run's files arrive.
fn arrive(dir: &Path) {
    for (from, to) in [
        (
            "next/crm/contacts_2024_03.csv",
            "data/crm/contacts_2024_03.csv",
        ),
        (
            "next/costs/ad_costs_2024_03.ndjson",
            "data/costs/ad_costs_2024_03.ndjson",
        ),
    ] {
        if dir.join(from).exists() {
            // Written afresh, as an arriving file is: a rename would keep the modification
            // time from before the first run, and the files connector reads on mtime.
            std::fs::copy(dir.join(from), dir.join(to)).unwrap();
            std::fs::remove_file(dir.join(from)).unwrap();
        }
    }
}

/// Runs a bash script as root in a private mount namespace, in `dir`, with `$CHORUS` the
/// binary. Steps record `steps/<n>.code`, `.err` and a copy of `out` as `steps/<n>.out`.
fn in_namespace(dir: &Path, script: &str) -> Output {
    std::fs::create_dir_all(dir.join("steps")).unwrap();
    let prelude = r#"
set -eu
step() {  # step NAME: run chorus, keep its exit code, stderr and a copy of the output
  name=$1; shift
  set +e
  "$CHORUS" run "$PWD/files_demo.toml" "$@" > "steps/$name.stdout" 2> "steps/$name.err"
  echo $? > "steps/$name.code"
  set -e
  cp -a out "steps/$name.out"
  rm -f "steps/$name.out/ballast"
}
arrive() {  # written afresh (cp, not mv), so the files carry a modification time after the first run
  cp next/crm/contacts_2024_03.csv data/crm/ && rm next/crm/contacts_2024_03.csv
  cp next/costs/ad_costs_2024_03.ndjson data/costs/ && rm next/costs/ad_costs_2024_03.ndjson
}
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "bash", "-c"])
        .arg(format!("{prelude}\n{script}"))
        .current_dir(dir)
        .env("CHORUS", env!("CARGO_BIN_EXE_chorus"))
        .env("CHORUS_LOG", "warn")
        .env_remove("CHORUS_FAILPOINT");
    let out = cmd.output().expect("unshare runs");
    assert!(
        out.status.success(),
        "the disk test needs root to mount a tmpfs in a private mount namespace (unshare -m; CI runs as root): {}",
        stderr(&out)
    );
    out
}

struct Step {
    code: i32,
    err: String,
    out: PathBuf,
}

fn step(dir: &Path, name: &str) -> Step {
    let steps = dir.join("steps");
    Step {
        code: std::fs::read_to_string(steps.join(format!("{name}.code")))
            .unwrap_or_else(|e| panic!("step {name} did not run: {e}"))
            .trim()
            .parse()
            .unwrap(),
        err: std::fs::read_to_string(steps.join(format!("{name}.err"))).unwrap(),
        out: steps.join(format!("{name}.out")),
    }
}

/// A failed step: exit 1, the error says what failed, where and what to do, and each table
/// shows readers either what it showed before the run or the whole of the run (a stream whose
/// write succeeded is committed, as SPEC says for exit 1), never a part of it.
fn assert_clean_failure(
    s: &Step,
    before: &[Vec<String>],
    after: &[Vec<String>],
    advice: &str,
    what: &str,
) {
    assert_eq!(s.code, 1, "{what}: {}", s.err);
    assert!(s.err.contains(advice), "{what}: no advice in {}", s.err);
    assert!(
        s.err.contains("sink \"lake\"") || s.err.contains("commit"),
        "{what}: the error does not say what failed: {}",
        s.err
    );
    assert!(
        s.err.contains("/out"),
        "{what}: the error does not say where: {}",
        s.err
    );
    let seen = visible(&s.out);
    for (i, table) in TABLES.iter().enumerate() {
        assert!(
            seen[i] == before[i] || seen[i] == after[i],
            "{what}: readers see part of the failed run in {table}: {:?}",
            seen[i]
        );
    }
}

#[test]
fn a_full_disk_fails_cleanly_wherever_it_strikes_and_the_next_run_recovers() {
    let expected = reference();
    let mut failures = 0;
    let mut points = std::collections::BTreeSet::new();
    // Free space left for the second run: from none to enough (its files take about 12 KiB;
    // tmpfs counts 4 KiB pages).
    for free_kib in (0..=24).step_by(2) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        prepare(d);
        in_namespace(
            d,
            &format!(
                r#"
mount -t tmpfs -o size=2m,mode=0755 chorus-full out
step first
arrive
avail=$(df -B1 --output=avail out | tail -n 1)
fill=$(( avail - {free_kib} * 1024 ))
if [ "$fill" -gt 0 ]; then head -c "$fill" /dev/zero > out/ballast 2>/dev/null || true; fi
step full
rm -f out/ballast
step again
"#
            ),
        );
        let first = step(d, "first");
        assert_eq!(first.code, 0, "{}", first.err);
        let before = visible(&first.out);
        let full = step(d, "full");
        if full.code == 0 {
            assert_eq!(visible(&full.out), expected, "{free_kib} KiB free");
        } else {
            assert_clean_failure(
                &full,
                &before,
                &expected,
                "the disk holding the output is full",
                &format!("{free_kib} KiB free"),
            );
            failures += 1;
            points.insert(if full.err.contains("the commit record") {
                "the commit record"
            } else if full.err.contains("_chorus/staging/") {
                "a staged Parquet file"
            } else {
                "elsewhere"
            });
        }
        let again = step(d, "again");
        assert_eq!(
            again.code, 0,
            "{free_kib} KiB free, then space: {}",
            again.err
        );
        assert_eq!(
            visible(&again.out),
            expected,
            "{free_kib} KiB free, then space; the full run exited {}: {}\nthen: {}\nfiles: {:?}",
            full.code,
            full.err,
            again.err,
            files_below(&again.out)
        );
        let staging = files_below(&again.out.join("_chorus/staging"));
        assert!(staging.is_empty(), "left in staging: {staging:?}");
    }
    assert!(failures >= 4, "only {failures} runs hit the full disk");
    assert!(
        points.contains("the commit record") && points.contains("a staged Parquet file"),
        "the disk filled only at {points:?}"
    );
    println!("disk full: {failures} failed runs, at {points:?}");
}

#[test]
fn a_disk_full_from_the_first_byte_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepare(d);
    in_namespace(
        d,
        r#"
mount -t tmpfs -o size=4k chorus-tiny out
head -c 4096 /dev/zero > out/ballast 2>/dev/null || true
step full
rm -f out/ballast
mount -o remount,size=2m out
step again
"#,
    );
    let full = step(d, "full");
    let nothing = [Vec::new(), Vec::new()];
    assert_clean_failure(
        &full,
        &nothing,
        &nothing,
        "the disk holding the output is full",
        "no space at all",
    );
    let again = step(d, "again");
    assert_eq!(again.code, 0, "{}", again.err);
    let rows = visible(&again.out);
    assert!(!rows[0].is_empty() && !rows[1].is_empty());
}

#[test]
fn a_read_only_output_fails_cleanly_and_recovers_when_writable() {
    let expected = reference();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    prepare(d);
    in_namespace(
        d,
        r#"
mount -t tmpfs -o size=2m chorus-ro out
step first
arrive
mount -o remount,ro out
step readonly
mount -o remount,rw out
step again
"#,
    );
    let first = step(d, "first");
    assert_eq!(first.code, 0, "{}", first.err);
    let readonly = step(d, "readonly");
    assert_clean_failure(
        &readonly,
        &visible(&first.out),
        &expected,
        "read-only file system: mount it read-write",
        "read-only",
    );
    let again = step(d, "again");
    assert_eq!(again.code, 0, "{}", again.err);
    assert_eq!(visible(&again.out), expected);
}

#[test]
fn a_file_size_limit_fails_cleanly_without_privileges() {
    let expected = reference();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pipeline = prepare(d);
    let first = output(chorus(d).arg("run").arg(&pipeline));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let before = visible(&d.join("out"));
    arrive(d);
    // SIGXFSZ ignored survives exec, so the kernel answers EFBIG instead of killing chorus.
    let limited = chorus(d);
    let limited = output(
        Command::new("bash")
            .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" run \"$1\""])
            .arg(limited.get_program())
            .arg(&pipeline)
            .current_dir(d)
            .envs(limited.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .env_remove("CHORUS_FAILPOINT"),
    );
    let s = Step {
        code: limited.status.code().unwrap_or(-1),
        err: stderr(&limited),
        out: d.join("out"),
    };
    assert_clean_failure(
        &s,
        &before,
        &expected,
        "file-size limit (ulimit -f)",
        "ulimit -f 1",
    );
    let again = output(chorus(d).arg("run").arg(&pipeline));
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(visible(&d.join("out")), expected);
}
