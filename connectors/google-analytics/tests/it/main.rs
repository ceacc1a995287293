//! The `google_analytics` connector against the sandbox's GA4 Data API: every report through
//! the contract harness (faults included), and the behaviours GA4 users depend on.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod auth;
mod battery;
mod quota;
mod reports;
mod support;
