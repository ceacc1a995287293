//! The fault battery: a thousand requests and more, a fifth of them faulted with Freshdesk's
//! own throttle (429 with `Retry-After`), 5xx, timeouts, truncated bodies and resets, and not a
//! row lost or repeated.

use chorus_core::Source;
use chorus_core::testing::{Conditions, assert_fault_battery};
use chorus_sandbox::faults::battery_cases;
use chorus_sandbox::platforms::freshdesk::API_KEY;

use crate::support::{sandbox_seeded, source_with};

/// A fifth of the answers faulted (slow ones come on top and do not count).
const BATTERY: &str = "429=0.03,500=0.04,503=0.04,error200=0.03,timeout=0.01,truncate=0.03,reset=0.02,slow=0.02,slow_ms=50,timeout_ms=600";

/// The platform's throttles, each also run alone (see `battery_cases`).
const THROTTLES: &[&str] = &["429=0.05"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_a_fifth_faulted_lose_and_repeat_nothing() {
    for case in battery_cases(BATTERY, THROTTLES) {
        let clean = sandbox_seeded("none", case.seed).await;
        let faulty = sandbox_seeded(case.faults, case.seed).await;
        let small = "start_date = \"2026-08-01\"\npage_size = 10\n";
        let report = assert_fault_battery(
            |c| match c {
                Conditions::Clean => source_with(&clean, API_KEY, small).streams(),
                Conditions::Faulty => source_with(&faulty, API_KEY, small).streams(),
            },
            || faulty.fault_tally(),
            case.min_requests,
            case.min_fault_share,
        )
        .await;
        eprintln!(
            "freshdesk fault battery, seed {}, {}: {report:?}",
            case.seed, case.faults
        );
    }
}
