//! GA4's Core quotas for the one property: tokens per hour, per day and per project per hour,
//! concurrent requests, and the `propertyQuota` a response reports.
//!
//! Windows are fixed periods counted from the sandbox's start (an hour by default) and, for the
//! day, Pacific calendar days as Google's daily reset at midnight PST; tests shorten both with
//! [`crate::Sandbox::set_ga4_quota`] so that "wait for the next window" takes milliseconds.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

/// The limits and window lengths of the emulated quotas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimits {
    /// `tokensPerDay` (standard property: 200,000).
    pub tokens_per_day: i64,
    /// `tokensPerHour` (standard: 40,000).
    pub tokens_per_hour: i64,
    /// `tokensPerProjectPerHour` (standard: 14,000).
    pub tokens_per_project_per_hour: i64,
    /// `concurrentRequests` (standard: 10).
    pub concurrent_requests: i64,
    /// `serverErrorsPerProjectPerHour` (standard: 10; reported, not consumed here).
    pub server_errors_per_project_per_hour: i64,
    /// `potentiallyThresholdedRequestsPerHour` (120; reported, not consumed here).
    pub potentially_thresholded_requests_per_hour: i64,
    /// The length of an "hour" window.
    pub hour: Duration,
    /// The length of a "day" window; `None` means Pacific calendar days.
    pub day: Option<Duration>,
}

impl Default for QuotaLimits {
    fn default() -> Self {
        Self {
            tokens_per_day: 200_000,
            tokens_per_hour: 40_000,
            tokens_per_project_per_hour: 14_000,
            concurrent_requests: 10,
            server_errors_per_project_per_hour: 10,
            potentially_thresholded_requests_per_hour: 120,
            hour: Duration::from_secs(3600),
            day: None,
        }
    }
}

/// Which quota ran out; its `Display` is the 429 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exhausted {
    /// More than `concurrentRequests` requests at once.
    #[error("Exhausted concurrent requests quota.")]
    Concurrent,
    /// `tokensPerProjectPerHour`.
    #[error("Exhausted property tokens for a project per hour.")]
    ProjectHour,
    /// `tokensPerHour` (wording unverified).
    #[error("Exhausted property tokens per hour.")]
    Hour,
    /// `tokensPerDay` (wording unverified).
    #[error("Exhausted property tokens per day.")]
    Day,
}

#[derive(Debug, Default)]
struct Used {
    hour_window: u64,
    day_window: i64,
    hour: i64,
    project_hour: i64,
    day: i64,
}

/// The quota state of the property.
#[derive(Debug)]
pub(crate) struct Quota {
    started: Instant,
    limits: Mutex<QuotaLimits>,
    used: Mutex<Used>,
    in_flight: AtomicI64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            limits: Mutex::new(QuotaLimits::default()),
            used: Mutex::new(Used::default()),
            in_flight: AtomicI64::new(0),
        }
    }
}

/// A request in flight; dropping it frees its concurrency slot.
pub(crate) struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Quota {
    /// Replaces the limits and starts every window afresh.
    pub(crate) fn set(&self, limits: QuotaLimits) {
        *lock(&self.limits) = limits;
        *lock(&self.used) = Used::default();
    }

    /// Takes a concurrency slot, or says the concurrent quota is exhausted.
    pub(crate) fn enter(&self) -> Result<InFlight<'_>, Exhausted> {
        let limit = lock(&self.limits).concurrent_requests;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = InFlight(&self.in_flight);
        if now > limit {
            return Err(Exhausted::Concurrent);
        }
        Ok(guard)
    }

    /// The current windows' usage, rolled over when a window has passed.
    fn current(&self, limits: &QuotaLimits) -> MutexGuard<'_, Used> {
        let elapsed = self.started.elapsed();
        let hour = (elapsed.as_nanos() / limits.hour.as_nanos().max(1)) as u64;
        let day = match limits.day {
            Some(len) => (elapsed.as_nanos() / len.as_nanos().max(1)) as i64,
            None => i64::from(chrono::Datelike::num_days_from_ce(
                &Utc::now()
                    .with_timezone(&chrono_tz::America::Los_Angeles)
                    .date_naive(),
            )),
        };
        let mut used = lock(&self.used);
        if used.hour_window != hour {
            used.hour_window = hour;
            used.hour = 0;
            used.project_hour = 0;
        }
        if used.day_window != day {
            used.day_window = day;
            used.day = 0;
        }
        used
    }

    /// Whether a request may run: every token quota has some left.
    pub(crate) fn admit(&self) -> Result<(), Exhausted> {
        let limits = lock(&self.limits).clone();
        let used = self.current(&limits);
        if used.day >= limits.tokens_per_day {
            Err(Exhausted::Day)
        } else if used.hour >= limits.tokens_per_hour {
            Err(Exhausted::Hour)
        } else if used.project_hour >= limits.tokens_per_project_per_hour {
            Err(Exhausted::ProjectHour)
        } else {
            Ok(())
        }
    }

    /// Charges `tokens` to every token quota and returns the `propertyQuota` object.
    pub(crate) fn charge(&self, tokens: i64) -> Value {
        let limits = lock(&self.limits).clone();
        let mut used = self.current(&limits);
        used.day += tokens;
        used.hour += tokens;
        used.project_hour += tokens;
        let status = |consumed: i64, limit: i64, used: i64| json!({"consumed": consumed, "remaining": (limit - used).max(0)});
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        json!({
            "tokensPerDay": status(tokens, limits.tokens_per_day, used.day),
            "tokensPerHour": status(tokens, limits.tokens_per_hour, used.hour),
            "concurrentRequests": status(0, limits.concurrent_requests, in_flight),
            "serverErrorsPerProjectPerHour": status(0, limits.server_errors_per_project_per_hour, 0),
            "potentiallyThresholdedRequestsPerHour":
                status(0, limits.potentially_thresholded_requests_per_hour, 0),
            "tokensPerProjectPerHour":
                status(tokens, limits.tokens_per_project_per_hour, used.project_hour),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_run_out_and_come_back_with_the_window() {
        let q = Quota::default();
        q.set(QuotaLimits {
            tokens_per_hour: 10,
            hour: Duration::from_millis(50),
            ..QuotaLimits::default()
        });
        assert_eq!(q.admit(), Ok(()));
        let report = q.charge(10);
        assert_eq!(
            report["tokensPerHour"],
            json!({"consumed": 10, "remaining": 0})
        );
        assert_eq!(q.admit(), Err(Exhausted::Hour));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(q.admit(), Ok(()));
    }

    #[test]
    fn the_eleventh_concurrent_request_is_refused() {
        let q = Quota::default();
        let held: Vec<_> = (0..10).map(|_| q.enter().unwrap()).collect();
        assert_eq!(q.enter().err(), Some(Exhausted::Concurrent));
        drop(held);
        assert!(q.enter().is_ok());
    }
}
