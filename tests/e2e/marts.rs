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

/// A pipeline of one X account's posts and a mart of posts per day, against `chorus sandbox`.
const X_MART: &str = r#"[pipeline]
name = "x_marts"

[sources.x]
type = "twitter"
bearer_token = "${X_BEARER_TOKEN}"
base_url = "${X_API_URL}"
usernames = ["acme"]
start_time = "30daysAgo"
streams = ["users", "tweets"]

[sinks.lake]
type = "parquet"
inputs = ["x.users", "x.tweets"]
path = "out"

[marts.posts_per_day]
inputs = ["x.tweets"]
primary_key = ["day"]
query = "SELECT CAST(created_at AS DATE) AS day, COUNT(*) AS posts FROM x.tweets GROUP BY 1"
"#;

#[test]
fn a_mart_rebuilt_while_its_stream_failed_is_marked_incomplete_and_the_report_says_so() {
    let sb = crate::meta::start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("x.toml");
    std::fs::write(&pipeline, X_MART).unwrap();
    let run = |token: &str| {
        output(
            chorus(dir.path())
                .arg("run")
                .arg(&pipeline)
                .args(["--summary-json", "summary.json"])
                .env("X_API_URL", format!("http://127.0.0.1:{}/x", sb.port))
                .env("X_BEARER_TOKEN", token),
        )
    };
    let status = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.path().join("out/_chorus/marts.json")).unwrap())
            .unwrap()
    };
    let report = || {
        let out = output(
            chorus(dir.path())
                .arg("report")
                .arg(&pipeline)
                .args(["--out", "report.html"]),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        std::fs::read_to_string(dir.path().join("report.html")).unwrap()
    };

    let ok = run(crate::kpi::X_TOKEN);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(status()["incomplete"], serde_json::json!({}));
    assert!(!report().contains("class=\"warning\""));

    // The token is revoked: the posts stream fails, the mart is rebuilt from what was
    // committed before, and everything that reads it is told it lacks this run's rows.
    let failed = run("revoked-token");
    assert_eq!(failed.status.code(), Some(77), "{}", stderr(&failed));
    assert_eq!(
        status()["incomplete"],
        serde_json::json!({"posts_per_day": ["x.tweets"]})
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let mart = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["input"] == "posts_per_day")
        .unwrap();
    assert_eq!(mart["incomplete"], serde_json::json!(["x.tweets"]));
    let page = report();
    assert!(page.contains("class=\"warning\""), "no warning on the page");
    assert!(
        page.contains("<code>posts_per_day</code> lacks the new rows of <code>x.tweets</code>")
    );

    // The token works again: the next run reads what was missed and the mark goes away.
    let again = run(crate::kpi::X_TOKEN);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(status()["incomplete"], serde_json::json!({}));
    assert!(!report().contains("class=\"warning\""));
}
