//! Deterministic data: the seeded generator every platform draws its rows from, and [`Truth`],
//! the exact rows each platform serves for a seed and a scale.
//!
//! The generator is splitmix64 (small, fast, and stable across releases, unlike a library RNG
//! whose stream may change). Each platform draws from its own named stream so adding a platform
//! never changes another platform's rows. The rows themselves are generated in the platform's
//! module (for example [`reference::Dataset::generate`]).
//!
//! The dated platforms (Meta, X, Slack, GA4, Zendesk, Freshdesk) place their rows relative to an
//! **anchor** date, the (exclusive) last day of generated data, so the sandbox serves the same
//! amount of recent data whatever day it runs: [`default_anchor`] is a week before today, and
//! [`REFERENCE_ANCHOR`] reproduces the data of the releases that used fixed dates. Rows are a
//! pure function of (seed, scale, anchor); only the servers read the wall clock (to hide what is
//! not due yet).

use chrono::{Days, NaiveDate};
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

/// The anchor at which every platform generates exactly the rows it generated when its dates
/// were fixed (2026-11-01): Meta's objects then span 2026-01-01..2026-11-01, Zendesk's tickets
/// start at 2026-09-01, and so on.
pub const REFERENCE_ANCHOR: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// How many days before today [`default_anchor`] lies.
pub const ANCHOR_LAG_DAYS: u64 = 7;

/// The anchor the sandbox uses unless told otherwise: [`ANCHOR_LAG_DAYS`] (7) days before
/// today's UTC date.
///
/// Not today itself, because some rows trail the anchor: Slack thread replies come up to 2 days
/// after their parent, GA4 shows a day's sessions up to 2 days late, and the replies,
/// resolutions and satisfaction ratings of support tickets come days after the ticket (up to 5
/// days on Freshdesk; on Zendesk under 6 days for seeds 0 to 199, 8 days at the very most). A
/// week back, every such derived event already lies in the past when the sandbox runs, so a
/// complete read sees the whole Truth. (X is the exception by design: its posts run 242 days
/// past the anchor and the server hides the ones not yet due.)
pub fn default_anchor() -> NaiveDate {
    anchor_for(chrono::Utc::now().date_naive())
}

/// The default anchor when today's UTC date is `today` (the clock-free part of
/// [`default_anchor`]).
pub fn anchor_for(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_days(Days::new(ANCHOR_LAG_DAYS))
        .unwrap_or(NaiveDate::MIN)
}

/// `anchor` moved by `days` (negative: earlier), saturating at the ends of the calendar.
pub fn offset(anchor: NaiveDate, days: i64) -> NaiveDate {
    let shifted = if days < 0 {
        anchor.checked_sub_days(Days::new(days.unsigned_abs()))
    } else {
        anchor.checked_add_days(Days::new(days.unsigned_abs()))
    };
    shifted.unwrap_or(if days < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// Unix seconds of the UTC midnight that starts `date`.
pub fn utc_midnight(date: NaiveDate) -> i64 {
    date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

/// The exact rows every platform serves for one seed, scale and anchor; tests compare against
/// it.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// The seed the data was drawn from.
    pub seed: u64,
    /// The scale (row counts grow linearly with it; 0 is treated as 1).
    pub scale: u32,
    /// The (exclusive) last day of the dated platforms' data (see [`default_anchor`]).
    pub anchor: NaiveDate,
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
    /// Generates the ground truth at the [`default_anchor`] without starting a server.
    pub fn new(seed: u64, scale: u32) -> Self {
        Self::at(seed, scale, default_anchor())
    }

    /// Generates the ground truth at `anchor` without starting a server.
    pub fn at(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        let scale = scale.max(1);
        Self {
            seed,
            scale,
            anchor,
            reference: reference::Dataset::generate(seed, scale),
            meta: meta::Dataset::generate(seed, scale, anchor),
            x: x::Dataset::generate(seed, scale, anchor),
            slack: slack::Dataset::generate(seed, scale, anchor),
            ga4: ga4::Dataset::generate(seed, scale, anchor),
            zendesk: zendesk::Dataset::generate(seed, scale, anchor),
            freshdesk: freshdesk::Dataset::generate(seed, scale, anchor),
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

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_anchor_is_a_week_before_today() {
        assert_eq!(anchor_for(date("2030-05-10")), date("2030-05-03"));
        assert_eq!(anchor_for(date("2028-03-01")), date("2028-02-23"));
        assert_eq!(offset(date("2026-11-01"), -304), date("2026-01-01"));
        assert_eq!(offset(date("2026-11-01"), 242), date("2027-07-01"));
        assert_eq!(offset(NaiveDate::MIN, -1), NaiveDate::MIN);
        assert_eq!(offset(NaiveDate::MAX, 1), NaiveDate::MAX);
        assert_eq!(utc_midnight(date("2026-09-01")), 1_788_220_800);
    }

    /// At the reference anchor every platform keeps the dates it had when they were fixed.
    #[test]
    fn the_reference_anchor_reproduces_the_fixed_dates() {
        let truth = Truth::at(5, 1, REFERENCE_ANCHOR);
        assert_eq!(REFERENCE_ANCHOR, date("2026-11-01"));
        let within = |t: i64, from: &str, to: &str| {
            (utc_midnight(date(from))..utc_midnight(date(to))).contains(&t)
        };

        let meta = &truth.meta;
        assert_eq!(
            (meta.data_start, meta.data_end),
            (date("2026-01-01"), date("2026-11-01"))
        );
        let posts: Vec<i64> = meta.posts.iter().map(|p| p.created_time).collect();
        assert!(posts.iter().all(|&t| within(t, "2026-01-01", "2026-11-01")));
        // The oldest post is in January and the newest in October: the span is covered.
        assert!(within(posts[posts.len() - 1], "2026-01-01", "2026-02-01"));
        assert!(within(posts[0], "2026-10-01", "2026-11-01"));
        assert!(
            meta.media
                .iter()
                .chain(&meta.stories)
                .chain(&meta.tags)
                .all(|m| within(m.timestamp, "2026-01-01", "2026-11-01"))
        );
        assert!(
            meta.ads
                .iter()
                .all(|a| within(a.created_time, "2026-01-01", "2026-11-01"))
        );

        let x = &truth.x;
        assert_eq!(
            (x.data_start, x.data_end),
            (date("2026-01-01"), date("2027-07-01"))
        );
        assert!(
            x.tweets
                .iter()
                .all(|t| within(t.created_secs(), "2026-01-01", "2027-07-01"))
        );
        assert!(within(
            x.tweets[0].created_secs(),
            "2027-06-30",
            "2027-07-01"
        ));

        let slack = &truth.slack;
        assert_eq!(
            (slack.data_start, slack.data_end),
            (date("2026-08-01"), date("2026-11-01"))
        );
        assert!(
            slack
                .channels
                .iter()
                .flat_map(|c| &c.messages)
                .all(|m| within(m.micros() / 1_000_000, "2026-08-01", "2026-11-01"))
        );

        assert_eq!(truth.zendesk.data_start, 1_788_220_800);
        assert_eq!(truth.freshdesk.data_start, 1_788_220_800);
        let end = 1_788_220_800 + zendesk::DATA_DAYS * 86_400;
        assert_eq!(end, utc_midnight(REFERENCE_ANCHOR));
        assert!(
            truth
                .zendesk
                .tickets
                .iter()
                .all(|t| (1_788_220_800..end).contains(&t.created))
        );
        assert!(
            truth
                .freshdesk
                .tickets
                .iter()
                .all(|t| (1_788_220_800..end).contains(&t.created))
        );

        assert_eq!(truth.ga4.data_start, date("2025-01-01"));
        assert!(truth.ga4.sessions_on(date("2024-12-31")).is_empty());
        assert!(!truth.ga4.sessions_on(date("2025-01-01")).is_empty());
    }

    /// Two anchors a year apart give the same rows, every timestamp moved by the difference.
    #[test]
    fn moving_the_anchor_shifts_every_timestamp() {
        let (early, late) = (REFERENCE_ANCHOR, offset(REFERENCE_ANCHOR, 365));
        let (a, b) = (Truth::at(9, 2, early), Truth::at(9, 2, late));
        let secs = (late - early).num_days() * 86_400;
        assert_eq!(secs, 365 * 86_400);

        // Meta: posts, media and ads keep their ids and move by the difference.
        assert_eq!(a.meta.posts.len(), b.meta.posts.len());
        assert!(!a.meta.posts.is_empty());
        for (p, q) in a.meta.posts.iter().zip(&b.meta.posts) {
            assert_eq!(p.id, q.id);
            assert_eq!(p.created_time + secs, q.created_time);
            assert_eq!(p.updated_time + secs, q.updated_time);
            assert_eq!((&p.message, p.reactions), (&q.message, q.reactions));
        }
        assert_eq!(a.meta.media.len(), b.meta.media.len());
        for (m, n) in a.meta.media.iter().zip(&b.meta.media) {
            assert_eq!((&m.id, m.timestamp + secs), (&n.id, n.timestamp));
        }
        assert_eq!(a.meta.ads.len(), b.meta.ads.len());
        for (x, y) in a.meta.ads.iter().zip(&b.meta.ads) {
            assert_eq!((&x.id, x.created_time + secs), (&y.id, y.created_time));
            assert_eq!(x.updated_time + secs, y.updated_time);
        }
        assert_eq!(
            a.meta.ig_account.business_conversion_time + secs,
            b.meta.ig_account.business_conversion_time
        );

        // Zendesk and Freshdesk: every ticket time, including replies and ratings.
        assert_eq!(a.zendesk.data_start + secs, b.zendesk.data_start);
        assert_eq!(a.zendesk.tickets.len(), b.zendesk.tickets.len());
        for (t, u) in a.zendesk.tickets.iter().zip(&b.zendesk.tickets) {
            assert_eq!(t.id, u.id);
            assert_eq!(t.created + secs, u.created);
            assert_eq!(t.updated + secs, u.updated);
            assert_eq!(t.solved_at().map(|s| s + secs), u.solved_at());
            assert_eq!(
                t.rating.as_ref().map(|r| r.created + secs),
                u.rating.as_ref().map(|r| r.created)
            );
        }
        assert_eq!(a.freshdesk.tickets.len(), b.freshdesk.tickets.len());
        for (t, u) in a.freshdesk.tickets.iter().zip(&b.freshdesk.tickets) {
            assert_eq!((t.id, t.created + secs), (u.id, u.created));
            assert_eq!(t.updated + secs, u.updated);
            assert_eq!(t.resolved.map(|r| r + secs), u.resolved);
        }

        // Slack: every message and reply.
        let micros = |t: &Truth| -> Vec<i64> {
            t.slack
                .channels
                .iter()
                .flat_map(|c| &c.messages)
                .flat_map(|m| std::iter::once(m).chain(&m.replies))
                .map(slack::Message::micros)
                .collect()
        };
        let (ma, mb) = (micros(&a), micros(&b));
        assert_eq!(ma.len(), mb.len());
        assert!(!ma.is_empty());
        assert!(ma.iter().zip(&mb).all(|(m, n)| m + secs * 1_000_000 == *n));

        // X: the same posts (ids are snowflakes of the time, so they change) a year later.
        assert_eq!(a.x.tweets.len(), b.x.tweets.len());
        assert!(
            a.x.tweets
                .iter()
                .zip(&b.x.tweets)
                .all(|(t, u)| t.created_ms + secs * 1_000 == u.created_ms && t.text == u.text)
        );

        assert_eq!(offset(a.ga4.data_start, 365), b.ga4.data_start);
    }
}
