//! The error type of starting and running a sandbox.

use std::io;

/// Why a sandbox could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listening socket could not be bound.
    #[error("failed to bind the sandbox to 127.0.0.1:{port}")]
    Bind {
        /// The port that was asked for (0 = any free port).
        port: u16,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The configuration is not usable.
    #[error("invalid sandbox config: {0}")]
    Config(String),
    /// Waiting for ctrl-c failed.
    #[error("failed to listen for ctrl-c")]
    Signal(#[source] io::Error),
    /// A key shipped with the crate did not parse; this is a bug in chorus.
    #[error("the sandbox's bundled key {name} is invalid (a bug in chorus): {reason}")]
    BundledKey {
        /// Which key.
        name: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}
