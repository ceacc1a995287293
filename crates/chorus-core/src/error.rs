//! The error type every chorus library returns at run time.
//!
//! An [`Error`] carries a [`ErrorKind`], from which follow its [`ErrorDomain`] (whose fault it
//! is) and whether retrying later can help. The CLI maps the kind to an exit code in one place.
//! Messages are lowercase, without a trailing period, and compose with [`Error::context`]:
//! `failed to read stream "crm.contacts": file data/a.csv line 3: ...`.

use std::fmt;

/// The result type of chorus libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whose fault an error is: the user's configuration, the outside world, or chorus itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorDomain {
    /// The pipeline file, a credential or a command-line argument is wrong.
    User,
    /// A platform, the network or the storage failed or sent something unexpected.
    External,
    /// A bug in chorus.
    Internal,
}

/// What went wrong, coarse enough to decide on an exit code and a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The pipeline file or a component's settings are invalid.
    Config,
    /// Credentials were refused or lack a permission; retrying will not help.
    Auth,
    /// Rate limits, timeouts, 5xx or network errors that outlasted the retries.
    Transient,
    /// The data broke a stream's contract: a changed type, a vanished required field.
    Contract,
    /// The platform answered with something chorus cannot use (not retryable).
    External,
    /// Reading or writing local or object storage failed.
    Io,
    /// The run was cancelled.
    Cancelled,
    /// A bug in chorus.
    Internal,
}

impl ErrorKind {
    /// Whose fault an error of this kind is.
    pub fn domain(self) -> ErrorDomain {
        match self {
            ErrorKind::Config | ErrorKind::Auth => ErrorDomain::User,
            ErrorKind::Transient
            | ErrorKind::Contract
            | ErrorKind::External
            | ErrorKind::Io
            | ErrorKind::Cancelled => ErrorDomain::External,
            ErrorKind::Internal => ErrorDomain::Internal,
        }
    }

    /// Whether running again later can be expected to succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient)
    }
}

/// What an operator should do about a storage error, recognised by the operating system's
/// error number in `message` (Rust prints it as `(os error N)`, whatever the locale).
pub fn storage_advice(message: &str) -> Option<&'static str> {
    const ADVICE: &[(&str, &str)] = &[
        (
            "(os error 28)",
            "the disk holding the output is full: free space there (or point the sink's path at a larger volume) and run again; readers see nothing of this run, and the next run finishes or rolls back what is pending",
        ),
        (
            "(os error 122)",
            "the disk quota of the output is exceeded: free space or raise the quota, and run again; readers see nothing of this run, and the next run finishes or rolls back what is pending",
        ),
        (
            "(os error 30)",
            "the output is on a read-only file system: mount it read-write (or point the sink's path elsewhere) and run again",
        ),
        (
            "(os error 27)",
            "a file reached the process's file-size limit (ulimit -f): raise the limit or lower target_file_size_mb, and run again",
        ),
        (
            "(os error 13)",
            "permission denied: let the user running chorus write to the output folder (or point the sink's path elsewhere), and run again",
        ),
    ];
    ADVICE
        .iter()
        .find(|(code, _)| message.contains(code))
        .map(|(_, advice)| *advice)
}

/// A run-time error with its kind and a message chain.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message` (lowercase, no trailing period).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An invalid pipeline or component setting.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// A failure of local or object storage. When the message carries an operating-system
    /// error that needs the operator (a full disk, a read-only or over-quota volume, a file
    /// size limit, a refused permission), what to do about it is added.
    pub fn io(message: impl Into<String>) -> Self {
        let mut message = message.into();
        if let Some(advice) = storage_advice(&message)
            && !message.contains(advice)
        {
            message = format!("{message}; {advice}");
        }
        Self::new(ErrorKind::Io, message)
    }

    /// Data that broke a stream's contract.
    pub fn contract(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Contract, message)
    }

    /// A bug in chorus; the message says so.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Internal,
            format!(
                "{} (this is a bug in chorus, please report it)",
                message.into()
            ),
        )
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message chain, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with what was being done: `"{context}: {message}"`.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// Returns the same error with every secret value in its message replaced by `***`.
    #[must_use]
    pub fn redacted(mut self, secrets: &[String]) -> Self {
        self.message = crate::secret::redact(&self.message, secrets);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<arrow::error::ArrowError> for Error {
    fn from(err: arrow::error::ArrowError) -> Self {
        match err {
            arrow::error::ArrowError::IoError(msg, _) => Error::io(msg),
            other => Error::new(ErrorKind::Contract, other.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::io(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_say_what_to_do() {
        let full = Error::io(
            "failed to write _chorus/staging/r/t/part.parquet: No space left on device (os error 28)",
        );
        assert!(
            full.message().contains("disk holding the output is full"),
            "{full}"
        );
        let again = Error::io(full.message().to_owned());
        assert_eq!(again.message(), full.message(), "advice is added once");
        for (code, word) in [
            (30, "read-only"),
            (27, "ulimit -f"),
            (122, "quota"),
            (13, "permission"),
        ] {
            let e = Error::io(format!("failed: x (os error {code})"));
            assert!(e.message().contains(word), "{e}");
        }
        assert_eq!(
            Error::io("failed: x (os error 2)").message(),
            "failed: x (os error 2)"
        );
    }

    #[test]
    fn context_composes_outermost_first() {
        let err = Error::io("disk full")
            .context("failed to write part-1.parquet")
            .context("sink \"lake\"");
        assert_eq!(
            err.to_string(),
            "sink \"lake\": failed to write part-1.parquet: disk full"
        );
        assert_eq!(err.kind(), ErrorKind::Io);
    }

    #[test]
    fn internal_errors_say_they_are_a_bug() {
        assert!(
            Error::internal("state out of order")
                .to_string()
                .contains("bug in chorus")
        );
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(ErrorKind::Transient.is_retryable());
        assert!(!ErrorKind::Auth.is_retryable());
        assert_eq!(ErrorKind::Auth.domain(), ErrorDomain::User);
        assert_eq!(ErrorKind::Internal.domain(), ErrorDomain::Internal);
    }
}
