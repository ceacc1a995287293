//! Exit codes: the one function that maps what went wrong to what an orchestrator should do.

use chorus_core::ErrorKind;

/// Every selected stream committed.
pub const OK: u8 = 0;
/// The run finished, but some streams failed for mixed or other reasons.
pub const PARTIAL: u8 = 1;
/// Command-line usage error.
pub const USAGE: u8 = 2;
/// The data broke a stream's contract.
pub const DATA: u8 = 65;
/// A transient failure outlasted the retries: retry later.
pub const TEMPFAIL: u8 = 75;
/// Authentication or permission refused: retrying will not help.
pub const NOPERM: u8 = 77;
/// The pipeline file is invalid.
pub const CONFIG: u8 = 78;

/// The exit code for one error kind.
pub fn for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Config => CONFIG,
        ErrorKind::Auth => NOPERM,
        ErrorKind::Transient => TEMPFAIL,
        ErrorKind::Contract => DATA,
        _ => PARTIAL,
    }
}

/// The exit code for a run's failures: their common code, or 1 when they differ.
pub fn for_failures(kinds: &[ErrorKind]) -> u8 {
    let mut codes = kinds.iter().map(|k| for_kind(*k));
    match codes.next() {
        None => OK,
        Some(first) if codes.all(|c| c == first) => first,
        Some(_) => PARTIAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_failures_exit_one() {
        assert_eq!(for_failures(&[]), OK);
        assert_eq!(
            for_failures(&[ErrorKind::Transient, ErrorKind::Transient]),
            TEMPFAIL
        );
        assert_eq!(for_failures(&[ErrorKind::Auth]), NOPERM);
        assert_eq!(
            for_failures(&[ErrorKind::Transient, ErrorKind::Auth]),
            PARTIAL
        );
        assert_eq!(for_failures(&[ErrorKind::Io]), PARTIAL);
        assert_eq!(for_failures(&[ErrorKind::Contract]), DATA);
    }
}
