//! `facebook_pages` against the sandbox.

use chorus_connector_meta::pages::{PagesConfig, PagesSource};
use chorus_core::Source;
use chorus_core::testing::read_all;
use chorus_sandbox::Sandbox;
use chorus_sandbox::platforms::meta::{PAGE_ID, TOKEN, TOKEN_NO_INSIGHTS};

use crate::support::{before_anchor, contract, cx, http, sandbox, settings, stream};

pub(crate) fn source(sb: &Sandbox, token: &str, extra: &str) -> PagesSource {
    let body = format!(
        "page_id = \"{PAGE_ID}\"\nstart_date = \"{}\"\n{extra}",
        before_anchor(sb, 61)
    );
    let cfg: PagesConfig = settings(sb, token, &body).deserialize().unwrap();
    PagesSource::new(cfg, &http()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pages_stream_keeps_the_contract_through_faults() {
    for name in ["page", "posts", "post_insights", "page_insights"] {
        contract(name, |sb| source(sb, TOKEN, "")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_match_the_truth_and_shares_default_to_zero() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "");
    let read = read_all(&stream(&src, "posts"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let truth = &sb.truth().meta;
    let start = before_anchor(&sb, 61);
    let expected: Vec<_> = truth
        .posts
        .iter()
        .filter(|p| chorus_sandbox::platforms::meta::pacific_date(p.created_time) >= start)
        .collect();
    assert_eq!(read.rows.len(), expected.len());
    // Columns: id|created_time|message|story|permalink|status|reactions|comments|shares|is_final
    for row in &read.rows {
        let cols: Vec<&str> = row.split('|').collect();
        assert_ne!(cols[8], "∅", "shares is never null: {row}");
        let post = truth.post(cols[0]).unwrap();
        assert_eq!(cols[8], post.shares.to_string(), "{row}");
        if post.message.is_none() {
            assert_eq!(cols[2], "∅", "a story-only post has no message: {row}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_metric_is_dropped_and_the_rest_are_read() {
    let sb = sandbox("none").await;
    let src = source(
        &sb,
        TOKEN,
        "page_metrics = [\"page_post_engagements\", \"page_impressions\", \"page_follows\"]\npost_metrics = [\"post_impressions_unique\", \"post_clicks\"]",
    );
    let pages = read_all(&stream(&src, "page_insights"), cx()).await;
    assert!(pages.error.is_none(), "{:?}", pages.error);
    let metrics: std::collections::BTreeSet<&str> = pages
        .rows
        .iter()
        .map(|r| r.split('|').nth(2).unwrap())
        .collect();
    assert_eq!(
        metrics.into_iter().collect::<Vec<_>>(),
        ["page_follows", "page_post_engagements"]
    );
    let posts = read_all(&stream(&src, "post_insights"), cx()).await;
    assert!(posts.error.is_none(), "{:?}", posts.error);
    assert!(posts.rows.iter().all(|r| r.contains("|post_clicks|")));
    assert_eq!(
        src.dropped_metrics(),
        [
            "page_impressions".to_owned(),
            "post_impressions_unique".to_owned()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_insights_land_on_pacific_days_and_recent_days_are_not_final() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "page_metrics = [\"page_follows\"]");
    let read = read_all(&stream(&src, "page_insights"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    use chorus_connector_meta::common::{META_TZ, day_in};
    let today = day_in(chrono::Utc::now(), META_TZ);
    let truth = &sb.truth().meta;
    let mut days = 0;
    for row in &read.rows {
        // page_id|date|metric|period|value|is_final
        let cols: Vec<&str> = row.split('|').collect();
        let day: chrono::NaiveDate = cols[1].parse().unwrap();
        assert!(day < today, "today is not complete yet: {row}");
        let expected = truth.page_insight("page_follows", day).unwrap();
        assert_eq!(
            cols[4].parse::<f64>().unwrap(),
            expected.as_f64().unwrap(),
            "{row}"
        );
        let age = (today - day).num_days();
        assert_eq!(cols[5], if age > 28 { "true" } else { "false" }, "{row}");
        days += 1;
    }
    assert_eq!(days, (today - before_anchor(&sb, 61)).num_days());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_shows_and_check_names_the_missing_permission() {
    let sb = sandbox("none").await;
    let ok = source(&sb, TOKEN, "");
    let report = ok.check().await.unwrap();
    assert!(report.detail.contains(PAGE_ID), "{}", report.detail);
    let lacking = source(&sb, TOKEN_NO_INSIGHTS, "");
    let err = lacking.check().await.unwrap_err();
    assert_eq!(err.kind(), chorus_core::ErrorKind::Auth);
    assert!(err.message().contains("read_insights"), "{err}");
    assert!(!err.message().contains(TOKEN_NO_INSIGHTS), "{err}");
    for req in sb.requests() {
        let query = req.query.unwrap_or_default();
        assert!(
            !query.contains(TOKEN),
            "token in a URL: {} {query}",
            req.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_slow_down_once_usage_passes_ninety_percent() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "");
    let posts = stream(&src, "post_insights");
    let started = std::time::Instant::now();
    let calm = read_all(&posts, cx()).await;
    let calm_time = started.elapsed();
    let calls = sb.requests().len() as u32;
    sb.set_meta_usage(Some(95));
    let started = std::time::Instant::now();
    let busy = read_all(&posts, cx()).await;
    let busy_time = started.elapsed();
    assert_eq!(calm.rows, busy.rows);
    // 95 % usage pauses about 12 ms (of the tests' 20 ms slowdown at 100 %) after each answer.
    let floor = std::time::Duration::from_millis(10) * (calls - 1);
    assert!(
        busy_time >= floor && busy_time > calm_time,
        "{calls} calls took {busy_time:?} at 95 % usage, {calm_time:?} at low usage"
    );
}
