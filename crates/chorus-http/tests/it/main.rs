//! The kit against the sandbox's reference platform: every paginator, every auth, every retry
//! signal, and the stream contract through injected faults.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod paging;
mod redirects;
mod retries;
mod support;
