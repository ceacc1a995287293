//! A run killed at any failpoint, then run again, leaves exactly what an uninterrupted run
//! leaves: the same rows, no duplicates, and never a partial or stray file under a table.

use std::path::Path;

use chorus_core::failpoint::FAILPOINTS;

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

#[test]
fn a_kill_at_any_failpoint_then_a_rerun_equals_an_uninterrupted_run() {
    let reference = tempfile::tempdir().unwrap();
    let pipeline = prepare(reference.path());
    let out = output(chorus(reference.path()).arg("run").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = snapshot(reference.path());
    assert_eq!(expected[0].len(), 9);

    let mut points: Vec<String> = FAILPOINTS.iter().map(|p| p.to_string()).collect();
    points.extend(
        [
            "publish.after_move:2",
            "publish.after_move:4",
            "sink.after_stage_file:3",
            "source.after_batch:2",
        ]
        .map(String::from),
    );
    for point in &points {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = prepare(dir.path());
        let out = output(
            chorus(dir.path())
                .arg("run")
                .arg(&pipeline)
                .env("CHORUS_FAILPOINT", point),
        );
        assert!(!out.status.success(), "{point}: the run was not killed");
        assert!(
            stderr(&out).contains(&format!(
                "failpoint {} hit",
                point.split(':').next().unwrap()
            )),
            "{point}: {}",
            stderr(&out)
        );
        // Whatever a reader sees now is whole Parquet files only.
        for table in ["out/crm__contacts", "out/crm__ad_costs"] {
            for f in files_below(&dir.path().join(table)) {
                assert!(f.ends_with(".parquet"), "{point}: partial file {f} visible");
            }
            let _ = table_rows(&dir.path().join(table));
        }
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
}
