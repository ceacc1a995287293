//! Running the files demo: rows, types as warehouses read them, incremental runs, summaries.

use crate::util::{
    chorus, copy_demo, files_below, output, stderr, stdout, stream_summary, table_rows,
};

#[test]
fn the_demo_commits_and_a_second_run_finds_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .args(["--summary-json", "summary.json"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("committed (commit 1)"), "{text}");
    assert!(text.contains("crm__contacts"), "{text}");

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["success"], true);
    let rows = |id: &str| stream_summary(&summary, id)["rows"].as_u64().unwrap();
    assert_eq!(rows("crm.contacts"), 9);
    assert_eq!(rows("crm.ad_costs"), 5);

    // merge keeps the latest row of contact 00102.
    let contacts = table_rows(&dir.path().join("out/crm__contacts"));
    assert_eq!(contacts.len(), 8);
    assert!(
        contacts
            .iter()
            .any(|r| r.contains("|00102|") && r.contains("churned")),
        "{contacts:?}"
    );
    let costs = files_below(&dir.path().join("out/crm__ad_costs"));
    assert_eq!(costs.len(), 3, "one file per day: {costs:?}");
    assert!(costs[0].starts_with("dt=2024-01-01/part-"));

    // Nothing new: no rows read, the cursor stays.
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .args(["--summary-json", "-"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let contacts_run = stream_summary(&again, "crm.contacts");
    assert_eq!(contacts_run["rows"], 0);
    assert_eq!(
        contacts_run["state_after"]["cursor"]["value"],
        "2024-02-20T08:00:00Z"
    );
    assert_eq!(table_rows(&dir.path().join("out/crm__contacts")), contacts);

    // A new export arrives: only its rows are read; merge updates one contact.
    std::fs::write(
        dir.path().join("data/crm/contacts_2024_03.csv"),
        "id,email,company,lifecycle_stage,source_channel,created_at,updated_at\n\
         00109,ivy@example.com,Oscorp,lead,facebook,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z\n\
         00101,ana@example.com,Acme,customer,facebook,2024-01-02T09:15:00Z,2024-03-02T10:00:00Z\n",
    )
    .unwrap();
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .args(["--summary-json", "-"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let third: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let contacts_run = stream_summary(&third, "crm.contacts");
    assert_eq!(contacts_run["rows"], 2);
    let contacts = table_rows(&dir.path().join("out/crm__contacts"));
    assert_eq!(contacts.len(), 9);
    assert!(
        contacts
            .iter()
            .any(|r| r.contains("|00101|") && r.contains("customer"))
    );

    // state show reports the cursor; reset forgets it and a dry run says so.
    let out = output(chorus(dir.path()).args(["state", "show"]).arg(&pipeline));
    assert_eq!(out.status.code(), Some(0));
    let state: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        state["streams"]["crm.contacts"]["cursor"]["value"],
        "2024-03-02T10:00:00Z"
    );
    let out = output(
        chorus(dir.path())
            .args(["state", "reset"])
            .arg(&pipeline)
            .args(["--stream", "crm.contacts"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .arg("--dry-run"),
    );
    assert!(
        stdout(&out).contains("crm.contacts                     from the start"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("crm.ad_costs                     from {"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn warehouses_read_the_types_chorus_promises() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let out = output(chorus(dir.path()).arg("run").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = r#"
import pyarrow.dataset as ds, pyarrow.parquet as pq, duckdb, glob, json
c = ds.dataset("out/crm__contacts", format="parquet").to_table()
a = ds.dataset("out/crm__ad_costs", format="parquet", partitioning="hive").to_table()
f = pq.ParquetFile(sorted(glob.glob("out/crm__contacts/*.parquet"))[0]).metadata
col = f.schema.column(c.schema.get_field_index("updated_at"))
print(json.dumps({
  "id": str(c.schema.field("id").type),
  "updated_at": str(c.schema.field("updated_at").type),
  "extracted": str(c.schema.field("_extracted_at").type),
  "date": str(a.schema.field("date").type),
  "spend": str(a.schema.field("spend").type),
  "clicks": str(a.schema.field("clicks").type),
  "physical": col.physical_type,
  "utc": col.logical_type.to_json(),
  "codec": f.row_group(0).column(0).compression,
  "duck": duckdb.sql("select typeof(updated_at), typeof(id), count(*) from read_parquet('out/crm__contacts/*.parquet') group by all").fetchall(),
  "duck_days": duckdb.sql("select count(distinct dt), sum(spend) from read_parquet('out/crm__ad_costs/*/*.parquet', hive_partitioning=true)").fetchall(),
}, default=str))
"#;
    let py = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "pyarrow/duckdb could not read the output (.ci/run installs them): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(v["id"], "string");
    assert_eq!(v["updated_at"], "timestamp[us, tz=UTC]");
    assert_eq!(v["extracted"], "timestamp[us, tz=UTC]");
    assert_eq!(v["date"], "date32[day]");
    assert_eq!(v["spend"], "double");
    assert_eq!(v["clicks"], "int64");
    assert_eq!(v["physical"], "INT64");
    assert!(
        v["utc"]
            .as_str()
            .unwrap()
            .contains("\"isAdjustedToUTC\":true"),
        "{}",
        v["utc"]
    );
    assert_eq!(v["codec"], "ZSTD");
    assert_eq!(v["duck"][0][0], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(v["duck"][0][1], "VARCHAR");
    assert_eq!(v["duck"][0][2], 8);
    assert_eq!(v["duck_days"][0][0], 3);
}

#[test]
fn select_limits_the_run_and_discover_lists_the_streams() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .args(["--select", "crm.ad_*"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("out/crm__ad_costs").exists());
    assert!(!dir.path().join("out/crm__contacts").exists());

    let out = output(chorus(dir.path()).arg("discover").arg(&pipeline));
    let text = stdout(&out);
    assert!(
        text.contains("crm.contacts\n    primary key: id\n    cursor:      updated_at"),
        "{text}"
    );
    assert!(
        text.contains("updated_at                   timestamp"),
        "{text}"
    );

    let out = output(chorus(dir.path()).arg("check").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("contacts: 2 files"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_window_backfills_without_moving_the_cursor_back() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_demo(dir.path());
    assert_eq!(
        output(chorus(dir.path()).arg("run").arg(&pipeline))
            .status
            .code(),
        Some(0)
    );
    let out = output(chorus(dir.path()).arg("run").arg(&pipeline).args([
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-10",
        "--select",
        "crm.contacts",
        "--summary-json",
        "-",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        s["streams"][0]["rows"], 2,
        "updated 2024-01-02 and 2024-01-05"
    );
    assert_eq!(
        s["streams"][0]["state_after"]["cursor"]["value"],
        "2024-02-20T08:00:00Z"
    );
}

#[test]
fn init_templates_validate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/a.csv"), "id,name\n1,x\n").unwrap();
    let out = output(chorus(dir.path()).args(["init", "files"]));
    assert_eq!(out.status.code(), Some(0));
    let template = stdout(&out).replace("inputs = []", "inputs = [\"files.contacts\"]");
    std::fs::write(dir.path().join("p.toml"), template).unwrap();
    let out = output(chorus(dir.path()).args(["validate", "p.toml"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = output(chorus(dir.path()).args(["init", "nope"]));
    assert_eq!(out.status.code(), Some(2));
}
