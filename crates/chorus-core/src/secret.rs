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

/// Replaces every occurrence of each secret (of four characters or more) in `text` by `***`,
/// in every encoding chorus puts a secret on the wire in:
///
/// - as itself, percent-encoded (a token in a query string or a form) and percent-decoded (a
///   token configured already encoded, such as an X bearer token with `%2F`);
/// - inside base64 (`Authorization: Basic base64(user:token)`, echoed by a gateway): any run of
///   base64 characters that decodes to text holding a secret is replaced whole;
/// - a JWT (`eyJ….eyJ….…`, a service-account assertion or an access token), whatever it holds:
///   it is a credential in itself.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        for form in forms(secret) {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), "***");
            }
        }
    }
    let out = redact_jwts(&out);
    redact_base64(&out, secrets)
}

/// A secret as itself, percent-encoded and percent-decoded, longest first.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let encoded: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    forms.push(encoded);
    if let Some(decoded) = percent_decode(secret) {
        forms.push(decoded);
    }
    forms.retain(|f| f.len() >= 4);
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// `text` with `%XX` escapes decoded (and `+` as a space), if it has any and decodes to UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') && !text.contains('+') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+/=-_".contains(&b)
}

/// Replaces runs of base64 (of 8 characters or more) that decode to text holding a secret.
fn redact_base64(text: &str, secrets: &[String]) -> String {
    let secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    if secrets.is_empty() {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_base64_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_base64_byte(bytes[i]) {
            i += 1;
        }
        let run = &text[start..i];
        if run.len() >= 8
            && let Some(decoded) = decode_base64(run)
        {
            let decoded = String::from_utf8_lossy(&decoded);
            if secrets.iter().any(|s| decoded.contains(s.as_str())) {
                out.push_str(&text[last..start]);
                out.push_str("***");
                last = i;
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Decodes standard or URL-safe base64, padded or not.
fn decode_base64(run: &str) -> Option<Vec<u8>> {
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::with_capacity(run.len() * 3 / 4);
    for b in run.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// Replaces JWTs: three base64url segments joined by dots, the first two JSON objects
/// (`eyJ` is the encoding of `{"`).
fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("eyJ") {
        let candidate = &rest[pos..];
        let len = jwt_len(candidate);
        let preceded_by_b64 = rest[..pos]
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if len > 0 && !preceded_by_b64 {
            out.push_str(&rest[..pos]);
            out.push_str("***");
            rest = &candidate[len..];
        } else {
            out.push_str(&rest[..pos + 3]);
            rest = &candidate[3..];
        }
    }
    out.push_str(rest);
    out
}

/// The length of the JWT at the start of `text`, or 0 when there is none.
fn jwt_len(text: &str) -> usize {
    let url_b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = text.as_bytes();
    let mut i = 0;
    for part in 0..3 {
        let start = i;
        while i < bytes.len() && url_b64(bytes[i]) {
            i += 1;
        }
        if i - start < 4 || (part == 1 && !text[start..].starts_with("eyJ")) {
            return 0;
        }
        if part < 2 {
            if bytes.get(i) != Some(&b'.') {
                return 0;
            }
            i += 1;
        }
    }
    i
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

    #[test]
    fn every_encoding_of_a_secret_is_redacted() {
        let secrets = ["zd-Canary/Token+9".to_owned()];
        let basic = "YWRtaW5AYWNtZS5leGFtcGxlL3Rva2VuOnpkLUNhbmFyeS9Ub2tlbis5";
        for (text, want) in [
            ("token=zd-Canary%2FToken%2B9&x=1", "token=***&x=1"),
            ("echo: zd-Canary/Token+9", "echo: ***"),
            (
                &format!("authorization: Basic {basic}\r\nhost: x")[..],
                "authorization: Basic ***\r\nhost: x",
            ),
            (&format!("'Basic {basic}'")[..], "'Basic ***'"),
            (
                "nothing secret: aGVsbG8gd29ybGQ=",
                "nothing secret: aGVsbG8gd29ybGQ=",
            ),
        ] {
            assert_eq!(redact(text, &secrets), want, "{text}");
        }
        // An X bearer token configured percent-encoded also shows decoded.
        let x = ["AAAA%2Fbearer0token".to_owned()];
        assert_eq!(redact("Bearer AAAA/bearer0token!", &x), "Bearer ***!");
        // A JWT is a credential whatever it holds.
        let jwt =
            "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4QHkuaWFtLmdzZXJ2aWNlYWNjb3VudC5jb20ifQ.c2lnbmF0dXJl";
        assert_eq!(
            redact(&format!("assertion={jwt}&grant_type=x"), &[]),
            "assertion=***&grant_type=x"
        );
        assert_eq!(
            redact("eyJ alone, eyJabc.def", &[]),
            "eyJ alone, eyJabc.def"
        );
    }
}
