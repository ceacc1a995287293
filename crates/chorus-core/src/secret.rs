//! Credentials that never print.
//!
//! A [`Secret`] holds a token, key or password. Its `Debug` and `Display` print `***`, it does
//! not implement `Serialize`, and the only way to its value is [`Secret::expose`], which the
//! code that puts it on the wire calls. [`redact`] is the safety net for text that may have
//! picked a secret up anyway (an echoed URL, a platform's error body).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A credential whose value is shown only on purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Replaces every occurrence of each secret (of four characters or more) in `text` by `***`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("canary-token-123");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "canary-token-123");
    }

    #[test]
    fn redact_replaces_every_occurrence() {
        let text = "GET /x?access_token=abcd1234&b=abcd1234 failed";
        assert_eq!(
            redact(text, &["abcd1234".into()]),
            "GET /x?access_token=***&b=*** failed"
        );
        assert_eq!(
            redact("a b c", &["b".into()]),
            "a b c",
            "too short to redact safely"
        );
    }
}
