//! Deterministic data: the seeded generator every platform draws its rows from, and [`Truth`],
//! the exact rows each platform serves for a seed and a scale.
//!
//! The generator is splitmix64 (small, fast, and stable across releases, unlike a library RNG
//! whose stream may change). Each platform draws from its own named stream so adding a platform
//! never changes another platform's rows. The rows themselves are generated in the platform's
//! module (for example [`reference::Dataset::generate`]).

use serde::Serialize;

use crate::platforms::{freshdesk, ga4, meta, reference, slack, x, zendesk};

/// The splitmix64 finalizer: a bijective mix of 64 bits.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Maps 64 random bits to a uniform number in `[0, 1)`.
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A seeded splitmix64 generator for one named stream of data.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for the stream `name` under `seed`; the same pair always yields the same values.
    pub fn new(seed: u64, name: &str) -> Self {
        // FNV-1a of the stream name, so each platform gets an independent sequence.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self {
            state: mix(seed ^ hash),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// A uniform integer in `[0, n)`; `n` must be positive (0 yields 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice, uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Formats unix seconds the way the Graph API does: `2024-01-05T10:00:00+0000`.
pub fn graph_time(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%z").to_string())
        .unwrap_or_default()
}

/// The exact rows every platform serves for one seed and scale; tests compare against it.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// The seed the data was drawn from.
    pub seed: u64,
    /// The scale (row counts grow linearly with it; 0 is treated as 1).
    pub scale: u32,
    /// The reference platform's items.
    pub reference: reference::Dataset,
    /// The Meta platform's objects and insights values.
    pub meta: meta::Dataset,
    /// The X platform's users and posts.
    pub x: x::Dataset,
    /// The Slack platform's workspace.
    pub slack: slack::Dataset,
    /// The GA4 property's sessions (generated per day on demand).
    pub ga4: ga4::Dataset,
    /// The Zendesk platform's tickets, metrics and satisfaction ratings.
    pub zendesk: zendesk::Dataset,
    /// The Freshdesk platform's tickets, conversations and satisfaction ratings.
    pub freshdesk: freshdesk::Dataset,
}

impl Truth {
    /// Generates the ground truth without starting a server.
    pub fn new(seed: u64, scale: u32) -> Self {
        let scale = scale.max(1);
        Self {
            seed,
            scale,
            reference: reference::Dataset::generate(seed, scale),
            meta: meta::Dataset::generate(seed, scale),
            x: x::Dataset::generate(seed, scale),
            slack: slack::Dataset::generate(seed, scale),
            ga4: ga4::Dataset::generate(seed, scale),
            zendesk: zendesk::Dataset::generate(seed, scale),
            freshdesk: freshdesk::Dataset::generate(seed, scale),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7, "x");
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7, "x");
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(7, "y");
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::new(1, "range");
        assert!((0..10_000).all(|_| r.below(7) < 7));
        assert!((0..10_000).all(|_| (0.0..1.0).contains(&r.unit())));
    }

    #[test]
    fn graph_time_uses_plus_0000() {
        assert_eq!(graph_time(1_704_448_800), "2024-01-05T10:00:00+0000");
    }
}
