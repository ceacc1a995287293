//! The fault battery: a thousand requests and more, a fifth of them faulted with X's own
//! throttles, 5xx, timeouts, truncated bodies and resets, and not a row lost or repeated.
//!
//! It reads profiles and timelines: X allows 10,000 timeline requests per 15 minutes, but only
//! 450 for mentions and recent search, which a thousand requests would use up (a spent window
//! pauses the source until it resets, as it should). Mentions and search go through the same
//! faults in their contract tests.

use chorus_core::Source;
use chorus_core::testing::{Conditions, assert_fault_battery};
use chorus_sandbox::faults::battery_cases;
use chorus_sandbox::platforms::x::TOKEN;

use crate::support::{SETTINGS, sandbox_seeded, source_with};

/// A fifth of the answers faulted (slow ones come on top and do not count).
const BATTERY: &str = "429=0.02,429reset=0.02,500=0.04,503=0.04,error200=0.03,timeout=0.01,truncate=0.03,reset=0.03,slow=0.02,slow_ms=50,timeout_ms=600";

/// The platform's throttles, each also run alone (see `battery_cases`).
const THROTTLES: &[&str] = &["429=0.05", "429reset=0.05"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_a_fifth_faulted_lose_and_repeat_nothing() {
    for case in battery_cases(BATTERY, THROTTLES) {
        let clean = sandbox_seeded("none", case.seed).await;
        let faulty = sandbox_seeded(case.faults, case.seed).await;
        let settings = format!("{SETTINGS}page_size = 10\n");
        let report = assert_fault_battery(
            |c| {
                let sb = match c {
                    Conditions::Clean => &clean,
                    Conditions::Faulty => &faulty,
                };
                let src = source_with(sb, TOKEN, &settings);
                src.streams()
                    .into_iter()
                    .filter(|s| ["users", "tweets"].contains(&s.spec().name.as_str()))
                    .collect()
            },
            || faulty.fault_tally(),
            case.min_requests,
            case.min_fault_share,
        )
        .await;
        eprintln!(
            "x fault battery, seed {}, {}: {report:?}",
            case.seed, case.faults
        );
    }
}
