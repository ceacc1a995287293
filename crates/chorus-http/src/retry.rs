//! When to retry, and how long to wait.
//!
//! Every exchange — request, body read and parse — ends in a [`Verdict`]. 429, 408, 425 and
//! 5xx, timeouts, resets, truncated bodies and unparseable bodies are retried with exponential
//! backoff and full jitter; a wait the server asks for (`Retry-After` in seconds or as an HTTP
//! date, or an absolute reset such as `x-rate-limit-reset`) replaces the backoff. When the
//! attempts or the [`RetryPolicy::max_total_wait`] run out, the error is transient (exit 75).
//! A connector's [`crate::ResponseHook`] can overrule the status code: an HTTP 200 whose body
//! is an error, an HTTP 400 that is really a throttle.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chorus_core::ErrorKind;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff.
    pub initial_backoff: Duration,
    /// The longest single backoff.
    pub max_backoff: Duration,
    /// The most time spent waiting across all retries of one exchange.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// Ten attempts, backoff from 0.5 s doubling to at most 60 s, 15 minutes of waiting in
    /// all; `CHORUS_HTTP_MAX_ATTEMPTS` and `CHORUS_HTTP_BACKOFF_MS` (the first backoff)
    /// override the attempts and the start of the backoff for every connector.
    fn default() -> Self {
        Self {
            max_attempts: env_knob("CHORUS_HTTP_MAX_ATTEMPTS")
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .unwrap_or(10),
            initial_backoff: env_knob("CHORUS_HTTP_BACKOFF_MS")
                .map_or(Duration::from_millis(500), Duration::from_millis),
            max_backoff: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// A whole number from the environment variable `name`; a value that is not one is ignored
/// with a warning.
pub(crate) fn env_knob(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    match raw.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(variable = name, value = %raw, "Ignoring a setting that is not a whole number.");
            None
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt` (1 = the first retry): exponential, capped, with
    /// full jitter from `unit` in [0, 1).
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_backoff);
        exp.mul_f64(unit.clamp(0.0, 1.0))
            .max(Duration::from_millis(10))
    }
}

/// What to do with the outcome of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Use it.
    Success,
    /// Try again, after `wait` if the server said how long.
    Retry {
        /// The wait the server asked for.
        wait: Option<Duration>,
        /// Why, for the log and the final error.
        reason: String,
    },
    /// Give up with an error of this kind.
    Fail {
        /// The kind of error.
        kind: ErrorKind,
        /// Why.
        reason: String,
    },
}

/// The default verdict for an HTTP status.
pub fn classify_status(status: StatusCode, headers: &HeaderMap) -> Verdict {
    let code = status.as_u16();
    match code {
        200..=299 => Verdict::Success,
        429 => Verdict::Retry {
            wait: server_wait(headers, SystemTime::now()),
            reason: format!("http {code}"),
        },
        // Reset headers ride on every response of some APIs; only a throttle means "wait for
        // the reset". Other retryable statuses honour an explicit Retry-After only.
        408 | 425 | 500..=599 => Verdict::Retry {
            wait: retry_after(headers, SystemTime::now()),
            reason: format!("http {code}"),
        },
        401 | 403 => Verdict::Fail {
            kind: ErrorKind::Auth,
            reason: format!("http {code}"),
        },
        _ => Verdict::Fail {
            kind: ErrorKind::External,
            reason: format!("http {code}"),
        },
    }
}

/// The wait `Retry-After` asks for, in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)?;
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or(0));
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait a throttled response asks for: `Retry-After`, else an absolute
/// `x-rate-limit-reset` / `x-ratelimit-reset` in epoch seconds.
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(wait) = retry_after(headers, now) {
        return Some(wait);
    }
    for name in ["x-rate-limit-reset", "x-ratelimit-reset"] {
        if let Some(epoch) = header(name).and_then(|v| v.parse::<u64>().ok()) {
            let at = UNIX_EPOCH + Duration::from_secs(epoch);
            return Some(
                at.duration_since(now).unwrap_or(Duration::ZERO) + Duration::from_millis(250),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn statuses_classify() {
        let h = HeaderMap::new();
        assert_eq!(classify_status(StatusCode::OK, &h), Verdict::Success);
        assert!(matches!(
            classify_status(StatusCode::SERVICE_UNAVAILABLE, &h),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, &h),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify_status(StatusCode::UNAUTHORIZED, &h),
            Verdict::Fail {
                kind: ErrorKind::Auth,
                ..
            }
        ));
        assert!(matches!(
            classify_status(StatusCode::NOT_FOUND, &h),
            Verdict::Fail {
                kind: ErrorKind::External,
                ..
            }
        ));
    }

    #[test]
    fn server_waits_in_every_form() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            server_wait(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            server_wait(
                &headers(&[("retry-after", "Tue, 14 Nov 2023 22:13:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            server_wait(&headers(&[("x-rate-limit-reset", "1700000005")]), now),
            Some(Duration::from_millis(5250))
        );
        assert_eq!(server_wait(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(20, 1.0), Duration::from_secs(60));
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(1));
    }
}
