//! Each fault kind behaves as specified on the wire, and rate-based faults are reproducible.

use std::time::{Duration, Instant};

use chorus_sandbox::platforms::reference;
use chorus_sandbox::{FaultKind, FaultSpec, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{client, start, start_faulty, start_with};

/// A request to `/ref/v1/cursor` with a forced fault.
fn forced(sandbox: &Sandbox, fault: &str) -> reqwest::RequestBuilder {
    client()
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .header("x-sandbox-fault", fault)
}

/// Sends a raw HTTP/1.1 request with a forced fault and reads until the server closes.
async fn raw(sandbox: &Sandbox, fault: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(sandbox.addr()).await?;
    let request = format!(
        "GET /ref/v1/cursor?limit=100 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         x-sandbox-fault: {fault}\r\nConnection: close\r\n\r\n",
        sandbox.addr(),
        reference::TOKEN
    );
    stream.write_all(request.as_bytes()).await?;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .map_err(std::io::Error::other)??;
    Ok(received)
}

/// Splits a raw response into its head and body.
fn split(raw: &[u8]) -> (String, &[u8]) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&raw[..end]).to_lowercase(),
        &raw[end + 4..],
    )
}

#[tokio::test]
async fn forced_429_has_the_platforms_throttle_body_and_headers() {
    let sandbox = start(1, 1).await;
    let before = crate::now();
    let response = forced(&sandbox, "429").send().await.unwrap();
    assert_eq!(response.status(), 429);
    let headers = response.headers();
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["x-rate-limit-remaining"], "0");
    assert_eq!(
        headers["x-rate-limit-limit"],
        reference::RATE_LIMIT.to_string().as_str()
    );
    let reset: u64 = headers["x-rate-limit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > before && reset <= before + reference::RATE_WINDOW_SECS + 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 429);
    assert_eq!(body["error"]["type"], "RateLimitException");
}

#[tokio::test]
async fn forced_status_faults_have_their_bodies() {
    let sandbox = start(1, 1).await;
    for (fault, status) in [("500", 500), ("503", 503)] {
        let response = forced(&sandbox, fault).send().await.unwrap();
        assert_eq!(response.status(), status);
        assert!(response.headers().contains_key("x-rate-limit-remaining"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], status);
    }
    let response = forced(&sandbox, "error200").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "(#2) Service temporarily unavailable", "type": "OAuthException", "code": 2}})
    );
    let response = forced(&sandbox, "throttle400").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}})
    );
    // Unknown paths get the generic fault bodies.
    let response = client()
        .get(sandbox.url("/nowhere"))
        .header("x-sandbox-fault", "503")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn slow_delays_then_answers_normally() {
    let sandbox = start_faulty(1, "slow_ms=300").await;
    let started = Instant::now();
    let response = forced(&sandbox, "slow").send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn timeout_hangs_past_the_client_timeout() {
    let sandbox = start_faulty(1, "timeout_ms=20000").await;
    let started = Instant::now();
    let error = forced(&sandbox, "timeout")
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The sandbox still answers other requests meanwhile.
    let response = forced(&sandbox, "none").send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn timeout_drops_the_connection_after_timeout_ms() {
    let sandbox = start_faulty(1, "timeout_ms=400").await;
    let started = Instant::now();
    let received = raw(&sandbox, "timeout").await.unwrap_or_default();
    assert!(received.is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn truncate_sends_fewer_bytes_than_content_length() {
    let sandbox = start(1, 1).await;
    let received = raw(&sandbox, "truncate").await.unwrap();
    let (head, body) = split(&received);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(length > 1_000);
    assert_eq!(body.len(), length / 2);
    assert!(serde_json::from_slice::<Value>(body).is_err());

    // A client sees a body error.
    let response = forced(&sandbox, "truncate").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err());
}

#[tokio::test]
async fn reset_closes_the_connection_without_a_response() {
    let sandbox = start(1, 1).await;
    let received = raw(&sandbox, "reset").await.unwrap_or_default();
    assert!(received.is_empty());
    let error = forced(&sandbox, "reset").send().await.unwrap_err();
    assert!(!error.is_timeout() && !error.is_status(), "{error:?}");
    // The next request works.
    assert_eq!(forced(&sandbox, "none").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn unknown_override_is_a_400() {
    let sandbox = start(1, 1).await;
    let response = forced(&sandbox, "teapot").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("valid: 429, 429reset, 500, 503")
    );
}

/// The faults of `count` sequential requests, as the log records them.
async fn fault_sequence(sandbox: &Sandbox, count: usize) -> Vec<Option<FaultKind>> {
    let client = client();
    for _ in 0..count {
        // Status faults come back as responses; reset is an error; both are fine here.
        let _ = client
            .get(sandbox.url("/ref/v1/cursor"))
            .bearer_auth(reference::TOKEN)
            .send()
            .await;
    }
    sandbox.requests().into_iter().map(|r| r.fault).collect()
}

#[tokio::test]
async fn rate_based_faults_are_reproducible_from_the_seed() {
    let spec = "429=0.2,500=0.1,503=0.1,error200=0.05,throttle400=0.05,reset=0.05,truncate=0.05";
    let a = start_faulty(7, spec).await;
    let b = start_faulty(7, spec).await;
    let c = start_faulty(8, spec).await;
    let (fa, fb, fc) = (
        fault_sequence(&a, 60).await,
        fault_sequence(&b, 60).await,
        fault_sequence(&c, 60).await,
    );
    assert_eq!(fa.len(), 60);
    assert_eq!(fa, fb);
    assert_ne!(fa, fc);
    let parsed = FaultSpec::parse(spec).unwrap();
    let predicted: Vec<Option<FaultKind>> = (0..60).map(|n| parsed.decide(7, n)).collect();
    assert_eq!(fa, predicted);
    assert!(fa.iter().filter(|f| f.is_some()).count() >= 20);
    assert!(fa.iter().any(Option::is_none));
    // Statuses match the faults.
    for request in a.requests() {
        let want = match request.fault {
            Some(FaultKind::TooManyRequests) => Some(429),
            Some(FaultKind::InternalError) => Some(500),
            Some(FaultKind::Unavailable) => Some(503),
            Some(FaultKind::Throttle400) => Some(400),
            Some(FaultKind::Reset) => None,
            _ => Some(200),
        };
        assert_eq!(request.status, want, "{request:?}");
    }
}

#[tokio::test]
async fn faults_never_touch_sandbox_routes_and_none_overrides() {
    let sandbox = start_with(SandboxConfig {
        faults: FaultSpec::parse("503=1").unwrap(),
        ..SandboxConfig::default()
    })
    .await;
    let client = client();
    for path in ["/_sandbox/requests", "/_sandbox/truth"] {
        let response = client.get(sandbox.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    assert_eq!(forced(&sandbox, "").send().await.unwrap().status(), 400);
    let response = client
        .get(sandbox.url("/ref/v1/cursor"))
        .bearer_auth(reference::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(forced(&sandbox, "none").send().await.unwrap().status(), 200);
    // Control requests are not logged and do not advance the fault sequence.
    let seqs: Vec<u64> = sandbox.requests().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
}
