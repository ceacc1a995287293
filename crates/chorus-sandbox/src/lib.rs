//! A local emulator of the HTTP APIs chorus connectors read, for tests, the demo and benchmarks.
//!
//! What lives here: the [`Sandbox`] server (an axum router served by our own accept loop so that
//! faults can cut connections), its [`SandboxConfig`], seeded deterministic data placed
//! relative to an anchor date (a week before today by default, see [`data`]) and the [`Truth`]
//! tests compare against, [`FaultSpec`] fault injection, the [`LoggedRequest`] log,
//! and one module per emulated platform under [`platforms`]: [`platforms::reference`], which
//! exercises every paginator and auth variant of the kit, [`platforms::meta`], the Graph API
//! of Facebook Pages, Instagram and the Marketing API, [`platforms::x`], X API v2,
//! [`platforms::slack`], the Slack Web API, and [`platforms::ga4`], the Google Analytics 4 Data
//! API with its service-account token endpoint and quotas.
//!
//! What does not: the HTTP client (`chorus-http`), connectors, and the `chorus sandbox`
//! command line (`chorus-cli` calls [`serve`]). Nothing here reaches the internet.

mod auth;
mod control;
pub mod data;
mod error;
pub mod faults;
pub mod log;
pub mod platforms;
mod server;

pub use data::Truth;
pub use error::SandboxError;
pub use faults::{FaultKind, FaultSpec, FaultSpecError};
pub use log::LoggedRequest;
pub use server::{Sandbox, SandboxConfig, serve};
