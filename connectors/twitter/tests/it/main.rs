//! The `twitter` connector against the sandbox's X API v2: every stream through the contract
//! harness (throttles and faults included), and the behaviours X users depend on.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod battery;
mod streams;
mod support;
