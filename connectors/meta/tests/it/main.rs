//! The Meta connectors against the sandbox's Graph API: every stream through the contract
//! harness (faults included), and the behaviours Meta users depend on.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod ads;
mod battery;
mod instagram;
mod pages;
mod support;
