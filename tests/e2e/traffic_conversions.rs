//! `pipelines/traffic_conversions.toml` against `chorus sandbox`: social sessions, their share,
//! bounce rate, time on site, conversions and revenue per day, sessions per social network,
//! and the ads' spend, return on ad spend and link CTR per day and campaign equal what the
//! sandbox's truth says, after a first run and after an incremental rerun.

use std::collections::BTreeMap;

use chorus_sandbox::Truth;
use chorus_sandbox::platforms::ga4::Session;
use chrono::NaiveDate;

use crate::kpi::{keyed, run_pipeline};
use crate::meta::{copy_pipeline, start_sandbox};

/// The first day the pipeline reads: its `start_date = "90daysAgo"`.
fn start_day() -> NaiveDate {
    crate::util::days_ago(90)
}

/// Whether two numbers agree to a relative 1e-6 (GA4 averages and rates are re-weighted).
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn social(s: &Session) -> bool {
    matches!(s.channel, "Organic Social" | "Paid Social")
}

/// The network of the sandbox's session sources, as the KPI catalogue defines them.
fn network(source: &str) -> Option<&'static str> {
    Some(match source {
        "facebook.com" | "m.facebook.com" | "facebook" => "facebook",
        "l.instagram.com" | "instagram" => "instagram",
        "t.co" | "x.com" => "x",
        "linkedin.com" => "linkedin",
        "youtube.com" => "youtube",
        _ => return None,
    })
}

fn check_traffic(dir: &std::path::Path, truth: &Truth) {
    let daily = keyed(
        &dir.join("out/social_traffic_daily"),
        &[
            "day",
            "sessions",
            "social_sessions",
            "social_share_of_sessions_pct",
            "social_bounce_rate_pct",
            "social_avg_session_duration_secs",
            "social_conversions",
            "social_conversion_rate_pct",
            "social_revenue",
        ],
        1,
    );
    // The property's today: the last day GA4 reported (it reports today's processed sessions).
    let today: NaiveDate = daily.keys().last().unwrap()[0].parse().unwrap();
    assert!((chrono::Utc::now().date_naive() - today).num_days() <= 1);
    assert_eq!(
        daily.len() as i64,
        (today - start_day()).num_days() + 1,
        "every day since the start"
    );
    let by_network = keyed(
        &dir.join("out/social_network_daily"),
        &["day", "network", "sessions"],
        2,
    );
    let mut want_network: BTreeMap<Vec<String>, Vec<Option<f64>>> = BTreeMap::new();
    for (key, got) in &daily {
        let day: NaiveDate = key[0].parse().unwrap();
        let sessions = truth.ga4.processed(day, today);
        let from_social: Vec<&Session> = sessions.iter().filter(|s| social(s)).collect();
        let n = from_social.len() as f64;
        let engaged = from_social.iter().filter(|s| s.engaged).count() as f64;
        let duration: f64 = from_social.iter().map(|s| s.duration_secs).sum();
        let conversions: f64 = from_social.iter().map(|s| s.key_events as f64).sum();
        let revenue: f64 = from_social.iter().map(|s| s.revenue).sum();
        let want = [
            sessions.len() as f64,
            n,
            n / sessions.len() as f64 * 100.0,
            (1.0 - engaged / n) * 100.0,
            duration / n,
            conversions,
            conversions / n * 100.0,
            revenue,
        ];
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(near(g.unwrap(), w), "{day} column {i}: {g:?}, want {w}");
        }
        for s in &sessions {
            if let Some(net) = network(s.source) {
                let e = want_network
                    .entry(vec![key[0].clone(), net.to_owned()])
                    .or_insert(vec![Some(0.0)]);
                e[0] = e[0].map(|v| v + 1.0);
            }
        }
    }
    assert_eq!(by_network, want_network);
}

fn check_ads(dir: &std::path::Path, truth: &Truth) {
    let got = keyed(
        &dir.join("out/ads_daily"),
        &[
            "day",
            "campaign_id",
            "spend",
            "impressions",
            "link_clicks",
            "purchase_value",
            "roas",
            "link_ctr_pct",
        ],
        2,
    );
    let last: NaiveDate = got.keys().map(|k| k[0].parse().unwrap()).max().unwrap();
    let m = &truth.meta;
    let mut want: BTreeMap<Vec<String>, [f64; 4]> = BTreeMap::new();
    let mut day = start_day();
    while day <= last {
        for ad in &m.ads {
            if let Some(d) = m.ad_insights(&ad.id, day) {
                let e = want
                    .entry(vec![day.to_string(), ad.campaign_id.clone()])
                    .or_default();
                e[0] += d.spend_cents as f64 / 100.0;
                e[1] += d.impressions as f64;
                e[2] += d.link_clicks as f64;
                e[3] += d.purchase_value_cents as f64 / 100.0;
            }
        }
        day = day.succ_opt().unwrap();
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "one row per day and delivering campaign"
    );
    for (key, [spend, impressions, link_clicks, value]) in &want {
        let g: Vec<f64> = got[key].iter().map(|v| v.unwrap()).collect();
        let expect = [
            *spend,
            *impressions,
            *link_clicks,
            *value,
            value / spend,
            link_clicks / impressions * 100.0,
        ];
        for (i, (g, w)) in g.iter().zip(expect).enumerate() {
            assert!(near(*g, w), "{key:?} column {i}: {g}, want {w}");
        }
    }
}

#[test]
fn social_traffic_conversions_and_roas_equal_the_sandbox_truth() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    copy_pipeline(dir.path(), "traffic_conversions");
    let truth = Truth::new(0, 1);
    for _ in 0..2 {
        run_pipeline(dir.path(), "traffic_conversions", sb.port);
        check_traffic(dir.path(), &truth);
        check_ads(dir.path(), &truth);
    }
}
