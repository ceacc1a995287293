//! The X platform's users and posts, drawn from the seed: three tracked brand accounts that
//! post, reply, retweet and quote, and a crowd of other accounts that mention them, tag them
//! and talk about them in several languages. Clock-free: posts are spread over
//! [`data_start`]..[`data_end`] of the anchor ([`DATA_DAYS`] before it to
//! [`DAYS_AFTER_ANCHOR`] after it); the server hides the ones not yet due (see `super`).
//! Account creation dates are fixed (2010..2025) and do not follow the anchor.

use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;

use crate::data::{self, Rng};

/// The days of posts before the anchor (from 2026-01-01 at
/// [`crate::data::REFERENCE_ANCHOR`]).
pub const DATA_DAYS: i64 = 304;
/// The days of posts after the anchor (until 2027-07-01 at the reference anchor); the server
/// shows each post only from the UTC day after it was made.
pub const DAYS_AFTER_ANCHOR: i64 = 242;
/// X's snowflake epoch (2010-11-04T01:42:54.657Z), in milliseconds.
pub const TWEPOCH_MS: u64 = 1_288_834_974_657;
/// The tracked accounts: username, display name, user id.
pub const BRANDS: &[(&str, &str, &str)] = &[
    ("acme", "Acme", "1456789012345678901"),
    ("globex", "Globex Corporation", "98765432"),
    ("initech", "Initech", "1501234567890123456"),
];
/// Other accounts per unit of scale.
pub const CROWD_PER_SCALE: usize = 120;

/// The first day of posts (UTC): [`DATA_DAYS`] before `anchor`.
pub fn data_start(anchor: NaiveDate) -> NaiveDate {
    data::offset(anchor, -DATA_DAYS)
}

/// The (exclusive) day every post is made before (UTC): [`DAYS_AFTER_ANCHOR`] after `anchor`.
pub fn data_end(anchor: NaiveDate) -> NaiveDate {
    data::offset(anchor, DAYS_AFTER_ANCHOR)
}

/// Why a post references another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// A retweet.
    Retweeted,
    /// A quote.
    Quoted,
    /// A reply.
    RepliedTo,
}

impl RefKind {
    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Retweeted => "retweeted",
            RefKind::Quoted => "quoted",
            RefKind::RepliedTo => "replied_to",
        }
    }
}

/// One account.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The user id (a decimal string; newer ones exceed 2^53).
    pub id: String,
    /// The handle, without `@`.
    pub username: String,
    /// The display name.
    pub name: String,
    /// When the account was created, unix seconds.
    pub created_at: i64,
    /// Whether the account is verified.
    pub verified: bool,
    /// Followers.
    pub followers_count: i64,
    /// Accounts followed.
    pub following_count: i64,
    /// Posts ever made.
    pub tweet_count: i64,
    /// Lists the account is on.
    pub listed_count: i64,
    /// The profile text.
    pub description: String,
}

/// One post.
#[derive(Debug, Clone, Serialize)]
pub struct Tweet {
    /// The snowflake id.
    pub id: u64,
    /// The author, an index into [`Dataset::users`].
    pub author: usize,
    /// When it was posted, unix milliseconds.
    pub created_ms: i64,
    /// The text.
    pub text: String,
    /// The BCP 47 language X detected (`und` when unsure).
    pub lang: &'static str,
    /// The id of the thread's first post.
    pub conversation_id: u64,
    /// The user replied to, an index into [`Dataset::users`].
    pub in_reply_to: Option<usize>,
    /// The post this one retweets, quotes or replies to.
    pub referenced: Option<(RefKind, u64)>,
    /// The users `@mentioned` in the text, indexes into [`Dataset::users`].
    pub mentions: Vec<usize>,
    /// Retweets.
    pub retweet_count: i64,
    /// Replies.
    pub reply_count: i64,
    /// Likes.
    pub like_count: i64,
    /// Quotes.
    pub quote_count: i64,
    /// Bookmarks.
    pub bookmark_count: i64,
    /// Impressions.
    pub impression_count: i64,
}

impl Tweet {
    /// When it was posted, unix seconds.
    pub fn created_secs(&self) -> i64 {
        self.created_ms.div_euclid(1000)
    }

    /// Whether it is a retweet.
    pub fn is_retweet(&self) -> bool {
        matches!(self.referenced, Some((RefKind::Retweeted, _)))
    }

    /// Whether it is a reply.
    pub fn is_reply(&self) -> bool {
        matches!(self.referenced, Some((RefKind::RepliedTo, _)))
    }

    /// Whether it is a quote.
    pub fn is_quote(&self) -> bool {
        matches!(self.referenced, Some((RefKind::Quoted, _)))
    }
}

/// Every X user and post for one seed, scale and anchor; posts are ordered newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The first day of posts (UTC; [`data_start`] of the anchor).
    pub data_start: NaiveDate,
    /// The (exclusive) day every post is made before (UTC; [`data_end`] of the anchor).
    pub data_end: NaiveDate,
    /// The accounts: the brands first, in [`BRANDS`] order.
    pub users: Vec<User>,
    /// The posts, newest first.
    pub tweets: Vec<Tweet>,
}

const FIRST: &[&str] = &[
    "maria", "li", "sam", "alex", "noor", "jonas", "aiko", "pedro", "chloe", "omar", "ines",
    "liam", "zara", "mateo", "yuki", "ella", "ravi", "lena", "tom", "amara",
];
const LAST: &[&str] = &[
    "lopez", "chen", "smith", "novak", "dubois", "kim", "silva", "okafor", "berg", "rossi",
    "tanaka", "meyer", "haddad", "walsh", "costa",
];

/// Texts by the brands; `{b}` is the brand's handle.
const BRAND_POSTS: &[&str] = &[
    "Our winter collection is here. Shop now and tell us what you think! #{b}",
    "We're hiring engineers who love great products. Join the {b} team",
    "Thank you for 10 years of support. We could not have done it without you",
    "Maintenance tonight from 1am to 3am UTC; the app may be slow",
    "New blog post: five ways to get more from your {b} account",
    "Live Q&A with our product team on Thursday. Bring your questions!",
];
/// Texts by the crowd about a brand, with their language; `{b}` is the brand's handle.
const CROWD_POSTS: &[(&str, &str)] = &[
    ("@{b} I love the new update, great job! 😍", "en"),
    (
        "@{b} worst customer service ever. Still waiting for a refund",
        "en",
    ),
    (
        "Just ordered from @{b}, delivery in two days. Not bad at all",
        "en",
    ),
    ("@{b} the app keeps crashing since yesterday :(", "en"),
    (
        "Honestly @{b} is the best thing that happened to my workflow #{b}",
        "en",
    ),
    ("Is anyone else having problems with #{b} today?", "en"),
    ("@{b} ¡Me encanta el nuevo diseño! Muy bueno", "es"),
    ("@{b} le service client est vraiment décevant", "fr"),
    ("@{b} Das neue Update ist super, danke!", "de"),
    ("#{b} 最高です", "ja"),
    ("@{b} 👍👍", "und"),
    ("Comparing @{b} and @{o} this week. Thoughts?", "en"),
];
/// Replies by the brands to the crowd; `{u}` is the user's handle.
const BRAND_REPLIES: &[&str] = &[
    "@{u} Thanks for the kind words! We'll pass them on to the team",
    "@{u} Sorry about that. Please DM us your order number and we'll fix it",
];

fn snowflake(ms: i64, worker: usize, seq: u64) -> u64 {
    let delta = u64::try_from(ms).unwrap_or(0).saturating_sub(TWEPOCH_MS);
    (delta << 22) | ((worker as u64 % 1024) << 12) | (seq % 4096)
}

fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

/// Engagement counters for a post seen by `followers` people.
fn counters(rng: &mut Rng, followers: i64, boost: f64) -> [i64; 6] {
    let reach = (followers as f64 * (0.05 + rng.unit() * 0.3) * boost).max(3.0);
    let impressions = reach as i64 + rng.below(40) as i64;
    let likes = (reach * (0.005 + rng.unit() * 0.04)) as i64;
    let retweets = (likes as f64 * rng.unit() * 0.3) as i64;
    let replies = (likes as f64 * rng.unit() * 0.2) as i64;
    let quotes = (retweets as f64 * rng.unit() * 0.3) as i64;
    let bookmarks = (likes as f64 * rng.unit() * 0.1) as i64;
    [retweets, replies, likes, quotes, bookmarks, impressions]
}

impl Dataset {
    /// The users and posts for `seed` and `scale`, around `anchor`.
    pub fn generate(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        let (data_start, data_end) = (data_start(anchor), data_end(anchor));
        let scale = scale.max(1) as usize;
        let mut rng = Rng::new(seed, "x");
        let mut users: Vec<User> = BRANDS
            .iter()
            .enumerate()
            .map(|(i, (username, name, id))| User {
                id: (*id).to_owned(),
                username: (*username).to_owned(),
                name: (*name).to_owned(),
                created_at: 1_262_304_000 + i as i64 * 86_400 * 400,
                verified: true,
                followers_count: 20_000 + rng.below(200_000) as i64,
                following_count: 100 + rng.below(900) as i64,
                tweet_count: 3_000 + rng.below(20_000) as i64,
                listed_count: 50 + rng.below(500) as i64,
                description: format!("Official account of {name}."),
            })
            .collect();
        for i in 0..CROWD_PER_SCALE * scale {
            let first = rng.pick(FIRST);
            let last = rng.pick(LAST);
            // Followers: mostly small accounts, a few influencers.
            let followers = if rng.chance(0.05) {
                50_000 + rng.below(2_000_000) as i64
            } else {
                rng.below(3_000) as i64
            };
            let created = 1_300_000_000 + rng.below(450_000_000) as i64;
            let id = if rng.chance(0.5) {
                // Accounts since 2013 have snowflake ids.
                snowflake(created * 1000, i, rng.below(4096)).to_string()
            } else {
                (100_000_000 + i as u64 * 7_919 + rng.below(7_000)).to_string()
            };
            users.push(User {
                id,
                username: format!("{first}_{last}{i}"),
                name: format!(
                    "{}{} {}{}",
                    &first[..1].to_uppercase(),
                    &first[1..],
                    &last[..1].to_uppercase(),
                    &last[1..]
                ),
                created_at: created,
                verified: followers > 100_000,
                followers_count: followers,
                following_count: rng.below(2_000) as i64,
                tweet_count: rng.below(30_000) as i64,
                listed_count: rng.below(50) as i64,
                description: String::new(),
            });
        }

        let crowd = BRANDS.len()..users.len();
        let mut tweets: Vec<Tweet> = Vec::new();
        let mut seq = 0u64;
        let mut day = data_start;
        while day < data_end {
            let start = day_start_ms(day);
            for (b, (handle, ..)) in BRANDS.iter().enumerate() {
                // The crowd talks about the brand.
                for _ in 0..(rng.below(4 * scale as u64 + 1)) {
                    let author = crowd.start + rng.below(crowd.len() as u64) as usize;
                    let (template, lang) = *rng.pick(CROWD_POSTS);
                    let other =
                        (b + 1 + rng.below(BRANDS.len() as u64 - 1) as usize) % BRANDS.len();
                    let text = template
                        .replace("{b}", handle)
                        .replace("{o}", BRANDS[other].0);
                    let mut mentions = Vec::new();
                    if template.contains("@{b}") {
                        mentions.push(b);
                    }
                    if template.contains("@{o}") {
                        mentions.push(other);
                    }
                    let created_ms = start + rng.below(86_400_000) as i64;
                    seq += 1;
                    let id = snowflake(created_ms, author, seq);
                    let [
                        retweet_count,
                        reply_count,
                        like_count,
                        quote_count,
                        bookmark_count,
                        impression_count,
                    ] = counters(&mut rng, users[author].followers_count, 1.0);
                    tweets.push(Tweet {
                        id,
                        author,
                        created_ms,
                        text,
                        lang,
                        conversation_id: id,
                        in_reply_to: None,
                        referenced: None,
                        mentions,
                        retweet_count,
                        reply_count,
                        like_count,
                        quote_count,
                        bookmark_count,
                        impression_count,
                    });
                }
                // The brand posts, and sometimes replies to or retweets the crowd.
                for _ in 0..(rng.below(3) + u64::from(rng.chance(0.3))) {
                    let created_ms = start + rng.below(86_400_000) as i64;
                    seq += 1;
                    let id = snowflake(created_ms, b, seq);
                    let earlier: Vec<usize> = tweets
                        .iter()
                        .enumerate()
                        .rev()
                        .take(40)
                        .filter(|(_, t)| {
                            t.author >= BRANDS.len()
                                && t.created_ms < created_ms
                                && t.mentions.contains(&b)
                        })
                        .map(|(i, _)| i)
                        .collect();
                    let roll = rng.unit();
                    let (text, lang, conversation_id, in_reply_to, referenced, mentions) =
                        match earlier.first() {
                            Some(&target) if roll < 0.25 => {
                                let t = &tweets[target];
                                let user = &users[t.author];
                                let text = rng.pick(BRAND_REPLIES).replace("{u}", &user.username);
                                (
                                    text,
                                    "en",
                                    t.conversation_id,
                                    Some(t.author),
                                    Some((RefKind::RepliedTo, t.id)),
                                    vec![t.author],
                                )
                            }
                            Some(&target) if roll < 0.35 => {
                                let t = &tweets[target];
                                let user = &users[t.author];
                                let text = format!("RT @{}: {}", user.username, t.text);
                                (
                                    text,
                                    t.lang,
                                    id,
                                    None,
                                    Some((RefKind::Retweeted, t.id)),
                                    vec![t.author],
                                )
                            }
                            Some(&target) if roll < 0.42 => {
                                let t = &tweets[target];
                                let text = format!(
                                    "This made our day 💛 https://t.co/q{}",
                                    t.id % 100_000
                                );
                                (
                                    text,
                                    "en",
                                    id,
                                    None,
                                    Some((RefKind::Quoted, t.id)),
                                    Vec::new(),
                                )
                            }
                            _ => {
                                let text = rng.pick(BRAND_POSTS).replace("{b}", handle);
                                (text, "en", id, None, None, Vec::new())
                            }
                        };
                    // A retweet's own counters are zero: its engagement belongs to the original.
                    let c = counters(&mut rng, users[b].followers_count, 1.0);
                    let c = if referenced.is_some_and(|(k, _)| k == RefKind::Retweeted) {
                        [0; 6]
                    } else {
                        c
                    };
                    tweets.push(Tweet {
                        id,
                        author: b,
                        created_ms,
                        text,
                        lang,
                        conversation_id,
                        in_reply_to,
                        referenced,
                        mentions,
                        retweet_count: c[0],
                        reply_count: c[1],
                        like_count: c[2],
                        quote_count: c[3],
                        bookmark_count: c[4],
                        impression_count: c[5],
                    });
                }
            }
            day = day.succ_opt().unwrap_or(data_end);
        }
        tweets.sort_by_key(|t| std::cmp::Reverse(t.id));
        tweets.dedup_by_key(|t| t.id);
        Self {
            data_start,
            data_end,
            users,
            tweets,
        }
    }

    /// The user with this id.
    pub fn user_by_id(&self, id: &str) -> Option<usize> {
        self.users.iter().position(|u| u.id == id)
    }

    /// The user with this handle (case-insensitive).
    pub fn user_by_name(&self, name: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.username.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_newest_first_and_beyond_2_pow_53() {
        let d = Dataset::generate(3, 1, data::REFERENCE_ANCHOR);
        assert!(d.tweets.windows(2).all(|w| w[0].id > w[1].id));
        assert!(d.tweets.iter().all(|t| t.id > 1 << 53));
        // Snowflake ids order like their times.
        assert!(
            d.tweets
                .windows(2)
                .all(|w| w[0].created_ms >= w[1].created_ms - 1)
        );
        for (b, _) in BRANDS.iter().enumerate() {
            assert!(d.tweets.iter().filter(|t| t.author == b).count() > 300);
            assert!(d.tweets.iter().filter(|t| t.mentions.contains(&b)).count() > 300);
        }
    }
}
