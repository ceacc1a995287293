//! The transforms demo end to end: files → dedupe → sentiment → sql → Parquet.

use crate::util::{chorus, copy_pipeline, output, stderr, stdout, table_rows};

#[test]
fn the_transform_demo_dedupes_scores_and_computes_kpis() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path(), "transform_demo");

    let out = output(chorus(dir.path()).arg("validate").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 transforms"), "{}", stdout(&out));

    let out = output(chorus(dir.path()).arg("run").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Columns: id, post_id, created_at, author, language, sentiment_score, sentiment_label,
    // engagements, engagement_rate_by_reach, network, utm_campaign, channel.
    let rows = table_rows(&dir.path().join("out/comment_kpis"));
    let row = |id: &str| -> Vec<String> {
        let found: Vec<&String> = rows
            .iter()
            .filter(|r| r.starts_with(&format!("|{id}|")))
            .collect();
        assert_eq!(found.len(), 1, "one row for {id}: {rows:#?}");
        found[0].split('|').skip(1).map(str::to_owned).collect()
    };
    assert_eq!(rows.len(), 7, "{rows:#?}");

    // The edited comment keeps its latest, positive version.
    let c002 = row("c002");
    assert_eq!(c002[6], "positive", "{c002:?}");
    assert_eq!(c002[7], "11");
    assert_eq!(c002[9], "facebook");
    assert_eq!(c002[11], "Paid Social");

    let c001 = row("c001");
    assert_eq!(c001[6], "positive", "{c001:?}");
    assert_eq!(c001[10], "winter_sale");

    // French and Spanish: the language is known, the sentiment NULL.
    let c003 = row("c003");
    assert_eq!(
        (c003[4].as_str(), c003[5].as_str(), c003[6].as_str()),
        ("fr", "", "")
    );
    assert_eq!(c003[8], "", "zero reach gives a NULL rate: {c003:?}");
    assert_eq!(c003[9], "instagram");
    assert_eq!(c003[10], "launch week");
    assert_eq!(c003[11], "Organic Social");
    let c006 = row("c006");
    assert_eq!((c006[4].as_str(), c006[6].as_str()), ("es", ""));
    assert_eq!(c006[11], "Paid Shopping");

    let c004 = row("c004");
    assert_eq!(c004[11], "Email", "{c004:?}");
    let c005 = row("c005");
    assert_eq!(c005[6], "neutral", "{c005:?}");
    assert_eq!((c005[9].as_str(), c005[11].as_str()), ("x", "Unassigned"));
    let c007 = row("c007");
    assert_eq!(
        (c007[9].as_str(), c007[11].as_str()),
        ("linkedin", "Organic Social")
    );

    // A second run reads nothing new and leaves the table as it was.
    let out = output(chorus(dir.path()).arg("run").arg(&pipeline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(table_rows(&dir.path().join("out/comment_kpis")), rows);
}

#[test]
fn every_transform_template_validates_against_the_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "transform_demo");
    let mut pipeline = String::from(
        r#"[pipeline]
name = "templates"

[sources.crm]
type = "files"

[[sources.crm.files]]
stream = "contacts"
paths = ["data/crm/*.csv"]
format = "csv"
primary_key = ["id"]
cursor = "updated_at"

[sources.social]
type = "files"

[[sources.social.files]]
stream = "comments"
paths = ["data/social/*.csv"]
format = "csv"
primary_key = ["id"]
cursor = "updated_at"

"#,
    );
    let mut ids = Vec::new();
    for t in ["sql", "sentiment", "dedupe"] {
        let out = output(chorus(dir.path()).args(["init", t]));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // The template is a whole pipeline; take its transform section.
        let text = stdout(&out);
        let start = text.find("[transforms.").unwrap();
        let end = text.find("[sinks.").unwrap();
        pipeline.push_str(&text[start..end]);
        ids.push(format!("\"{t}\""));
    }
    pipeline.push_str(&format!(
        "\n[sinks.lake]\ntype = \"parquet\"\ninputs = [{}]\npath = \"out\"\n",
        ids.join(", ")
    ));
    std::fs::write(dir.path().join("p.toml"), &pipeline).unwrap();
    let out = output(chorus(dir.path()).args(["validate", "p.toml"]));
    assert_eq!(out.status.code(), Some(0), "{}\n{pipeline}", stderr(&out));
}
