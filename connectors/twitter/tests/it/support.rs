//! Sandboxes, fast HTTP settings and sources built from TOML, for the X tests.

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_twitter::source::{TwitterConfig, TwitterSource};
use chorus_core::testing::{Conditions, ContractReport, assert_stream_contract};
use chorus_core::{ConfigTable, ReadContext, Source, Stream};
use chorus_http::{ClientConfig, RetryPolicy};
use chorus_sandbox::platforms::x::TOKEN;
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};

/// X's own throttle (429 with only `x-rate-limit-reset`), 5xx, slow, cut and truncated answers.
pub const FAULTS: &str = "429=0.04,429reset=0.04,500=0.04,503=0.04,slow=0.02,timeout=0.01,truncate=0.02,reset=0.02,slow_ms=100,timeout_ms=600";

/// The pipeline settings the tests use, after `base_url` and `bearer_token`.
pub const SETTINGS: &str = r#"usernames = ["acme", "globex", "initech"]
searches = { acme = "acme OR #acme", globex = "@globex -is:retweet" }
"#;

/// Starts a sandbox with the given fault spec.
pub async fn sandbox(faults: &str) -> Sandbox {
    sandbox_seeded(faults, 5).await
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
pub fn http() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            max_attempts: 12,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            max_total_wait: Duration::from_secs(30),
        },
        ..ClientConfig::default()
    }
}

/// A source on `sb` with `token` and `body` as its other settings.
pub fn source_with(sb: &Sandbox, token: &str, body: &str) -> TwitterSource {
    let text = format!(
        "base_url = \"{}/x\"\nbearer_token = \"{token}\"\n{body}",
        sb.base_url()
    );
    let table = ConfigTable::parse(&text, ".").unwrap();
    let settings: TwitterConfig = table.deserialize().unwrap();
    let start = settings.validate(&table).unwrap();
    TwitterSource::new(settings, start, http()).unwrap()
}

/// The usual source on `sb`.
pub fn source(sb: &Sandbox) -> TwitterSource {
    source_with(sb, TOKEN, SETTINGS)
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
    let clean_stream = stream(&source(&clean), name);
    let faulty_stream = stream(&source(&faulty), name);
    assert_stream_contract(
        move |c| match c {
            Conditions::Clean => Arc::clone(&clean_stream),
            Conditions::Faulty => Arc::clone(&faulty_stream),
        },
        &[TOKEN.to_owned()],
    )
    .await
}
