//! The Meta platform's Marketing API endpoints, sync and async insights.

use chorus_sandbox::platforms::meta::{AD_ACCOUNT_ID, ASYNC_MAX_ROWS, AdDay, SYNC_MAX_ROWS, TOKEN};
use chorus_sandbox::{Sandbox, Truth};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::meta_pages::{all_pages, error, meta_get, send};
use crate::{client, start};

/// The day `days` before the sandbox's anchor (the first day without generated objects).
fn before_anchor(sandbox: &Sandbox, days: i64) -> NaiveDate {
    sandbox.truth().anchor - Duration::days(days)
}

/// A `time_range` parameter.
fn time_range(since: NaiveDate, until: NaiveDate) -> String {
    format!(r#"{{"since":"{since}","until":"{until}"}}"#)
}

fn act(edge: &str) -> String {
    format!("act_{AD_ACCOUNT_ID}/{edge}")
}

const ALL_STATUSES: &str = r#"[{"field":"ad.effective_status","operator":"IN","value":["ACTIVE","PAUSED","DELETED","ARCHIVED","CAMPAIGN_PAUSED","ADSET_PAUSED"]}]"#;

#[tokio::test]
async fn account_node() {
    let sandbox = start(21, 1).await;
    let (status, headers, body) = meta_get(
        &sandbox,
        &format!("act_{AD_ACCOUNT_ID}"),
        &[("fields", "id,name,account_status,currency,timezone_name")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], format!("act_{AD_ACCOUNT_ID}"));
    assert_eq!(body["timezone_name"], "America/Los_Angeles");
    assert_eq!(body["account_status"], 1);
    let buc: Value =
        serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(buc[AD_ACCOUNT_ID][0]["type"], "ads_management");
    assert!(headers.contains_key("x-ad-account-usage"));
}

#[tokio::test]
async fn object_lists_hide_deleted_and_filter() {
    let sandbox = start(22, 2).await;
    let truth = &sandbox.truth().meta;
    let fields = "id,name,status,effective_status,created_time,updated_time,campaign_id,adset_id";
    let list = |filtering: Option<String>| {
        let mut query = vec![("fields", fields.to_owned()), ("limit", "7".to_owned())];
        if let Some(f) = filtering {
            query.push(("filtering", f));
        }
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{}", act("ads"))))
            .bearer_auth(TOKEN)
            .query(&query)
    };
    let (rows, pages) = all_pages(list(None), true).await;
    let visible: Vec<&str> = truth
        .ads
        .iter()
        .filter(|a| !matches!(a.effective_status.as_str(), "DELETED" | "ARCHIVED"))
        .map(|a| a.id.as_str())
        .collect();
    let got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(got, visible);
    assert!(pages > 1);
    assert!(
        visible.len() < truth.ads.len(),
        "some ads are deleted or archived"
    );
    let first = &rows[0];
    let ad = truth.ad(first["id"].as_str().unwrap()).unwrap();
    assert_eq!(first["campaign_id"], ad.campaign_id);
    assert_eq!(first["adset_id"], ad.adset_id);
    let updated = first["updated_time"].as_str().unwrap();
    assert!(
        updated.ends_with("-0800") || updated.ends_with("-0700"),
        "{updated}"
    );

    let (rows, _) = all_pages(list(Some(ALL_STATUSES.to_owned())), true).await;
    assert_eq!(rows.len(), truth.ads.len());

    let cut = truth.ads[truth.ads.len() / 2].updated_time;
    let filter = format!(
        r#"[{{"field":"ad.updated_time","operator":"GREATER_THAN","value":{cut}}},{{"field":"ad.effective_status","operator":"IN","value":["DELETED"]}}]"#
    );
    let (rows, _) = all_pages(list(Some(filter)), true).await;
    let expected = truth
        .ads
        .iter()
        .filter(|a| a.updated_time > cut && a.effective_status == "DELETED")
        .count();
    assert_eq!(rows.len(), expected);

    // Campaigns and adsets are served the same way.
    for (edge, count) in [
        ("campaigns", truth.campaigns.len()),
        ("adsets", truth.adsets.len()),
    ] {
        let entity = if edge == "campaigns" {
            "campaign"
        } else {
            "adset"
        };
        let filter =
            ALL_STATUSES.replace("ad.effective_status", &format!("{entity}.effective_status"));
        let (rows, _) = all_pages(
            client()
                .get(sandbox.url(&format!("/meta/v25.0/{}", act(edge))))
                .bearer_auth(TOKEN)
                .query(&[
                    ("filtering", filter.as_str()),
                    ("fields", "id,effective_status"),
                ]),
            true,
        )
        .await;
        assert_eq!(rows.len(), count, "{edge}");
    }
    let (status, _, body) = meta_get(
        &sandbox,
        &act("ads"),
        &[(
            "filtering",
            r#"[{"field":"ad.spend","operator":"GREATER_THAN","value":0}]"#,
        )],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body)["message"],
        "(#100) Filtering field 'ad.spend' is not supported"
    );
}

/// The expected `level=ad&time_increment=1` rows of a range, visible ads only.
fn expected_ad_rows(
    truth: &Truth,
    since: NaiveDate,
    until: NaiveDate,
    all: bool,
) -> Vec<(String, String, AdDay)> {
    let mut out = Vec::new();
    let mut day = since;
    while day <= until {
        let mut ads: Vec<&chorus_sandbox::platforms::meta::Ad> = truth
            .meta
            .ads
            .iter()
            .filter(|a| all || !matches!(a.effective_status.as_str(), "DELETED" | "ARCHIVED"))
            .collect();
        ads.sort_by(|a, b| a.id.cmp(&b.id));
        for ad in ads {
            if let Some(d) = truth.meta.ad_insights(&ad.id, day) {
                out.push((day.to_string(), ad.id.clone(), d));
            }
        }
        day += Duration::days(1);
    }
    out
}

async fn sync_rows(sandbox: &Sandbox, query: &[(&str, &str)]) -> Vec<Value> {
    let (rows, _) = all_pages(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{}", act("insights"))))
            .bearer_auth(TOKEN)
            .query(query),
        true,
    )
    .await;
    rows
}

#[tokio::test]
async fn sync_insights_daily_rows() {
    let sandbox = start(23, 1).await;
    let truth = sandbox.truth();
    let (since, until) = (before_anchor(&sandbox, 61), before_anchor(&sandbox, 52));
    let range = time_range(since, until);
    let rows = sync_rows(
        &sandbox,
        &[
            ("level", "ad"),
            (
                "fields",
                "ad_id,adset_id,campaign_id,impressions,clicks,spend,reach,actions,action_values",
            ),
            ("time_range", &range),
            ("time_increment", "1"),
            ("limit", "20"),
        ],
    )
    .await;
    let expected = expected_ad_rows(truth, since, until, false);
    assert_eq!(rows.len(), expected.len());
    assert!(!rows.is_empty());
    for (row, (day, ad_id, d)) in rows.iter().zip(&expected) {
        assert_eq!(row["date_start"], *day);
        assert_eq!(row["date_stop"], *day);
        assert_eq!(row["ad_id"], *ad_id);
        assert_eq!(row["impressions"], d.impressions.to_string());
        assert_eq!(row["clicks"], d.clicks.to_string());
        assert!(row["spend"].is_string());
        let ad = truth.meta.ad(ad_id).unwrap();
        assert_eq!(row["campaign_id"], ad.campaign_id);
        let link = row["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action_type"] == "link_click");
        if d.link_clicks > 0 {
            assert_eq!(link.unwrap()["value"], d.link_clicks.to_string());
        }
        if d.purchases > 0 {
            assert_eq!(row["action_values"][0]["action_type"], "purchase");
        } else {
            assert!(row.get("action_values").is_none());
        }
    }
    // Account level over the whole range: one row, the sum.
    let rows = sync_rows(
        &sandbox,
        &[
            ("level", "account"),
            ("fields", "account_id,impressions"),
            ("time_range", &range),
        ],
    )
    .await;
    let all = expected_ad_rows(truth, since, until, true);
    let total: u64 = all.iter().map(|(_, _, d)| d.impressions).sum();
    assert_eq!(
        rows,
        [
            json!({"account_id": AD_ACCOUNT_ID, "impressions": total.to_string(), "date_start": since.to_string(), "date_stop": until.to_string()})
        ]
    );
}

#[tokio::test]
async fn sync_insights_refuse_too_much_data() {
    let sandbox = start(24, 1).await;
    let ads = sandbox.truth().meta.ads.len();
    let days = SYNC_MAX_ROWS / ads + 1;
    let since = sandbox.truth().meta.data_start;
    let range = time_range(since, since + Duration::days(days as i64 - 1));
    let (status, _, body) = meta_get(
        &sandbox,
        &act("insights"),
        &[
            ("level", "ad"),
            ("time_increment", "1"),
            ("time_range", &range),
            ("filtering", ALL_STATUSES),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let e = error(&body);
    assert_eq!(e["code"], 100);
    assert_eq!(e["error_subcode"], 1_487_534);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("reduce the amount of data")
    );
}

/// Starts an async job with a form body and polls it to its end; returns the run id and the
/// statuses seen.
async fn run_job(sandbox: &Sandbox, form: &[(&str, &str)]) -> (String, Vec<String>) {
    let (status, headers, body) = send(
        client()
            .post(sandbox.url(&format!("/meta/v25.0/{}", act("insights"))))
            .bearer_auth(TOKEN)
            .form(form),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("x-fb-ads-insights-throttle"));
    let run = body["report_run_id"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (status, _, body) = meta_get(sandbox, &run, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], run);
        assert_eq!(body["account_id"], AD_ACCOUNT_ID);
        assert!(body["async_percent_completion"].is_u64());
        let s = body["async_status"].as_str().unwrap().to_owned();
        statuses.push(s.clone());
        if s == "Job Completed" || s == "Job Failed" {
            break;
        }
    }
    (run, statuses)
}

#[tokio::test]
async fn async_job_lifecycle() {
    let sandbox = start(25, 1).await;
    let range = time_range(before_anchor(&sandbox, 92), before_anchor(&sandbox, 73));
    let params = [
        ("level", "ad"),
        ("fields", "ad_id,impressions,spend,actions"),
        ("time_range", &range),
        ("time_increment", "1"),
    ];
    let (run, statuses) = run_job(&sandbox, &params).await;
    assert_eq!(
        statuses,
        [
            "Job Not Started",
            "Job Started",
            "Job Running",
            "Job Completed"
        ]
    );
    let (rows, pages) = all_pages(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{run}/insights")))
            .bearer_auth(TOKEN)
            .query(&[("limit", "25")]),
        true,
    )
    .await;
    assert!(pages > 1);
    assert_eq!(rows, sync_rows(&sandbox, &params).await);
}

#[tokio::test]
async fn async_job_fails_when_too_large_then_splits() {
    let sandbox = start(26, 2).await;
    let ads = sandbox.truth().meta.ads.len();
    let days = ASYNC_MAX_ROWS / ads + 1;
    let since = sandbox.truth().meta.data_start;
    let range = time_range(since, since + Duration::days(days as i64 - 1));
    let (run, statuses) = run_job(
        &sandbox,
        &[
            ("level", "ad"),
            ("time_increment", "1"),
            ("time_range", &range),
            ("filtering", ALL_STATUSES),
        ],
    )
    .await;
    assert_eq!(statuses.last().unwrap(), "Job Failed");
    let (status, _, body) = meta_get(&sandbox, &format!("{run}/insights"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], -2);
    assert_eq!(error(&body)["error_subcode"], 2_490_547);
    // Half the range succeeds.
    let half = since + Duration::days(days as i64 / 2 - 1);
    let range = time_range(since, half);
    let (_, statuses) = run_job(
        &sandbox,
        &[
            ("level", "ad"),
            ("time_increment", "1"),
            ("time_range", &range),
            ("filtering", ALL_STATUSES),
        ],
    )
    .await;
    assert_eq!(statuses.last().unwrap(), "Job Completed");
}

#[tokio::test]
async fn ads_throttle_faults() {
    let sandbox = start(27, 1).await;
    let forced = |path: String, fault: &'static str| {
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{path}")))
            .bearer_auth(TOKEN)
            .header("x-sandbox-fault", fault)
    };
    let (status, headers, body) = send(forced(act("insights"), "429")).await;
    assert_eq!(status, 403);
    assert_eq!(error(&body)["code"], 80000);
    assert_eq!(error(&body)["error_subcode"], 2_446_079);
    let buc: Value =
        serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(buc[AD_ACCOUNT_ID][0]["type"], "ads_insights");
    assert_eq!(buc[AD_ACCOUNT_ID][0]["estimated_time_to_regain_access"], 0);
    let (_, _, body) = send(forced(act("campaigns"), "429")).await;
    assert_eq!(error(&body)["code"], 80004);
    let (status, _, body) = send(forced(act("campaigns"), "429reset")).await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 613);
    let (_, _, body) = send(forced(act("insights"), "429reset")).await;
    assert_eq!(error(&body)["code"], 17);
    assert_eq!(error(&body)["error_subcode"], 2_446_079);
}

#[tokio::test]
async fn async_jobs_accept_a_json_body() {
    let sandbox = start(28, 1).await;
    let (since, until) = (before_anchor(&sandbox, 123), before_anchor(&sandbox, 121));
    let (status, _, body) = send(
        client()
            .post(sandbox.url(&format!("/meta/v25.0/{}", act("insights"))))
            .bearer_auth(TOKEN)
            .json(&json!({
                "level": "campaign",
                "fields": "campaign_id,impressions",
                "time_range": {"since": since.to_string(), "until": until.to_string()},
                "time_increment": 1,
            })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = body["report_run_id"].as_str().unwrap();
    let (_, _, polled) = meta_get(&sandbox, run, &[]).await;
    assert_eq!(polled["date_start"], since.to_string());
    assert_eq!(polled["date_stop"], until.to_string());
    // Insights before completion are refused; errors carry the ads usage headers too.
    let (status, headers, body) = meta_get(&sandbox, &format!("{run}/insights"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 100);
    assert!(headers.contains_key("x-ad-account-usage"));
}

#[tokio::test]
async fn object_insights_match_the_account_breakdown() {
    let sandbox = start(29, 1).await;
    let range = time_range(before_anchor(&sandbox, 61), before_anchor(&sandbox, 32));
    let range = range.as_str();
    let by_campaign = sync_rows(
        &sandbox,
        &[
            ("level", "campaign"),
            ("fields", "campaign_id,impressions,spend"),
            ("time_range", range),
        ],
    )
    .await;
    assert!(!by_campaign.is_empty());
    for row in &by_campaign {
        let id = row["campaign_id"].as_str().unwrap();
        let (status, _, body) = meta_get(
            &sandbox,
            &format!("{id}/insights"),
            &[
                ("fields", "campaign_id,impressions,spend"),
                ("time_range", range),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!([row]));
    }
}
