//! Integration tests of the Delta sink: modes, idempotent publishing, readers in Python.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod delta;
