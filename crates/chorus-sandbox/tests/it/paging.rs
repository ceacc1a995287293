//! Every paginator pages to exactly the ground-truth rows, with and without a window.

use chorus_sandbox::data::REFERENCE_ANCHOR;
use chorus_sandbox::platforms::reference::{self, MAX_PAGE_SIZE};
use chorus_sandbox::{SandboxConfig, Truth};
use serde_json::Value;

use crate::{
    client, expected, json, jwt_access_token, oauth_access_token, start, start_with, window,
};

const MAX_PAGES: usize = 1_000;

/// Pages `/ref/v1/next_url` by following `paging.next`.
async fn all_next_url(base: &str, extra: &[(String, String)]) -> (Vec<Value>, usize) {
    let client = client();
    let mut first = vec![("access_token".to_owned(), reference::TOKEN.to_owned())];
    first.extend_from_slice(extra);
    let mut request = client.get(format!("{base}/ref/v1/next_url")).query(&first);
    let (mut rows, mut pages) = (Vec::new(), 0);
    loop {
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        pages += 1;
        rows.extend(body["data"].as_array().unwrap().iter().cloned());
        match body["paging"]["next"].as_str() {
            Some(next) => {
                assert!(next.contains(&format!("access_token={}", reference::TOKEN)));
                assert!(next.starts_with(base));
                request = client.get(next);
            }
            None => break,
        }
        assert!(pages < MAX_PAGES);
    }
    (rows, pages)
}

/// Pages `/ref/v1/cursor` until `next_cursor` is empty.
async fn all_cursor(base: &str, extra: &[(String, String)]) -> (Vec<Value>, usize) {
    let client = client();
    let (mut rows, mut pages, mut cursor) = (Vec::new(), 0, String::new());
    loop {
        let mut query = extra.to_vec();
        if !cursor.is_empty() {
            query.push(("cursor".to_owned(), cursor.clone()));
        }
        let body: Value = json(
            client
                .get(format!("{base}/ref/v1/cursor"))
                .bearer_auth(reference::TOKEN)
                .query(&query),
        )
        .await;
        pages += 1;
        assert_eq!(body["ok"], true);
        rows.extend(body["items"].as_array().unwrap().iter().cloned());
        cursor = body["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            break;
        }
        assert!(pages < MAX_PAGES);
    }
    (rows, pages)
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        (rel.trim() == "rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// Pages `/ref/v1/link` by following the `Link` header.
async fn all_link(base: &str, extra: &[(String, String)]) -> (Vec<Value>, usize) {
    let client = client();
    let mut request = client.get(format!("{base}/ref/v1/link")).query(extra);
    let (mut rows, mut pages) = (Vec::new(), 0);
    loop {
        let response = request
            .basic_auth(reference::BASIC_USER, Some(reference::BASIC_PASSWORD))
            .send()
            .await
            .unwrap();
        let next = response
            .headers()
            .get("link")
            .map(|v| next_link(v.to_str().unwrap()).unwrap());
        let body: Value = response.json().await.unwrap();
        pages += 1;
        rows.extend(body.as_array().unwrap().iter().cloned());
        match next {
            Some(next) => request = client.get(next),
            None => break,
        }
        assert!(pages < MAX_PAGES);
    }
    (rows, pages)
}

/// Pages `/ref/v1/offset` until the offset reaches `rowCount`.
async fn all_offset(base: &str, token: &str, extra: &[(String, String)]) -> (Vec<Value>, usize) {
    let client = client();
    let (mut rows, mut pages, mut offset) = (Vec::new(), 0, 0);
    loop {
        let mut query = extra.to_vec();
        query.push(("offset".to_owned(), offset.to_string()));
        let body: Value = json(
            client
                .get(format!("{base}/ref/v1/offset"))
                .bearer_auth(token)
                .query(&query),
        )
        .await;
        pages += 1;
        let Some(row_count) = body.get("rowCount").and_then(Value::as_u64) else {
            assert!(body.get("rows").is_none());
            break;
        };
        let page = body["rows"].as_array().unwrap();
        offset += page.len() as u64;
        rows.extend(page.iter().cloned());
        if offset >= row_count {
            break;
        }
        assert!(pages < MAX_PAGES);
    }
    (rows, pages)
}

/// Pages `/ref/v1/pages` until `page` reaches `total_pages`.
async fn all_pages(base: &str, token: &str, extra: &[(String, String)]) -> (Vec<Value>, usize) {
    let client = client();
    let (mut rows, mut page) = (Vec::new(), 1);
    loop {
        let mut query = extra.to_vec();
        query.push(("page".to_owned(), page.to_string()));
        let body: Value = json(
            client
                .get(format!("{base}/ref/v1/pages"))
                .bearer_auth(token)
                .query(&query),
        )
        .await;
        assert_eq!(body["page"], page);
        rows.extend(body["results"].as_array().unwrap().iter().cloned());
        if page >= body["total_pages"].as_u64().unwrap() as usize {
            break;
        }
        page += 1;
        assert!(page < MAX_PAGES);
    }
    (rows, page)
}

fn size(name: &str, n: usize) -> Vec<(String, String)> {
    vec![(name.to_owned(), n.to_string())]
}

#[tokio::test]
async fn every_paginator_pages_to_the_truth() {
    let sandbox = start(11, 2).await;
    let base = sandbox.base_url();
    let all = expected(&sandbox, None, None);
    assert_eq!(all.len(), 200);
    let offset_token = oauth_access_token(&sandbox).await;
    let pages_token = jwt_access_token(&sandbox).await;

    assert_eq!(
        all_next_url(base, &size("limit", 30)).await,
        (all.clone(), 7)
    );
    assert_eq!(all_cursor(base, &size("limit", 30)).await, (all.clone(), 7));
    assert_eq!(
        all_link(base, &size("per_page", 30)).await,
        (all.clone(), 7)
    );
    let offset = all_offset(base, &offset_token, &size("limit", 30)).await;
    assert_eq!(offset, (all.clone(), 7));
    let pages = all_pages(base, &pages_token, &size("page_size", 30)).await;
    assert_eq!(pages, (all.clone(), 7));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn default_page_size_is_25_and_100_is_accepted() {
    let sandbox = start(3, 1).await;
    let base = sandbox.base_url();
    let all = expected(&sandbox, None, None);
    assert_eq!(all_next_url(base, &[]).await, (all.clone(), 4));
    assert_eq!(
        all_cursor(base, &size("limit", 100)).await,
        (all.clone(), 1)
    );
    assert_eq!(
        all_link(base, &size("per_page", 100)).await,
        (all.clone(), 1)
    );
}

#[tokio::test]
async fn since_until_filter_every_endpoint() {
    let sandbox = start(5, 3).await;
    let base = sandbox.base_url();
    let items = &sandbox.truth().reference.items;
    // Bounds that fall on items, to check since is inclusive and until exclusive.
    let (since, until) = (items[40].updated_at, items[250].updated_at);
    let want = expected(&sandbox, Some(since), Some(until));
    assert!(want.len() >= 200);
    assert_eq!(want[0]["updated_at"], since);
    assert!(
        want.iter()
            .all(|row| row["updated_at"].as_i64().unwrap() < until)
    );

    let mut extra = window(Some(since), Some(until));
    extra.push(("limit".to_owned(), "50".to_owned()));
    assert_eq!(all_next_url(base, &extra).await.0, want);
    assert_eq!(all_cursor(base, &extra).await.0, want);
    let token = oauth_access_token(&sandbox).await;
    assert_eq!(all_offset(base, &token, &extra).await.0, want);

    let mut extra = window(Some(since), Some(until));
    extra.push(("per_page".to_owned(), "50".to_owned()));
    assert_eq!(all_link(base, &extra).await.0, want);
    let token = jwt_access_token(&sandbox).await;
    assert_eq!(
        all_pages(base, &token, &window(Some(since), Some(until)))
            .await
            .0,
        want
    );

    // Only one bound.
    let only_since = window(Some(since), None);
    assert_eq!(
        all_cursor(base, &only_since).await.0,
        expected(&sandbox, Some(since), None)
    );
    let only_until = window(None, Some(until));
    assert_eq!(
        all_next_url(base, &only_until).await.0,
        expected(&sandbox, None, Some(until))
    );
}

#[tokio::test]
async fn an_empty_window_has_the_documented_shapes() {
    let sandbox = start(5, 1).await;
    let base = sandbox.base_url();
    let far_future = window(Some(4_000_000_000), None);
    let client = client();

    let mut query = far_future.clone();
    query.push(("access_token".to_owned(), reference::TOKEN.to_owned()));
    let body: Value = json(client.get(format!("{base}/ref/v1/next_url")).query(&query)).await;
    assert_eq!(body, serde_json::json!({"data": []}));

    let token = oauth_access_token(&sandbox).await;
    let body: Value = json(
        client
            .get(format!("{base}/ref/v1/offset"))
            .bearer_auth(&token)
            .query(&far_future),
    )
    .await;
    assert_eq!(body, serde_json::json!({}));

    let token = jwt_access_token(&sandbox).await;
    let body: Value = json(
        client
            .get(format!("{base}/ref/v1/pages"))
            .bearer_auth(&token)
            .query(&far_future),
    )
    .await;
    assert_eq!(
        body,
        serde_json::json!({"results": [], "page": 1, "total_pages": 0})
    );

    let response = client
        .get(format!("{base}/ref/v1/link"))
        .basic_auth(reference::BASIC_USER, Some(reference::BASIC_PASSWORD))
        .query(&far_future)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("link").is_none());
    assert_eq!(response.text().await.unwrap(), "[]");

    let (rows, pages) = all_cursor(base, &far_future).await;
    assert_eq!((rows.len(), pages), (0, 1));
}

#[tokio::test]
async fn page_sizes_above_100_are_refused() {
    let sandbox = start(1, 1).await;
    let client = client();
    let offset_token = oauth_access_token(&sandbox).await;
    let pages_token = jwt_access_token(&sandbox).await;
    let too_big = (MAX_PAGE_SIZE + 1).to_string();
    let requests = [
        client
            .get(sandbox.url("/ref/v1/next_url"))
            .query(&[("access_token", reference::TOKEN), ("limit", &too_big)]),
        client
            .get(sandbox.url("/ref/v1/cursor"))
            .bearer_auth(reference::TOKEN)
            .query(&[("limit", &too_big)]),
        client
            .get(sandbox.url("/ref/v1/link"))
            .basic_auth(reference::BASIC_USER, Some(reference::BASIC_PASSWORD))
            .query(&[("per_page", &too_big)]),
        client
            .get(sandbox.url("/ref/v1/offset"))
            .bearer_auth(&offset_token)
            .query(&[("limit", &too_big)]),
        client
            .get(sandbox.url("/ref/v1/pages"))
            .bearer_auth(&pages_token)
            .query(&[("page_size", &too_big)]),
    ];
    let params = ["limit", "limit", "per_page", "limit", "page_size"];
    for (request, param) in requests.into_iter().zip(params) {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"message": format!("{param} must be at most 100"), "code": 100}})
        );
    }
    // Other bad parameters are 400s with a JSON body too.
    for query in [
        [("limit", "0")],
        [("limit", "ten")],
        [("since", "yesterday")],
    ] {
        let response = client
            .get(sandbox.url("/ref/v1/cursor"))
            .bearer_auth(reference::TOKEN)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], 100);
    }
    let response = client
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .query(&[("cursor", "garbage!")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn items_keep_their_awkward_json_shapes() {
    let sandbox = start(2, 1).await;
    let text = client()
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .query(&[("limit", "100")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Ids above 2^53 are strings; scores on every third item are strings.
    assert!(text.contains(r#""id":"9007199254740993""#));
    let body: Value = serde_json::from_str(&text).unwrap();
    let items = body["items"].as_array().unwrap();
    for (i, item) in items.iter().enumerate() {
        assert!(item["id"].is_string());
        assert_eq!(item["score"].is_string(), i % 3 == 2, "item {i}");
        assert!(item["created_time"].as_str().unwrap().ends_with("+0000"));
        assert!(item["stats"]["likes"]["summary"]["total_count"].is_u64());
        if let Some(tags) = item.get("tags") {
            assert!(!tags.as_array().unwrap().is_empty());
        }
    }
    assert!(items.iter().any(|item| item.get("tags").is_none()));
    let times: Vec<i64> = items
        .iter()
        .map(|i| i["updated_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn truth_without_a_server_matches_the_served_truth() {
    let sandbox = start(99, 2).await;
    let truth = Truth::at(99, 2, sandbox.truth().anchor);
    assert_eq!(truth.reference, sandbox.truth().reference);
    let served: Value = json(client().get(sandbox.url("/_sandbox/truth"))).await;
    assert_eq!(served, serde_json::to_value(&truth).unwrap());
    assert_eq!(served["reference"]["items"].as_array().unwrap().len(), 200);
    assert_ne!(Truth::new(100, 2).reference, truth.reference);
}

#[tokio::test]
async fn the_anchor_is_the_last_day_of_data() {
    // By default, a week before today.
    let sandbox = start(7, 1).await;
    let today = chrono::Utc::now().date_naive();
    let anchor = sandbox.truth().anchor;
    assert!(
        [7, 8].contains(&(today - anchor).num_days()),
        "{anchor} {today}"
    );
    assert_eq!(sandbox.config().anchor, anchor);
    // Configured: the server builds its truth at that anchor.
    let anchor = REFERENCE_ANCHOR;
    let sandbox = start_with(SandboxConfig {
        seed: 7,
        anchor,
        ..SandboxConfig::default()
    })
    .await;
    let served: Value = json(client().get(sandbox.url("/_sandbox/truth"))).await;
    assert_eq!(served["anchor"], "2026-11-01");
    assert_eq!(
        served,
        serde_json::to_value(Truth::at(7, 1, REFERENCE_ANCHOR)).unwrap()
    );
    assert_eq!(sandbox.truth().meta.data_end, anchor);
    assert_eq!(sandbox.truth().slack.data_end, anchor);
}
