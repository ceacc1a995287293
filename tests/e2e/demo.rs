//! `chorus demo`: every connector against the in-process sandbox in one run, the KPI lines it
//! prints, and marts whose numbers equal what the sandbox's truth says.

use std::collections::BTreeMap;

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::x;

use crate::util::{DEMO_KPI_LINES, chorus, output, stderr, stdout, table_columns};

/// The first day the pipeline reads: its `start_date = "90daysAgo"`.
fn start_day() -> chrono::NaiveDate {
    crate::util::days_ago(90)
}

#[test]
fn the_demo_prints_kpis_and_its_marts_match_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = output(chorus(dir.path()).args(["demo", "--out", "lake"]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}\n{text}", stderr(&out));
    for line in DEMO_KPI_LINES {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("share of voice"), "{text}");
    assert!(text.contains("Try:     duckdb -c"), "{text}");
    let lake = dir.path().join("lake");

    // The report: every section, drawn inline, nothing fetched from anywhere.
    assert!(text.contains("Report:  "), "{text}");
    let page = std::fs::read_to_string(lake.join("report.html")).unwrap();
    for section in [
        "1. Followers and reach",
        "2. Engagement rate",
        "3. Top and bottom posts by engagement rate",
        "4. From reach to revenue",
        "5. Share of voice",
        "6. Sentiment mix",
        "7. Customer service",
        "8. Community",
        "9. Scorecard by program goal",
        "10. A/B comparison",
    ] {
        assert!(page.contains(&format!("<h2>{section}</h2>")), "{section}");
    }
    assert!(
        !page.contains("does not build the mart"),
        "a section has no data"
    );
    assert!(!page.contains("No data in this period"), "a chart is empty");
    assert!(page.matches("<svg").count() >= 11);
    assert!(page.contains("not final yet"));
    assert!(page.contains(&format!("{} to ", start_day())));
    for fetch in ["<script", "<link", "<img", "@import", "src="] {
        assert!(
            !page.contains(fetch),
            "the page would fetch something: {fetch}"
        );
    }
    let truth = Truth::new(0, 1);

    // Followers of each X account on the run day.
    let kpi = table_columns(
        &lake.join("kpi_daily"),
        &["platform", "account", "followers", "tickets"],
    );
    for user in truth.x.users.iter().take(x::BRANDS.len()) {
        let followers: Vec<&Vec<String>> = kpi
            .iter()
            .filter(|r| r[0] == "x" && r[1] == user.username && !r[2].is_empty())
            .collect();
        assert_eq!(followers.len(), 1, "{}", user.username);
        assert_eq!(
            followers[0][2].parse::<f64>().unwrap(),
            user.followers_count as f64,
            "{}",
            user.username
        );
    }

    // Support volume: every ticket that is not deleted, per desk.
    let mut tickets: BTreeMap<String, f64> = BTreeMap::new();
    for r in kpi.iter().filter(|r| !r[3].is_empty()) {
        *tickets.entry(r[0].clone()).or_default() += r[3].parse::<f64>().unwrap();
    }
    let zendesk = truth
        .zendesk
        .tickets
        .iter()
        .filter(|t| !t.deleted())
        .count();
    assert_eq!(tickets["zendesk"], zendesk as f64);
    assert_eq!(tickets["freshdesk"], truth.freshdesk.tickets.len() as f64);

    // Share of voice: each query's posts are the posts recent search finds for it.
    let sov = table_columns(&lake.join("share_of_voice_daily"), &["query_name", "posts"]);
    for (name, query) in [
        ("acme", "acme OR #acme OR @acme"),
        ("globex", "globex OR #globex OR @globex"),
        ("initech", "initech OR #initech OR @initech"),
    ] {
        let posts: u64 = sov
            .iter()
            .filter(|r| r[0] == name)
            .map(|r| r[1].parse::<u64>().unwrap())
            .sum();
        assert_eq!(
            posts,
            x::search_truth(&truth.x, query).unwrap().len() as u64,
            "{name}"
        );
    }

    // Post performance: every own X post since the start that is not a retweet.
    let start = start_day()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let want: usize = x::BRANDS
        .iter()
        .map(|(name, ..)| {
            x::timeline_truth(&truth.x, name, false)
                .into_iter()
                .filter(|t| t.created_ms >= start && !t.is_retweet())
                .count()
        })
        .sum();
    let posts = table_columns(&lake.join("post_performance"), &["platform"]);
    assert_eq!(posts.iter().filter(|r| r[0] == "x").count(), want);
}

#[test]
fn when_streams_fail_the_demo_says_which_warns_on_the_report_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    // Every answer a 503, and no retries: every stream fails, fast.
    let out = output(
        chorus(dir.path())
            .args(["demo", "--out", "lake", "--faults", "503=1"])
            .env("CHORUS_HTTP_MAX_ATTEMPTS", "1")
            .env("CHORUS_HTTP_BACKOFF_MS", "1"),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(75), "{}\n{text}", stderr(&out));
    assert!(
        text.contains("warning: 30 stream(s) failed and are missing below: brand.page,"),
        "{text}"
    );
    assert!(
        text.contains("warning: kpi_daily is incomplete (no new rows of "),
        "{text}"
    );
    assert!(stderr(&out).contains("error: stream \"brand.page\": "));
    let page = std::fs::read_to_string(dir.path().join("lake/report.html")).unwrap();
    assert!(
        page.contains("class=\"warning\""),
        "no warning on the report"
    );
    assert!(page.contains("<code>kpi_daily</code> lacks the new rows of"));

    let bad = output(chorus(dir.path()).args(["demo", "--faults", "503=2"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).starts_with("error: --faults \"503=2\": "),
        "{}",
        stderr(&bad)
    );
}
