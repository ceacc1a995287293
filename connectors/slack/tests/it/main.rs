//! The Slack connector against the sandbox's Web API: every stream through the contract
//! harness (faults included), and the behaviours Slack users depend on.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod battery;
mod behaviour;
mod streams;
mod support;
