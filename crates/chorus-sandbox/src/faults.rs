//! Fault injection: which fault, if any, the n-th API request gets.
//!
//! A [`FaultSpec`] is parsed from `429=0.1,500=0.05,slow=0.02,slow_ms=300`; the decision for the
//! n-th request is a pure function of the seed and n ([`FaultSpec::decide`]), so a test run is
//! reproducible. A test can force one fault on one request with the [`OVERRIDE_HEADER`].
//! How each fault is carried out on the wire lives in the server; the status-code faults' bodies
//! default to [`default_response`] unless the platform has its own.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::data::{mix, unit};

/// The request header that forces one fault (or `none`) on that request.
pub const OVERRIDE_HEADER: &str = "x-sandbox-fault";

/// The default delay of a `slow` fault, in milliseconds.
pub const DEFAULT_SLOW_MS: u64 = 1_000;

/// The default time a `timeout` fault holds the connection before dropping it, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// HTTP 429 with the platform's throttle body and rate-limit headers.
    #[serde(rename = "429")]
    TooManyRequests,
    /// HTTP 429 with no `Retry-After`, only an absolute `x-rate-limit-reset` a second ahead
    /// (the X API's throttle).
    #[serde(rename = "429reset")]
    TooManyRequestsReset,
    /// HTTP 500.
    #[serde(rename = "500")]
    InternalError,
    /// HTTP 503.
    #[serde(rename = "503")]
    Unavailable,
    /// A delay of `slow_ms`, then the normal response.
    #[serde(rename = "slow")]
    Slow,
    /// No answer; the connection is held for `timeout_ms`, then dropped.
    #[serde(rename = "timeout")]
    Timeout,
    /// A full `Content-Length` header but only half the body, then the connection closes.
    #[serde(rename = "truncate")]
    Truncate,
    /// The connection closes without a response.
    #[serde(rename = "reset")]
    Reset,
    /// HTTP 200 whose body is a Graph-style error (code 2).
    #[serde(rename = "error200")]
    Error200,
    /// HTTP 400 whose body is a Graph-style throttle (code 4).
    #[serde(rename = "throttle400")]
    Throttle400,
}

impl FaultKind {
    /// Every kind, in the order rates are laid out for [`FaultSpec::decide`].
    pub const ALL: [FaultKind; 10] = [
        FaultKind::TooManyRequests,
        FaultKind::TooManyRequestsReset,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::Slow,
        FaultKind::Timeout,
        FaultKind::Truncate,
        FaultKind::Reset,
        FaultKind::Error200,
        FaultKind::Throttle400,
    ];

    /// The name used in fault specs, the override header and the request log.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::TooManyRequestsReset => "429reset",
            FaultKind::InternalError => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Slow => "slow",
            FaultKind::Timeout => "timeout",
            FaultKind::Truncate => "truncate",
            FaultKind::Reset => "reset",
            FaultKind::Error200 => "error200",
            FaultKind::Throttle400 => "throttle400",
        }
    }

    /// The kind with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this fault is answered with a canned HTTP response instead of the real one.
    pub fn is_canned_response(self) -> bool {
        matches!(
            self,
            FaultKind::TooManyRequests
                | FaultKind::TooManyRequestsReset
                | FaultKind::InternalError
                | FaultKind::Unavailable
                | FaultKind::Error200
                | FaultKind::Throttle400
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a fault spec (or an override header) was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    /// A name that is neither a fault nor an option.
    #[error("unknown fault {name:?} (valid: {})", valid_names())]
    UnknownName {
        /// The name as written.
        name: String,
    },
    /// An entry without `=`.
    #[error("fault entry {entry:?} is not name=value")]
    Malformed {
        /// The entry as written.
        entry: String,
    },
    /// A rate that is not a number in `[0, 1]`.
    #[error("rate of fault {name} must be a number in [0, 1], got {value:?}")]
    InvalidRate {
        /// The fault.
        name: String,
        /// The value as written.
        value: String,
    },
    /// A duration option that is not a whole number of milliseconds.
    #[error("{name} must be a whole number of milliseconds, got {value:?}")]
    InvalidDuration {
        /// The option.
        name: String,
        /// The value as written.
        value: String,
    },
    /// The same name twice.
    #[error("{name} is given twice")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// Rates whose sum exceeds 1.
    #[error("fault rates add up to {sum}, more than 1")]
    RatesExceedOne {
        /// The sum of all rates.
        sum: f64,
    },
}

/// Every name a fault spec accepts, comma-separated.
fn valid_names() -> String {
    let mut names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
    names.extend(["slow_ms", "timeout_ms"]);
    names.join(", ")
}

/// The rate of each fault kind plus the `slow` and `timeout` durations.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Rate per kind, indexed like [`FaultKind::ALL`].
    rates: [f64; FaultKind::ALL.len()],
    /// How long a `slow` fault delays the response, in milliseconds.
    pub slow_ms: u64,
    /// How long a `timeout` fault holds the connection before dropping it, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self::none()
    }
}

impl FaultSpec {
    /// No faults at all.
    pub fn none() -> Self {
        Self {
            rates: [0.0; FaultKind::ALL.len()],
            slow_ms: DEFAULT_SLOW_MS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    /// Parses `name=value` entries separated by commas; an empty string or `none` means no faults.
    pub fn parse(spec: &str) -> Result<Self, FaultSpecError> {
        let mut out = Self::none();
        let mut seen: Vec<&str> = Vec::new();
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok(out);
        }
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((name, value)) = entry.split_once('=') else {
                return Err(FaultSpecError::Malformed {
                    entry: entry.to_owned(),
                });
            };
            let (name, value) = (name.trim(), value.trim());
            if seen.contains(&name) {
                return Err(FaultSpecError::Duplicate {
                    name: name.to_owned(),
                });
            }
            seen.push(name);
            match name {
                "slow_ms" | "timeout_ms" => {
                    let ms = value
                        .parse::<u64>()
                        .map_err(|_| FaultSpecError::InvalidDuration {
                            name: name.to_owned(),
                            value: value.to_owned(),
                        })?;
                    if name == "slow_ms" {
                        out.slow_ms = ms;
                    } else {
                        out.timeout_ms = ms;
                    }
                }
                _ => {
                    let kind =
                        FaultKind::from_name(name).ok_or_else(|| FaultSpecError::UnknownName {
                            name: name.to_owned(),
                        })?;
                    let rate = value
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or_else(|| FaultSpecError::InvalidRate {
                            name: name.to_owned(),
                            value: value.to_owned(),
                        })?;
                    out = out.with_rate(kind, rate);
                }
            }
        }
        let sum: f64 = out.rates.iter().sum();
        if sum > 1.0 + 1e-9 {
            return Err(FaultSpecError::RatesExceedOne { sum });
        }
        Ok(out)
    }

    /// This spec with `kind` at `rate` (not validated; [`FaultSpec::parse`] validates).
    pub fn with_rate(mut self, kind: FaultKind, rate: f64) -> Self {
        self.rates[index(kind)] = rate;
        self
    }

    /// The rate of one kind.
    pub fn rate(&self, kind: FaultKind) -> f64 {
        self.rates[index(kind)]
    }

    /// True when no fault has a positive rate.
    pub fn is_none(&self) -> bool {
        self.rates.iter().all(|r| *r <= 0.0)
    }

    /// The fault for the n-th API request (0-based) under `seed`: a pure function of both.
    pub fn decide(&self, seed: u64, n: u64) -> Option<FaultKind> {
        if self.is_none() {
            return None;
        }
        let draw = unit(mix(mix(seed ^ 0x00fa_0175_eed5_a17e) ^ n));
        let mut cumulative = 0.0;
        for (kind, rate) in FaultKind::ALL.into_iter().zip(self.rates) {
            cumulative += rate;
            if draw < cumulative {
                return Some(kind);
            }
        }
        None
    }

    /// How long a `slow` fault delays the response.
    pub fn slow_delay(&self) -> Duration {
        Duration::from_millis(self.slow_ms)
    }

    /// How long a `timeout` fault holds the connection.
    pub fn timeout_hold(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

fn index(kind: FaultKind) -> usize {
    FaultKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = FaultKind::ALL
            .into_iter()
            .zip(self.rates)
            .filter(|(_, rate)| *rate > 0.0)
            .map(|(kind, rate)| format!("{kind}={rate}"))
            .collect();
        if self.slow_ms != DEFAULT_SLOW_MS {
            parts.push(format!("slow_ms={}", self.slow_ms));
        }
        if self.timeout_ms != DEFAULT_TIMEOUT_MS {
            parts.push(format!("timeout_ms={}", self.timeout_ms));
        }
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(","))
    }
}

/// Reads the override header's value: `Ok(Some(kind))` forces a fault, `Ok(None)` (`none`)
/// forces no fault.
pub fn parse_override(value: &str) -> Result<Option<FaultKind>, FaultSpecError> {
    let value = value.trim();
    if value == "none" {
        return Ok(None);
    }
    FaultKind::from_name(value)
        .map(Some)
        .ok_or_else(|| FaultSpecError::UnknownName {
            name: value.to_owned(),
        })
}

/// The canned response of a status-code fault for a platform without its own; `None` for the
/// faults that are not a canned response.
pub fn default_response(kind: FaultKind) -> Option<Response> {
    let (status, body) = match kind {
        FaultKind::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"message": "Too many requests", "code": 429}}),
        ),
        FaultKind::TooManyRequestsReset => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
        ),
        FaultKind::InternalError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"message": "An unexpected error has occurred. Please retry your request later.", "code": 500}}),
        ),
        FaultKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": {"message": "Service unavailable", "code": 503}}),
        ),
        FaultKind::Error200 => (
            StatusCode::OK,
            json!({"error": {"message": "(#2) Service temporarily unavailable", "type": "OAuthException", "code": 2}}),
        ),
        FaultKind::Throttle400 => (
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}),
        ),
        FaultKind::Slow | FaultKind::Timeout | FaultKind::Truncate | FaultKind::Reset => {
            return None;
        }
    };
    let mut response = (status, Json(body)).into_response();
    if kind == FaultKind::TooManyRequests {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if kind == FaultKind::TooManyRequestsReset {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() + 1);
        let headers = response.headers_mut();
        headers.insert("x-rate-limit-remaining", HeaderValue::from(0u64));
        headers.insert("x-rate-limit-reset", HeaderValue::from(reset));
    }
    Some(response)
}

/// One case of a connector's fault battery: the sandbox's seed and faults, how many requests
/// to drive through it and what share of them must have been faulted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatteryCase {
    /// The sandbox's seed: other data and other faulted requests per seed.
    pub seed: u64,
    /// The fault spec.
    pub faults: &'static str,
    /// Requests the faulty sandbox must have received.
    pub min_requests: usize,
    /// The share of them it must have faulted.
    pub min_fault_share: f64,
}

/// The cases every connector's fault battery runs: the platform's mix of every fault (`mix`,
/// a fifth of the answers faulted) on seeds 3, 11 and 29, 400 requests each; then each of the
/// platform's own throttles (`throttles`, e.g. `"429=0.05"`) alone, 200 requests each.
pub fn battery_cases(mix: &'static str, throttles: &[&'static str]) -> Vec<BatteryCase> {
    let mut cases: Vec<BatteryCase> = [3, 11, 29]
        .into_iter()
        .map(|seed| BatteryCase {
            seed,
            faults: mix,
            min_requests: 400,
            min_fault_share: 0.17,
        })
        .collect();
    cases.extend(throttles.iter().map(|&faults| BatteryCase {
        seed: 7,
        faults,
        min_requests: 200,
        min_fault_share: 0.03,
    }));
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_full_grammar() {
        let spec = FaultSpec::parse(
            "429=0.1, 500=0.05,503=0.05,slow=0.02,timeout=0.01,truncate=0.02,reset=0.02,slow_ms=300,timeout_ms=2000",
        )
        .unwrap();
        assert_eq!(spec.rate(FaultKind::TooManyRequests), 0.1);
        assert_eq!(spec.rate(FaultKind::Reset), 0.02);
        assert_eq!(spec.rate(FaultKind::Error200), 0.0);
        assert_eq!(spec.slow_ms, 300);
        assert_eq!(spec.timeout_ms, 2000);
        assert_eq!(FaultSpec::parse(&spec.to_string()).unwrap(), spec);
    }

    #[test]
    fn empty_and_none_mean_no_faults() {
        assert!(FaultSpec::parse("").unwrap().is_none());
        assert!(FaultSpec::parse("none").unwrap().is_none());
        assert_eq!(FaultSpec::none().to_string(), "none");
        assert_eq!(FaultSpec::none().decide(1, 1), None);
        let only_delay = FaultSpec::parse("slow_ms=5").unwrap();
        assert_eq!(
            FaultSpec::parse(&only_delay.to_string()).unwrap(),
            only_delay
        );
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = FaultSpec::parse("418=0.1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown fault \"418\" (valid: 429, 429reset, 500, 503, slow, timeout, truncate, reset, \
             error200, throttle400, slow_ms, timeout_ms)"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(matches!(
            FaultSpec::parse("429=1.5"),
            Err(FaultSpecError::InvalidRate { .. })
        ));
        assert!(matches!(
            FaultSpec::parse("429"),
            Err(FaultSpecError::Malformed { .. })
        ));
        assert!(matches!(
            FaultSpec::parse("slow_ms=fast"),
            Err(FaultSpecError::InvalidDuration { .. })
        ));
        assert!(matches!(
            FaultSpec::parse("429=0.1,429=0.2"),
            Err(FaultSpecError::Duplicate { .. })
        ));
        assert!(matches!(
            FaultSpec::parse("429=0.6,500=0.6"),
            Err(FaultSpecError::RatesExceedOne { .. })
        ));
    }

    #[test]
    fn decisions_are_pure_and_follow_the_rates() {
        let spec = FaultSpec::parse("429=0.2,reset=0.1").unwrap();
        let run = |seed| {
            (0..10_000)
                .map(|n| spec.decide(seed, n))
                .collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let count = |k| a.iter().filter(|d| **d == Some(k)).count();
        assert!((1_700..2_300).contains(&count(FaultKind::TooManyRequests)));
        assert!((800..1_200).contains(&count(FaultKind::Reset)));
        assert_eq!(count(FaultKind::InternalError), 0);
    }

    #[test]
    fn rate_one_always_faults() {
        let spec = FaultSpec::parse("503=1").unwrap();
        assert!((0..1000).all(|n| spec.decide(9, n) == Some(FaultKind::Unavailable)));
    }

    #[test]
    fn override_values() {
        assert_eq!(parse_override("reset"), Ok(Some(FaultKind::Reset)));
        assert_eq!(parse_override("none"), Ok(None));
        assert!(parse_override("boom").is_err());
    }
}
