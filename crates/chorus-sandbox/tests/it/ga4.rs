//! The GA4 platform over HTTP: the token endpoint's checks and `runReport`'s shapes and errors.

use chorus_sandbox::platforms::ga4::{self, PROPERTY_ID, QuotaLimits};
use serde_json::{Value, json};

use crate::{client, now, sign_jwt, start};

fn claims(base_url: &str) -> Value {
    let iat = now();
    json!({
        "iss": ga4::SERVICE_ACCOUNT_EMAIL,
        "scope": "https://www.googleapis.com/auth/analytics.readonly",
        "aud": ga4::token_uri(base_url),
        "iat": iat,
        "exp": iat + 3600,
    })
}

async fn exchange(base_url: &str, claims: &Value) -> (u16, Value) {
    let jwt = sign_jwt(&ga4::service_account_json(base_url), claims);
    let r = client()
        .post(ga4::token_uri(base_url))
        .form(&[
            ("grant_type", ga4::JWT_GRANT_TYPE),
            ("assertion", jwt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn report(base_url: &str, token: &str, property: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!(
            "{base_url}/ga4/v1beta/properties/{property}:runReport"
        ))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn the_token_endpoint_checks_signature_audience_and_lifetime() {
    let sb = start(1, 1).await;
    let base = sb.base_url();
    let (status, body) = exchange(base, &claims(base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().unwrap().starts_with("ya29."));

    let mut wrong_aud = claims(base);
    wrong_aud["aud"] = json!("https://oauth2.googleapis.com/token");
    assert_eq!(
        exchange(base, &wrong_aud).await.1["error_description"],
        "Invalid JWT: Failed audience check."
    );

    let mut too_long = claims(base);
    too_long["exp"] = json!(now() + 7200);
    let (status, body) = exchange(base, &too_long).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("short-lived token")
    );

    // Signed with another key.
    let other = chorus_sandbox::platforms::reference::service_account_json(base);
    let jwt = sign_jwt(&other, &claims(base));
    let r = client()
        .post(ga4::token_uri(base))
        .form(&[
            ("grant_type", ga4::JWT_GRANT_TYPE),
            ("assertion", jwt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_description"], "Invalid JWT Signature.");
}

#[tokio::test]
async fn run_report_answers_like_the_data_api() {
    let sb = start(1, 1).await;
    let base = sb.base_url();
    let token = exchange(base, &claims(base)).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A week two months before the anchor, and a month before the first day with sessions.
    let first = sb.truth().anchor - chrono::Duration::days(61);
    let last = first + chrono::Duration::days(6);
    let before = sb.truth().ga4.data_start - chrono::Duration::days(31);
    let body = json!({
        "dateRanges": [{"startDate": first.to_string(), "endDate": last.to_string()}],
        "dimensions": [{"name": "date"}, {"name": "sessionDefaultChannelGroup"}],
        "metrics": [{"name": "sessions"}, {"name": "bounceRate"}, {"name": "totalRevenue"}],
        "limit": "5",
        "returnPropertyQuota": true,
    });
    let (status, answer) = report(base, &token, PROPERTY_ID, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["kind"], "analyticsData#runReport");
    assert_eq!(
        answer["metricHeaders"][0],
        json!({"name": "sessions", "type": "TYPE_INTEGER"})
    );
    assert_eq!(answer["metricHeaders"][2]["type"], "TYPE_CURRENCY");
    assert_eq!(answer["rows"].as_array().unwrap().len(), 5);
    assert!(answer["rowCount"].as_u64().unwrap() > 5);
    assert_eq!(
        answer["rows"][0]["dimensionValues"][0]["value"],
        first.format("%Y%m%d").to_string()
    );
    assert!(answer["rows"][0]["metricValues"][0]["value"].is_string());
    assert_eq!(
        answer["metadata"],
        json!({"currencyCode": "USD", "timeZone": "America/New_York"})
    );
    assert!(
        answer["propertyQuota"]["tokensPerDay"]["remaining"]
            .as_i64()
            .unwrap()
            < 200_000
    );

    // No data: neither rows nor rowCount.
    let mut empty = body.clone();
    let (start, end) = (before, before + chrono::Duration::days(30));
    empty["dateRanges"] = json!([{"startDate": start.to_string(), "endDate": end.to_string()}]);
    let (_, answer) = report(base, &token, PROPERTY_ID, &empty).await;
    assert!(
        answer.get("rows").is_none() && answer.get("rowCount").is_none(),
        "{answer}"
    );
    assert_eq!(answer["dimensionHeaders"][0]["name"], "date");

    let mut bad = body.clone();
    bad["dimensions"] = json!([{"name": "pagePathh"}]);
    let (status, answer) = report(base, &token, PROPERTY_ID, &bad).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Field pagePathh is not a valid dimension.")
    );

    let mut unknown = body.clone();
    unknown["pageSize"] = json!(3);
    let (status, answer) = report(base, &token, PROPERTY_ID, &unknown).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"pageSize\"")
    );

    let (status, answer) = report(base, &token, ga4::FORBIDDEN_PROPERTY_ID, &body).await;
    assert_eq!(
        (status, answer["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    let (status, answer) = report(base, "ya29.wrong", PROPERTY_ID, &body).await;
    assert_eq!(
        (status, answer["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );

    sb.set_ga4_quota(QuotaLimits {
        tokens_per_day: 1,
        ..QuotaLimits::default()
    });
    let _ = report(base, &token, PROPERTY_ID, &body).await;
    let (status, answer) = report(base, &token, PROPERTY_ID, &body).await;
    assert_eq!(status, 429);
    assert_eq!(answer["error"]["status"], "RESOURCE_EXHAUSTED");
}
