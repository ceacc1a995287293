//! Integration tests of the runner: compile and run pipelines with real components.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod failures;
mod modes;
mod secrets;
mod support;
