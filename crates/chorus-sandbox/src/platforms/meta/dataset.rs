//! The Meta platform's seeded objects ([`Dataset`]) and its on-demand insights values.
//!
//! Objects (the Page, its posts, ...) are generated once per seed, scale and anchor and never
//! depend on the wall clock: they all lie in `[data_start, data_end)`, the
//! [`super::DATA_DAYS`] days before the anchor. Insights values are pure functions of (seed,
//! object, metric, day) (and `page_follows` of the day's distance from `data_start`); the
//! server serves them for days up to UTC today.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::PAGE_ID;
use super::ads::{self, Ad, AdAccount, AdSet, Campaign};
use super::instagram::{self, IgAccount, IgMedia};
use crate::data::{Rng, utc_midnight};

/// Posts per unit of scale.
pub const POSTS_PER_SCALE: usize = 120;

/// The Facebook Page.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The Page id ([`PAGE_ID`]).
    pub id: String,
    /// The Page name.
    pub name: String,
    /// The Page category.
    pub category: String,
    /// Likes of the Page.
    pub fan_count: u64,
    /// Followers of the Page.
    pub followers_count: u64,
    /// People talking about the Page.
    pub talking_about_count: u64,
    /// The Page's URL.
    pub link: String,
}

/// One Page post.
#[derive(Debug, Clone, Serialize)]
pub struct Post {
    /// `{page_id}_{post_number}`.
    pub id: String,
    /// Creation time, unix seconds.
    pub created_time: i64,
    /// Last update time, unix seconds.
    pub updated_time: i64,
    /// The text; `None` for story-only posts (the field is then absent).
    pub message: Option<String>,
    /// The generated story line, if any.
    pub story: Option<String>,
    /// `added_photos`, `mobile_status_update`, `added_video` or `shared_story`.
    pub status_type: String,
    /// The post's URL.
    pub permalink_url: String,
    /// Shares; the `shares` field is absent when 0.
    pub shares: u64,
    /// Total reactions (`reactions.summary(true)`).
    pub reactions: u64,
    /// Total comments (`comments.summary(true)`).
    pub comments: u64,
}

/// Everything the Meta platform serves for one seed, scale and anchor.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The seed the on-demand insights values are drawn from.
    pub seed: u64,
    /// The earliest creation date of the objects (UTC; [`super::data_start`] of the anchor).
    pub data_start: NaiveDate,
    /// The (exclusive) date every object is created before (UTC; the anchor).
    pub data_end: NaiveDate,
    /// The Facebook Page.
    pub page: Page,
    /// The Page's posts, newest first.
    pub posts: Vec<Post>,
    /// The Instagram professional account.
    pub ig_account: IgAccount,
    /// Its feed and reels media, newest first (what `/{ig-user}/media` lists).
    pub media: Vec<IgMedia>,
    /// Its stories, newest first (what `/{ig-user}/stories` lists).
    pub stories: Vec<IgMedia>,
    /// Media it is tagged in, newest first (what `/{ig-user}/tags` lists).
    pub tags: Vec<IgMedia>,
    /// The ad account.
    pub ad_account: AdAccount,
    /// Campaigns, newest first (deleted and archived included).
    pub campaigns: Vec<Campaign>,
    /// Ad sets, newest first (deleted and archived included).
    pub adsets: Vec<AdSet>,
    /// Ads, newest first (deleted and archived included).
    pub ads: Vec<Ad>,
}

/// `count` sorted random times in `[from, to)`.
fn sorted_times(rng: &mut Rng, count: usize, from: i64, to: i64) -> Vec<i64> {
    let span = u64::try_from(to - from).unwrap_or(1).max(1);
    let mut times: Vec<i64> = (0..count)
        .map(|_| from + i64::try_from(rng.below(span)).unwrap_or(0))
        .collect();
    times.sort_unstable();
    times
}

const MESSAGES: [&str; 8] = [
    "Fresh single-origin beans just landed. Come taste the new Ethiopia roast!",
    "Our weekend cupping session is open to everyone.",
    "Behind the scenes: how we dial in a new espresso blend.",
    "Thank you for 10 years of mornings together.",
    "New seasonal menu is here. Which drink are you trying first?",
    "Latte art throwdown this Friday at 7pm.",
    "We are hiring baristas for our new location.",
    "Rainy day? Cold brew delivery is on us today.",
];

const STORIES: [&str; 3] = [
    "Chorus Sandbox Coffee Roasters updated their cover photo.",
    "Chorus Sandbox Coffee Roasters added a new photo.",
    "Chorus Sandbox Coffee Roasters shared a memory.",
];

impl Dataset {
    /// Generates the dataset for a seed and scale, ending at `anchor`.
    pub fn generate(seed: u64, scale: u32, anchor: NaiveDate) -> Self {
        let (data_start, data_end) = (super::data_start(anchor), super::data_end(anchor));
        let scale = scale.max(1) as usize;
        let mut rng = Rng::new(seed, "meta/pages");
        let page = Page {
            id: PAGE_ID.to_owned(),
            name: "Chorus Sandbox Coffee Roasters".to_owned(),
            category: "Coffee Shop".to_owned(),
            fan_count: 12_000 + rng.below(3_000),
            followers_count: 14_000 + rng.below(3_000),
            talking_about_count: 100 + rng.below(400),
            link: format!("https://www.facebook.com/{PAGE_ID}"),
        };
        let (from, to) = (utc_midnight(data_start), utc_midnight(data_end));
        let times = sorted_times(&mut rng, POSTS_PER_SCALE * scale, from, to);
        let mut posts: Vec<Post> = times
            .iter()
            .enumerate()
            .map(|(i, &created)| {
                let number = 122_100_000_000_000_000u64 + i as u64 * 1_009 + rng.below(1_000);
                let story_only = rng.chance(0.2);
                let status_type = if story_only {
                    "added_photos"
                } else {
                    *rng.pick(&[
                        "added_photos",
                        "mobile_status_update",
                        "added_video",
                        "shared_story",
                    ])
                };
                // Every written post links to the shop, tagged for an A/B test of two variants
                // of the call to action (no draw from the generator, so no other value moves).
                let message = (!story_only).then(|| {
                    let variant = if i % 2 == 0 { "variant_a" } else { "variant_b" };
                    format!(
                        "{} https://shop.example.com/beans?utm_source=facebook&utm_medium=social&utm_campaign=autumn_roast&utm_content={variant}",
                        rng.pick(&MESSAGES)
                    )
                });
                let story =
                    (story_only || rng.chance(0.15)).then(|| rng.pick(&STORIES).to_string());
                Post {
                    id: format!("{PAGE_ID}_{number}"),
                    created_time: created,
                    updated_time: created + i64::try_from(rng.below(3 * 86_400)).unwrap_or(0),
                    message,
                    story,
                    status_type: status_type.to_owned(),
                    permalink_url: format!("https://www.facebook.com/{PAGE_ID}/posts/{number}"),
                    shares: if rng.chance(0.35) {
                        0
                    } else {
                        1 + rng.below(60)
                    },
                    reactions: rng.below(500),
                    comments: rng.below(80),
                }
            })
            .collect();
        posts.reverse();
        let ig = instagram::generate(seed, scale, (from, to));
        let ads = ads::generate(seed, scale, (from, to));
        Self {
            seed,
            data_start,
            data_end,
            page,
            posts,
            ig_account: ig.account,
            media: ig.media,
            stories: ig.stories,
            tags: ig.tags,
            ad_account: ads.account,
            campaigns: ads.campaigns,
            adsets: ads.adsets,
            ads: ads.ads,
        }
    }

    /// The post with this id.
    pub fn post(&self, id: &str) -> Option<&Post> {
        self.posts.iter().find(|p| p.id == id)
    }

    /// A generator for one (object, metric, day) triple.
    fn draw(&self, object: &str, metric: &str, day: Option<NaiveDate>) -> Rng {
        let day = day.map(|d| d.to_string()).unwrap_or_default();
        Rng::new(self.seed, &format!("meta/{object}/{metric}/{day}"))
    }

    /// The daily value of a Page insights metric for the Pacific `day` (whose `end_time` is the
    /// next Pacific midnight); `None` for a metric not in [`super::PAGE_METRICS`].
    pub fn page_insight(&self, metric: &str, day: NaiveDate) -> Option<Value> {
        let mut rng = self.draw(PAGE_ID, metric, Some(day));
        let n = |rng: &mut Rng, lo: u64, hi: u64| lo + rng.below(hi - lo);
        let value = match metric {
            "page_total_actions" => n(&mut rng, 0, 30),
            "page_post_engagements" => n(&mut rng, 20, 400),
            "page_media_view" => n(&mut rng, 500, 5_000),
            "page_total_media_view_unique" => {
                let views = self.page_insight("page_media_view", day)?.as_u64()?;
                views * n(&mut rng, 50, 90) / 100
            }
            "page_daily_follows" => n(&mut rng, 0, 25),
            "page_daily_follows_unique" => {
                let follows = self.page_insight("page_daily_follows", day)?.as_u64()?;
                follows - rng.below(follows / 4 + 1)
            }
            "page_daily_unfollows_unique" => n(&mut rng, 0, 8),
            "page_follows" => {
                let since = (day - self.data_start).num_days().max(-10_000);
                u64::try_from(10_000 + since * 4).unwrap_or(0) + rng.below(4)
            }
            "page_video_views" => n(&mut rng, 0, 800),
            "page_views_total" => n(&mut rng, 10, 300),
            "page_actions_post_reactions_total" => {
                return Some(by_type(&mut rng, &REACTION_SHARES, 300));
            }
            _ => return None,
        };
        Some(json!(value))
    }

    /// A Page metric over `period` (`day`, `week` = the 7 days ending on `day`, `days_28`);
    /// `None` when the metric does not support the period.
    pub fn page_insight_period(&self, metric: &str, period: &str, day: NaiveDate) -> Option<Value> {
        let days = match period {
            "day" => return self.page_insight(metric, day),
            "week" => 7,
            "days_28" => 28,
            _ => return None,
        };
        if !page_metric_periods(metric)?.contains(&period) {
            return None;
        }
        let values: Option<Vec<Value>> = (0..days)
            .map(|back| {
                let d = day - chrono::Duration::days(back);
                self.page_insight(metric, d)
            })
            .collect();
        Some(sum_values(&values?))
    }

    /// The lifetime value of a post insights metric; `None` for an unknown post or a metric not
    /// in [`super::POST_METRICS`].
    pub fn post_insight(&self, post_id: &str, metric: &str) -> Option<Value> {
        let post = self.post(post_id)?;
        let mut rng = self.draw(post_id, metric, None);
        let views = 200 + post.reactions * 12 + self.draw(post_id, "views", None).below(2_000);
        let value = match metric {
            "post_media_view" => views,
            "post_total_media_view_unique" => views * 7 / 10,
            "post_clicks" => {
                let clicks = self.post_insight(post_id, "post_clicks_by_type")?;
                clicks.as_object()?.values().filter_map(Value::as_u64).sum()
            }
            "post_clicks_by_type" => {
                return Some(by_type(&mut rng, &CLICK_SHARES, 150));
            }
            "post_reactions_by_type_total" => {
                return Some(split_total(&mut rng, &REACTION_SHARES, post.reactions));
            }
            "post_video_views" if post.status_type == "added_video" => views / 2,
            "post_video_views" => 0,
            _ => return None,
        };
        Some(json!(value))
    }
}

/// Reaction keys of `*_by_type*` values and their rough weights.
const REACTION_SHARES: [(&str, u64); 6] = [
    ("like", 60),
    ("love", 20),
    ("haha", 8),
    ("wow", 6),
    ("sorry", 4),
    ("anger", 2),
];

/// Click-type keys of `post_clicks_by_type` and their rough weights.
const CLICK_SHARES: [(&str, u64); 3] = [
    ("other clicks", 50),
    ("link clicks", 30),
    ("photo view", 20),
];

/// A random `{key: n}` object with up to `max` in total; zero keys are left out (as Graph does).
fn by_type(rng: &mut Rng, shares: &[(&str, u64)], max: u64) -> Value {
    let total = rng.below(max);
    split_total(rng, shares, total)
}

/// Splits `total` over the keys by weight (the first key takes the remainder); zero keys are
/// left out.
fn split_total(rng: &mut Rng, shares: &[(&str, u64)], total: u64) -> Value {
    let mut out = Map::new();
    let mut left = total;
    for (key, weight) in shares.iter().skip(1) {
        let part = (total * weight / 100).min(left);
        let part = part - rng.below(part / 2 + 1);
        left -= part;
        if part > 0 {
            out.insert((*key).to_owned(), json!(part));
        }
    }
    let mut ordered = Map::new();
    if left > 0 {
        ordered.insert(shares[0].0.to_owned(), json!(left));
    }
    ordered.extend(out);
    Value::Object(ordered)
}

/// Sums numbers, or `{key: n}` objects key by key.
fn sum_values(values: &[Value]) -> Value {
    if values.iter().all(Value::is_u64) {
        return json!(values.iter().filter_map(Value::as_u64).sum::<u64>());
    }
    let mut out = Map::new();
    for value in values.iter().filter_map(Value::as_object) {
        for (key, n) in value {
            let sum = out.get(key).and_then(Value::as_u64).unwrap_or(0) + n.as_u64().unwrap_or(0);
            out.insert(key.clone(), json!(sum));
        }
    }
    Value::Object(out)
}

/// The periods a Page metric supports (`None` for an unknown metric).
pub(super) fn page_metric_periods(metric: &str) -> Option<&'static [&'static str]> {
    const ALL: &[&str] = &["day", "week", "days_28"];
    const DAY: &[&str] = &["day"];
    match metric {
        "page_follows" | "page_daily_follows_unique" | "page_daily_unfollows_unique" => Some(DAY),
        m if super::PAGE_METRICS.contains(&m) => Some(ALL),
        _ => None,
    }
}

/// The title and description of an insights metric for one period.
pub(super) fn metric_text(metric: &str, period: &str) -> (String, String) {
    let (title, what) = match metric {
        "page_total_actions" => (
            "Total Action Count",
            "The number of clicks on your Page's contact info and call-to-action button.",
        ),
        "page_post_engagements" => (
            "Post Engagements",
            "The number of times people have engaged with your posts through reactions, comments, shares and more.",
        ),
        "page_media_view" => (
            "Media Views",
            "The number of times your content was played or displayed.",
        ),
        "page_total_media_view_unique" => (
            "Media Viewers",
            "The number of people who saw any content from your Page.",
        ),
        "page_daily_follows" => ("New Follows", "The number of new follows of your Page."),
        "page_daily_follows_unique" => (
            "New Follows (Unique Users)",
            "The number of people who followed your Page.",
        ),
        "page_daily_unfollows_unique" => (
            "Unfollows (Unique Users)",
            "The number of people who unfollowed your Page.",
        ),
        "page_follows" => (
            "Page Follows",
            "The total number of followers of your Page.",
        ),
        "page_video_views" => (
            "Total Video Views",
            "The number of times your Page's videos played for at least 3 seconds.",
        ),
        "page_views_total" => (
            "Total Page Views",
            "The number of times a Page's profile has been viewed.",
        ),
        "page_actions_post_reactions_total" => (
            "Total post reactions by type",
            "Total post reactions by type.",
        ),
        "post_media_view" => (
            "Post Media Views",
            "The number of times your post was played or displayed.",
        ),
        "post_total_media_view_unique" => (
            "Post Media Viewers",
            "The number of people who saw your post.",
        ),
        "post_clicks" => (
            "Post Clicks",
            "The number of clicks anywhere in your post on News Feed.",
        ),
        "post_clicks_by_type" => (
            "Post Clicks by type",
            "The number of clicks anywhere in the post on News Feed, by type.",
        ),
        "post_reactions_by_type_total" => (
            "Lifetime Total post Reactions by Type.",
            "Total post reactions by type.",
        ),
        "post_video_views" => (
            "Lifetime Total Video Views",
            "The number of times your video was viewed for 3 seconds or more.",
        ),
        other => (other, "An insights metric."),
    };
    let prefix = match period {
        "day" => "Daily",
        "week" => "Weekly",
        "days_28" => "28 Days",
        _ => "Lifetime",
    };
    (format!("{prefix} {title}"), format!("{prefix}: {what}"))
}
