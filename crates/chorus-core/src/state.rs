//! Incremental state: where each stream stopped.
//!
//! A stream emits [`StreamState`] checkpoints between its batches; the runner saves a
//! checkpoint only once every batch before it has been committed by every sink that receives
//! it. Connectors read state, they never write it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The position a stream has reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Cursor {
    /// The greatest cursor-field timestamp committed.
    Timestamp(DateTime<Utc>),
    /// The greatest id committed (compared as a number when both are digits).
    Id(String),
    /// An opaque token handed out by the platform (compared only for equality).
    Token(String),
}

impl Cursor {
    /// The later of two cursors; for tokens, which are not ordered, `newer` wins.
    pub fn later(self, newer: Cursor) -> Cursor {
        match (&self, &newer) {
            (Cursor::Timestamp(a), Cursor::Timestamp(b)) if a > b => self,
            (Cursor::Id(a), Cursor::Id(b)) if id_greater(a, b) => self,
            _ => newer,
        }
    }
}

fn id_greater(a: &str, b: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        (a.len(), a) > (b.len(), b)
    } else {
        a > b
    }
}

/// The saved state of one stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// Where the stream stopped; `None` means from the start date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// Connector-specific detail (per-account cursors, pending report jobs).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
}

impl StreamState {
    /// A state holding only a cursor.
    pub fn at(cursor: Cursor) -> Self {
        Self {
            cursor: Some(cursor),
            extra: serde_json::Value::Null,
        }
    }

    /// Merges a newer checkpoint into this state without moving a cursor backwards (a
    /// backfill of an old window must not rewind the incremental position).
    #[must_use]
    pub fn advance(self, newer: StreamState) -> StreamState {
        let cursor = match (self.cursor, newer.cursor) {
            (Some(old), Some(new)) => Some(old.later(new)),
            (old, new) => new.or(old),
        };
        let extra = if newer.extra.is_null() {
            self.extra
        } else {
            newer.extra
        };
        StreamState { cursor, extra }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_compare_as_numbers() {
        let a = Cursor::Id("9".into());
        let b = Cursor::Id("10".into());
        assert_eq!(a.clone().later(b.clone()), b);
        assert_eq!(b.clone().later(a), b);
    }

    #[test]
    fn advance_never_rewinds() {
        let t = |s: &str| Cursor::Timestamp(s.parse().unwrap());
        let old = StreamState::at(t("2024-05-01T00:00:00Z"));
        let backfill = StreamState::at(t("2024-01-01T00:00:00Z"));
        assert_eq!(old.clone().advance(backfill), old);
        let newer = StreamState::at(t("2024-06-01T00:00:00Z"));
        assert_eq!(old.advance(newer.clone()), newer);
    }

    #[test]
    fn state_round_trips_as_json() {
        let s = StreamState::at(Cursor::Token("abc".into()));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"cursor":{"type":"token","value":"abc"}}"#);
        assert_eq!(serde_json::from_str::<StreamState>(&json).unwrap(), s);
    }
}
