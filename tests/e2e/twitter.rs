//! `pipelines/twitter.toml` against `chorus sandbox`: every table committed with the
//! share-of-voice pair labelled, a rerun that re-reads only the lookback, and a refused token
//! that ends the run with exit 77 and never shows.

use crate::meta::{copy_pipeline, start_sandbox};
use crate::util::{chorus, files_below, output, stderr, stream_summary, table_rows};

const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAChorusSandboxX%2Fbearer0token7Qw2";

fn run(dir: &std::path::Path, port: u16, token: &str, summary: &str) -> std::process::Output {
    output(
        chorus(dir)
            .arg("run")
            .arg(dir.join("twitter.toml"))
            .args(["--summary-json", summary])
            .env("X_API_URL", format!("http://127.0.0.1:{port}/x"))
            .env("X_BEARER_TOKEN", token),
    )
}

#[test]
fn the_twitter_pipeline_runs_against_the_sandbox() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "twitter");
    let mut summaries = Vec::new();
    for name in ["first.json", "second.json"] {
        let out = run(dir.path(), sb.port, TOKEN, name);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains(TOKEN));
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(!text.contains(TOKEN));
        summaries.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
    }
    let rows = |s: &serde_json::Value, id: &str| stream_summary(s, id)["rows"].as_u64().unwrap();
    for id in ["x.users", "x.tweets", "x.mentions", "x.search"] {
        assert!(rows(&summaries[0], id) > 0, "{id} read nothing");
    }
    assert_eq!(rows(&summaries[0], "x.users"), 3);
    // The rerun re-reads each account's last week only.
    assert!(rows(&summaries[1], "x.tweets") < rows(&summaries[0], "x.tweets") / 3);
    // Share of voice covers every committed search result, and sums to 100 % per day.
    let searched = table_rows(&dir.path().join("out/search_scored")).len() as u64;
    let sov = table_rows(&dir.path().join("out/share_of_voice_daily"));
    let posts: u64 = sov
        .iter()
        .map(|r| r.split('|').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(posts, searched, "{sov:?}");
    let mut per_day: std::collections::BTreeMap<String, f64> = Default::default();
    for r in &sov {
        let cols: Vec<&str> = r.split('|').collect();
        *per_day.entry(cols[1].to_owned()).or_default() += cols[4].parse::<f64>().unwrap();
    }
    assert!(
        per_day.values().all(|p| (p - 100.0).abs() < 1e-6),
        "{per_day:?}"
    );
    // `chorus report` draws what this pipeline builds and says which marts it does not.
    let out = output(
        chorus(dir.path())
            .args(["report", "twitter.toml", "--out", "report.html"])
            .env_remove("X_BEARER_TOKEN"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.contains("<h2>5. Share of voice</h2>"));
    assert!(page.contains("does not build the mart"));
    assert!(
        page.matches("<svg").count() >= 2,
        "share of voice and sentiment are drawn"
    );
    for table in ["x__users", "x__tweets", "mentions_scored", "search_scored"] {
        let files = files_below(&dir.path().join("out").join(table));
        assert!(files.iter().any(|f| f.ends_with(".parquet")), "{table}");
    }
    for file in files_below(&dir.path().join("out")) {
        let bytes = std::fs::read(dir.path().join("out").join(&file)).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {file}"
        );
    }
}

#[test]
fn a_refused_bearer_token_exits_77_without_showing_it() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "twitter");
    let bad = "AAAAAAAAAAAAAAAAAAAAArevokedTokenForTheTest";
    let out = run(dir.path(), sb.port, bad, "s.json");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("X refused the bearer token"), "{err}");
    assert!(err.contains("create a new App-only bearer token"), "{err}");
    assert!(!err.contains(bad), "{err}");
    let parquet = files_below(&dir.path().join("out"))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .count();
    assert_eq!(parquet, 0, "nothing is published");
}
