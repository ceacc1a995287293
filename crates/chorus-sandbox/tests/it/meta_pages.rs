//! The Meta platform's auth, check support, Facebook Pages endpoints and throttle faults.

use chorus_sandbox::platforms::meta::{
    self, PAGE_ID, POST_METRICS, RETIRED_METRICS, TOKEN, TOKEN_NO_INSIGHTS, end_time,
    pacific_midnight,
};
use chorus_sandbox::{Sandbox, Truth};
use chrono::NaiveDate;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::{client, start};

/// `GET {base}/meta/v25.0/{path}` with the bearer token and `query`.
pub(crate) async fn meta_get(
    sandbox: &Sandbox,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, HeaderMap, Value) {
    send(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{path}")))
            .bearer_auth(TOKEN)
            .query(query),
    )
    .await
}

/// Sends and returns the status, headers and JSON body.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

/// Follows `paging.next` from a first request until it is absent; returns the rows and pages.
pub(crate) async fn all_pages(first: reqwest::RequestBuilder, bearer: bool) -> (Vec<Value>, usize) {
    let (mut rows, mut pages) = (Vec::new(), 0);
    let mut request = first;
    loop {
        let (status, _, body) = send(request).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        rows.extend(body["data"].as_array().unwrap().iter().cloned());
        match body["paging"]["next"].as_str() {
            Some(next) => {
                request = client().get(next);
                if bearer {
                    request = request.bearer_auth(TOKEN);
                }
            }
            None => break,
        }
        assert!(pages < 1_000);
    }
    (rows, pages)
}

/// The `error` object of a Graph error body.
pub(crate) fn error(body: &Value) -> &Value {
    assert!(body["error"]["fbtrace_id"].is_string(), "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
    &body["error"]
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn tokens_come_from_the_header_or_the_query() {
    let sandbox = start(1, 1).await;
    let url = sandbox.url(&format!("/meta/v25.0/{PAGE_ID}"));
    let (status, headers, body) = send(client().get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"name": sandbox.truth().meta.page.name, "id": PAGE_ID})
    );
    assert!(headers.contains_key("x-app-usage"));
    let (status, _, _) = send(client().get(&url).query(&[("access_token", TOKEN)])).await;
    assert_eq!(status, 200);
    for request in [
        client().get(&url),
        client().get(&url).bearer_auth("nope"),
        client().get(&url).query(&[("access_token", "nope")]),
    ] {
        let (status, headers, body) = send(request).await;
        assert_eq!(status, 400);
        assert_eq!(error(&body)["code"], 190);
        assert_eq!(error(&body)["type"], "OAuthException");
        assert!(headers.contains_key("x-app-usage"));
    }
    let (status, _, body) = send(
        client()
            .get(sandbox.url(&format!("/meta/latest/{PAGE_ID}")))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("Unknown path")
    );
    let (status, _, body) = meta_get(&sandbox, "999", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["type"], "GraphMethodException");
    let (status, _, body) = send(client().delete(&url).bearer_auth(TOKEN)).await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 100);
    let (status, _, body) = send(
        client()
            .get(sandbox.url("/meta/v25.0/a/b/c"))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 2500);
}

#[tokio::test]
async fn page_fields_and_unknown_fields() {
    let sandbox = start(2, 1).await;
    let page = &sandbox.truth().meta.page;
    let (status, headers, body) = meta_get(
        &sandbox,
        PAGE_ID,
        &[(
            "fields",
            "id,name,fan_count,followers_count,talking_about_count",
        )],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["fan_count"], page.fan_count);
    assert_eq!(body["followers_count"], page.followers_count);
    assert_eq!(body["talking_about_count"], page.talking_about_count);
    let buc: Value =
        serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(buc[PAGE_ID][0]["type"], "pages");
    assert_eq!(buc[PAGE_ID][0]["estimated_time_to_regain_access"], 0);
    let (status, _, body) = meta_get(&sandbox, PAGE_ID, &[("fields", "id,nope")]).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body)["message"],
        "(#100) Tried accessing nonexisting field (nope) on node type (Page)"
    );
}

#[tokio::test]
async fn check_support_names_permissions() {
    let sandbox = start(1, 1).await;
    let (_, _, body) = send(
        client()
            .get(sandbox.url("/meta/v25.0/me/permissions"))
            .bearer_auth(TOKEN_NO_INSIGHTS),
    )
    .await;
    let declined: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "declined")
        .map(|p| p["permission"].as_str().unwrap())
        .collect();
    assert_eq!(declined, ["read_insights", "instagram_manage_insights"]);
    let (status, _, body) = meta_get(
        &sandbox,
        "debug_token",
        &[("input_token", TOKEN_NO_INSIGHTS)],
    )
    .await;
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(data["is_valid"], true);
    assert_eq!(data["app_id"], meta::APP_ID);
    let scopes: Vec<&str> = data["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"pages_read_engagement") && !scopes.contains(&"read_insights"));
    let (_, _, body) = meta_get(&sandbox, "debug_token", &[("input_token", "bad")]).await;
    assert_eq!(body["data"]["is_valid"], false);
}

/// The expected JSON of one post with the connector's field list.
fn expected_post(post: &meta::Post) -> Value {
    let mut v = json!({
        "id": post.id,
        "created_time": chorus_sandbox::data::graph_time(post.created_time),
        "reactions": {"data": [], "summary": {"total_count": post.reactions, "viewer_reaction": "NONE"}},
        "comments": {"data": [], "summary": {"order": "ranked", "total_count": post.comments, "can_comment": true}},
    });
    if let Some(m) = &post.message {
        v["message"] = json!(m);
    }
    if post.shares > 0 {
        v["shares"] = json!({"count": post.shares});
    }
    v
}

#[tokio::test]
async fn posts_page_to_the_end_newest_first() {
    let sandbox = start(3, 1).await;
    let truth = &sandbox.truth().meta;
    let fields = "id,created_time,message,shares,reactions.summary(true).limit(0),comments.summary(true).limit(0)";
    let first = client()
        .get(sandbox.url(&format!("/meta/v25.0/{PAGE_ID}/posts")))
        .bearer_auth(TOKEN)
        .query(&[("fields", fields), ("limit", "50")]);
    let (rows, pages) = all_pages(first, true).await;
    assert_eq!(rows.len(), truth.posts.len());
    assert_eq!(pages, truth.posts.len().div_ceil(50));
    let expected: Vec<Value> = truth.posts.iter().map(expected_post).collect();
    assert_eq!(rows, expected);
    assert!(
        truth
            .posts
            .iter()
            .any(|p| p.message.is_none() && p.story.is_some())
    );
    assert!(rows.iter().any(|r| r.get("shares").is_none()));
    let times: Vec<i64> = truth.posts.iter().map(|p| p.created_time).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));

    // since/until (dates and unix seconds) filter on created_time; limit is capped at 100.
    // The window: two to five months into the data, wherever the anchor puts it.
    let since_day = truth.data_start + chrono::Duration::days(59);
    let since = pacific_midnight(since_day);
    let until = pacific_midnight(since_day + chrono::Duration::days(88)) + 73_600;
    let first = client()
        .get(sandbox.url(&format!("/meta/v25.0/{PAGE_ID}/published_posts")))
        .bearer_auth(TOKEN)
        .query(&[
            ("since", since_day.to_string()),
            ("until", until.to_string()),
            ("limit", "500".to_owned()),
        ]);
    let (rows, _) = all_pages(first, true).await;
    let expected: Vec<&str> = truth
        .posts
        .iter()
        .filter(|p| p.created_time >= since && p.created_time < until)
        .map(|p| p.id.as_str())
        .collect();
    assert!(expected.len() > 10, "{}", expected.len());
    let got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn next_links_echo_the_query_token_only() {
    let sandbox = start(4, 1).await;
    let url = sandbox.url(&format!("/meta/v25.0/{PAGE_ID}/posts"));
    let (_, _, body) = send(client().get(&url).query(&[
        ("access_token", TOKEN),
        ("fields", "id,message"),
        ("limit", "10"),
    ]))
    .await;
    let next = body["paging"]["next"].as_str().unwrap();
    assert!(next.starts_with(&url));
    assert!(next.contains(&format!("access_token={TOKEN}")));
    assert!(next.contains("fields=id%2Cmessage") && next.contains("limit=10"));
    assert!(next.contains("after="));
    assert!(body["paging"]["cursors"]["after"].is_string());
    // Following it without any other credential works.
    let (status, _, body) = send(client().get(next)).await;
    assert_eq!(status, 200);
    assert!(
        body["paging"]["previous"]
            .as_str()
            .unwrap()
            .contains("before=")
    );

    let (_, _, body) = send(
        client()
            .get(&url)
            .bearer_auth(TOKEN)
            .query(&[("limit", "10")]),
    )
    .await;
    let next = body["paging"]["next"].as_str().unwrap();
    assert!(!next.contains("access_token"));
}

#[tokio::test]
async fn page_insights_values_end_at_pacific_midnight() {
    let sandbox = start(5, 1).await;
    let truth: &Truth = sandbox.truth();
    let (status, headers, body) = meta_get(
        &sandbox,
        &format!("{PAGE_ID}/insights"),
        &[
            (
                "metric",
                "page_post_engagements,page_follows,page_actions_post_reactions_total",
            ),
            ("period", "day"),
            ("since", "2026-03-01"),
            ("until", "2026-03-15"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("x-business-use-case-usage"));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let first = &data[0];
    assert_eq!(first["name"], "page_post_engagements");
    assert_eq!(first["period"], "day");
    assert_eq!(
        first["id"],
        format!("{PAGE_ID}/insights/page_post_engagements/day")
    );
    assert!(first["title"].is_string() && first["description"].is_string());
    let values = first["values"].as_array().unwrap();
    assert_eq!(values.len(), 14);
    // 2026-03-08 is the DST switch: end_time moves from 08:00Z to 07:00Z.
    assert_eq!(values[0]["end_time"], "2026-03-02T08:00:00+0000");
    assert_eq!(values[6]["end_time"], "2026-03-08T08:00:00+0000");
    assert_eq!(values[7]["end_time"], "2026-03-09T07:00:00+0000");
    assert_eq!(end_time(date("2026-11-01")), "2026-11-02T08:00:00+0000");
    for (i, value) in values.iter().enumerate() {
        let day = date("2026-03-01") + chrono::Duration::days(i as i64);
        assert_eq!(
            value["value"],
            truth
                .meta
                .page_insight("page_post_engagements", day)
                .unwrap()
        );
    }
    assert!(data[2]["values"][0]["value"].is_object());

    // paging shifts the window by its width, in unix seconds, forever.
    let since = pacific_midnight(date("2026-03-01"));
    let until = pacific_midnight(date("2026-03-15"));
    let next = body["paging"]["next"].as_str().unwrap();
    assert!(next.contains(&format!("since={until}")));
    assert!(next.contains(&format!("until={}", until + (until - since))));
    let previous = body["paging"]["previous"].as_str().unwrap();
    assert!(previous.contains(&format!("until={since}")));
    let (_, _, future) = send(client().get(next).bearer_auth(TOKEN)).await;
    assert!(future["paging"]["next"].is_string());

    // Days after today have no values.
    let today = meta::today();
    let (_, _, body) = meta_get(
        &sandbox,
        &format!("{PAGE_ID}/insights"),
        &[
            ("metric", "page_media_view"),
            ("period", "day"),
            ("since", &(today - chrono::Duration::days(3)).to_string()),
            ("until", &(today + chrono::Duration::days(5)).to_string()),
        ],
    )
    .await;
    assert_eq!(body["data"][0]["values"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn page_insights_errors() {
    let sandbox = start(6, 1).await;
    let path = format!("{PAGE_ID}/insights");
    let ask = |metric: &'static str, since: &'static str, until: &'static str| {
        let sandbox = &sandbox;
        let path = path.clone();
        async move {
            meta_get(
                sandbox,
                &path,
                &[
                    ("metric", metric),
                    ("period", "day"),
                    ("since", since),
                    ("until", until),
                ],
            )
            .await
        }
    };
    // One retired metric fails the whole request.
    assert!(RETIRED_METRICS.contains(&"page_impressions"));
    let (status, _, body) = ask(
        "page_post_engagements,page_impressions",
        "2026-03-01",
        "2026-03-02",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 100);
    assert_eq!(
        error(&body)["message"],
        "(#100) The value must be a valid insights metric"
    );
    // An empty metric.
    let (_, _, body) = ask("", "2026-03-01", "2026-03-02").await;
    assert_eq!(error(&body)["code"], 3001);
    assert_eq!(error(&body)["error_subcode"], 1_504_028);
    // More than 90 days.
    let (_, _, body) = ask("page_media_view", "2026-01-01", "2026-04-05").await;
    assert_eq!(error(&body)["code"], 100);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("90 days")
    );
    let (status, _, _) = ask("page_media_view", "2026-01-01", "2026-03-31").await;
    assert_eq!(status, 200);
    // Without read_insights.
    let (status, _, body) = send(
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{path}")))
            .bearer_auth(TOKEN_NO_INSIGHTS)
            .query(&[("metric", "page_media_view")]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(matches!(error(&body)["code"].as_i64(), Some(10 | 200)));
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("read_insights")
    );
}

#[tokio::test]
async fn post_insights_are_lifetime_values() {
    let sandbox = start(7, 1).await;
    let truth = &sandbox.truth().meta;
    let post = &truth.posts[3];
    let metrics = POST_METRICS.join(",");
    let (status, _, body) = meta_get(
        &sandbox,
        &format!("{}/insights", post.id),
        &[("metric", &metrics)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), POST_METRICS.len());
    for row in data {
        let name = row["name"].as_str().unwrap();
        assert_eq!(row["period"], "lifetime");
        assert_eq!(row["id"], format!("{}/insights/{name}/lifetime", post.id));
        assert!(row["values"][0].get("end_time").is_none());
        assert_eq!(
            row["values"][0]["value"],
            truth.post_insight(&post.id, name).unwrap()
        );
    }
    let reactions = truth
        .post_insight(&post.id, "post_reactions_by_type_total")
        .unwrap();
    let sum: u64 = reactions
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(sum, post.reactions);
    let (status, _, body) = meta_get(
        &sandbox,
        &format!("{}/insights", post.id),
        &[("metric", "post_clicks,post_impressions_unique")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body)["message"],
        "(#100) The value must be a valid insights metric"
    );
}

#[tokio::test]
async fn throttle_faults_are_graph_errors_by_family() {
    let sandbox = start(8, 1).await;
    let forced = |path: String, fault: &'static str| {
        client()
            .get(sandbox.url(&format!("/meta/v25.0/{path}")))
            .bearer_auth(TOKEN)
            .header("x-sandbox-fault", fault)
    };
    let (status, headers, body) = send(forced(PAGE_ID.to_owned(), "429")).await;
    assert_eq!(status, 403);
    assert_eq!(error(&body)["code"], 80001);
    assert!(
        error(&body)["message"]
            .as_str()
            .unwrap()
            .starts_with("(#80001)")
    );
    let buc: Value =
        serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(buc[PAGE_ID][0]["estimated_time_to_regain_access"], 0);
    assert_eq!(buc[PAGE_ID][0]["call_count"], 100);
    let (status, _, body) = send(forced(format!("{PAGE_ID}/posts"), "429reset")).await;
    assert_eq!(status, 400);
    assert_eq!(error(&body)["code"], 32);
    let (status, _, body) = send(forced(PAGE_ID.to_owned(), "throttle400")).await;
    assert_eq!(status, 400);
    assert_eq!(
        error(&body)["message"],
        "(#4) Application request limit reached"
    );
    for (fault, status_code, code) in [("500", 500, 1), ("503", 503, 2), ("error200", 200, 2)] {
        let (status, _, body) = send(forced(PAGE_ID.to_owned(), fault)).await;
        assert_eq!(status, status_code);
        assert_eq!(error(&body)["code"], code);
        assert_eq!(error(&body)["is_transient"], true);
    }
}

#[tokio::test]
async fn usage_can_be_forced() {
    let sandbox = start(9, 1).await;
    let (_, headers, _) = meta_get(&sandbox, PAGE_ID, &[]).await;
    let app: Value = serde_json::from_str(headers["x-app-usage"].to_str().unwrap()).unwrap();
    assert!(app["call_count"].as_u64().unwrap() < 10);
    sandbox.set_meta_usage(Some(95));
    let (_, headers, _) = meta_get(&sandbox, PAGE_ID, &[]).await;
    let app: Value = serde_json::from_str(headers["x-app-usage"].to_str().unwrap()).unwrap();
    assert_eq!(app["call_count"], 95);
    let buc: Value =
        serde_json::from_str(headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(buc[PAGE_ID][0]["call_count"], 95);
    sandbox.set_meta_usage(None);
    let (_, headers, _) = meta_get(&sandbox, PAGE_ID, &[]).await;
    let app: Value = serde_json::from_str(headers["x-app-usage"].to_str().unwrap()).unwrap();
    assert!(app["call_count"].as_u64().unwrap() < 10);
}

#[tokio::test]
async fn me_accounts_lists_the_page_with_its_token() {
    let sandbox = start(10, 1).await;
    let (status, _, body) = meta_get(
        &sandbox,
        "me/accounts",
        &[("fields", "id,name,access_token,instagram_business_account")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page = &body["data"][0];
    assert_eq!(page["id"], PAGE_ID);
    assert_eq!(page["access_token"], TOKEN);
    assert_eq!(page["instagram_business_account"]["id"], meta::IG_USER_ID);
    assert!(body["paging"].get("next").is_none());
}
