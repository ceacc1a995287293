//! The emulated platforms, one module each, listed in `all()` with one line per platform.
//!
//! A platform contributes an axum [`Router`] nested under its path prefix, and its own canned
//! responses for the status-code faults (its throttle body and rate-limit headers). It reads its
//! rows from the shared [`Truth`] and mints access tokens into the shared token store. The
//! server, fault injection and request log are not here (see `server.rs`).

use std::sync::Arc;

use axum::Router;
use axum::response::Response;

use crate::auth::TokenStore;
use crate::data::Truth;
use crate::error::SandboxError;
use crate::faults::FaultKind;

pub mod freshdesk;
pub mod ga4;
pub mod meta;
pub mod reference;
pub mod slack;
pub mod x;
pub mod zendesk;

/// A platform's canned response for a status-code fault on a request path (the full path,
/// prefix included); `None` falls back to the default.
pub(crate) type FaultResponder = Arc<dyn Fn(&str, FaultKind) -> Option<Response> + Send + Sync>;

/// What a platform needs to build its routes.
pub(crate) struct Context {
    /// The sandbox's base URL, for absolute links (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// The rows every platform serves.
    pub truth: Arc<Truth>,
    /// Where token endpoints mint access tokens.
    pub tokens: Arc<TokenStore>,
    /// The lifetime of minted access tokens, in seconds.
    pub token_ttl_secs: u64,
    /// The usage percent the Meta platform reports when a test forces one.
    pub meta_usage: Arc<meta::UsageOverride>,
    /// The GA4 property's quota state, which tests can tighten.
    pub ga4_quota: Arc<ga4::Quota>,
}

/// One emulated platform.
pub(crate) struct Platform {
    /// The path prefix its router is nested under, e.g. `/ref`.
    pub prefix: &'static str,
    /// Its routes, relative to the prefix.
    pub router: Router,
    /// Its responses for the status-code faults.
    pub fault_response: FaultResponder,
}

/// Every platform, one line each.
pub(crate) fn all(ctx: &Context) -> Result<Vec<Platform>, SandboxError> {
    Ok(vec![
        reference::platform(ctx)?,
        meta::platform(ctx),
        x::platform(ctx),
        slack::platform(ctx),
        ga4::platform(ctx)?,
        zendesk::platform(ctx),
        freshdesk::platform(ctx),
    ])
}
