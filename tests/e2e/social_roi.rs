//! `pipelines/social_roi.toml` against `chorus sandbox`: the A/B test of the Page's two post
//! variants equals the test recomputed from the sandbox's truth, the scorecard is a 0–100 score
//! per week and goal, and the marts stay right after an incremental second run.

use std::collections::BTreeMap;

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::meta;

use crate::meta::{copy_pipeline, start_sandbox};
use crate::util::{chorus, output, stderr, table_columns};

/// The first day the pipeline reads: its `start_date = "90daysAgo"`.
fn start_day() -> chrono::NaiveDate {
    crate::util::days_ago(90)
}

fn run(dir: &std::path::Path, port: u16) {
    let base = format!("http://127.0.0.1:{port}");
    let key: serde_json::Value =
        serde_json::from_str(&chorus_sandbox::platforms::ga4::service_account_json(&base)).unwrap();
    let out = output(
        chorus(dir)
            .arg("run")
            .arg(dir.join("social_roi.toml"))
            .env("META_GRAPH_URL", format!("{base}/meta"))
            .env("META_ACCESS_TOKEN", meta::TOKEN)
            .env("X_API_URL", format!("{base}/x"))
            .env("X_BEARER_TOKEN", chorus_sandbox::platforms::x::TOKEN)
            .env("GA4_API_URL", format!("{base}/ga4"))
            .env("GA4_CREDENTIALS_JSON", key.to_string()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Variant → (link clicks, impressions, engagements, reach) of the truth's tagged posts.
fn truth_variants(truth: &Truth) -> BTreeMap<String, [f64; 4]> {
    let start = start_day()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    let mut out: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for post in truth.meta.posts.iter().filter(|p| p.created_time >= start) {
        let Some(variant) = post
            .message
            .as_deref()
            .and_then(|m| m.split("utm_content=").nth(1))
        else {
            continue;
        };
        let insight = |metric: &str| truth.meta.post_insight(&post.id, metric).unwrap();
        let link_clicks = insight("post_clicks_by_type")["link clicks"]
            .as_f64()
            .unwrap();
        let impressions = insight("post_media_view").as_f64().unwrap();
        let reach = insight("post_total_media_view_unique").as_f64().unwrap();
        let engagements = (post.reactions + post.comments + post.shares) as f64;
        let sums = out.entry(variant.to_owned()).or_default();
        for (s, v) in sums
            .iter_mut()
            .zip([link_clicks, impressions, engagements, reach])
        {
            *s += v;
        }
    }
    out
}

/// The pooled two-proportion z statistic.
fn z(x1: f64, n1: f64, x2: f64, n2: f64) -> f64 {
    let p = (x1 + x2) / (n1 + n2);
    (x1 / n1 - x2 / n2) / (p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)).sqrt()
}

#[test]
fn the_social_roi_pipeline_tests_variants_and_scores_weeks() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "social_roi");
    run(dir.path(), sb.port);
    run(dir.path(), sb.port); // incremental: the marts are rebuilt from every committed row

    let truth = Truth::new(0, 1);
    let want = truth_variants(&truth);
    let (a, b) = (&want["variant_a"], &want["variant_b"]);
    let ab = table_columns(
        &dir.path().join("out/ab_test"),
        &[
            "metric",
            "successes_a",
            "trials_a",
            "successes_b",
            "trials_b",
            "z",
            "p_value",
        ],
    );
    assert_eq!(ab.len(), 2, "{ab:?}");
    for row in &ab {
        let (sa, na, sb_, nb) = match row[0].as_str() {
            "link_ctr" => (a[0], a[1], b[0], b[1]),
            "engagement_rate_by_reach" => (a[2], a[3], b[2], b[3]),
            other => panic!("unexpected metric {other}"),
        };
        let got: Vec<f64> = row[1..].iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(got[..4], [sa, na, sb_, nb], "{row:?}");
        let expected = z(sa, na, sb_, nb);
        assert!((got[4] - expected).abs() < 1e-9, "z {row:?} vs {expected}");
        assert!((0.0..=1.0).contains(&got[5]), "{row:?}");
    }

    // The scorecard: one score per week and goal, from 0 to 100, and each goal has a best
    // week near the top.
    let card = table_columns(
        &dir.path().join("out/kpi_scorecard"),
        &["week", "goal", "score"],
    );
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    for row in &card {
        let score: f64 = row[2].parse().unwrap();
        assert!((0.0..=100.0 + 1e-9).contains(&score), "{row:?}");
        let top = best.entry(row[1].clone()).or_insert(0.0);
        *top = top.max(score);
    }
    assert_eq!(
        best.keys().cloned().collect::<Vec<_>>(),
        ["awareness", "direct_response"]
    );
    assert!(best.values().all(|s| *s > 30.0), "{best:?}");

    // Followers of the Page per day are Meta's page_follows of that day.
    let kpi = table_columns(
        &dir.path().join("out/kpi_daily"),
        &["day", "platform", "account", "followers"],
    );
    let mut checked = 0;
    for row in kpi.iter().filter(|r| r[1] == "facebook" && r[2] == "brand") {
        let day: chrono::NaiveDate = row[0].parse().unwrap();
        let want = truth.meta.page_insight("page_follows", day).unwrap();
        assert_eq!(
            row[3].parse::<f64>().unwrap(),
            want.as_f64().unwrap(),
            "{row:?}"
        );
        checked += 1;
    }
    assert!(checked > 60, "{checked}");
}
