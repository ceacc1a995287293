//! Reports: the contract, typed values that match the sandbox's truth, paging, empty reports,
//! and refusals with a fix-it message.

use std::collections::BTreeSet;

use arrow::datatypes::DataType;
use chorus_connector_google_analytics::streams::{ADDITIVE_KEY, NON_ADDITIVE_KEY};
use chorus_core::testing::read_all;
use chorus_core::{ErrorKind, Source};
use chorus_sandbox::platforms::ga4::{FORBIDDEN_PROPERTY_ID, PROPERTY_ID};
use futures::StreamExt;

use crate::support::{
    contract, cx, property_today, sandbox, source, source_for, start_date, stream,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_report_keeps_the_contract_through_faults() {
    for name in ["traffic_sources", "landing_pages", "daily_overview"] {
        contract(name, "").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_report_keeps_the_contract_with_small_pages() {
    let extra = "page_size = 50\nslice_days = 3\n[[reports]]\nname = \"devices\"\ndimensions = [\"date\", \"deviceCategory\", \"country\"]\nmetrics = [\"sessions\", \"activeUsers\", \"engagementRate\", \"userEngagementDuration\"]";
    contract("devices", extra).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_typed_and_match_the_truth() {
    let sb = sandbox("none").await;
    let src = source(&sb, "");
    let s = stream(&src, "daily_overview");
    let schema = s.spec().schema.clone();
    assert_eq!(
        schema.field_with_name("date").unwrap().data_type(),
        &DataType::Date32
    );
    assert_eq!(
        schema.field_with_name("sessions").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema
            .field_with_name("average_session_duration")
            .unwrap()
            .data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("total_users").unwrap().metadata()[ADDITIVE_KEY],
        "false"
    );
    assert!(schema.metadata()[NON_ADDITIVE_KEY].contains("total_users"));

    let read = read_all(&s, cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let today = property_today();
    let truth = sb.truth().ga4.report(
        start_date(),
        today,
        today,
        &["date"],
        &["sessions", "totalUsers"],
    );
    assert_eq!(read.rows.len(), truth.len());
    // Columns: property_id|date|sessions|total_users|active_users|…|total_revenue|currency_code|is_final
    for (row, (key, values)) in read.rows.iter().zip(&truth) {
        let cols: Vec<&str> = row.split('|').collect();
        assert_eq!(cols[0], "412345678");
        assert_eq!(cols[1].replace('-', ""), key[0], "{row}");
        assert_eq!(cols[2], values[0].to_string(), "{row}");
        assert_eq!(cols[3], values[1].to_string(), "{row}");
        assert_eq!(cols[cols.len() - 2], "USD");
        let day: chrono::NaiveDate = cols[1].parse().unwrap();
        let final_ = (today - day).num_days() > 3;
        assert_eq!(cols[cols.len() - 1], final_.to_string(), "{row}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_not_additive_across_channels() {
    let sb = sandbox("none").await;
    let src = source(&sb, "");
    let by_channel = read_all(&stream(&src, "traffic_sources"), cx()).await;
    let overall = read_all(&stream(&src, "daily_overview"), cx()).await;
    let col = |rows: &[String], i: usize| -> i64 {
        rows.iter()
            .map(|r| r.split('|').nth(i).unwrap().parse::<i64>().unwrap())
            .sum()
    };
    // traffic_sources: property|date|4 more dimensions|sessions (6)|total_users (7)|…
    assert_eq!(
        col(&by_channel.rows, 6),
        col(&overall.rows, 2),
        "sessions add up"
    );
    assert!(
        col(&by_channel.rows, 7) > col(&overall.rows, 3),
        "users overcount when summed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_offset_until_row_count() {
    let sb = sandbox("none").await;
    let small = source(&sb, "page_size = 25\nslice_days = 40");
    let paged = read_all(&stream(&small, "traffic_sources"), cx()).await;
    assert!(paged.error.is_none(), "{:?}", paged.error);
    let offsets: Vec<u64> = sb
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(":runReport"))
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
            assert_eq!(body["limit"], 25);
            assert_eq!(body["returnPropertyQuota"], true);
            body["offset"].as_u64().unwrap()
        })
        .collect();
    assert!(offsets.len() > 3, "{offsets:?}");
    assert!(
        offsets.windows(2).all(|w| w[1] == w[0] + 25 || w[1] == 0),
        "{offsets:?}"
    );
    let sb2 = sandbox("none").await;
    let whole = read_all(&stream(&source(&sb2, ""), "traffic_sources"), cx()).await;
    let (a, b): (BTreeSet<_>, BTreeSet<_>) =
        (paged.rows.iter().collect(), whole.rows.iter().collect());
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_without_data_is_empty_not_an_error() {
    let sb = sandbox("none").await;
    let december = chrono::NaiveDate::from_ymd_opt(2024, 12, 1).unwrap();
    let src = source_for(&sb, PROPERTY_ID, december, "end_date = \"2024-12-31\"");
    let read = read_all(&stream(&src, "daily_overview"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert!(read.rows.is_empty());
    assert_eq!(read.checkpoints.len(), 5, "one per 7-day slice of December");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_dimension_is_a_config_error_with_the_fix() {
    let sb = sandbox("none").await;
    let src = source(
        &sb,
        "[[reports]]\nname = \"bad\"\ndimensions = [\"date\", \"pagePathh\"]\nmetrics = [\"sessions\"]",
    );
    let mut events = stream(&src, "bad").read(cx());
    let err = events.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message()
            .contains("Field pagePathh is not a valid dimension"),
        "{err}"
    );
    assert!(
        err.message().contains("fix the report's dimensions"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_property_without_access_is_an_auth_error_naming_the_account() {
    let sb = sandbox("none").await;
    let src = source_for(&sb, FORBIDDEN_PROPERTY_ID, start_date(), "");
    let err = src.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("PERMISSION_DENIED"), "{err}");
    assert!(
        err.message()
            .contains("add chorus-ga4@chorus-sandbox.iam.gserviceaccount.com as a Viewer"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_a_one_row_report() {
    let sb = sandbox("none").await;
    let report = source(&sb, "").check().await.unwrap();
    assert!(report.detail.contains("412345678"), "{}", report.detail);
    assert!(report.detail.contains("currency USD"), "{}", report.detail);
    let asked: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":runReport"))
        .collect();
    assert_eq!(asked.len(), 1);
    let body: serde_json::Value = serde_json::from_str(asked[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["limit"], 1);
}
