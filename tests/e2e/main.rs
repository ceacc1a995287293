//! End-to-end tests of the `chorus` binary: one test binary, one module per concern.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly on any unexpected error"
)]

mod anyday;
mod brand_awareness;
mod contract;
mod crash;
mod delta;
mod demo;
mod disk;
mod drift;
mod engagement;
mod faults;
mod ga4;
mod kpi;
mod listening;
mod marts;
mod meta;
mod run;
mod s3;
mod sandbox;
mod secrets;
mod shard;
mod slack;
mod social_roi;
mod support;
mod traffic_conversions;
mod transform;
mod twitter;
mod util;
mod validate;
mod windows;
