//! The fault battery: a thousand requests and more, a fifth of them faulted with Freshdesk's
//! own throttle (429 with `Retry-After`), 5xx, timeouts, truncated bodies and resets, and not a
//! row lost or repeated.

use chorus_core::Source;
use chorus_core::testing::{Conditions, assert_fault_battery};
use chorus_sandbox::platforms::freshdesk::API_KEY;

use crate::support::{sandbox_seeded, source_with};

/// A fifth of the answers faulted (slow ones come on top and do not count).
const BATTERY: &str = "429=0.03,500=0.04,503=0.04,error200=0.03,timeout=0.01,truncate=0.03,reset=0.02,slow=0.02,slow_ms=50,timeout_ms=600";

/// Each seed serves other data and faults other requests.
const SEEDS: [u64; 3] = [3, 11, 29];

/// Requests per seed: over a thousand in all.
const REQUESTS_PER_SEED: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_a_fifth_faulted_lose_and_repeat_nothing() {
    for seed in SEEDS {
        let clean = sandbox_seeded("none", seed).await;
        let faulty = sandbox_seeded(BATTERY, seed).await;
        let small = "start_date = \"2026-08-01\"\npage_size = 10\n";
        let report = assert_fault_battery(
            |c| match c {
                Conditions::Clean => source_with(&clean, API_KEY, small).streams(),
                Conditions::Faulty => source_with(&faulty, API_KEY, small).streams(),
            },
            || faulty.fault_tally(),
            REQUESTS_PER_SEED,
            0.17,
        )
        .await;
        eprintln!("freshdesk fault battery, seed {seed}: {report:?}");
    }
}
