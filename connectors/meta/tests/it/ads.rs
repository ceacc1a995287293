//! `facebook_ads` against the sandbox.

use chorus_connector_meta::ads::{AdsConfig, AdsSource};
use chorus_core::ReadContext;
use chorus_core::testing::read_all;
use chorus_sandbox::Sandbox;
use chorus_sandbox::platforms::meta::{AD_ACCOUNT_ID, TOKEN};
use chrono::NaiveDate;

use crate::support::{before_anchor, contract, cx, http, sandbox, settings, stream};

pub(crate) fn source(sb: &Sandbox, extra: &str) -> AdsSource {
    let start = if extra.contains("start_date") {
        String::new()
    } else {
        format!("start_date = \"{}\"\n", before_anchor(sb, 31))
    };
    let body = format!("account_id = \"act_{AD_ACCOUNT_ID}\"\n{start}{extra}");
    let cfg: AdsConfig = settings(sb, TOKEN, &body).deserialize().unwrap();
    AdsSource::new(cfg, &http()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ads_stream_keeps_the_contract_through_faults() {
    for name in ["ads_insights", "campaigns", "adsets", "ads"] {
        contract(name, |sb| source(sb, "")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_report_job_is_split_and_rows_match_the_truth() {
    let sb = sandbox("none").await;
    // A year of every ad in one job is more than the sandbox's async jobs take.
    let src = source(
        &sb,
        &format!(
            "start_date = \"{}\"\nreport_days = 366\naction_types = [\"purchase\", \"link_click\"]",
            sb.truth().meta.data_start
        ),
    );
    let s = stream(&src, "ads_insights");
    let names: Vec<String> = s
        .spec()
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let read = read_all(&s, cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let jobs = sb
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/insights"))
        .count();
    assert!(jobs >= 3, "the failed job was split: {jobs} jobs");
    let truth = &sb.truth().meta;
    let col = |n: &str| names.iter().position(|x| x == n).unwrap();
    let mut checked = 0;
    for row in &read.rows {
        let cols: Vec<&str> = row.split('|').collect();
        let day: NaiveDate = cols[col("date_start")].parse().unwrap();
        let want = truth.ad_insights(cols[col("ad_id")], day).unwrap();
        assert_eq!(
            cols[col("impressions")],
            want.impressions.to_string(),
            "{row}"
        );
        let spend: f64 = cols[col("spend")].parse().unwrap();
        assert!(
            (spend - want.spend_cents as f64 / 100.0).abs() < 0.005,
            "{row}"
        );
        let link: f64 = cols[col("actions_link_click")].parse().unwrap_or(0.0);
        assert_eq!(link as u64, want.link_clicks, "{row}");
        checked += 1;
    }
    let expected: usize = truth
        .ads
        .iter()
        .map(|ad| {
            let mut d = truth.data_start;
            let today = chorus_connector_meta::common::day_in(
                chrono::Utc::now(),
                chorus_connector_meta::common::META_TZ,
            );
            let mut n = 0;
            while d < today {
                n += usize::from(truth.ad_insights(&ad.id, d).is_some());
                d = d.succ_opt().unwrap();
            }
            n
        })
        .sum();
    assert_eq!(checked, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_include_deleted_and_archived_and_read_incrementally() {
    let sb = sandbox("none").await;
    let src = source(&sb, "");
    let ads = stream(&src, "ads");
    let full = read_all(&ads, cx()).await;
    assert!(full.error.is_none(), "{:?}", full.error);
    let truth = &sb.truth().meta;
    assert_eq!(
        full.rows.len(),
        truth.ads.len(),
        "every ad, whatever its status"
    );
    let (_, state) = full.checkpoints.last().cloned().unwrap();
    let again = read_all(
        &ads,
        ReadContext {
            state: Some(state),
            ..cx()
        },
    )
    .await;
    assert!(
        again.rows.len() < full.rows.len(),
        "{} rows again",
        again.rows.len()
    );
}
