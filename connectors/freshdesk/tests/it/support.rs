//! Sandboxes, fast HTTP settings and sources built from TOML, for the Freshdesk tests.

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_freshdesk::source::{FreshdeskConfig, FreshdeskSource};
use chorus_core::testing::{Conditions, ContractReport, assert_stream_contract};
use chorus_core::{ConfigTable, ReadContext, Source, Stream};
use chorus_http::{ClientConfig, RetryPolicy};
use chorus_sandbox::platforms::freshdesk::API_KEY;
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};

/// Freshdesk's throttle (429 with `Retry-After`), 5xx, slow, cut and truncated answers.
pub const FAULTS: &str = "429=0.03,500=0.03,503=0.03,slow=0.02,timeout=0.01,truncate=0.02,reset=0.02,slow_ms=100,timeout_ms=600";

/// The settings the tests use after `base_url` and `api_key`: pages small enough that
/// resuming from a checkpoint is exercised.
pub const SETTINGS: &str = "start_date = \"2026-08-01\"\npage_size = 40\n";

/// Starts a sandbox with the given fault spec and scale.
pub async fn sandbox_at(faults: &str, scale: u32) -> Sandbox {
    sandbox_seeded_at(faults, 11, scale).await
}

/// Starts a sandbox of `seed` (its data and which of its answers are faulted) with the given
/// fault spec.
pub async fn sandbox_seeded(faults: &str, seed: u64) -> Sandbox {
    sandbox_seeded_at(faults, seed, 1).await
}

async fn sandbox_seeded_at(faults: &str, seed: u64, scale: u32) -> Sandbox {
    Sandbox::start(SandboxConfig {
        faults: FaultSpec::parse(faults).unwrap(),
        seed,
        scale,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// Starts a sandbox with the given fault spec.
pub async fn sandbox(faults: &str) -> Sandbox {
    sandbox_at(faults, 1).await
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

/// A source on `sb` with `key` and `body` as its other settings.
pub fn source_with(sb: &Sandbox, key: &str, body: &str) -> FreshdeskSource {
    build(sb, key, body, false)
}

/// The usual source on `sb`, asked to keep the fields it does not read.
pub fn source_keeping_unknown_fields(sb: &Sandbox) -> FreshdeskSource {
    build(sb, API_KEY, SETTINGS, true)
}

fn build(sb: &Sandbox, key: &str, body: &str, keep: bool) -> FreshdeskSource {
    let text = format!(
        "domain = \"acme\"\nbase_url = \"{}/freshdesk\"\napi_key = \"{key}\"\n{body}",
        sb.base_url()
    );
    let table = ConfigTable::parse(&text, ".").unwrap();
    let settings: FreshdeskConfig = table.deserialize().unwrap();
    let mut checked = settings.validate(&table).unwrap();
    checked.keep_unknown_fields = keep;
    FreshdeskSource::new(settings, checked, http()).unwrap()
}

/// The usual source on `sb`.
pub fn source(sb: &Sandbox) -> FreshdeskSource {
    source_with(sb, API_KEY, SETTINGS)
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
        &[API_KEY.to_owned()],
    )
    .await
}
