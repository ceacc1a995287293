//! `pipelines/traffic.toml` against `chorus sandbox`'s GA4 Data API: it commits every table,
//! reruns incrementally over the lookback only, and never writes the service-account key; a
//! refused key ends the run with exit 77 and a fix-it message.

use crate::meta::start_sandbox;
use crate::util::{
    chorus, copy_pipeline, files_below, output, repo, stderr, stream_summary, table_columns,
};

/// The sandbox key file with its `token_uri` pointed at `port`, on one line (values read from
/// the environment must be single lines).
pub(crate) fn key_json(port: u16) -> String {
    let text =
        std::fs::read_to_string(repo().join("crates/chorus-sandbox/fixtures/ga4_sandbox_key.json"))
            .unwrap()
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let key: serde_json::Value = serde_json::from_str(&text).unwrap();
    key.to_string()
}

/// The base64 body lines of the private key in `key`, none of which may ever show.
fn key_lines(key: &str) -> Vec<String> {
    let key: serde_json::Value = serde_json::from_str(key).unwrap();
    key["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_traffic_pipeline_runs_against_the_sandbox() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path(), "traffic");
    let key = key_json(sb.port);
    let secret_lines = key_lines(&key);
    let mut summaries = Vec::new();
    for run in ["first.json", "second.json"] {
        let out = output(
            chorus(dir.path())
                .arg("run")
                .arg(&pipeline)
                .args(["--summary-json", run])
                .env("GA4_API_URL", format!("http://127.0.0.1:{}/ga4", sb.port))
                .env("GA4_CREDENTIALS_JSON", &key),
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let text = std::fs::read_to_string(dir.path().join(run)).unwrap();
        for line in &secret_lines {
            assert!(!err.contains(line.as_str()), "{err}");
            assert!(!text.contains(line.as_str()));
        }
        summaries.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
    }
    let rows = |s: &serde_json::Value, id: &str| stream_summary(s, id)["rows"].as_u64().unwrap();
    for id in [
        "ga.traffic_sources",
        "ga.landing_pages",
        "ga.daily_overview",
    ] {
        assert!(
            rows(&summaries[0], id) > 0,
            "{id} read nothing: {}",
            summaries[0]
        );
        // The second run re-reads only the lookback (3 days and today).
        assert!(rows(&summaries[1], id) < rows(&summaries[0], id), "{id}");
    }
    for table in [
        "ga__traffic_sources",
        "ga__landing_pages",
        "ga__daily_overview",
        "traffic_daily",
    ] {
        let files = files_below(&dir.path().join("out").join(table));
        assert!(
            files.iter().any(|f| f.ends_with(".parquet")),
            "{table} has no Parquet"
        );
    }
    // traffic_daily, rebuilt after the incremental second run, equals the sandbox's sessions.
    let truth = chorus_sandbox::Truth::new(0, 1);
    let daily = table_columns(
        &dir.path().join("out/traffic_daily"),
        &[
            "date",
            "sessions",
            "social_sessions",
            "key_events",
            "revenue",
        ],
    );
    let today: chrono::NaiveDate = daily.iter().map(|r| r[0].parse().unwrap()).max().unwrap();
    assert!(daily.len() > 60, "{}", daily.len());
    for row in &daily {
        let day: chrono::NaiveDate = row[0].parse().unwrap();
        let sessions = truth.ga4.processed(day, today);
        let social: Vec<_> = sessions
            .iter()
            .filter(|s| matches!(s.channel, "Organic Social" | "Paid Social"))
            .collect();
        let key_events: i64 = sessions.iter().map(|s| s.key_events).sum();
        let revenue: f64 = sessions.iter().map(|s| s.revenue).sum();
        assert_eq!(row[1], sessions.len().to_string(), "{row:?}");
        assert_eq!(row[2], social.len().to_string(), "{row:?}");
        assert_eq!(row[3], key_events.to_string(), "{row:?}");
        let got: f64 = row[4].parse().unwrap();
        assert!(
            (got - revenue).abs() < 1e-6 * revenue.max(1.0),
            "{row:?} vs {revenue}"
        );
    }
    for file in files_below(&dir.path().join("out")) {
        let bytes = std::fs::read(dir.path().join("out").join(&file)).unwrap();
        for line in &secret_lines {
            assert!(
                !bytes.windows(line.len()).any(|w| w == line.as_bytes()),
                "the key is in {file}"
            );
        }
    }
}

#[test]
fn a_refused_key_fails_the_run_with_exit_77_and_never_shows() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path(), "traffic");
    // The sandbox's account, but a key Google does not know (the reference platform's).
    let mut key: serde_json::Value = serde_json::from_str(&key_json(sb.port)).unwrap();
    let wrong = std::fs::read_to_string(
        repo().join("crates/chorus-sandbox/fixtures/reference_service_account_key.pem"),
    )
    .unwrap();
    key["private_key"] = serde_json::Value::String(wrong);
    let key = key.to_string();
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .env("GA4_API_URL", format!("http://127.0.0.1:{}/ga4", sb.port))
            .env("GA4_CREDENTIALS_JSON", &key),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("Invalid JWT Signature."), "{err}");
    assert!(err.contains("create a new JSON key"), "{err}");
    for line in key_lines(&key) {
        assert!(!err.contains(line.as_str()), "{err}");
    }
    let parquet = files_below(&dir.path().join("out"))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .count();
    assert_eq!(parquet, 0, "nothing is published");
}
