//! The Meta platform's Instagram endpoints.

use chorus_sandbox::platforms::meta::{
    IG_USER_ID, MediaInsights, TOKEN, TOKEN_NO_INSIGHTS, media_metrics, pacific_midnight,
};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use crate::meta_pages::{all_pages, error, meta_get, send};
use crate::{client, start};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn account_fields() {
    let sandbox = start(11, 1).await;
    let account = &sandbox.truth().meta.ig_account;
    let (status, headers, body) = meta_get(
        &sandbox,
        IG_USER_ID,
        &[(
            "fields",
            "id,username,followers_count,follows_count,media_count",
        )],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "id": IG_USER_ID,
            "username": account.username,
            "followers_count": account.followers_count,
            "follows_count": account.follows_count,
            "media_count": account.media_count,
        })
    );
    let buc: Value =
        serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(buc[IG_USER_ID][0]["type"], "instagram");
}

#[tokio::test]
async fn media_stories_and_tags_page_to_the_end() {
    let sandbox = start(12, 2).await;
    let truth = &sandbox.truth().meta;
    let fields =
        "id,caption,media_type,media_product_type,timestamp,permalink,like_count,comments_count";
    for (edge, expected) in [
        ("media", &truth.media),
        ("stories", &truth.stories),
        ("tags", &truth.tags),
    ] {
        let first = client()
            .get(sandbox.url(&format!("/meta/v25.0/{IG_USER_ID}/{edge}")))
            .query(&[("access_token", TOKEN), ("fields", fields)]);
        let (rows, _) = all_pages(first, false).await;
        assert_eq!(rows.len(), expected.len(), "{edge}");
        for (row, m) in rows.iter().zip(expected.iter()) {
            assert_eq!(row["id"], m.id);
            assert_eq!(row["media_product_type"], m.media_product_type);
            assert_eq!(
                row["timestamp"],
                chorus_sandbox::data::graph_time(m.timestamp)
            );
            assert!(row["timestamp"].as_str().unwrap().ends_with("+0000"));
            assert_eq!(
                row.get("caption").and_then(Value::as_str),
                m.caption.as_deref()
            );
            if m.likes_hidden {
                assert!(row.get("like_count").is_none());
            } else {
                assert_eq!(row["like_count"], m.like_count);
            }
            assert_eq!(row["comments_count"], m.comments_count);
        }
    }
    assert!(truth.media.iter().any(|m| m.likes_hidden));
    assert!(truth.media.iter().all(|m| m.media_product_type != "STORY"));
    let times: Vec<i64> = truth.media.iter().map(|m| m.timestamp).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    let (_, _, body) = meta_get(
        &sandbox,
        &format!("{IG_USER_ID}/tags"),
        &[("fields", "id,username")],
    )
    .await;
    assert_ne!(body["data"][0]["username"], truth.ig_account.username);
}

#[tokio::test]
async fn media_insights_by_product_type() {
    let sandbox = start(13, 2).await;
    let truth = &sandbox.truth().meta;
    let available = |product: &str| {
        truth
            .media
            .iter()
            .chain(&truth.stories)
            .find(|m| m.media_product_type == product && m.insights == MediaInsights::Available)
            .unwrap()
    };
    for product in ["FEED", "REELS", "STORY"] {
        let m = available(product);
        let metrics = media_metrics(product).join(",");
        let (status, _, body) = meta_get(
            &sandbox,
            &format!("{}/insights", m.id),
            &[("metric", &metrics)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), media_metrics(product).len());
        for row in data {
            let name = row["name"].as_str().unwrap();
            assert_eq!(row["period"], "lifetime");
            assert_eq!(row["id"], format!("{}/insights/{name}/lifetime", m.id));
            assert_eq!(
                row["values"][0]["value"],
                truth.media_insight(&m.id, name).unwrap()
            );
        }
    }
    // Unsupported for the product type, deprecated, unknown.
    let story = available("STORY");
    let (status, _, body) = meta_get(
        &sandbox,
        &format!("{}/insights", story.id),
        &[("metric", "reach,saved")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 100);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("not support the saved metric for this media product type")
    );
    let feed = available("FEED");
    for metric in ["impressions", "plays", "video_views"] {
        let (status, _, body) = meta_get(
            &sandbox,
            &format!("{}/insights", feed.id),
            &[("metric", metric)],
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            error(&body)["message"]
                .as_str()
                .unwrap()
                .starts_with("(#100)")
        );
    }
    // Without instagram_manage_insights.
    let (status, _, body) = send(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{}/insights", feed.id)))
            .bearer_auth(TOKEN_NO_INSIGHTS)
            .query(&[("metric", "reach")]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("instagram_manage_insights")
    );
}

#[tokio::test]
async fn media_insights_special_cases() {
    let sandbox = start(14, 2).await;
    let truth = &sandbox.truth().meta;
    let find = |kind: MediaInsights| {
        truth
            .media
            .iter()
            .chain(&truth.stories)
            .find(|m| m.insights == kind)
            .unwrap()
    };
    let old = find(MediaInsights::BeforeConversion);
    assert!(old.timestamp < truth.ig_account.business_conversion_time);
    let (status, _, body) = meta_get(
        &sandbox,
        &format!("{}/insights", old.id),
        &[("metric", "reach")],
    )
    .await;
    assert_eq!(status, 400);
    let e = error(&body);
    assert_eq!(e["code"], 100);
    assert_eq!(e["error_subcode"], 2_108_006);
    assert_eq!(
        e["error_user_title"],
        "Media posted before business account conversion"
    );
    assert_eq!(e["is_transient"], false);
    assert!(e["error_data"].is_object());

    let small = find(MediaInsights::TooFewViewers);
    assert_eq!(small.media_product_type, "STORY");
    let (status, _, body) = meta_get(
        &sandbox,
        &format!("{}/insights", small.id),
        &[("metric", "reach")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 10);
    assert_eq!(
        error(&body)["message"],
        "(#10) Not enough viewers for the media to show insights"
    );

    let empty = find(MediaInsights::Empty);
    let metric = media_metrics(&empty.media_product_type)[0];
    let (status, _, body) = meta_get(
        &sandbox,
        &format!("{}/insights", empty.id),
        &[("metric", metric)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"data": []}));
}

#[tokio::test]
async fn account_insights_total_value_and_windows() {
    let sandbox = start(15, 1).await;
    let truth = &sandbox.truth().meta;
    let path = format!("{IG_USER_ID}/insights");
    let since = pacific_midnight(date("2026-05-01")).to_string();
    let until = pacific_midnight(date("2026-05-08")).to_string();
    let (status, headers, body) = meta_get(
        &sandbox,
        &path,
        &[
            ("metric", "reach,views,profile_views"),
            ("period", "day"),
            ("metric_type", "total_value"),
            ("since", &since),
            ("until", &until),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("x-business-use-case-usage"));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for row in data {
        let name = row["name"].as_str().unwrap();
        let expected: u64 = (0..7)
            .map(|i| {
                truth
                    .ig_account_insight(name, date("2026-05-01") + Duration::days(i))
                    .unwrap()
            })
            .sum();
        assert_eq!(row["total_value"], json!({"value": expected}));
        assert_eq!(row["period"], "day");
        assert_eq!(row["id"], format!("{IG_USER_ID}/insights/{name}/day"));
        assert!(row["title"].is_string() && row["description"].is_string());
    }
    // Daily time series for reach.
    let (_, _, body) = meta_get(
        &sandbox,
        &path,
        &[
            ("metric", "reach"),
            ("period", "day"),
            ("since", &since),
            ("until", &until),
        ],
    )
    .await;
    let values = body["data"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 7);
    assert_eq!(values[0]["end_time"], "2026-05-02T07:00:00+0000");
    assert!(body["paging"]["next"].is_string());
    // views without metric_type=total_value.
    let (status, _, body) = meta_get(
        &sandbox,
        &path,
        &[
            ("metric", "reach,views,profile_views"),
            ("period", "day"),
            ("since", &since),
            ("until", &until),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body)["message"],
        "(#100) The following metrics (views,profile_views) should be specified with parameter metric_type=total_value"
    );
    // More than 30 days.
    let far = pacific_midnight(date("2026-06-02")).to_string();
    let (_, _, body) = meta_get(
        &sandbox,
        &path,
        &[
            ("metric", "reach"),
            ("period", "day"),
            ("metric_type", "total_value"),
            ("since", &since),
            ("until", &far),
        ],
    )
    .await;
    assert_eq!(error(&body)["code"], 100);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("30 days")
    );
    // Retired impressions.
    let (_, _, body) = meta_get(
        &sandbox,
        &path,
        &[
            ("metric", "reach,impressions"),
            ("period", "day"),
            ("metric_type", "total_value"),
        ],
    )
    .await;
    assert_eq!(error(&body)["code"], 100);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("impressions metric is no longer supported")
    );
}

#[tokio::test]
async fn instagram_throttle_fault() {
    let sandbox = start(16, 1).await;
    let (status, _, body) = send(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{IG_USER_ID}/media")))
            .bearer_auth(TOKEN)
            .header("x-sandbox-fault", "429"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(error(&body)["code"], 80002);
}

#[tokio::test]
async fn media_since_until_and_user_throttle() {
    let sandbox = start(17, 1).await;
    let truth = &sandbox.truth().meta;
    // Three months from the fourth month of the data on, wherever the anchor puts it.
    let since = pacific_midnight(truth.data_start + Duration::days(90));
    let until = pacific_midnight(truth.data_start + Duration::days(181));
    let (rows, _) = all_pages(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{IG_USER_ID}/media")))
            .bearer_auth(TOKEN)
            .query(&[("since", since.to_string()), ("until", until.to_string())]),
        true,
    )
    .await;
    let expected: Vec<&str> = truth
        .media
        .iter()
        .filter(|m| m.timestamp >= since && m.timestamp < until)
        .map(|m| m.id.as_str())
        .collect();
    let got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    let (status, _, body) = send(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{IG_USER_ID}")))
            .bearer_auth(TOKEN)
            .header("x-sandbox-fault", "429reset"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["message"], "(#17) User request limit reached");
}
