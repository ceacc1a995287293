//! Integration tests of chorus-transform: the function tests as text files, the sentiment
//! benchmark, and the three transforms built and run like the runner does.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod sentiment_benchmark;
mod sql_files;
mod transforms;
