//! The Freshdesk platform's tickets with their stats, conversations and satisfaction ratings,
//! drawn from the seed. Clock-free: tickets are created over the [`DATA_DAYS`] days before the
//! anchor (from [`data_start`]), on whole minutes; conversations, resolutions and ratings trail
//! their ticket by up to 5 days.

use chrono::NaiveDate;
use serde::Serialize;

use crate::data::{self, Rng};

/// The days over which tickets are created, ending at the anchor.
pub const DATA_DAYS: i64 = 61;
/// Tickets per unit of scale.
pub const TICKETS_PER_SCALE: usize = 200;
/// Ticket sources with their weights: 1 Email, 2 Portal, 3 Phone, 5 Twitter, 6 Facebook,
/// 7 Chat, 9 Feedback Widget, 10 Outbound Email.
pub const SOURCES: &[(u8, u64)] = &[
    (1, 34),
    (2, 16),
    (3, 10),
    (5, 10),
    (6, 8),
    (7, 12),
    (9, 5),
    (10, 5),
];
/// The ticket sources the support KPIs count as social (Twitter, Facebook).
pub const SOCIAL_SOURCES: &[u8] = &[5, 6];

/// The earliest creation time, unix seconds: UTC midnight [`DATA_DAYS`] days before `anchor`
/// (2026-09-01T00:00:00Z, 1 788 220 800, at [`crate::data::REFERENCE_ANCHOR`]).
pub fn data_start(anchor: NaiveDate) -> i64 {
    data::utc_midnight(data::offset(anchor, -DATA_DAYS))
}

/// One entry of a ticket's conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// The conversation id.
    pub id: u64,
    /// Whether the requester wrote it.
    pub incoming: bool,
    /// Whether it is a private note.
    pub private: bool,
    /// Freshdesk's conversation source code (0 reply, 2 note).
    pub source: u8,
    /// When it was written, unix seconds.
    pub created: i64,
    /// Who wrote it.
    pub user_id: u64,
    /// The text.
    pub body_text: String,
}

/// A satisfaction survey answer.
#[derive(Debug, Clone, Serialize)]
pub struct Rating {
    /// The rating id.
    pub id: u64,
    /// The answer to the default question: 103 (happy), 100 (neutral), -103 (unhappy).
    pub value: i64,
    /// When it was given, unix seconds.
    pub created: i64,
    /// The requester's feedback.
    pub feedback: Option<String>,
}

/// One ticket.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    /// The ticket id.
    pub id: u64,
    /// When it was created, unix seconds.
    pub created: i64,
    /// When it last changed, unix seconds.
    pub updated: i64,
    /// 2 Open, 3 Pending, 4 Resolved, 5 Closed.
    pub status: u8,
    /// 1 Low, 2 Medium, 3 High, 4 Urgent.
    pub priority: u8,
    /// The channel code (see [`SOURCES`]).
    pub source: u8,
    /// The requester.
    pub requester_id: u64,
    /// The agent, once assigned.
    pub responder_id: Option<u64>,
    /// The group, once assigned.
    pub group_id: Option<u64>,
    /// Tags.
    pub tags: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The first agent reply, unix seconds.
    pub first_responded: Option<i64>,
    /// When it was resolved, unix seconds.
    pub resolved: Option<i64>,
    /// When it was closed, unix seconds.
    pub closed: Option<i64>,
    /// The conversation, oldest first.
    pub conversations: Vec<Conversation>,
    /// The satisfaction rating, if the requester answered the survey.
    pub rating: Option<Rating>,
}

impl Ticket {
    /// Whole minutes from creation to the first agent reply.
    pub fn first_response_minutes(&self) -> Option<i64> {
        self.first_responded.map(|t| (t - self.created) / 60)
    }

    /// Whole minutes from creation to resolution.
    pub fn resolution_minutes(&self) -> Option<i64> {
        self.resolved.map(|t| (t - self.created) / 60)
    }
}

/// Every Freshdesk ticket for one seed, scale and anchor, by id.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The earliest creation time, unix seconds ([`data_start`] of the anchor).
    pub data_start: i64,
    /// The tickets, by id (also creation order).
    pub tickets: Vec<Ticket>,
}

fn pick_weighted(rng: &mut Rng, items: &[(u8, u64)]) -> u8 {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total);
    for (code, w) in items {
        if r < *w {
            return *code;
        }
        r -= w;
    }
    items[0].0
}

const SUBJECTS: &[&str] = &[
    "Where is my order?",
    "Refund not received",
    "Password reset link expired",
    "Facture incorrecte",
    "Subscription renewal question",
    "Damaged parcel — photos attached",
];

impl Dataset {
    /// Generates the tickets for a seed and scale, created in the days before `anchor`.
    pub fn generate(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        let data_start = data_start(anchor);
        let mut rng = Rng::new(seed, "freshdesk");
        let n = TICKETS_PER_SCALE * scale.max(1) as usize;
        let mut created: Vec<i64> = (0..n)
            .map(|_| data_start + (rng.below((DATA_DAYS * 1440) as u64) as i64) * 60)
            .collect();
        created.sort_unstable();
        let mut next_conversation = 43_000_000_000u64;
        let tickets = created
            .into_iter()
            .enumerate()
            .map(|(i, c)| Self::ticket(&mut rng, i as u64 + 1, c, &mut next_conversation))
            .collect();
        Self {
            data_start,
            tickets,
        }
    }

    fn ticket(rng: &mut Rng, id: u64, created: i64, next: &mut u64) -> Ticket {
        let source = pick_weighted(rng, SOURCES);
        let requester_id = 43_000_100_000 + rng.below(4_000);
        let mut t = Ticket {
            id,
            created,
            updated: created,
            status: 2,
            priority: 1 + rng.below(4) as u8,
            source,
            requester_id,
            responder_id: None,
            group_id: None,
            tags: if rng.chance(0.25) {
                vec!["priority-customer".into()]
            } else {
                Vec::new()
            },
            subject: (*rng.pick(SUBJECTS)).to_owned(),
            first_responded: None,
            resolved: None,
            closed: None,
            conversations: Vec::new(),
            rating: None,
        };
        let mut conv =
            |t: &mut Ticket, incoming: bool, private: bool, at: i64, user: u64, text: &str| {
                *next += 1;
                t.conversations.push(Conversation {
                    id: *next,
                    incoming,
                    private,
                    source: if private { 2 } else { 0 },
                    created: at,
                    user_id: user,
                    body_text: text.to_owned(),
                });
            };
        let mut last = created;
        if !rng.chance(0.15) {
            let agent = 43_000_000_500 + rng.below(10);
            t.responder_id = Some(agent);
            t.group_id = Some(43_000_000_900 + rng.below(3));
            let u = rng.unit();
            let first = created + (1 + (u * u * 1_200.0) as i64) * 60;
            if rng.chance(0.3) {
                conv(
                    &mut t,
                    false,
                    true,
                    first - 60,
                    agent,
                    "Checked the order: it left the warehouse.",
                );
            }
            conv(
                &mut t,
                false,
                false,
                first,
                agent,
                "Thanks for reaching out — we're on it.",
            );
            t.first_responded = Some(first);
            last = first;
            if rng.chance(0.5) {
                last += (1 + rng.below(600) as i64) * 60;
                conv(&mut t, true, false, last, requester_id, "Any news?");
                last += (1 + rng.below(300) as i64) * 60;
                conv(
                    &mut t,
                    false,
                    false,
                    last,
                    agent,
                    "Your refund has been issued.",
                );
            }
            if rng.chance(0.7) {
                let resolved = last + (1 + rng.below(2_000) as i64) * 60;
                t.resolved = Some(resolved);
                t.status = 4;
                last = resolved;
                if rng.chance(0.5) {
                    let closed = resolved + (1 + rng.below(1_440) as i64) * 60;
                    t.closed = Some(closed);
                    t.status = 5;
                    last = closed;
                }
                if rng.chance(0.6) {
                    let value = *rng.pick(&[103, 103, 103, 103, 100, -103]);
                    let at = resolved + (1 + rng.below(2_880) as i64) * 60;
                    t.rating = Some(Rating {
                        id: 43_000_500_000 + id,
                        value,
                        created: at,
                        feedback: (value < 0)
                            .then(|| "Nobody answered my second question".to_owned()),
                    });
                    last = last.max(at);
                }
            } else {
                t.status = *rng.pick(&[2, 3]);
            }
        }
        t.updated = last + (1 + rng.below(20) as i64) * 60;
        t
    }

    /// The tickets in `order_by=updated_at&order_type=asc` order.
    pub fn by_update(&self) -> Vec<&Ticket> {
        let mut v: Vec<&Ticket> = self.tickets.iter().collect();
        v.sort_by_key(|t| (t.updated, t.id));
        v
    }
}
