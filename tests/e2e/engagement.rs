//! `pipelines/engagement.toml` against `chorus sandbox`: each post's engagements, engagement
//! rates and amplification rate in `post_engagement`, and the order of `top_posts`, equal what
//! the sandbox's truth says, after a first run and after an incremental rerun.

use std::collections::BTreeMap;

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::{meta, x};
use chrono::NaiveDate;

use crate::kpi::{close, keyed, run_pipeline};
use crate::meta::{copy_pipeline, start_sandbox};
use crate::util::table_columns;

/// The first day the pipeline reads: its `start_date = "90daysAgo"`.
fn start_day() -> NaiveDate {
    crate::util::days_ago(90)
}

/// Expected (engagements, rate by reach, rate by impressions, amplification) per post id.
type Want = BTreeMap<String, (f64, Option<f64>, f64, f64)>;

fn x_truth(truth: &Truth) -> Want {
    let start_ms = start_day()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let mut want = BTreeMap::new();
    for (b, (name, ..)) in x::BRANDS.iter().enumerate() {
        let followers = truth.x.users[b].followers_count as f64;
        for t in x::timeline_truth(&truth.x, name, false) {
            if t.created_ms < start_ms || t.is_retweet() {
                continue;
            }
            let shares = (t.retweet_count + t.quote_count) as f64;
            let engagements = (t.like_count + t.reply_count + t.bookmark_count) as f64 + shares;
            want.insert(
                t.id.to_string(),
                (
                    engagements,
                    None,
                    engagements / t.impression_count as f64 * 100.0,
                    shares / followers * 100.0,
                ),
            );
        }
    }
    want
}

fn facebook_truth(truth: &Truth) -> Want {
    let m = &truth.meta;
    let followers = m.page.followers_count as f64;
    let insight = |id: &str, metric: &str| m.post_insight(id, metric).unwrap().as_f64().unwrap();
    m.posts
        .iter()
        .filter(|p| p.created_time >= meta::pacific_midnight(start_day()))
        .map(|p| {
            let engagements = (p.reactions + p.comments + p.shares) as f64;
            let reach = insight(&p.id, "post_total_media_view_unique");
            let impressions = insight(&p.id, "post_media_view");
            (
                p.id.clone(),
                (
                    engagements,
                    Some(engagements / reach * 100.0),
                    engagements / impressions * 100.0,
                    p.shares as f64 / followers * 100.0,
                ),
            )
        })
        .collect()
}

fn check(dir: &std::path::Path, truth: &Truth) {
    let posts = keyed(
        &dir.join("out/post_engagement"),
        &[
            "platform",
            "post_id",
            "engagements",
            "engagement_rate_by_reach_pct",
            "engagement_rate_by_impressions_pct",
            "amplification_rate_pct",
        ],
        2,
    );
    for (platform, want) in [("x", x_truth(truth)), ("facebook", facebook_truth(truth))] {
        let got: BTreeMap<&String, &Vec<Option<f64>>> = posts
            .iter()
            .filter(|(k, _)| k[0] == platform)
            .map(|(k, v)| (&k[1], v))
            .collect();
        assert_eq!(
            got.keys().copied().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{platform}: the posts since the start"
        );
        for (id, (engagements, by_reach, by_impressions, amplification)) in &want {
            let v = got[id];
            assert_eq!(v[0], Some(*engagements), "{platform} {id}");
            assert_eq!(v[1].is_some(), by_reach.is_some(), "{platform} {id}");
            if let (Some(a), Some(b)) = (v[1], by_reach) {
                assert!(close(a, *b), "{platform} {id}: {a} by reach, want {b}");
            }
            assert!(close(v[2].unwrap(), *by_impressions), "{platform} {id}");
            assert!(close(v[3].unwrap(), *amplification), "{platform} {id}");
        }
        // The top posts: the ten with the most engagements, ties by post id.
        let mut order: Vec<(&String, f64)> = want.iter().map(|(id, w)| (id, w.0)).collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let mut top: Vec<(u64, String)> = table_columns(
            &dir.join("out/top_posts"),
            &["platform", "rank_in_platform", "post_id"],
        )
        .into_iter()
        .filter(|r| r[0] == platform)
        .map(|r| (r[1].parse().unwrap(), r[2].clone()))
        .collect();
        top.sort();
        let want_top: Vec<(u64, String)> = order
            .iter()
            .take(10)
            .enumerate()
            .map(|(i, (id, _))| (i as u64 + 1, (*id).clone()))
            .collect();
        assert_eq!(top, want_top, "{platform}");
    }
}

#[test]
fn post_engagement_and_top_posts_equal_the_sandbox_truth() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "engagement");
    let truth = Truth::new(0, 1);
    for _ in 0..2 {
        run_pipeline(dir.path(), "engagement", sb.port);
        check(dir.path(), &truth);
    }
}
