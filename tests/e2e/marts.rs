//! Marts: SQL over a sink's committed tables, rebuilt and replaced after every commit, so a
//! daily or per-status aggregate covers every committed row — not only what an incremental
//! run read.

use crate::util::{chorus, copy_demo, files_below, output, stderr, stdout, table_rows};

const MART: &str = r#"
[marts.contacts_by_stage]
inputs = ["crm.contacts"]
primary_key = ["lifecycle_stage"]
query = """
SELECT lifecycle_stage, COUNT(*) AS contacts, COUNT(DISTINCT company) AS companies
FROM crm.contacts
GROUP BY lifecycle_stage
"""
"#;

#[test]
fn a_mart_covers_every_committed_row_after_an_incremental_run() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let mut text = std::fs::read_to_string(&pipeline).unwrap();
    text.push_str(MART);
    std::fs::write(&pipeline, text).unwrap();
    let feb = dir.path().join("data/crm/contacts_2024_02.csv");
    let held = dir.path().join("feb.csv.later");
    std::fs::rename(&feb, &held).unwrap();

    let validate = output(chorus(dir.path()).arg("validate").arg(&pipeline));
    assert!(
        stdout(&validate).contains("1 marts"),
        "{}",
        stdout(&validate)
    );

    let run = |dir: &std::path::Path| {
        let out = output(chorus(dir).arg("run").arg(&pipeline));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let first = run(dir.path());
    assert!(first.contains("contacts_by_stage"), "{first}");
    let total = |rows: &[String]| -> u64 {
        rows.iter()
            .map(|r| r.split('|').nth(2).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let january = table_rows(&dir.path().join("out/crm__contacts")).len() as u64;
    assert_eq!(
        total(&table_rows(&dir.path().join("out/contacts_by_stage"))),
        january
    );

    // February arrives: the run reads only it, the mart still counts everyone.
    std::fs::rename(&held, &feb).unwrap();
    run(dir.path());
    let everyone = table_rows(&dir.path().join("out/crm__contacts")).len() as u64;
    assert!(everyone > january);
    let mart = table_rows(&dir.path().join("out/contacts_by_stage"));
    assert_eq!(total(&mart), everyone, "{mart:?}");
    // Replaced whole: one file, from the last run.
    let files = files_below(&dir.path().join("out/contacts_by_stage"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains("-marts-"), "{files:?}");
}

#[test]
fn a_mart_reads_only_what_its_sink_writes() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let mut text = std::fs::read_to_string(&pipeline).unwrap();
    text.push_str(&MART.replace("inputs = [\"crm.contacts\"]", "inputs = [\"crm.contact\"]"));
    std::fs::write(&pipeline, text).unwrap();
    let out = output(chorus(dir.path()).arg("validate").arg(&pipeline));
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(
        err.contains(
            "mart \"contacts_by_stage\" reads \"crm.contact\", which sink \"lake\" does not write"
        ),
        "{err}"
    );
    assert!(err.contains("did you mean \"crm.contacts\"?"), "{err}");
}
