//! Sandboxes, fast HTTP settings and sources built from TOML, for the GA4 tests.

use std::sync::Arc;
use std::time::Duration;

use chorus_connector_google_analytics::Ga4Source;
use chorus_connector_google_analytics::config::Settings;
use chorus_connector_google_analytics::read::Http;
use chorus_core::testing::{Conditions, ContractReport, assert_stream_contract};
use chorus_core::{ConfigTable, ReadContext, Source, Stream};
use chorus_http::{ClientConfig, RetryPolicy};
use chorus_sandbox::platforms::ga4::{self, PRIVATE_KEY_PEM, PROPERTY_ID};
use chorus_sandbox::{FaultSpec, Sandbox, SandboxConfig};
use chrono::{Days, NaiveDate, Utc};

/// The faults of a "faulty" sandbox: GA4 quota 429s, 5xx, slow, cut and truncated answers.
pub const FAULTS: &str = "429=0.05,429reset=0.04,500=0.03,503=0.03,slow=0.02,timeout=0.01,truncate=0.02,reset=0.02,slow_ms=100,timeout_ms=600";

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

/// Fast retries, short timeouts, short quota waits.
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
        quota_wait: Duration::from_millis(40),
        max_quota_wait: Duration::from_secs(3),
    }
}

/// The first day the tests read: 40 days ago, so recent (restated) days are included.
pub fn start_date() -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_sub_days(Days::new(40))
        .unwrap()
}

/// The settings table of a source on the sandbox: the sandbox's key, `extra` appended.
pub fn table(sb: &Sandbox, key_json: &str, extra: &str) -> ConfigTable {
    table_for(sb, PROPERTY_ID, start_date(), key_json, extra)
}

/// The settings table of a source reading `property` from `start`.
pub fn table_for(
    sb: &Sandbox,
    property: &str,
    start: NaiveDate,
    key_json: &str,
    extra: &str,
) -> ConfigTable {
    let text = format!(
        "property_id = \"{property}\"\nbase_url = \"{}/ga4\"\nstart_date = \"{start}\"\ncredentials_json = '''{key_json}'''\n{extra}",
        sb.base_url(),
    );
    ConfigTable::parse(&text, ".").unwrap()
}

/// A source reading `property` from `start` with the sandbox's key.
pub fn source_for(sb: &Sandbox, property: &str, start: NaiveDate, extra: &str) -> Ga4Source {
    let key = ga4::service_account_json(sb.base_url());
    let settings = Settings::from_config(&table_for(sb, property, start, &key, extra)).unwrap();
    Ga4Source::new(settings, http()).unwrap()
}

/// A source on the sandbox with the sandbox's key.
pub fn source(sb: &Sandbox, extra: &str) -> Ga4Source {
    let key = ga4::service_account_json(sb.base_url());
    let settings = Settings::from_config(&table(sb, &key, extra)).unwrap();
    Ga4Source::new(settings, http()).unwrap()
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

/// The secrets no error may show: the private key and its base64 body.
pub fn secrets() -> Vec<String> {
    let body: String = PRIVATE_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .take(2)
        .collect();
    vec![PRIVATE_KEY_PEM.to_owned(), body]
}

/// Runs the contract on report `name` for a clean and a faulty sandbox.
pub async fn contract(name: &str, extra: &str) -> ContractReport {
    let clean = sandbox("none").await;
    let faulty = sandbox(FAULTS).await;
    let clean_stream = stream(&source(&clean, extra), name);
    let faulty_stream = stream(&source(&faulty, extra), name);
    assert_stream_contract(
        move |c| match c {
            Conditions::Clean => Arc::clone(&clean_stream),
            Conditions::Faulty => Arc::clone(&faulty_stream),
        },
        &secrets(),
    )
    .await
}

/// Today in the sandbox property's zone.
pub fn property_today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}
