//! The service-account flow: one token exchange per run, a renewal after expiry, and a
//! refused key that fails with exit-77 errors that never show the key.

use chorus_connector_google_analytics::Ga4Source;
use chorus_connector_google_analytics::config::Settings;
use chorus_core::testing::read_all;
use chorus_core::{ErrorKind, Source};
use chorus_sandbox::platforms::ga4;

use crate::support::{cx, http, sandbox, secrets, source, stream, table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_exchange_serves_every_report() {
    let sb = sandbox("none").await;
    let src = source(&sb, "");
    let reads = futures::future::join_all(
        ["traffic_sources", "landing_pages", "daily_overview"]
            .map(|name| async { read_all(&stream(&src, name), cx()).await }),
    )
    .await;
    assert!(
        reads
            .iter()
            .all(|r| r.error.is_none() && !r.rows.is_empty())
    );
    let exchanges = sb
        .requests()
        .iter()
        .filter(|r| r.path == "/ga4/token")
        .count();
    assert_eq!(exchanges, 1);
    assert_eq!(src.property().exchanges(), 1);
    let requests = sb.requests();
    let jwt = requests.iter().find(|r| r.path == "/ga4/token").unwrap();
    assert!(
        jwt.body
            .as_deref()
            .unwrap()
            .contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.path.ends_with(":runReport"))
            .all(|r| r
                .authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer ya29.")))
    );
    assert!(src.property().tokens_used() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_once() {
    let sb = sandbox("none").await;
    let src = source(&sb, "");
    assert!(
        read_all(&stream(&src, "daily_overview"), cx())
            .await
            .error
            .is_none()
    );
    sb.expire_tokens();
    assert!(
        read_all(&stream(&src, "daily_overview"), cx())
            .await
            .error
            .is_none()
    );
    assert_eq!(src.property().exchanges(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_an_auth_error_without_the_key() {
    let sb = sandbox("none").await;
    // The right account, signed with another (the reference platform's) key.
    let other = chorus_sandbox::platforms::reference::PRIVATE_KEY_PEM;
    let key = ga4::service_account_json(sb.base_url()).replace(
        &serde_json::to_string(ga4::PRIVATE_KEY_PEM).unwrap(),
        &serde_json::to_string(other).unwrap(),
    );
    assert!(key.contains("MII"));
    let src = Ga4Source::new(
        Settings::from_config(&table(&sb, &key, "")).unwrap(),
        http(),
    )
    .unwrap();
    let read = read_all(&stream(&src, "traffic_sources"), cx()).await;
    let err = read.error.unwrap();
    assert!(err.contains("Auth"), "{err}");
    assert!(err.contains("Invalid JWT Signature."), "{err}");
    assert!(err.contains("create a new JSON key"), "{err}");
    let body: String = other
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .take(1)
        .collect();
    for s in secrets().iter().chain([&body]) {
        assert!(!err.contains(s.as_str()), "the key shows in {err}");
    }
    let checked = src.check().await.unwrap_err();
    assert_eq!(checked.kind(), ErrorKind::Auth);
}
