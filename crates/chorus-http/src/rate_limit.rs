//! Pacing requests to a platform's published quota.
//!
//! A [`RateLimiter`] spaces requests evenly (`requests` per `per`, with a burst of up to
//! `burst`), in the generic cell rate algorithm: one shared "theoretical arrival time". A
//! throttle response pauses every request of the source with [`RateLimiter::pause_for`].

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A quota: `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window.
    pub per: Duration,
    /// Requests that may go at once before spacing applies.
    pub burst: u32,
}

/// Paces the requests of one source.
#[derive(Debug)]
pub struct RateLimiter {
    spacing: Duration,
    burst: u32,
    tat: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter for a quota.
    pub fn new(limit: RateLimit) -> Self {
        let spacing = limit.per / limit.requests.max(1);
        Self {
            spacing,
            burst: limit.burst.max(1),
            tat: Mutex::new(Instant::now()),
        }
    }

    /// No pacing at all.
    pub fn unlimited() -> Self {
        Self {
            spacing: Duration::ZERO,
            burst: 1,
            tat: Mutex::new(Instant::now()),
        }
    }

    /// Waits until the next request may go.
    pub async fn acquire(&self) {
        let wait = {
            let mut tat = self.tat.lock().await;
            let now = Instant::now();
            let start = (*tat).max(now);
            let allowance = self.spacing * (self.burst - 1);
            let wait = start.saturating_duration_since(now + allowance);
            *tat = start + self.spacing;
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request back for `wait` from now (a server said so).
    pub async fn pause_for(&self, wait: Duration) {
        let mut tat = self.tat.lock().await;
        let until = Instant::now() + wait + self.spacing * (self.burst - 1);
        if until > *tat {
            *tat = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_after_the_burst() {
        let l = RateLimiter::new(RateLimit {
            requests: 10,
            per: Duration::from_secs(1),
            burst: 2,
        });
        let t0 = Instant::now();
        for _ in 0..4 {
            l.acquire().await;
        }
        // Two go at once, the next two 100 ms apart.
        assert_eq!(Instant::now() - t0, Duration::from_millis(200));
        l.pause_for(Duration::from_secs(5)).await;
        let t1 = Instant::now();
        l.acquire().await;
        assert!(Instant::now() - t1 >= Duration::from_secs(5));
    }
}
