//! `--start 2024-03-01 --end 2024-03-15` means those calendar days in each stream's own
//! calendar: exactly 03-01 … 03-14 for every daily stream (Pacific for Facebook and Instagram,
//! the ad account's zone for ads, the property's days for GA4), and the records of those UTC
//! days elsewhere. The window follows a leap day and crosses the US spring clock change; the
//! sandbox and chorus run with the clock at 2024-04-01 (libfaketime), so it is recent data.

use std::collections::BTreeSet;
use std::path::Path;

use chorus_sandbox::platforms::{freshdesk, ga4, meta, slack, x, zendesk};
use chrono::{DateTime, NaiveDate, Utc};

use crate::anyday::chorus_at;
use crate::meta::start_sandbox_with;
use crate::util::{output, repo, stderr, table_columns};

/// When the run happens: two weeks after the window.
const NOW: &str = "2024-04-01 12:00:00";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The distinct days of a date column.
fn days(table: &Path, column: &str) -> Vec<NaiveDate> {
    let set: BTreeSet<NaiveDate> = table_columns(table, &[column])
        .into_iter()
        .map(|r| day(&r[0][..10]))
        .collect();
    set.into_iter().collect()
}

/// Every instant of a timestamp column.
fn instants(table: &Path, column: &str) -> Vec<DateTime<Utc>> {
    table_columns(table, &[column])
        .into_iter()
        .filter(|r| !r[0].is_empty())
        .map(|r| r[0].parse::<DateTime<Utc>>().unwrap())
        .collect()
}

#[test]
fn a_window_of_dates_is_those_days_in_each_streams_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = start_sandbox_with(chorus_at(&repo(), NOW), &[]);
    let port = sandbox.port;
    let base = format!("http://127.0.0.1:{port}");
    let key: serde_json::Value = serde_json::from_str(&ga4::service_account_json(&base)).unwrap();
    let out = output(
        chorus_at(dir.path(), NOW)
            .arg("run")
            .arg(repo().join("pipelines/demo.toml"))
            .args(["--start", "2024-03-01", "--end", "2024-03-15"])
            .env("DEMO_OUT", dir.path().join("lake"))
            .env("META_GRAPH_URL", format!("{base}/meta"))
            .env("META_ACCESS_TOKEN", meta::TOKEN)
            .env("X_API_URL", format!("{base}/x"))
            .env("X_BEARER_TOKEN", x::TOKEN)
            .env("GA4_API_URL", format!("{base}/ga4"))
            .env("GA4_CREDENTIALS_JSON", key.to_string())
            .env("SLACK_API_URL", format!("{base}/slack/api"))
            .env("SLACK_BOT_TOKEN", slack::TOKEN)
            .env("ZENDESK_API_URL", format!("{base}/zendesk"))
            .env("ZENDESK_API_TOKEN", zendesk::API_TOKEN)
            .env("FRESHDESK_API_URL", format!("{base}/freshdesk"))
            .env("FRESHDESK_API_KEY", freshdesk::API_KEY),
    );
    drop(sandbox);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lake = dir.path().join("lake");

    // Daily streams: exactly the fourteen days, in their own calendars.
    let want: Vec<NaiveDate> = day("2024-03-01")
        .iter_days()
        .take_while(|d| *d < day("2024-03-15"))
        .collect();
    for (table, column) in [
        ("brand__page_insights", "date"),
        ("ig__account_insights", "date"),
        ("ads__ads_insights", "date_start"),
        ("ga__daily_overview", "date"),
        ("ga__traffic_sources", "date"),
        ("ga__landing_pages", "date"),
    ] {
        assert_eq!(days(&lake.join(table), column), want, "{table}.{column}");
    }

    // Facebook posts: Pacific days, 2024-03-01 08:00 UTC (PST) to 2024-03-15 07:00 UTC (PDT).
    let pacific = (
        "2024-03-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "2024-03-15T07:00:00Z".parse::<DateTime<Utc>>().unwrap(),
    );
    let posts = instants(&lake.join("brand__posts"), "created_time");
    assert!(!posts.is_empty());
    assert!(
        posts.iter().all(|t| *t >= pacific.0 && *t < pacific.1),
        "a post outside the Pacific days"
    );
    // UTC streams: from 03-01 00:00 to 03-15 00:00 UTC.
    let utc = (
        "2024-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "2024-03-15T00:00:00Z".parse::<DateTime<Utc>>().unwrap(),
    );
    for (table, column) in [
        ("x__tweets", "created_at"),
        ("community__messages", "created_at"),
        ("zd__tickets", "updated_at"),
        ("fd__tickets", "updated_at"),
    ] {
        let times = instants(&lake.join(table), column);
        assert!(!times.is_empty(), "{table} is empty");
        assert!(
            times.iter().all(|t| *t >= utc.0 && *t < utc.1),
            "{table}.{column} has a time outside the UTC days: {:?}",
            times
                .iter()
                .filter(|t| **t < utc.0 || **t >= utc.1)
                .take(3)
                .collect::<Vec<_>>()
        );
    }
}
