//! Credential checks every platform shares: reading bearer and basic credentials, the store of
//! access tokens the token endpoints mint (with expiry), and RS256 JWT verification.
//!
//! What each platform accepts, and the error bodies it answers with, live in the platform.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_PAD_INDIFFERENT};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use serde_json::{Map, Value};

use crate::data::mix;

/// Now, in unix seconds.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The user and password of an `Authorization: Basic <base64>` header.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What the store knows about a presented access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenStatus {
    /// Minted for this scope and not expired.
    Valid,
    /// Minted for this scope but past its expiry.
    Expired,
    /// Never minted, or minted for another scope.
    Unknown,
}

#[derive(Debug, Clone)]
struct Minted {
    scope: &'static str,
    expires_at: u64,
}

/// Access tokens minted by the token endpoints of every platform, each tied to a scope.
#[derive(Debug)]
pub(crate) struct TokenStore {
    seed: u64,
    minted: AtomicU64,
    tokens: Mutex<HashMap<String, Minted>>,
}

impl TokenStore {
    /// An empty store; token strings are derived from `seed` and a counter.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            minted: AtomicU64::new(0),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Mints a token for `scope` that expires `ttl_secs` from now.
    pub(crate) fn mint(&self, prefix: &str, scope: &'static str, ttl_secs: u64) -> String {
        let n = self.minted.fetch_add(1, Ordering::Relaxed);
        let token = format!("{prefix}-{n}-{:016x}", mix(self.seed ^ mix(n + 1)));
        let minted = Minted {
            scope,
            expires_at: now_secs().saturating_add(ttl_secs),
        };
        self.lock().insert(token.clone(), minted);
        token
    }

    /// Whether `token` is a live token of `scope`.
    pub(crate) fn check(&self, token: &str, scope: &str) -> TokenStatus {
        match self.lock().get(token) {
            Some(m) if m.scope != scope => TokenStatus::Unknown,
            Some(m) if now_secs() >= m.expires_at => TokenStatus::Expired,
            Some(_) => TokenStatus::Valid,
            None => TokenStatus::Unknown,
        }
    }

    /// Makes every minted token expired, so the next request with one gets a 401.
    pub(crate) fn expire_all(&self) {
        for minted in self.lock().values_mut() {
            minted.expires_at = 0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Minted>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a JWT was refused before its claims were looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed jwt")]
    Malformed,
    /// The header's `alg` is not RS256 (or its `kid` is not the expected key).
    #[error("unexpected jwt header")]
    Header,
    /// The signature does not verify.
    #[error("invalid jwt signature")]
    Signature,
}

/// Verifies an RS256 JWT against `key` (and `kid`, when the header has one) and returns its
/// claims.
pub(crate) fn verify_rs256(
    jwt: &str,
    key: &VerifyingKey<Sha256>,
    expected_kid: &str,
) -> Result<Map<String, Value>, JwtError> {
    let mut parts = jwt.trim().split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decode_json = |part: &str| -> Result<Map<String, Value>, JwtError> {
        let bytes = URL_SAFE_PAD_INDIFFERENT
            .decode(part)
            .map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
    };
    let jwt_header = decode_json(header_b64)?;
    if jwt_header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(JwtError::Header);
    }
    if let Some(kid) = jwt_header.get("kid")
        && kid.as_str() != Some(expected_kid)
    {
        return Err(JwtError::Header);
    }
    let signature_bytes = URL_SAFE_PAD_INDIFFERENT
        .decode(sig_b64)
        .map_err(|_| JwtError::Malformed)?;
    let signature =
        Signature::try_from(signature_bytes.as_slice()).map_err(|_| JwtError::Signature)?;
    let signed = &jwt.trim()[..header_b64.len() + 1 + claims_b64.len()];
    key.verify(signed.as_bytes(), &signature)
        .map_err(|_| JwtError::Signature)?;
    decode_json(claims_b64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn reads_bearer_and_basic() {
        assert_eq!(bearer_token(&auth("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&auth("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&auth("Basic abc")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        let basic = format!("Basic {}", STANDARD.encode("u:p:w"));
        assert_eq!(
            basic_credentials(&auth(&basic)),
            Some(("u".to_owned(), "p:w".to_owned()))
        );
        assert_eq!(basic_credentials(&auth("Basic !!!")), None);
    }

    #[test]
    fn tokens_are_scoped_and_expire() {
        let store = TokenStore::new(1);
        let a = store.mint("at", "one", 3600);
        let b = store.mint("at", "one", 3600);
        assert_ne!(a, b);
        assert_eq!(store.check(&a, "one"), TokenStatus::Valid);
        assert_eq!(store.check(&a, "two"), TokenStatus::Unknown);
        assert_eq!(store.check("nope", "one"), TokenStatus::Unknown);
        let c = store.mint("at", "one", 0);
        assert_eq!(store.check(&c, "one"), TokenStatus::Expired);
        store.expire_all();
        assert_eq!(store.check(&a, "one"), TokenStatus::Expired);
    }
}
