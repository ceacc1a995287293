//! The request log shows what a client sent, including where its credentials went.

use chorus_sandbox::platforms::reference;
use chorus_sandbox::{FaultKind, LoggedRequest};
use serde_json::Value;

use crate::{client, json, jwt_access_token, oauth_access_token, start};

#[tokio::test]
async fn the_log_shows_auth_placement_parameters_and_bodies() {
    let sandbox = start(1, 1).await;
    let client = client();
    client
        .get(sandbox.url("/ref/v1/next_url"))
        .query(&[("access_token", reference::TOKEN), ("limit", "10")])
        .send()
        .await
        .unwrap();
    client
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .send()
        .await
        .unwrap();
    client
        .get(sandbox.url("/ref/v1/link"))
        .basic_auth(reference::BASIC_USER, Some(reference::BASIC_PASSWORD))
        .send()
        .await
        .unwrap();
    let oauth = oauth_access_token(&sandbox).await;

    let log = sandbox.requests();
    assert_eq!(log.len(), 4);
    let (next_url, cursor, link, token) = (&log[0], &log[1], &log[2], &log[3]);

    assert_eq!(next_url.method, "GET");
    assert_eq!(next_url.path, "/ref/v1/next_url");
    assert_eq!(
        next_url.query_param("access_token").as_deref(),
        Some(reference::TOKEN)
    );
    assert_eq!(next_url.query_param("limit").as_deref(), Some("10"));
    assert_eq!(next_url.authorization, None);
    assert_eq!(next_url.user_agent.as_deref(), Some("chorus-sandbox-tests"));
    assert_eq!(next_url.status, Some(200));
    assert_eq!(next_url.fault, None);

    assert_eq!(
        cursor.authorization,
        Some(format!("Bearer {}", reference::TOKEN))
    );
    assert_eq!(cursor.query, None);
    assert!(link.authorization.as_deref().unwrap().starts_with("Basic "));

    assert_eq!(token.method, "POST");
    assert_eq!(token.path, "/ref/oauth/token");
    assert_eq!(
        token.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let form = token.form_pairs();
    assert!(form.contains(&("grant_type".to_owned(), "refresh_token".to_owned())));
    assert!(form.contains(&(
        "refresh_token".to_owned(),
        reference::REFRESH_TOKEN.to_owned()
    )));
    assert!(!oauth.is_empty());
}

#[tokio::test]
async fn token_exchanges_are_countable() {
    let sandbox = start(1, 1).await;
    let client = client();
    let token = jwt_access_token(&sandbox).await;
    for page in 1..=4 {
        let response = client
            .get(sandbox.url("/ref/v1/pages"))
            .bearer_auth(&token)
            .query(&[("page", page)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let log = sandbox.requests();
    let exchanges: Vec<&LoggedRequest> = log.iter().filter(|r| r.path == "/ref/token").collect();
    assert_eq!(exchanges.len(), 1);
    let form = exchanges[0].form_pairs();
    assert!(
        form.iter()
            .any(|(k, v)| k == "grant_type" && v == reference::JWT_GRANT_TYPE)
    );
    assert!(form.iter().any(|(k, _)| k == "assertion"));
    assert_eq!(log.iter().filter(|r| r.path == "/ref/v1/pages").count(), 4);
}

#[tokio::test]
async fn the_log_is_served_as_json_and_can_be_cleared() {
    let sandbox = start(1, 1).await;
    let client = client();
    client
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .header("x-sandbox-fault", "503")
        .send()
        .await
        .unwrap();
    let served: Vec<LoggedRequest> = client
        .get(sandbox.url("/_sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, sandbox.requests());
    assert_eq!(served[0].fault, Some(FaultKind::Unavailable));
    assert_eq!(served[0].status, Some(503));
    let raw: Value = json(client.get(sandbox.url("/_sandbox/requests"))).await;
    assert_eq!(raw[0]["fault"], "503");

    sandbox.clear_requests();
    assert!(sandbox.requests().is_empty());
    client
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .send()
        .await
        .unwrap();
    let log = sandbox.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].seq, 1);
    let response = client
        .delete(sandbox.url("/_sandbox/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(sandbox.requests().is_empty());
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sandbox = start(1, 1).await;
    let addr = sandbox.addr();
    let _ = oauth_access_token(&sandbox).await;
    sandbox.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
