//! The fault battery of the whole product: the demo pipeline — every connector, every stream,
//! the transforms and the marts — run with `chorus run` against `chorus sandbox --faults …`,
//! each fault kind alone and all of them mixed at 5 to 30 %, on several seeds. Every table must
//! hold exactly the rows of the same run without faults (compared row by row, so by key too):
//! not one lost, not one repeated. chorus's retries get through every case below, so every run
//! must also exit 0.
//!
//! The throttles (`429`, `429reset`, `throttle400`) are left to each connector's own battery
//! (`connectors/*/tests/it/battery.rs`), which runs them with the platform's pauses shortened:
//! here Meta's answer to a throttle, a pause of its own, would make one case take minutes.

use std::path::{Path, PathBuf};

use crate::meta::{SandboxProcess, start_sandbox_with};
use crate::shard::{control, sandbox_env};
use crate::util::{chorus, repo, stderr, table_rows};

/// The sandbox's last day of data: pinned, so the clean and the faulty sandbox serve the same
/// rows whenever the test runs (the pipeline's `90daysAgo` is then relative to today, and both
/// runs read the same window).
fn anchor() -> String {
    crate::util::days_ago(3).to_string()
}

/// Enough data that a demo run makes over a thousand requests.
const SCALE: &str = "3";

/// Faults answer fast, so the battery spends its time on requests, not on waiting.
const TIMING: &str = "slow_ms=20,timeout_ms=300";

fn sandbox(seed: u64, faults: &str) -> SandboxProcess {
    let (seed, anchor) = (seed.to_string(), anchor());
    start_sandbox_with(
        chorus(&repo()),
        &[
            "--seed", &seed, "--scale", SCALE, "--anchor", &anchor, "--faults", faults,
        ],
    )
}

/// Runs `pipelines/demo.toml` against `sandbox`, into `dir/out`; panics unless it exits 0.
fn run_demo(sandbox: &SandboxProcess, dir: &Path, what: &str) -> PathBuf {
    let out = dir.join("out");
    let mut cmd = chorus(&repo());
    cmd.arg("run")
        .arg(repo().join("pipelines/demo.toml"))
        .env("DEMO_OUT", &out)
        // Fast retries and a short timeout, as an impatient orchestrator would set them.
        .env("CHORUS_HTTP_TIMEOUT_MS", "1200")
        .env("CHORUS_HTTP_BACKOFF_MS", "20");
    for (k, v) in sandbox_env(sandbox.port) {
        cmd.env(k, v);
    }
    let result = cmd.output().unwrap();
    assert_eq!(
        result.status.code(),
        Some(0),
        "{what}: the run did not get through its faults: {}",
        stderr(&result)
    );
    out
}

/// Every table (folder with Parquet files) under `out`, by name.
fn tables(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path().is_dir() && !name.starts_with('_')).then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// Runs the demo clean on `seed`, then through each of `cases`, and compares every table.
fn battery(seed: u64, cases: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let clean = {
        let sb = sandbox(seed, "none");
        run_demo(&sb, &dir.path().join("clean"), "clean run")
    };
    let expected = tables(&clean);
    assert!(expected.len() >= 30, "the demo wrote {expected:?}");
    for (i, case) in cases.iter().enumerate() {
        let what = format!("seed {seed}, faults {case}");
        let sb = sandbox(seed, &format!("{case},{TIMING}"));
        let out = run_demo(&sb, &dir.path().join(format!("case{i}")), &what);
        let requests = control(sb.port, "GET", "requests")
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(tables(&out), expected, "{what}: not the same tables");
        let mut differing = Vec::new();
        for table in &expected {
            let want = table_rows(&clean.join(table));
            let got = table_rows(&out.join(table));
            if got != want {
                let lost = want
                    .iter()
                    .filter(|r| got.binary_search(r).is_err())
                    .count();
                let extra = got
                    .iter()
                    .filter(|r| want.binary_search(r).is_err())
                    .count();
                differing.push(format!(
                    "{table}: {} rows instead of {} ({lost} lost, {extra} not in the clean run)",
                    got.len(),
                    want.len()
                ));
            }
        }
        assert!(
            differing.is_empty(),
            "{what}: tables differ from the run without faults:\n{}",
            differing.join("\n")
        );
        eprintln!("{what}: {requests} requests, every table equal");
    }
}

#[test]
fn every_table_survives_each_fault_kind_alone_seed_5() {
    battery(5, &["error200=0.2", "500=0.2", "truncate=0.2", "slow=0.3"]);
}

#[test]
fn every_table_survives_each_fault_kind_alone_seed_11() {
    battery(11, &["503=0.2", "reset=0.2", "timeout=0.05"]);
}

#[test]
fn every_table_survives_mixed_faults_at_5_15_and_30_percent() {
    battery(
        23,
        &[
            "500=0.01,503=0.01,error200=0.01,timeout=0.005,truncate=0.01,reset=0.005",
            // The mix the loss was first seen with.
            "500=0.05,503=0.04,error200=0.02,timeout=0.01,truncate=0.04,reset=0.04,slow=0.01",
            "500=0.05,503=0.05,error200=0.06,timeout=0.01,truncate=0.07,reset=0.06,slow=0.02",
        ],
    );
}
