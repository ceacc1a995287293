//! Sandboxes, fast HTTP settings and sources built from TOML, for the Slack tests.

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_slack::config::SlackConfig;
use chorus_connector_slack::source::{Http, SlackSource};
use chorus_core::testing::{Conditions, ContractReport, assert_stream_contract};
use chorus_core::{ConfigTable, ReadContext, Source, Stream};
use chorus_http::{ClientConfig, RetryPolicy};
use chorus_sandbox::platforms::slack::TOKEN;
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};

/// The faults of a "faulty" sandbox: HTTP 429 and `ratelimited` in HTTP 200, `internal_error`,
/// 5xx, slow, cut and truncated answers.
pub const FAULTS: &str = "429=0.04,429reset=0.02,throttle400=0.03,error200=0.03,500=0.03,503=0.03,slow=0.02,timeout=0.01,truncate=0.02,reset=0.02,slow_ms=100,timeout_ms=600";

/// Pacing fast enough for tests (the defaults are Slack's real limits: minutes per channel).
pub const FAST: &str = "history_requests_per_minute = 600000\nreplies_requests_per_minute = 600000\nlist_requests_per_minute = 600000\n";

/// Starts a sandbox with the given fault spec.
pub async fn sandbox(faults: &str) -> Sandbox {
    sandbox_seeded(faults, 21).await
}

/// Starts a sandbox of `seed` (its data and which of its answers are faulted) with the given
/// fault spec.
pub async fn sandbox_seeded(faults: &str, seed: u64) -> Sandbox {
    Sandbox::start(SandboxConfig {
        faults: FaultSpec::parse(faults).unwrap(),
        seed,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// Fast retries and short timeouts.
pub fn http() -> Http {
    Http {
        config: ClientConfig {
            timeout: Duration::from_millis(400),
            retry: RetryPolicy {
                max_attempts: 12,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(50),
                max_total_wait: Duration::from_secs(30),
            },
            ..ClientConfig::default()
        },
    }
}

/// A source against `sb` with `token` and extra settings `body` (fast pacing unless `body`
/// sets its own).
pub fn source(sb: &Sandbox, token: &str, body: &str) -> SlackSource {
    build(sb, token, body, false)
}

/// [`source`] asked to keep the fields it does not read.
pub fn source_keeping_unknown_fields(sb: &Sandbox) -> SlackSource {
    build(sb, TOKEN, "", true)
}

fn build(sb: &Sandbox, token: &str, body: &str, keep: bool) -> SlackSource {
    let pacing = if body.contains("requests_per_minute") {
        ""
    } else {
        FAST
    };
    let text = format!(
        "base_url = \"{}/slack/api\"\nbot_token = \"{token}\"\nstart_date = \"2026-08-01\"\n{pacing}{body}",
        sb.base_url()
    );
    let table = ConfigTable::parse(&text, ".").unwrap();
    let mut cfg = SlackConfig::from_table(&table).unwrap();
    cfg.keep_unknown_fields = keep;
    SlackSource::new(cfg, &http()).unwrap()
}

/// The stream `name` of a source.
pub fn stream(src: &dyn Source, name: &str) -> Arc<dyn Stream> {
    src.streams()
        .into_iter()
        .find(|s| s.spec().name == name)
        .unwrap_or_else(|| panic!("no stream {name}"))
}

/// A first read: no state, no window.
pub fn cx() -> ReadContext {
    ReadContext {
        state: None,
        window: Default::default(),
        run_id: "test".into(),
    }
}

/// Runs the contract on stream `name` against a clean and a faulty sandbox.
pub async fn contract(name: &str) -> ContractReport {
    let clean = sandbox("none").await;
    let faulty = sandbox(FAULTS).await;
    let clean_stream = stream(&source(&clean, TOKEN, ""), name);
    let faulty_stream = stream(&source(&faulty, TOKEN, ""), name);
    assert_stream_contract(
        move |c| match c {
            Conditions::Clean => Arc::clone(&clean_stream),
            Conditions::Faulty => Arc::clone(&faulty_stream),
        },
        &[TOKEN.to_owned()],
    )
    .await
}
