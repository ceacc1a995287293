//! Pipelines: from a TOML file to committed Parquet and state.
//!
//! What lives here: reading pipeline files ([`config`]), validating them into a [`Plan`] with
//! every problem reported at once ([`compile`], [`diagnostic`]), running a plan
//! ([`run`]), the commit log that holds state and makes commits exactly-once ([`state`]), the
//! column contracts that keep a table's types from drifting ([`contract`]), the
//! lease that keeps two runs of a pipeline apart ([`lease`]), and the run summary
//! ([`summary`]). What does not: the components themselves (connectors, transforms, sinks live
//! in their own crates and reach the runner through a [`chorus_core::Registry`]) and the
//! command line (`chorus-cli`).

pub mod compile;
pub mod config;
pub mod contract;
pub mod diagnostic;
pub mod lease;
pub mod run;
pub mod state;
pub mod summary;

pub use compile::{Plan, compile, compile_shard};
pub use diagnostic::{Diagnostic, render};
pub use run::{Observer, RunOptions, RunReport, Silent, run};
