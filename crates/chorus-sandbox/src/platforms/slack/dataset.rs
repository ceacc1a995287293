//! The Slack platform's seeded workspace ([`Dataset`]): users, channels, messages, threads.
//!
//! Everything is generated once per seed, scale and anchor and never depends on the wall clock:
//! every message lies in `[data_start, data_end)` (the [`super::DATA_DAYS`] days before the
//! anchor) and every reply within 2 days after its parent, so with the default anchor (a week
//! before today) all of it is in the past when a test runs.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};

use super::{BOT_ID, BOT_USER_ID, TEAM_ID};
use crate::data::{Rng, utc_midnight};

/// Human members per unit of scale.
pub const USERS_PER_SCALE: usize = 10;

/// One member of the workspace, as `users.list` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// `U…`.
    pub id: String,
    /// The handle.
    pub name: String,
    /// The full name.
    pub real_name: String,
    /// The IANA zone; absent for deactivated members.
    pub tz: Option<String>,
    /// Whether the member is a bot user.
    pub is_bot: bool,
    /// Whether the member is deactivated.
    pub deleted: bool,
    /// The last profile change, unix seconds.
    pub updated: i64,
}

/// One emoji reaction on a message.
#[derive(Debug, Clone, Serialize)]
pub struct Reaction {
    /// The emoji name.
    pub name: String,
    /// Who reacted.
    pub users: Vec<String>,
}

/// One message or thread reply.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// `1730000000.000123`: seconds and microseconds; unique within the channel.
    pub ts: String,
    /// Its author; absent on `bot_message`s.
    pub user: Option<String>,
    /// The bot that posted it.
    pub bot_id: Option<String>,
    /// `channel_join`, `bot_message`, … or absent for an ordinary message.
    pub subtype: Option<String>,
    /// The text.
    pub text: String,
    /// Reactions.
    pub reactions: Vec<Reaction>,
    /// The parent's ts, on a thread reply (the parent itself carries its own ts here too).
    pub thread_ts: Option<String>,
    /// Replies, oldest first, on a thread parent.
    pub replies: Vec<Message>,
    /// The parent's author, on a reply.
    pub parent_user_id: Option<String>,
}

/// One channel.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// `C…`.
    pub id: String,
    /// The name, without `#`.
    pub name: String,
    /// Whether it is private.
    pub is_private: bool,
    /// Whether it is archived.
    pub is_archived: bool,
    /// Whether the bot is a member (history is readable).
    pub is_member: bool,
    /// Creation, unix seconds.
    pub created: i64,
    /// The topic.
    pub topic: String,
    /// The purpose.
    pub purpose: String,
    /// Its member count.
    pub num_members: i64,
    /// Top-level messages, oldest first (what `conversations.history` lists).
    pub messages: Vec<Message>,
}

/// Everything the Slack platform serves for one seed, scale and anchor.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The first day of top-level messages (UTC; [`super::data_start`] of the anchor).
    pub data_start: NaiveDate,
    /// The day no top-level message reaches (UTC; the anchor).
    pub data_end: NaiveDate,
    /// The workspace's members, in `users.list` order.
    pub users: Vec<User>,
    /// The channels, in `conversations.list` order.
    pub channels: Vec<Channel>,
}

/// Formats microseconds since the epoch as a Slack ts.
pub fn ts_of(micros: i64) -> String {
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

/// Parses a Slack ts (`1730000000.000123`, or whole seconds) to microseconds.
pub fn parse_ts(ts: &str) -> Option<i64> {
    let (secs, frac) = ts.trim().split_once('.').unwrap_or((ts.trim(), ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = format!("{frac:0<6}").parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

const TEXTS: [&str; 10] = [
    "Has anyone tried the new export feature yet?",
    "Welcome aboard! Introduce yourself in the thread.",
    "The meetup recording is up, link in the channel topic.",
    "I get a timeout when syncing large workspaces, any ideas?",
    "Thanks everyone for the feedback on the beta!",
    "Quick poll: which dashboard do you open first every morning?",
    "Release notes for 2.4 are out.",
    "Can someone review my pipeline config?",
    "Great question, I had the same problem last week.",
    "Office hours start in 10 minutes.",
];

const REPLIES: [&str; 6] = [
    "Same here, following.",
    "Fixed it by raising the timeout.",
    "+1, would love this.",
    "Thanks, that worked!",
    "I'll write it up in the docs.",
    "Let's pick this up at office hours.",
];

const EMOJI: [&str; 5] = ["thumbsup", "tada", "eyes", "heart", "raised_hands"];

const ZONES: [&str; 4] = [
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Los_Angeles",
];

/// (name, private, archived, member, messages per scale, topic)
const CHANNELS: [(&str, bool, bool, bool, usize, &str); 6] = [
    (
        "general",
        false,
        false,
        true,
        60,
        "Company-wide announcements and chat",
    ),
    ("random", false, false, true, 40, "Non-work banter"),
    ("help", false, false, true, 50, "Ask the community"),
    ("announcements", false, false, false, 15, "Product news"),
    ("team-leads", true, false, true, 20, "Leads only"),
    ("old-launch", false, true, true, 10, "The 2025 launch"),
];

fn slack_id(rng: &mut Rng, prefix: char) -> String {
    format!("{prefix}0{:09X}", rng.below(1 << 36))
}

fn reactions(rng: &mut Rng, people: &[String]) -> Vec<Reaction> {
    if !rng.chance(0.3) {
        return Vec::new();
    }
    let kinds = 1 + rng.below(3) as usize;
    let start = rng.below(EMOJI.len() as u64) as usize;
    (0..kinds)
        .map(|k| {
            let count = 1 + rng.below(people.len().min(5) as u64) as usize;
            let from = rng.below(people.len() as u64) as usize;
            Reaction {
                name: EMOJI[(start + k) % EMOJI.len()].to_owned(),
                users: (0..count)
                    .map(|i| people[(from + i) % people.len()].clone())
                    .collect(),
            }
        })
        .collect()
}

impl Dataset {
    /// Generates the workspace for a seed and a scale, ending at `anchor`.
    pub fn generate(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        let mut rng = Rng::new(seed, "slack");
        let scale = scale.max(1) as usize;
        let (data_start, data_end) = (super::data_start(anchor), super::data_end(anchor));
        let from = utc_midnight(data_start);
        let to = utc_midnight(data_end);
        let mut users = vec![User {
            id: "USLACKBOT".to_owned(),
            name: "slackbot".to_owned(),
            real_name: "Slackbot".to_owned(),
            tz: Some("America/Los_Angeles".to_owned()),
            is_bot: false,
            deleted: false,
            updated: 0,
        }];
        let humans: Vec<String> = (0..USERS_PER_SCALE * scale)
            .map(|i| {
                let id = slack_id(&mut rng, 'U');
                let deleted = i == 3;
                users.push(User {
                    id: id.clone(),
                    name: format!("member{i}"),
                    real_name: format!("Member {i}"),
                    tz: (!deleted).then(|| (*rng.pick(&ZONES)).to_owned()),
                    is_bot: false,
                    deleted,
                    updated: from - 86_400 * (1 + rng.below(300) as i64),
                });
                id
            })
            .collect();
        users.push(User {
            id: BOT_USER_ID.to_owned(),
            name: "chorus_bot".to_owned(),
            real_name: "Chorus".to_owned(),
            tz: Some("America/Los_Angeles".to_owned()),
            is_bot: true,
            deleted: false,
            updated: from - 86_400,
        });
        // Active posters: every member but the deactivated one.
        let posters: Vec<String> = humans
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, id)| id.clone())
            .collect();
        let channels = CHANNELS
            .iter()
            .map(
                |&(name, is_private, is_archived, is_member, per_scale, topic)| {
                    let id = slack_id(&mut rng, 'C');
                    let count = per_scale * scale;
                    let mut times: Vec<i64> = (0..count)
                        .map(|_| {
                            from * 1_000_000 + rng.below(((to - from) * 1_000_000) as u64) as i64
                        })
                        .collect();
                    times.sort_unstable();
                    for i in 1..times.len() {
                        if times[i] <= times[i - 1] {
                            times[i] = times[i - 1] + 1;
                        }
                    }
                    let messages = times
                        .into_iter()
                        .map(|t| message(&mut rng, t, &posters))
                        .collect();
                    Channel {
                        id,
                        name: name.to_owned(),
                        is_private,
                        is_archived,
                        is_member,
                        created: from - 86_400 * 400,
                        topic: topic.to_owned(),
                        purpose: format!("The #{name} channel"),
                        num_members: posters.len() as i64 + 1,
                        messages,
                    }
                },
            )
            .collect();
        Self {
            data_start,
            data_end,
            users,
            channels,
        }
    }

    /// The channel with this id.
    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
}

fn message(rng: &mut Rng, micros: i64, posters: &[String]) -> Message {
    let ts = ts_of(micros);
    let roll = rng.unit();
    if roll < 0.05 {
        let user = rng.pick(posters).clone();
        return Message {
            ts,
            text: format!("<@{user}> has joined the channel"),
            user: Some(user),
            bot_id: None,
            subtype: Some("channel_join".to_owned()),
            reactions: Vec::new(),
            thread_ts: None,
            replies: Vec::new(),
            parent_user_id: None,
        };
    }
    if roll < 0.15 {
        return Message {
            ts,
            text: "Daily digest: 3 new releases, 12 open questions.".to_owned(),
            user: None,
            bot_id: Some(BOT_ID.to_owned()),
            subtype: Some("bot_message".to_owned()),
            reactions: Vec::new(),
            thread_ts: None,
            replies: Vec::new(),
            parent_user_id: None,
        };
    }
    let user = rng.pick(posters).clone();
    let mut m = Message {
        ts: ts.clone(),
        text: (*rng.pick(&TEXTS)).to_owned(),
        reactions: reactions(rng, posters),
        user: Some(user.clone()),
        bot_id: None,
        subtype: None,
        thread_ts: None,
        replies: Vec::new(),
        parent_user_id: None,
    };
    if rng.chance(0.3) {
        let n = 1 + rng.below(6) as usize;
        let mut t = micros;
        m.replies = (0..n)
            .map(|_| {
                t += 60_000_000 + rng.below(2 * 86_400_000_000 / n as u64) as i64;
                Message {
                    ts: ts_of(t),
                    text: (*rng.pick(&REPLIES)).to_owned(),
                    reactions: reactions(rng, posters),
                    user: Some(rng.pick(posters).clone()),
                    bot_id: None,
                    subtype: None,
                    thread_ts: Some(ts.clone()),
                    replies: Vec::new(),
                    parent_user_id: Some(user.clone()),
                }
            })
            .collect();
        m.thread_ts = Some(ts);
    }
    m
}

impl Message {
    /// Its time in microseconds.
    pub fn micros(&self) -> i64 {
        parse_ts(&self.ts).unwrap_or(0)
    }

    /// The message as the Web API sends it: absent fields omitted, thread fields on parents.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"type": "message", "ts": self.ts, "text": self.text});
        let put = |v: &mut Value, k: &str, x: Value| {
            if let Some(o) = v.as_object_mut() {
                o.insert(k.to_owned(), x);
            }
        };
        if let Some(u) = &self.user {
            put(&mut v, "user", json!(u));
            put(&mut v, "team", json!(TEAM_ID));
        }
        if let Some(b) = &self.bot_id {
            put(&mut v, "bot_id", json!(b));
            put(&mut v, "username", json!("digest"));
        }
        if let Some(s) = &self.subtype {
            put(&mut v, "subtype", json!(s));
        }
        if let Some(t) = &self.thread_ts {
            put(&mut v, "thread_ts", json!(t));
        }
        if let Some(p) = &self.parent_user_id {
            put(&mut v, "parent_user_id", json!(p));
        }
        if !self.replies.is_empty() {
            let mut who: Vec<&String> = Vec::new();
            for r in &self.replies {
                if let Some(u) = &r.user
                    && !who.contains(&u)
                {
                    who.push(u);
                }
            }
            put(&mut v, "reply_count", json!(self.replies.len()));
            put(&mut v, "reply_users_count", json!(who.len()));
            put(
                &mut v,
                "reply_users",
                json!(who.iter().take(5).collect::<Vec<_>>()),
            );
            put(
                &mut v,
                "latest_reply",
                json!(self.replies.last().map(|r| r.ts.clone())),
            );
            put(&mut v, "is_locked", json!(false));
            put(&mut v, "subscribed", json!(false));
        }
        if !self.reactions.is_empty() {
            let list: Vec<Value> = self
                .reactions
                .iter()
                .map(|r| json!({"name": r.name, "users": r.users, "count": r.users.len()}))
                .collect();
            put(&mut v, "reactions", Value::Array(list));
        }
        v
    }

    /// The sum of reaction counts.
    pub fn reaction_total(&self) -> usize {
        self.reactions.iter().map(|r| r.users.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_round_trips_and_orders() {
        assert_eq!(ts_of(1_730_000_000_000_123), "1730000000.000123");
        assert_eq!(parse_ts("1730000000.000123"), Some(1_730_000_000_000_123));
        assert_eq!(parse_ts("1730000000"), Some(1_730_000_000_000_000));
        assert_eq!(parse_ts("1730000000.5"), Some(1_730_000_000_500_000));
        assert_eq!(parse_ts("x"), None);
    }

    #[test]
    fn the_workspace_is_reproducible_and_has_threads() {
        let a = Dataset::generate(3, 1, crate::data::REFERENCE_ANCHOR);
        let b = Dataset::generate(3, 1, crate::data::REFERENCE_ANCHOR);
        assert_eq!(
            serde_json::to_string(&a).unwrap_or_default(),
            serde_json::to_string(&b).unwrap_or_default()
        );
        let general = &a.channels[0];
        assert!(general.messages.iter().any(|m| !m.replies.is_empty()));
        assert!(
            general
                .messages
                .windows(2)
                .all(|w| w[0].micros() < w[1].micros())
        );
    }
}
