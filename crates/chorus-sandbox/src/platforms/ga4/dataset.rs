//! The GA4 property's sessions and how a report aggregates them.
//!
//! Sessions are a pure function of the seed, the scale and the day (none before the first day,
//! [`DATA_DAYS`] before the anchor), so the [`Dataset`] holds no rows and never depends on the
//! wall clock; only [`Dataset::processed`] looks at "today", to emulate GA4's processing delay
//! (a session shows up zero, one or two days after its day, so the last days' numbers grow
//! between runs). Metrics are computed from the sessions of each row, so distinct-user counts
//! are really distinct: the daily `totalUsers` of a week add up to more than the week's
//! `totalUsers`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::data::{self, Rng};

/// The days with sessions before the anchor (from 2025-01-01 at
/// [`crate::data::REFERENCE_ANCHOR`]); days after it have sessions too, up to the property's
/// today.
pub const DATA_DAYS: i64 = 669;
/// Sessions per day per unit of scale.
pub const SESSIONS_PER_DAY: u64 = 60;
/// Distinct visitors per unit of scale (users come back across days and channels).
pub const USERS_PER_SCALE: u64 = 900;

/// Traffic sources: (sessionSource, sessionMedium, sessionCampaignName, the channel Google's
/// default channel rules give them, weight).
pub const TRAFFIC: &[(&str, &str, &str, &str, u64)] = &[
    ("google", "organic", "(organic)", "Organic Search", 24),
    ("bing", "organic", "(organic)", "Organic Search", 4),
    ("(direct)", "(none)", "(direct)", "Direct", 16),
    (
        "facebook.com",
        "referral",
        "(referral)",
        "Organic Social",
        6,
    ),
    (
        "m.facebook.com",
        "referral",
        "(referral)",
        "Organic Social",
        5,
    ),
    (
        "l.instagram.com",
        "referral",
        "(referral)",
        "Organic Social",
        5,
    ),
    ("t.co", "referral", "(referral)", "Organic Social", 3),
    (
        "linkedin.com",
        "referral",
        "(referral)",
        "Organic Social",
        3,
    ),
    ("facebook", "cpc", "spring_sale", "Paid Social", 5),
    ("instagram", "paid_social", "spring_sale", "Paid Social", 3),
    ("google", "cpc", "brand_search", "Paid Search", 6),
    ("newsletter", "email", "weekly_digest", "Email", 5),
    ("youtube.com", "referral", "(referral)", "Organic Video", 2),
    ("x.com", "referral", "(referral)", "Referral", 2),
    (
        "partner-blog.example",
        "referral",
        "(referral)",
        "Referral",
        3,
    ),
];

/// Landing pages.
pub const LANDING_PAGES: &[&str] = &[
    "/",
    "/pricing",
    "/blog/launch",
    "/blog/measuring-social",
    "/signup",
    "/product/analytics",
    "(not set)",
];

/// Device categories.
pub const DEVICES: &[&str] = &["desktop", "mobile", "tablet"];

/// Countries.
pub const COUNTRIES: &[&str] = &[
    "United States",
    "Germany",
    "United Kingdom",
    "France",
    "India",
    "Brazil",
];

/// Every dimension the sandbox serves.
pub const DIMENSIONS: &[&str] = &[
    "date",
    "sessionSource",
    "sessionMedium",
    "sessionSourceMedium",
    "sessionCampaignName",
    "sessionDefaultChannelGroup",
    "landingPage",
    "landingPagePlusQueryString",
    "deviceCategory",
    "country",
];

/// Every metric the sandbox serves, with its `metricHeaders[].type`.
pub const METRICS: &[(&str, &str)] = &[
    ("sessions", "TYPE_INTEGER"),
    ("totalUsers", "TYPE_INTEGER"),
    ("activeUsers", "TYPE_INTEGER"),
    ("newUsers", "TYPE_INTEGER"),
    ("engagedSessions", "TYPE_INTEGER"),
    ("bounceRate", "TYPE_FLOAT"),
    ("engagementRate", "TYPE_FLOAT"),
    ("averageSessionDuration", "TYPE_SECONDS"),
    ("userEngagementDuration", "TYPE_SECONDS"),
    ("keyEvents", "TYPE_INTEGER"),
    ("eventCount", "TYPE_INTEGER"),
    ("screenPageViews", "TYPE_INTEGER"),
    ("screenPageViewsPerSession", "TYPE_FLOAT"),
    ("sessionsPerUser", "TYPE_FLOAT"),
    ("sessionKeyEventRate", "TYPE_FLOAT"),
    ("ecommercePurchases", "TYPE_INTEGER"),
    ("transactions", "TYPE_INTEGER"),
    ("totalRevenue", "TYPE_CURRENCY"),
    ("purchaseRevenue", "TYPE_CURRENCY"),
];

/// The `metricHeaders[].type` of a metric, if the sandbox knows it.
pub fn metric_type(name: &str) -> Option<&'static str> {
    METRICS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// One session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Session {
    /// The day, in the property's time zone.
    pub date: NaiveDate,
    /// The visitor.
    pub user: u64,
    /// `sessionSource`.
    pub source: &'static str,
    /// `sessionMedium`.
    pub medium: &'static str,
    /// `sessionCampaignName`.
    pub campaign: &'static str,
    /// `sessionDefaultChannelGroup`.
    pub channel: &'static str,
    /// `landingPage`.
    pub landing_page: &'static str,
    /// `deviceCategory`.
    pub device: &'static str,
    /// `country`.
    pub country: &'static str,
    /// The visitor's first visit.
    pub new_user: bool,
    /// An engaged session (not a bounce).
    pub engaged: bool,
    /// Its length in seconds.
    pub duration_secs: f64,
    /// Page views.
    pub page_views: i64,
    /// Events.
    pub events: i64,
    /// Key events.
    pub key_events: i64,
    /// Purchases.
    pub purchases: i64,
    /// Revenue, in the property's currency.
    pub revenue: f64,
    /// Days after its day that the session appears in reports (0 to 2).
    pub delay_days: u32,
}

/// The sessions of the GA4 property for one seed, scale and anchor.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The seed.
    pub seed: u64,
    /// The scale.
    pub scale: u32,
    /// The first day with sessions ([`data_start`] of the anchor).
    pub data_start: NaiveDate,
}

/// The first day with sessions: [`DATA_DAYS`] before `anchor`.
pub fn data_start(anchor: NaiveDate) -> NaiveDate {
    data::offset(anchor, -DATA_DAYS)
}

impl Dataset {
    /// The dataset of `seed` and `scale` at `anchor` (nothing is generated until asked for).
    pub fn generate(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        Self {
            seed,
            scale: scale.max(1),
            data_start: data_start(anchor),
        }
    }

    /// Every session of `day`, processed or not; none before [`Dataset::data_start`].
    pub fn sessions_on(&self, day: NaiveDate) -> Vec<Session> {
        if day < self.data_start {
            return Vec::new();
        }
        let mut rng = Rng::new(self.seed, &format!("ga4/{day}"));
        // Weekends are quieter.
        let base = SESSIONS_PER_DAY * u64::from(self.scale);
        let n = match day.weekday().num_days_from_monday() {
            5 | 6 => base * 7 / 10,
            _ => base,
        } + rng.below(base / 5 + 1);
        let total_weight: u64 = TRAFFIC.iter().map(|t| t.4).sum();
        let users = USERS_PER_SCALE * u64::from(self.scale);
        (0..n)
            .map(|_| {
                let mut pick = rng.below(total_weight);
                let traffic = TRAFFIC
                    .iter()
                    .find(|t| {
                        if pick < t.4 {
                            true
                        } else {
                            pick -= t.4;
                            false
                        }
                    })
                    .unwrap_or(&TRAFFIC[0]);
                let (source, medium, campaign, channel, _) = *traffic;
                let engaged = rng.chance(if channel == "Direct" { 0.55 } else { 0.65 });
                let page_views = if engaged { 1 + rng.below(6) as i64 } else { 1 };
                let purchases = i64::from(engaged && rng.chance(0.04));
                let revenue = if purchases > 0 {
                    (1_900 + rng.below(18_000)) as f64 / 100.0
                } else {
                    0.0
                };
                let key_events = purchases + i64::from(engaged && rng.chance(0.08));
                let duration_secs = if engaged {
                    (10_000 + rng.below(400_000)) as f64 / 1000.0
                } else {
                    rng.below(9_000) as f64 / 1000.0
                };
                let delay = rng.below(10);
                Session {
                    date: day,
                    user: rng.below(users),
                    source,
                    medium,
                    campaign,
                    channel,
                    landing_page: LANDING_PAGES[rng.below(LANDING_PAGES.len() as u64) as usize],
                    device: DEVICES[rng.below(DEVICES.len() as u64) as usize],
                    country: COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize],
                    new_user: rng.chance(0.3),
                    engaged,
                    duration_secs,
                    page_views,
                    events: page_views * 3 + rng.below(4) as i64,
                    key_events,
                    purchases,
                    revenue,
                    delay_days: match delay {
                        0..=5 => 0,
                        6..=8 => 1,
                        _ => 2,
                    },
                }
            })
            .collect()
    }

    /// The sessions of `day` that reports show when the property's date is `today`.
    pub fn processed(&self, day: NaiveDate, today: NaiveDate) -> Vec<Session> {
        if day > today {
            return Vec::new();
        }
        let age = u32::try_from((today - day).num_days()).unwrap_or(u32::MAX);
        self.sessions_on(day)
            .into_iter()
            .filter(|s| s.delay_days <= age)
            .collect()
    }

    /// The rows of a report over `[from, to]` (inclusive) as of `today`: the dimension values
    /// (sorted) and each metric's value, skipping groups without sessions.
    pub fn report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
        dimensions: &[&str],
        metrics: &[&str],
    ) -> Vec<(Vec<String>, Vec<f64>)> {
        let mut groups: BTreeMap<Vec<String>, Vec<Session>> = BTreeMap::new();
        let mut day = from;
        while day <= to {
            for s in self.processed(day, today) {
                let key = dimensions.iter().map(|d| dimension_value(&s, d)).collect();
                groups.entry(key).or_default().push(s);
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        groups
            .into_iter()
            .map(|(key, sessions)| {
                let values = metrics.iter().map(|m| metric_value(m, &sessions)).collect();
                (key, values)
            })
            .collect()
    }
}

/// The value of dimension `name` for a session (`(not set)` for an unknown dimension).
pub fn dimension_value(s: &Session, name: &str) -> String {
    match name {
        "date" => s.date.format("%Y%m%d").to_string(),
        "sessionSource" => s.source.to_owned(),
        "sessionMedium" => s.medium.to_owned(),
        "sessionSourceMedium" => format!("{} / {}", s.source, s.medium),
        "sessionCampaignName" => s.campaign.to_owned(),
        "sessionDefaultChannelGroup" => s.channel.to_owned(),
        "landingPage" | "landingPagePlusQueryString" => s.landing_page.to_owned(),
        "deviceCategory" => s.device.to_owned(),
        "country" => s.country.to_owned(),
        _ => "(not set)".to_owned(),
    }
}

/// The value of metric `name` over a group of sessions.
pub fn metric_value(name: &str, sessions: &[Session]) -> f64 {
    let n = sessions.len() as f64;
    let count = |f: &dyn Fn(&Session) -> bool| sessions.iter().filter(|s| f(s)).count() as f64;
    let sum = |f: &dyn Fn(&Session) -> f64| sessions.iter().map(f).sum::<f64>();
    let distinct = |f: &dyn Fn(&Session) -> bool| {
        sessions
            .iter()
            .filter(|s| f(s))
            .map(|s| s.user)
            .collect::<BTreeSet<_>>()
            .len() as f64
    };
    let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    match name {
        "sessions" => n,
        "totalUsers" => distinct(&|_| true),
        "activeUsers" => distinct(&|s| s.engaged || s.new_user),
        "newUsers" => distinct(&|s| s.new_user),
        "engagedSessions" => count(&|s| s.engaged),
        "bounceRate" => 1.0 - ratio(count(&|s| s.engaged), n),
        "engagementRate" => ratio(count(&|s| s.engaged), n),
        "averageSessionDuration" => ratio(sum(&|s| s.duration_secs), n),
        "userEngagementDuration" => sum(&|s| if s.engaged { s.duration_secs } else { 0.0 }),
        "keyEvents" => sum(&|s| s.key_events as f64),
        "eventCount" => sum(&|s| s.events as f64),
        "screenPageViews" => sum(&|s| s.page_views as f64),
        "screenPageViewsPerSession" => ratio(sum(&|s| s.page_views as f64), n),
        "sessionsPerUser" => ratio(n, distinct(&|_| true)),
        "sessionKeyEventRate" => ratio(count(&|s| s.key_events > 0), n),
        "ecommercePurchases" | "transactions" => sum(&|s| s.purchases as f64),
        "totalRevenue" | "purchaseRevenue" => (sum(&|s| s.revenue) * 100.0).round() / 100.0,
        _ => 0.0,
    }
}

/// A metric value as the API writes it: integers without a fraction, the rest in full.
pub fn format_value(metric_type: &str, value: f64) -> String {
    if metric_type == "TYPE_INTEGER" {
        format!("{}", value.round() as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn sessions_are_reproducible_and_start_at_data_start() {
        let a = Dataset::generate(3, 1, data::REFERENCE_ANCHOR);
        assert_eq!(
            a.sessions_on(d("2026-03-02")),
            a.sessions_on(d("2026-03-02"))
        );
        assert!(a.sessions_on(d("2024-12-31")).is_empty());
        assert!(a.sessions_on(d("2025-01-01")).len() >= SESSIONS_PER_DAY as usize * 7 / 10);
    }

    #[test]
    fn daily_users_add_up_to_more_than_the_range() {
        let data = Dataset::generate(3, 1, data::REFERENCE_ANCHOR);
        let (from, to, today) = (d("2026-03-01"), d("2026-03-14"), d("2026-06-01"));
        let daily: f64 = data
            .report(from, to, today, &["date"], &["totalUsers"])
            .iter()
            .map(|(_, v)| v[0])
            .sum();
        let range = data.report(from, to, today, &[], &["totalUsers"]);
        assert!(daily > range[0].1[0], "{daily} vs {:?}", range);
        let sessions: f64 = data
            .report(from, to, today, &["date"], &["sessions"])
            .iter()
            .map(|(_, v)| v[0])
            .sum();
        let all = data.report(from, to, today, &[], &["sessions"]);
        assert_eq!(sessions, all[0].1[0], "sessions are additive");
    }

    #[test]
    fn recent_days_fill_in_as_they_are_processed() {
        let data = Dataset::generate(3, 1, data::REFERENCE_ANCHOR);
        let day = d("2026-05-10");
        let today = data.processed(day, day).len();
        let later = data.processed(day, d("2026-05-12")).len();
        assert!(today < later, "{today} < {later}");
        assert_eq!(later, data.sessions_on(day).len());
        assert!(data.processed(d("2026-05-11"), day).is_empty());
    }

    #[test]
    fn values_are_written_like_the_api() {
        assert_eq!(format_value("TYPE_INTEGER", 12.0), "12");
        assert_eq!(format_value("TYPE_FLOAT", 0.25), "0.25");
        assert_eq!(metric_value("bounceRate", &[]), 1.0);
    }
}
