//! `pipelines/listening.toml` against `chorus sandbox`: share of voice per day equals each
//! query's truth count ÷ all queries' that day, the sentiment mix equals the truth's posts
//! scored by the same model, and the influencer rankings equal the truth's orderings, after a
//! first run and after an incremental rerun.

use std::collections::{BTreeMap, BTreeSet};

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::x::{self, Tweet};
use chrono::{DateTime, NaiveDate, Utc};

use crate::kpi::{close, keyed, run_pipeline};
use crate::meta::{copy_pipeline, start_sandbox};
use crate::util::table_columns;

/// The first day the pipeline reads: its `start_date = "90daysAgo"`.
fn start_day() -> NaiveDate {
    crate::util::days_ago(90)
}
const QUERIES: [(&str, &str); 3] = [
    ("acme", "acme OR #acme OR @acme"),
    ("globex", "globex OR #globex OR @globex"),
    ("initech", "initech OR #initech OR @initech"),
];

fn utc_day(t: &Tweet) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.created_ms)
        .unwrap()
        .date_naive()
        .to_string()
}

/// The posts mentioning `name` since the start.
fn mentions<'a>(truth: &'a Truth, name: &str) -> Vec<&'a Tweet> {
    let start_ms = start_day()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    x::timeline_truth(&truth.x, name, true)
        .into_iter()
        .filter(|t| t.created_ms >= start_ms)
        .collect()
}

/// The label index the pipeline's sentiment model gives a text: positive, negative, neutral,
/// or unscored (not English).
fn label(text: &str) -> usize {
    match chorus_transform::sentiment::score(text).map(chorus_transform::sentiment::label) {
        Some("positive") => 0,
        Some("negative") => 1,
        Some("neutral") => 2,
        None => 3,
        Some(other) => panic!("{other}"),
    }
}

fn check_share_of_voice(dir: &std::path::Path, truth: &Truth) {
    let mut posts: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut per_day: BTreeMap<String, f64> = BTreeMap::new();
    for (name, query) in QUERIES {
        for t in x::search_truth(&truth.x, query).unwrap() {
            *posts.entry((utc_day(t), name.to_owned())).or_default() += 1.0;
            *per_day.entry(utc_day(t)).or_default() += 1.0;
        }
    }
    let sov = keyed(
        &dir.join("out/share_of_voice_daily"),
        &["day", "query_name", "posts", "share_of_voice_pct"],
        2,
    );
    // Earlier runs' days stay; every day search reaches today is as the truth says.
    for ((day, name), n) in &posts {
        let got = &sov[&vec![day.clone(), name.clone()]];
        assert_eq!(got[0], Some(*n), "{day} {name}");
        let want = n / per_day[day] * 100.0;
        assert!(
            close(got[1].unwrap(), want),
            "{day} {name}: {got:?}, want {want}"
        );
    }
    assert!(posts.len() > 10, "{posts:?}");
}

fn check_sentiment(dir: &std::path::Path, truth: &Truth) {
    let mut want: BTreeMap<Vec<String>, [f64; 4]> = BTreeMap::new();
    let mut add = |kind: &str, subject: &str, t: &Tweet| {
        let key = vec![utc_day(t), kind.to_owned(), subject.to_owned()];
        want.entry(key).or_default()[label(&t.text)] += 1.0;
    };
    for (name, query) in QUERIES {
        for t in mentions(truth, name) {
            add("mentions", name, t);
        }
        for t in x::search_truth(&truth.x, query).unwrap() {
            add("search", name, t);
        }
    }
    let got = keyed(
        &dir.join("out/sentiment_daily"),
        &[
            "day",
            "kind",
            "subject",
            "positive",
            "negative",
            "neutral",
            "unscored",
            "positive_share_pct",
            "negative_share_pct",
        ],
        3,
    );
    let mut positive = 0.0;
    for (key, counts) in &want {
        let row = &got[key];
        let row_counts: Vec<f64> = row[..4].iter().map(|v| v.unwrap()).collect();
        assert_eq!(row_counts, counts.to_vec(), "{key:?}");
        let scored = counts[0] + counts[1] + counts[2];
        if scored > 0.0 {
            assert!(
                close(row[4].unwrap(), counts[0] / scored * 100.0),
                "{key:?}"
            );
            assert!(
                close(row[5].unwrap(), counts[1] / scored * 100.0),
                "{key:?}"
            );
        } else {
            assert_eq!(row[4], None, "{key:?}");
        }
        positive += counts[0];
    }
    // Mentions since the start are all committed: no other mention days.
    let mention_days: BTreeSet<&Vec<String>> = got.keys().filter(|k| k[1] == "mentions").collect();
    let want_days: BTreeSet<&Vec<String>> = want.keys().filter(|k| k[1] == "mentions").collect();
    assert_eq!(mention_days, want_days);
    assert!(positive > 0.0, "some posts are positive");
}

fn check_influencers(dir: &std::path::Path, truth: &Truth) {
    // Each post mentioning any account once, by author: engagements and followers.
    let mut seen = BTreeSet::new();
    let mut authors: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (name, _) in QUERIES {
        for t in mentions(truth, name) {
            if seen.insert(t.id) {
                let user = &truth.x.users[t.author];
                let e = authors
                    .entry(user.id.clone())
                    .or_insert((0.0, user.followers_count as f64));
                e.0 += (t.like_count + t.reply_count + t.retweet_count + t.quote_count) as f64;
            }
        }
    }
    let mut by_engagement: Vec<(&String, &(f64, f64))> = authors.iter().collect();
    by_engagement.sort_by(|a, b| {
        (b.1.0.total_cmp(&a.1.0))
            .then(b.1.1.total_cmp(&a.1.1))
            .then(a.0.cmp(b.0))
    });
    let mut by_followers = by_engagement.clone();
    by_followers.sort_by(|a, b| {
        (b.1.1.total_cmp(&a.1.1))
            .then(b.1.0.total_cmp(&a.1.0))
            .then(a.0.cmp(b.0))
    });
    let rows = table_columns(
        &dir.join("out/influencers"),
        &[
            "author_id",
            "rank_by_engagement",
            "rank_by_followers",
            "mention_engagements",
        ],
    );
    let ranked = |col: usize| {
        let mut r: Vec<(u64, String)> = rows
            .iter()
            .map(|r| (r[col].parse().unwrap(), r[0].clone()))
            .collect();
        r.sort();
        r.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let ids =
        |v: &[(&String, &(f64, f64))]| v.iter().map(|(id, _)| (*id).clone()).collect::<Vec<_>>();
    assert_eq!(ranked(1), ids(&by_engagement));
    assert_eq!(ranked(2), ids(&by_followers));
    for r in &rows {
        assert_eq!(r[3].parse::<f64>().unwrap(), authors[&r[0]].0, "{}", r[0]);
    }
}

#[test]
fn share_of_voice_sentiment_and_influencers_equal_the_sandbox_truth() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "listening");
    let truth = Truth::new(0, 1);
    for _ in 0..2 {
        run_pipeline(dir.path(), "listening", sb.port);
        check_share_of_voice(dir.path(), &truth);
        check_sentiment(dir.path(), &truth);
        check_influencers(dir.path(), &truth);
    }
}
