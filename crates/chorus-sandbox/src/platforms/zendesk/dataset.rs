//! The Zendesk platform's tickets, their metrics and their satisfaction ratings, drawn from
//! the seed. Clock-free: tickets are created over the [`DATA_DAYS`] days before the anchor
//! (from [`data_start`]), on whole minutes, so every duration is a whole number of minutes and
//! the truth depends on the anchor, never on when the sandbox runs. Replies, resolutions and
//! ratings trail their ticket by up to 8 days.

use chrono::NaiveDate;
use serde::Serialize;

use crate::data::{self, Rng};

/// The days over which tickets are created, ending at the anchor.
pub const DATA_DAYS: i64 = 61;
/// Tickets per unit of scale.
pub const TICKETS_PER_SCALE: usize = 300;
/// The first ticket id.
pub const FIRST_ID: u64 = 1_001;
/// The channels (`via.channel`) tickets arrive through, with their weights.
pub const CHANNELS: &[(&str, u64)] = &[
    ("email", 34),
    ("web", 18),
    ("api", 4),
    ("chat", 10),
    ("native_messaging", 6),
    ("voice", 6),
    ("twitter", 9),
    ("facebook", 7),
    ("instagram_dm", 6),
];
/// The channels the support KPIs count as social.
pub const SOCIAL_CHANNELS: &[&str] = &["twitter", "facebook", "instagram_dm"];

/// The earliest creation time, unix seconds: UTC midnight [`DATA_DAYS`] days before `anchor`
/// (2026-09-01T00:00:00Z, 1 788 220 800, at [`crate::data::REFERENCE_ANCHOR`]).
pub fn data_start(anchor: NaiveDate) -> i64 {
    data::utc_midnight(data::offset(anchor, -DATA_DAYS))
}

/// A ticket's satisfaction rating.
#[derive(Debug, Clone, Serialize)]
pub struct Rating {
    /// The rating id.
    pub id: u64,
    /// `offered` (asked, not answered), `good` or `bad`.
    pub score: &'static str,
    /// When the rating was created, unix seconds.
    pub created: i64,
    /// The requester's comment.
    pub comment: Option<String>,
}

/// One ticket with its metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    /// The ticket id.
    pub id: u64,
    /// When it was created, unix seconds.
    pub created: i64,
    /// When it last changed, unix seconds.
    pub updated: i64,
    /// `new`, `open`, `pending`, `hold`, `solved`, `closed` or `deleted`.
    pub status: &'static str,
    /// `low`, `normal`, `high`, `urgent`, or none.
    pub priority: Option<&'static str>,
    /// `via.channel`.
    pub channel: &'static str,
    /// The requester.
    pub requester_id: u64,
    /// The assignee, once assigned.
    pub assignee_id: Option<u64>,
    /// The group, once assigned.
    pub group_id: Option<u64>,
    /// Tags.
    pub tags: Vec<String>,
    /// The subject.
    pub subject: String,
    /// Minutes to the first agent reply (calendar), none before it.
    pub reply_minutes: Option<i64>,
    /// Minutes to the first agent reply within business hours.
    pub reply_business: Option<i64>,
    /// Minutes to the first resolution (calendar).
    pub first_resolution_minutes: Option<i64>,
    /// Minutes to the final resolution (calendar).
    pub full_resolution_minutes: Option<i64>,
    /// Minutes the agents waited on the requester.
    pub agent_wait_minutes: i64,
    /// Minutes the requester waited on the agents.
    pub requester_wait_minutes: i64,
    /// Times reopened.
    pub reopens: i64,
    /// Agent replies.
    pub replies: i64,
    /// The satisfaction rating, if one was offered.
    pub rating: Option<Rating>,
}

impl Ticket {
    /// Whether the ticket is deleted (the export keeps it; metrics and ratings do not).
    pub fn deleted(&self) -> bool {
        self.status == "deleted"
    }

    /// When it was solved, unix seconds.
    pub fn solved_at(&self) -> Option<i64> {
        self.full_resolution_minutes.map(|m| self.created + m * 60)
    }
}

/// Every Zendesk ticket for one seed, scale and anchor, by id.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The earliest creation time, unix seconds ([`data_start`] of the anchor).
    pub data_start: i64,
    /// The tickets, by id (which is also creation order).
    pub tickets: Vec<Ticket>,
}

/// Business minutes for calendar minutes: business hours cover about 9 of every 24 hours.
pub fn business(minutes: i64) -> i64 {
    minutes * 9 / 24
}

fn pick_weighted<'a>(rng: &mut Rng, items: &'a [(&'a str, u64)]) -> &'a str {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total);
    for (name, w) in items {
        if r < *w {
            return name;
        }
        r -= w;
    }
    items[0].0
}

const SUBJECTS: &[&str] = &[
    "Order has not arrived",
    "Refund for a damaged item",
    "Cannot log in",
    "Invoice shows the wrong VAT",
    "Où est ma commande ?",
    "Change my delivery address",
    "App crashes on start",
    "Question about \"Pro\" plan pricing",
];

impl Dataset {
    /// Generates the tickets for a seed and scale, created in the days before `anchor`.
    pub fn generate(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        let data_start = data_start(anchor);
        let mut rng = Rng::new(seed, "zendesk");
        let n = TICKETS_PER_SCALE * scale.max(1) as usize;
        let mut created: Vec<i64> = (0..n)
            .map(|_| data_start + (rng.below((DATA_DAYS * 1440) as u64) as i64) * 60)
            .collect();
        created.sort_unstable();
        let tickets = created
            .into_iter()
            .enumerate()
            .map(|(i, created)| Self::ticket(&mut rng, FIRST_ID + i as u64, created))
            .collect();
        Self {
            data_start,
            tickets,
        }
    }

    fn ticket(rng: &mut Rng, id: u64, created: i64) -> Ticket {
        let channel = pick_weighted(rng, CHANNELS);
        let priority = *rng.pick(&[
            None,
            Some("low"),
            Some("normal"),
            Some("normal"),
            Some("high"),
            Some("urgent"),
        ]);
        let requester_id = 360_000_000 + rng.below(5_000);
        let subject = (*rng.pick(SUBJECTS)).to_owned();
        let mut tags = vec![channel.replace('_', "-")];
        if rng.chance(0.3) {
            tags.push("vip".into());
        }
        let deleted = rng.chance(0.03);
        let replied = !rng.chance(0.12);
        let mut t = Ticket {
            id,
            created,
            updated: created,
            status: "new",
            priority,
            channel,
            requester_id,
            assignee_id: None,
            group_id: None,
            tags,
            subject,
            reply_minutes: None,
            reply_business: None,
            first_resolution_minutes: None,
            full_resolution_minutes: None,
            agent_wait_minutes: 0,
            requester_wait_minutes: 0,
            reopens: 0,
            replies: 0,
            rating: None,
        };
        let mut last = 0i64; // minutes after creation of the latest change
        if replied {
            let u = rng.unit();
            let reply = 1 + (u * u * 1_440.0) as i64;
            t.reply_minutes = Some(reply);
            t.reply_business = Some(business(reply));
            t.replies = 1 + rng.below(4) as i64;
            t.assignee_id = Some(370_000_000 + rng.below(12));
            t.group_id = Some(380_000_000 + rng.below(3));
            t.requester_wait_minutes = reply;
            last = reply;
            if rng.chance(0.7) {
                let first = reply + 1 + rng.below(4_320) as i64;
                let reopened = rng.chance(0.1);
                let full = if reopened {
                    first + 1 + rng.below(2_880) as i64
                } else {
                    first
                };
                t.first_resolution_minutes = Some(first);
                t.full_resolution_minutes = Some(full);
                t.reopens = i64::from(reopened);
                t.agent_wait_minutes = rng.below(600) as i64;
                t.requester_wait_minutes = full - t.agent_wait_minutes.min(full - reply);
                t.status = if rng.chance(0.5) { "closed" } else { "solved" };
                last = full;
                let u = rng.unit();
                if u < 0.75 {
                    let created_at = created + (full + 1 + rng.below(2_880) as i64) * 60;
                    let score = if u < 0.12 {
                        "offered"
                    } else if u < 0.6 {
                        "good"
                    } else {
                        "bad"
                    };
                    let comment = match score {
                        "good" if rng.chance(0.4) => Some("Quick and friendly, thanks!".to_owned()),
                        "bad" if rng.chance(0.6) => {
                            Some("Took far too long — still waiting for my refund".to_owned())
                        }
                        _ => None,
                    };
                    t.rating = Some(Rating {
                        id: 4_100_000 + id,
                        score,
                        created: created_at,
                        comment,
                    });
                    last = (created_at - created) / 60;
                }
            } else {
                t.status = *rng.pick(&["open", "pending", "hold"]);
            }
        }
        if deleted {
            t.status = "deleted";
            t.rating = None;
            last += 5;
        }
        t.updated = created + (last + 1 + rng.below(30) as i64) * 60;
        t
    }

    /// The tickets in export order: by `updated_at`, then id.
    pub fn by_update(&self) -> Vec<&Ticket> {
        let mut v: Vec<&Ticket> = self.tickets.iter().collect();
        v.sort_by_key(|t| (t.updated, t.id));
        v
    }
}
