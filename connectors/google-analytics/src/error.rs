//! What can be wrong with a report GA4 sent, as typed errors that become contract errors.

use chorus_core::Error;

/// A report answer that does not fit the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The headers are not the dimensions and metrics that were asked for.
    #[error("GA4 answered with the columns {got:?}, not the requested {asked:?}")]
    Headers {
        /// The dimensions then metrics asked for.
        asked: Vec<String>,
        /// The header names received.
        got: Vec<String>,
    },
    /// A row's value lists do not match the headers.
    #[error("row {row} of the answer does not have one value per header")]
    RowShape {
        /// The row's position in the page.
        row: usize,
    },
    /// A value that does not parse as its column's type.
    #[error("column \"{column}\" got the value {value:?}, which is not {expected}")]
    BadValue {
        /// The column.
        column: String,
        /// The value as sent.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The columns could not be put together (a bug).
    #[error("cannot build the batch: {0}")]
    Batch(String),
}

impl From<ReportError> for Error {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Batch(_) => Error::internal(e.to_string()),
            _ => Error::contract(e.to_string()),
        }
    }
}
