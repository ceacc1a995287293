//! The fault battery: for each Meta connector, a thousand requests and more, a fifth of them
//! faulted with Graph's own throttles (429 and the code-4 400), 5xx, HTTP 200 with a Graph
//! error body, timeouts, truncated bodies and resets, and not a row lost or repeated.

use chorus_core::Source;
use chorus_core::testing::{Conditions, assert_fault_battery};
use chorus_sandbox::Sandbox;
use chorus_sandbox::faults::battery_cases;
use chorus_sandbox::platforms::meta::TOKEN;

use crate::support::sandbox_seeded;

/// The platform's throttles, each also run alone (see `battery_cases`).
const THROTTLES: &[&str] = &["429=0.05", "throttle400=0.05"];

/// A fifth of the answers faulted (slow ones come on top and do not count).
const BATTERY: &str = "429=0.02,throttle400=0.03,500=0.04,503=0.03,error200=0.03,timeout=0.01,truncate=0.03,reset=0.02,slow=0.02,slow_ms=50,timeout_ms=600";

async fn battery<S: Source + 'static>(name: &str, build: impl Fn(&Sandbox) -> S) {
    for case in battery_cases(BATTERY, THROTTLES) {
        let clean = sandbox_seeded("none", case.seed).await;
        let faulty = sandbox_seeded(case.faults, case.seed).await;
        let report = assert_fault_battery(
            |c| match c {
                Conditions::Clean => build(&clean).streams(),
                Conditions::Faulty => build(&faulty).streams(),
            },
            || faulty.fault_tally(),
            case.min_requests,
            case.min_fault_share,
        )
        .await;
        eprintln!(
            "{name} fault battery, seed {}, {}: {report:?}",
            case.seed, case.faults
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_pages_loses_and_repeats_nothing_through_a_thousand_faulty_requests() {
    battery("facebook_pages", |sb| {
        crate::pages::source(sb, TOKEN, "page_size = 5")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_loses_and_repeats_nothing_through_a_thousand_faulty_requests() {
    battery("instagram", |sb| {
        crate::instagram::source(sb, TOKEN, "page_size = 5")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_ads_loses_and_repeats_nothing_through_a_thousand_faulty_requests() {
    battery("facebook_ads", |sb| crate::ads::source(sb, "page_size = 5")).await;
}
