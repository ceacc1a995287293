//! Retry signals: what is retried, for how long, and what the final error says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_core::ErrorKind;
use chorus_http::{ClientConfig, HttpClient, Request, ResponseHook, Verdict};
use chorus_sandbox::platforms::reference;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::support::{Endpoint, client, policy, sandbox};

async fn get(c: &HttpClient, url: String) -> chorus_core::Result<usize> {
    c.execute(&Request::get(url), |r| Ok(r.body.len())).await
}

#[tokio::test]
async fn server_errors_are_retried_then_end_transient_without_the_token() {
    for (spec, needle) in [
        ("503=1.0", "http 503"),
        ("500=1.0", "http 500"),
        ("truncate=1.0", "cut short"),
        ("reset=1.0", "connection"),
        ("timeout=1.0,timeout_ms=3000", "timed out"),
    ] {
        let sb = sandbox(spec).await;
        let c = client(&sb, Endpoint::NextUrl, 3, reference::TOKEN);
        let err = get(&c, sb.url("/ref/v1/next_url")).await.unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Transient, "{spec}: {msg}");
        assert!(msg.contains("failed after 3 attempts"), "{spec}: {msg}");
        assert!(msg.contains(needle), "{spec}: {msg}");
        assert!(
            !msg.contains(reference::TOKEN),
            "{spec}: the token leaked: {msg}"
        );
        assert_eq!(sb.requests().len(), 3, "{spec}: three attempts");
    }
}

#[tokio::test]
async fn a_429_waits_as_long_as_the_server_says() {
    let sb = sandbox("429=1.0").await;
    let c = client(&sb, Endpoint::Cursor, 2, reference::TOKEN);
    let t = Instant::now();
    let err = get(&c, sb.url("/ref/v1/cursor")).await.unwrap_err();
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited only {:?}",
        t.elapsed()
    );
    assert!(err.to_string().contains("http 429"), "{err}");
    assert_eq!(
        c.stats.retries.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn refused_credentials_fail_at_once_with_exit_77s_kind() {
    let sb = sandbox("").await;
    let c = client(&sb, Endpoint::Cursor, 5, "wrong-token-123456");
    let err = get(&c, sb.url("/ref/v1/cursor")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(err.to_string().contains("http 401"), "{err}");
    assert!(
        err.to_string().contains("Invalid OAuth access token"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-token-123456"), "{err}");
    assert_eq!(sb.requests().len(), 1, "no retry on 401");
}

#[tokio::test]
async fn an_expired_exchanged_token_is_renewed_once() {
    let sb = sandbox("").await;
    let c = client(&sb, Endpoint::Offset, 3, reference::TOKEN);
    get(&c, sb.url("/ref/v1/offset")).await.unwrap();
    sb.expire_tokens();
    get(&c, sb.url("/ref/v1/offset")).await.unwrap();
    let posts = sb.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 2, "one exchange, then one renewal after the 401");
}

/// A Graph-API-like hook: an error object in a 200 is retried, code 4 in a 400 is a throttle.
struct GraphLike;

impl ResponseHook for GraphLike {
    fn classify(&self, status: StatusCode, _: &HeaderMap, body: &[u8]) -> Option<Verdict> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let code = v.get("error")?.get("code")?.as_i64()?;
        Some(match (status.as_u16(), code) {
            (_, 4 | 17 | 32 | 613) => Verdict::Retry {
                wait: None,
                reason: format!("throttled (code {code})"),
            },
            (200, _) => Verdict::Retry {
                wait: None,
                reason: format!("error in a 200 body (code {code})"),
            },
            _ => return None,
        })
    }
}

#[tokio::test]
async fn a_hook_retries_errors_in_200s_and_throttles_in_400s() {
    for (spec, needle) in [
        ("error200=1.0", "error in a 200 body (code 2)"),
        ("throttle400=1.0", "throttled (code 4)"),
    ] {
        let sb = sandbox(spec).await;
        let config = ClientConfig {
            retry: policy(3),
            ..ClientConfig::default()
        };
        let auth = chorus_http::Auth::Bearer(chorus_core::Secret::new(reference::TOKEN));
        let c = HttpClient::new(auth, config, Arc::new(GraphLike)).unwrap();
        let err = get(&c, sb.url("/ref/v1/cursor")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient, "{spec}: {err}");
        assert!(err.to_string().contains(needle), "{spec}: {err}");
        assert_eq!(sb.requests().len(), 3);
    }
}

#[tokio::test]
async fn waiting_stops_at_the_total_wait_limit_and_oversized_bodies_fail_at_once() {
    let sb = sandbox("429=1.0").await;
    let config = ClientConfig {
        retry: chorus_http::RetryPolicy {
            max_total_wait: Duration::from_millis(500),
            ..policy(10)
        },
        ..ClientConfig::default()
    };
    let auth = chorus_http::Auth::Bearer(chorus_core::Secret::new(reference::TOKEN));
    let c = HttpClient::new(auth, config, Arc::new(chorus_http::DefaultHook)).unwrap();
    let t = Instant::now();
    let err = get(&c, sb.url("/ref/v1/cursor")).await.unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "waited {:?} past the limit",
        t.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("failed after 1 attempts"), "{err}");

    let sb = sandbox("").await;
    let config = ClientConfig {
        max_body_bytes: 256,
        retry: policy(5),
        ..ClientConfig::default()
    };
    let auth = chorus_http::Auth::Bearer(chorus_core::Secret::new(reference::TOKEN));
    let c = HttpClient::new(auth, config, Arc::new(chorus_http::DefaultHook)).unwrap();
    let err = get(&c, sb.url("/ref/v1/cursor")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::External, "{err}");
    assert!(err.to_string().contains("larger than 256 bytes"), "{err}");
    assert_eq!(sb.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn a_429_with_only_an_absolute_reset_waits_until_the_reset() {
    let sb = sandbox("429reset=1.0").await;
    let c = client(&sb, Endpoint::Cursor, 2, reference::TOKEN);
    let t = Instant::now();
    let err = get(&c, sb.url("/ref/v1/cursor")).await.unwrap_err();
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "did not wait for the reset: {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "waited too long: {:?}",
        t.elapsed()
    );
    assert!(err.to_string().contains("http 429"), "{err}");
    assert_eq!(sb.requests().len(), 2);
}
