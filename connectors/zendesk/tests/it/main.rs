//! The `zendesk` connector against the sandbox's Zendesk API: every stream through the
//! contract harness (throttles and faults included), and the numbers the sandbox's truth
//! says each stream must return.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod battery;
mod streams;
mod support;
