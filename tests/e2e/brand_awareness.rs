//! `pipelines/brand_awareness.toml` against `chorus sandbox`: the `awareness_daily` mart's
//! followers, growth, reach, mentions, potential reach, retweets and quotes equal what the
//! sandbox's truth says, after a first run and after an incremental rerun.

use std::collections::BTreeMap;

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::{meta, x};
use chrono::{DateTime, NaiveDate, Utc};

use crate::kpi::{keyed, run_pipeline};
use crate::meta::{copy_pipeline, start_sandbox};

/// The first day the pipeline reads: its `start_date = "90daysAgo"`.
fn start_day() -> NaiveDate {
    crate::util::days_ago(90)
}

fn start_ms() -> i64 {
    start_day()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

fn utc_day(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .date_naive()
        .to_string()
}

type Mart = BTreeMap<Vec<String>, Vec<Option<f64>>>;

/// The non-NULL values of column `i` of the rows of one platform, by (day, account).
fn column(mart: &Mart, platform: &str, i: usize) -> BTreeMap<(String, String), f64> {
    mart.iter()
        .filter(|(k, _)| k[1] == platform)
        .filter_map(|(k, v)| v[i].map(|v| ((k[0].clone(), k[2].clone()), v)))
        .collect()
}

fn check(mart: &Mart, truth: &Truth) {
    // Facebook: followers (page_follows), their day-over-day growth and the daily reach, on
    // every complete Pacific day since the start.
    let today = meta::pacific_date(Utc::now().timestamp());
    let insight = |metric: &str, day: NaiveDate| {
        truth
            .meta
            .page_insight(metric, day)
            .unwrap()
            .as_f64()
            .unwrap()
    };
    let followers = column(mart, "facebook", 0);
    let growth = column(mart, "facebook", 1);
    let reach = column(mart, "facebook", 2);
    let mut day = start_day();
    let mut days = 0;
    while day < today {
        let key = (day.to_string(), meta::PAGE_ID.to_owned());
        assert_eq!(followers[&key], insight("page_follows", day), "{key:?}");
        assert_eq!(
            reach[&key],
            insight("page_total_media_view_unique", day),
            "{key:?}"
        );
        if day > start_day() {
            let before = day.pred_opt().unwrap();
            assert_eq!(
                growth[&key],
                insight("page_follows", day) - insight("page_follows", before),
                "{key:?}"
            );
        } else {
            assert!(!growth.contains_key(&key), "no day before the start");
        }
        day = day.succ_opt().unwrap();
        days += 1;
    }
    assert_eq!(followers.len(), days, "one followers value per day");

    // X: each account's followers on the run day.
    let run_day = Utc::now().date_naive().to_string();
    let x_followers = column(mart, "x", 0);
    for user in truth.x.users.iter().take(x::BRANDS.len()) {
        assert_eq!(
            x_followers[&(run_day.clone(), user.username.clone())],
            user.followers_count as f64,
            "{}",
            user.username
        );
    }

    // X: mentions per day and account, the sum of their authors' followers, and the retweets
    // and quotes of each account's own posts (its retweets of others left out).
    let (mut mentions, mut potential) = (BTreeMap::new(), BTreeMap::new());
    let (mut retweets, mut quotes) = (BTreeMap::new(), BTreeMap::new());
    for (name, ..) in x::BRANDS {
        for t in x::timeline_truth(&truth.x, name, true) {
            if t.created_ms >= start_ms() {
                let key = (utc_day(t.created_ms), (*name).to_owned());
                *mentions.entry(key.clone()).or_insert(0.0) += 1.0;
                *potential.entry(key).or_insert(0.0) +=
                    truth.x.users[t.author].followers_count as f64;
            }
        }
        for t in x::timeline_truth(&truth.x, name, false) {
            if t.created_ms >= start_ms() && !t.is_retweet() {
                let key = (utc_day(t.created_ms), (*name).to_owned());
                *retweets.entry(key.clone()).or_insert(0.0) += t.retweet_count as f64;
                *quotes.entry(key).or_insert(0.0) += t.quote_count as f64;
            }
        }
    }
    assert!(mentions.len() > 100, "{}", mentions.len());
    assert_eq!(column(mart, "x", 4), mentions);
    assert_eq!(column(mart, "x", 5), potential);
    assert_eq!(column(mart, "x", 7), retweets);
    assert_eq!(column(mart, "x", 8), quotes);
}

#[test]
fn brand_awareness_daily_equals_the_sandbox_truth() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "brand_awareness");
    let truth = Truth::new(0, 1);
    let columns = [
        "day",
        "platform",
        "account",
        "followers",
        "follower_growth",
        "daily_reach_unique",
        "daily_impressions",
        "mentions",
        "mention_potential_reach",
        "shares",
        "retweets",
        "quotes",
    ];
    // The rerun re-reads only the lookback; the mart, rebuilt from every committed row, still
    // equals the truth.
    for _ in 0..2 {
        run_pipeline(dir.path(), "brand_awareness", sb.port);
        let mart = keyed(&dir.path().join("out/awareness_daily"), &columns, 3);
        check(&mart, &truth);
    }
}
