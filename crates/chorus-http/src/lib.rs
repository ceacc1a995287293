//! The connector kit: everything an HTTP connector needs, so a connector is mostly data.
//!
//! What lives here: the [`HttpClient`] (timeouts, `User-Agent`, gzip, auth, pacing, retries
//! around the whole exchange, capped bodies, redacted errors), [`Auth`] variants, the
//! [`retry`] rules, the [`RateLimiter`], [`Paginator`]s, the [`PageDecoder`] that turns JSON
//! pages straight into Arrow batches, incremental windows, [`redact`]ion, the [`produce`] plumbing from a task to a stream, typed [`json`] answers, the [`extra`] fields kept when a source asks, the [`hosts`] rules for where credentials may go, and [`RestStream`],
//! which puts them together for the common endpoint. What does not: anything specific to one
//! platform — that lives in its connector, behind a [`ResponseHook`] or its own `Stream`.

pub mod auth;
pub mod client;
pub mod decode;
pub mod extra;
pub mod hosts;
pub mod json;
pub mod paginate;
pub mod produce;
pub mod rate_limit;
pub mod redact;
pub mod rest;
pub mod retry;

pub use auth::{Auth, ServiceAccountKey};
pub use client::{ClientConfig, DefaultHook, HttpClient, Request, Response, ResponseHook};
pub use decode::PageDecoder;
pub use hosts::{check_base_url, check_next_url, check_url};
pub use paginate::{Next, Paginator};
pub use rate_limit::{RateLimit, RateLimiter};
pub use rest::{RestStream, TimeFormat, WindowParams};
pub use retry::{RetryPolicy, Verdict};
