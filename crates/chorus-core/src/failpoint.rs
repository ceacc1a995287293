//! Failpoints: named places where a test can make the process die, to prove that a crash at
//! any instant loses nothing and duplicates nothing.
//!
//! `CHORUS_FAILPOINT=<name>` aborts the process the first time [`hit`] is called with that
//! name; `CHORUS_FAILPOINT=<name>:<n>` aborts on the n-th hit; a trailing `:panic`
//! (`<name>:<n>:panic`) panics there instead, to test how panics are contained. Without the variable, [`hit`]
//! costs one atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every failpoint in chorus, in the order a run passes them.
pub const FAILPOINTS: &[&str] = &[
    "http.after_response",
    "source.after_batch",
    "sink.after_stage_file",
    "sink.after_stage_table",
    "commit.before_record",
    "commit.after_record",
    "publish.after_move",
    "publish.after_table",
    "commit.before_done",
    "commit.after_done",
];

/// An armed failpoint: its name, the pass it fires on, and whether it panics instead.
type Armed = (String, u64, bool);

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn armed() -> &'static Option<Armed> {
    ARMED.get_or_init(|| {
        let spec = std::env::var("CHORUS_FAILPOINT").ok()?;
        let (spec, panics) = match spec.strip_suffix(":panic") {
            Some(rest) => (rest.to_owned(), true),
            None => (spec, false),
        };
        let (name, nth) = match spec.split_once(':') {
            Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
            None => (spec, 1),
        };
        Some((name, nth.max(1), panics))
    })
}

/// Aborts the process (or panics, with `…:panic`) if the failpoint `name` is armed and due.
pub fn hit(name: &str) {
    if let Some((armed, nth, panics)) = armed()
        && armed == name
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth
    {
        if *panics {
            panic!("failpoint {name} panicked");
        }
        eprintln!("chorus: failpoint {name} hit, aborting");
        std::process::abort();
    }
}
