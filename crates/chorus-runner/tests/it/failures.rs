//! A failed stream commits nothing of its own; the others commit; the cursor of the failed
//! one stays where it was.

use chorus_core::ErrorKind;
use chorus_runner::summary::Status;

use crate::support::{plan, registry, run, table};

const PIPELINE: &str = r#"[pipeline]
name = "partial"

[sources.crm]
type = "files"

[[sources.crm.files]]
stream = "good"
paths = ["good/*.csv"]
format = "csv"
primary_key = ["id"]

[[sources.crm.files]]
stream = "bad"
paths = ["bad/*.csv"]
format = "csv"
primary_key = ["id"]
schema = { n = "int64" }

[sinks.lake]
type = "parquet"
inputs = ["crm.good", "crm.bad"]
path = "out"
"#;

#[tokio::test]
async fn a_bad_row_fails_its_stream_only() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["good", "bad"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    std::fs::write(dir.path().join("good/a.csv"), "id,n\n1,1\n2,2\n").unwrap();
    std::fs::write(dir.path().join("bad/a.csv"), "id,n\n1,1\n").unwrap();
    let r = registry(|_| {});
    let p = plan(dir.path(), PIPELINE, &r, &[]).unwrap();
    std::fs::write(dir.path().join("bad/a.csv"), "id,n\n1,1\n2,two\n").unwrap();

    let report = run(&p).await;
    assert!(!report.summary.success);
    assert_eq!(report.failures, vec![ErrorKind::Contract]);
    let by_id = |id: &str| {
        report
            .summary
            .streams
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("crm.good").status, Status::Committed);
    let bad = by_id("crm.bad");
    assert_eq!(bad.status, Status::Failed);
    let msg = bad.error.unwrap();
    assert!(msg.contains("bad/a.csv") && msg.contains("line"), "{msg}");
    assert!(bad.state_after.is_none());

    assert_eq!(table(&dir.path().join("out/crm__good")).0, 2);
    assert!(
        !dir.path().join("out/crm__bad").exists(),
        "nothing of the failed stream is visible"
    );

    // Fixed data: the next run commits the bad stream; the good one has nothing new.
    std::fs::write(dir.path().join("bad/a.csv"), "id,n\n1,1\n2,2\n").unwrap();
    let report = run(&p).await;
    assert!(report.summary.success, "{:?}", report.summary);
    assert_eq!(table(&dir.path().join("out/crm__bad")).0, 2);
    assert_eq!(table(&dir.path().join("out/crm__good")).0, 2);
}
