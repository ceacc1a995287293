//! Integration tests of the Parquet sink's storage: object storage on a local S3 server.

#![allow(
    clippy::unwrap_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod s3;
