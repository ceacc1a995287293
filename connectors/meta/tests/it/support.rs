//! Sandboxes, fast HTTP settings and sources built from TOML, for the Meta tests.

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_meta::common::Http;
use chorus_connector_meta::graph::MetaHook;
use chorus_core::testing::{Conditions, assert_stream_contract};
use chorus_core::{ConfigTable, Source, Stream};
use chorus_http::{ClientConfig, RetryPolicy};
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};

/// The faults of a "faulty" sandbox: Graph throttles, 5xx, HTTP 200 with a Graph error body,
/// slow, cut and truncated answers.
pub const FAULTS: &str = "429=0.05,429reset=0.03,throttle400=0.03,500=0.03,503=0.03,error200=0.03,slow=0.02,timeout=0.01,truncate=0.02,reset=0.02,slow_ms=100,timeout_ms=600";

/// Starts a sandbox with the given fault spec.
pub async fn sandbox(faults: &str) -> Sandbox {
    sandbox_seeded(faults, 11).await
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

/// Fast retries, short timeouts, a small slowdown and fast job polls.
/// The day `days` before the sandbox's anchor (the last day of its data): tests read from a
/// day relative to the data, never from a fixed date that the data leaves behind.
pub fn before_anchor(sb: &Sandbox, days: u64) -> chrono::NaiveDate {
    let anchor = sb.truth().anchor;
    anchor
        .checked_sub_days(chrono::Days::new(days))
        .unwrap_or(anchor)
}

pub fn http() -> Http {
    Http {
        config: ClientConfig {
            timeout: Duration::from_millis(400),
            retry: RetryPolicy {
                max_attempts: 12,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(50),
                max_total_wait: Duration::from_secs(20),
            },
            ..ClientConfig::default()
        },
        hook: MetaHook {
            slowdown: Duration::from_millis(20),
        },
        poll_interval: Some(Duration::from_millis(5)),
    }
}

/// The stream `name` of a source.
pub fn stream(src: &dyn Source, name: &str) -> Arc<dyn Stream> {
    src.streams()
        .into_iter()
        .find(|s| s.spec().name == name)
        .unwrap_or_else(|| panic!("no stream {name}"))
}

/// A first read: no state, no window.
pub fn cx() -> chorus_core::ReadContext {
    chorus_core::ReadContext {
        state: None,
        window: Default::default(),
        run_id: "test".into(),
    }
}

/// A source's settings table: `body` plus the sandbox's URL and a token.
pub fn settings(sb: &Sandbox, token: &str, body: &str) -> ConfigTable {
    let text = format!(
        "base_url = \"{}/meta\"\naccess_token = \"{token}\"\n{body}",
        sb.base_url()
    );
    ConfigTable::parse(&text, ".").unwrap()
}

/// Runs the contract on stream `name` of the sources `build` makes for a clean and a faulty
/// sandbox.
pub async fn contract<S: Source + 'static>(
    name: &str,
    build: impl Fn(&Sandbox) -> S,
) -> chorus_core::testing::ContractReport {
    let clean = sandbox("none").await;
    let faulty = sandbox(FAULTS).await;
    let pick = |sources: &[Arc<dyn Stream>]| {
        sources
            .iter()
            .find(|s| s.spec().name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no stream {name}"))
    };
    let clean_stream = pick(&build(&clean).streams());
    let faulty_stream = pick(&build(&faulty).streams());
    assert_stream_contract(
        move |c| match c {
            Conditions::Clean => Arc::clone(&clean_stream),
            Conditions::Faulty => Arc::clone(&faulty_stream),
        },
        &[chorus_sandbox::platforms::meta::TOKEN.to_owned()],
    )
    .await
}
