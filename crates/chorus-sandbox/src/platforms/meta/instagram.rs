//! Instagram (Facebook Login flavour): the IG user node, its media, stories and tags, media
//! insights and account insights; plus the generated Instagram objects.

use serde::Serialize;
use serde_json::{Value, json};

use super::graph::{
    self, DAY_SECS, Field, FieldSpec, GraphError, Node, days_in_window, end_time, render,
};
use super::pages::{insights_window, opt_time, window_paging};
use super::{DEFAULT_LIMIT, IG_USER_ID, MAX_LIMIT, Meta, RETIRED_METRICS, Req};
use crate::data::{Rng, graph_time};

/// Feed and reels media per unit of scale.
pub const MEDIA_PER_SCALE: usize = 80;
/// Stories per unit of scale.
pub const STORIES_PER_SCALE: usize = 8;
/// Media the account is tagged in, per unit of scale.
pub const TAGS_PER_SCALE: usize = 15;
/// The longest `since`..`until` window of IG account insights, in days.
pub const IG_INSIGHTS_MAX_DAYS: i64 = 30;
/// Media insights metrics of FEED media.
pub const IG_FEED_METRICS: &[&str] = &[
    "reach",
    "views",
    "likes",
    "comments",
    "saved",
    "shares",
    "total_interactions",
    "profile_visits",
    "follows",
];
/// Media insights metrics of REELS.
pub const IG_REELS_METRICS: &[&str] = &[
    "reach",
    "views",
    "likes",
    "comments",
    "saved",
    "shares",
    "total_interactions",
    "ig_reels_avg_watch_time",
    "ig_reels_video_view_total_time",
];
/// Media insights metrics of stories.
pub const IG_STORY_METRICS: &[&str] = &[
    "reach",
    "views",
    "shares",
    "replies",
    "navigation",
    "follows",
    "profile_visits",
    "total_interactions",
];
/// IG account insights metrics (all `period=day`).
pub const IG_ACCOUNT_METRICS: &[&str] = &[
    "reach",
    "follower_count",
    "views",
    "accounts_engaged",
    "total_interactions",
    "likes",
    "comments",
    "shares",
    "saves",
    "replies",
    "profile_views",
    "website_clicks",
    "profile_links_taps",
];
/// IG account metrics that exist only with `metric_type=total_value` (the others are daily
/// `time_series` values, and also accept `total_value`).
pub const IG_TOTAL_VALUE_ONLY: &[&str] = &[
    "views",
    "accounts_engaged",
    "total_interactions",
    "likes",
    "comments",
    "shares",
    "saves",
    "replies",
    "profile_views",
    "website_clicks",
    "profile_links_taps",
];

/// The Instagram professional account.
#[derive(Debug, Clone, Serialize)]
pub struct IgAccount {
    /// The IG user id ([`IG_USER_ID`]).
    pub id: String,
    /// The handle.
    pub username: String,
    /// The display name.
    pub name: String,
    /// Followers.
    pub followers_count: u64,
    /// Accounts followed.
    pub follows_count: u64,
    /// Published feed and reels media (stories excluded).
    pub media_count: u64,
    /// When the account became a business account (unix seconds); media before it give 2108006.
    pub business_conversion_time: i64,
}

/// How a medium answers `/{media}/insights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MediaInsights {
    /// Values for every supported metric.
    Available,
    /// Posted before the business conversion: error 100/2108006.
    BeforeConversion,
    /// A story with too few viewers: `(#10) Not enough viewers for the media to show insights`.
    TooFewViewers,
    /// No data yet: `{"data": []}`.
    Empty,
}

/// One Instagram medium (own feed/reels media, a story, or a medium the account is tagged in).
#[derive(Debug, Clone, Serialize)]
pub struct IgMedia {
    /// The media id.
    pub id: String,
    /// The caption, absent when `None`.
    pub caption: Option<String>,
    /// `IMAGE`, `VIDEO` or `CAROUSEL_ALBUM`.
    pub media_type: String,
    /// `FEED`, `REELS` or `STORY`.
    pub media_product_type: String,
    /// Publication time, unix seconds (`timestamp` as `+0000`).
    pub timestamp: i64,
    /// The public URL.
    pub permalink: String,
    /// The shortcode.
    pub shortcode: String,
    /// Likes; the `like_count` field is omitted when `likes_hidden`.
    pub like_count: u64,
    /// Whether the owner hid the like count.
    pub likes_hidden: bool,
    /// Comments.
    pub comments_count: u64,
    /// The owner's handle.
    pub username: String,
    /// How its insights answer (always `Available` for tagged media, which are not readable).
    pub insights: MediaInsights,
}

/// The generated Instagram objects.
pub(super) struct Generated {
    pub account: IgAccount,
    pub media: Vec<IgMedia>,
    pub stories: Vec<IgMedia>,
    pub tags: Vec<IgMedia>,
}

const CAPTIONS: [&str; 6] = [
    "Morning pour-over ritual",
    "New roast, who dis",
    "Latte art Friday #coffee",
    "Behind the bar with our head roaster",
    "Cold brew season is back",
    "Cupping notes: blueberry, cocoa, jasmine",
];

const SHORTCODE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

fn shortcode(rng: &mut Rng) -> String {
    (0..11)
        .map(|_| char::from(SHORTCODE[rng.below(SHORTCODE.len() as u64) as usize]))
        .collect()
}

/// Generates the Instagram objects, created in `[from, to)` (unix seconds).
pub(super) fn generate(seed: u64, scale: usize, (from, to): (i64, i64)) -> Generated {
    let mut rng = Rng::new(seed, "meta/instagram");
    let conversion = from + 15 * DAY_SECS;
    let username = "chorus.sandbox.coffee".to_owned();
    let times = |rng: &mut Rng, count: usize| {
        let span = u64::try_from(to - from).unwrap_or(1);
        let mut t: Vec<i64> = (0..count)
            .map(|_| from + i64::try_from(rng.below(span)).unwrap_or(0))
            .collect();
        t.sort_unstable_by(|a, b| b.cmp(a));
        t
    };
    let medium = |rng: &mut Rng, id: String, at: i64, product: &str, owner: &str| {
        let media_type = match product {
            "REELS" => "VIDEO",
            "STORY" => *rng.pick(&["IMAGE", "VIDEO"]),
            _ => *rng.pick(&["IMAGE", "IMAGE", "IMAGE", "CAROUSEL_ALBUM", "VIDEO"]),
        };
        let code = shortcode(rng);
        let permalink = match product {
            "REELS" => format!("https://www.instagram.com/reel/{code}/"),
            "STORY" => format!("https://instagram.com/stories/{owner}/{id}"),
            _ => format!("https://www.instagram.com/p/{code}/"),
        };
        IgMedia {
            caption: (product != "STORY" && !rng.chance(0.1))
                .then(|| rng.pick(&CAPTIONS).to_string()),
            media_type: media_type.to_owned(),
            media_product_type: product.to_owned(),
            timestamp: at,
            permalink,
            shortcode: code,
            like_count: rng.below(900),
            likes_hidden: rng.chance(0.1),
            comments_count: rng.below(60),
            username: owner.to_owned(),
            insights: MediaInsights::Available,
            id,
        }
    };
    let media: Vec<IgMedia> = times(&mut rng, MEDIA_PER_SCALE * scale)
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let product = if rng.chance(0.3) { "REELS" } else { "FEED" };
            let id = format!(
                "{}",
                17_900_000_000_000_000u64 + (1_000_000 - i as u64) * 7_919
            );
            let mut m = medium(&mut rng, id, at, product, &username);
            m.insights = if at < conversion {
                MediaInsights::BeforeConversion
            } else if rng.chance(0.05) {
                MediaInsights::Empty
            } else {
                MediaInsights::Available
            };
            m
        })
        .collect();
    let stories: Vec<IgMedia> = times(&mut rng, STORIES_PER_SCALE * scale)
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let id = format!(
                "{}",
                18_000_000_000_000_000u64 + (1_000_000 - i as u64) * 6_151
            );
            let mut m = medium(&mut rng, id, at.max(conversion), "STORY", &username);
            m.insights = if rng.chance(0.4) {
                MediaInsights::TooFewViewers
            } else {
                MediaInsights::Available
            };
            m
        })
        .collect();
    let tags: Vec<IgMedia> = times(&mut rng, TAGS_PER_SCALE * scale)
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let id = format!(
                "{}",
                17_950_000_000_000_000u64 + (1_000_000 - i as u64) * 3_571
            );
            let owner = format!("fan_{}", rng.below(10_000));
            let product = if rng.chance(0.3) { "REELS" } else { "FEED" };
            medium(&mut rng, id, at, product, &owner)
        })
        .collect();
    let account = IgAccount {
        id: IG_USER_ID.to_owned(),
        username: username.clone(),
        name: "Chorus Sandbox Coffee".to_owned(),
        followers_count: 8_000 + rng.below(4_000),
        follows_count: 200 + rng.below(300),
        media_count: media.len() as u64,
        business_conversion_time: conversion,
    };
    Generated {
        account,
        media,
        stories,
        tags,
    }
}

/// The media insights metrics of a product type.
pub fn media_metrics(product_type: &str) -> &'static [&'static str] {
    match product_type {
        "REELS" => IG_REELS_METRICS,
        "STORY" => IG_STORY_METRICS,
        _ => IG_FEED_METRICS,
    }
}

impl super::Dataset {
    /// The own medium (feed, reels or story) with this id.
    pub fn ig_media(&self, id: &str) -> Option<&IgMedia> {
        self.media.iter().chain(&self.stories).find(|m| m.id == id)
    }

    /// The lifetime value of a media insights metric; `None` for an unknown medium or a metric
    /// its product type does not support. (Whether the server answers it depends on
    /// [`IgMedia::insights`].)
    pub fn media_insight(&self, media_id: &str, metric: &str) -> Option<u64> {
        let m = self.ig_media(media_id)?;
        if !media_metrics(&m.media_product_type).contains(&metric) {
            return None;
        }
        let draw =
            |name: &str, n: u64| Rng::new(self.seed, &format!("meta/{media_id}/{name}")).below(n);
        let reach = 300 + draw("reach", 5_000);
        Some(match metric {
            "reach" => reach,
            "views" => reach + draw("views", 3_000),
            "likes" => m.like_count,
            "comments" => m.comments_count,
            "saved" => draw("saved", 80),
            "shares" => draw("shares", 50),
            "replies" => draw("replies", 20),
            "navigation" => draw("navigation", 400),
            "follows" => draw("follows", 15),
            "profile_visits" => draw("profile_visits", 60),
            "ig_reels_avg_watch_time" => 2_000 + draw("avg_watch", 12_000),
            "ig_reels_video_view_total_time" => reach * (2_000 + draw("avg_watch", 12_000)),
            "total_interactions" => {
                let part = |name| self.media_insight(media_id, name).unwrap_or(0);
                part("likes") + part("comments") + part("saved") + part("shares") + part("replies")
            }
            _ => return None,
        })
    }

    /// The daily value of an IG account metric for the Pacific `day`; `None` for a metric not in
    /// [`IG_ACCOUNT_METRICS`]. `total_value` answers the sum over the window's days.
    pub fn ig_account_insight(&self, metric: &str, day: chrono::NaiveDate) -> Option<u64> {
        let max = match metric {
            "reach" => 4_000,
            "follower_count" => 40,
            "views" => 9_000,
            "accounts_engaged" => 300,
            "total_interactions" => 600,
            "likes" => 450,
            "comments" => 60,
            "shares" => 40,
            "saves" => 50,
            "replies" => 20,
            "profile_views" => 250,
            "website_clicks" => 30,
            "profile_links_taps" => 35,
            _ => return None,
        };
        Some(Rng::new(self.seed, &format!("meta/{IG_USER_ID}/{metric}/{day}")).below(max))
    }
}

impl Node for IgAccount {
    const TYPE: &'static str = "IGUser";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "username" => json!(self.username),
            "name" => json!(self.name),
            "followers_count" => json!(self.followers_count),
            "follows_count" => json!(self.follows_count),
            "media_count" => json!(self.media_count),
            "biography" => json!("Specialty coffee, roasted in the sandbox."),
            "website" => json!("https://example.com/coffee"),
            "ig_id" => json!(4_212_345_678u64),
            _ => return Field::Unknown,
        })
    }
}

impl Node for IgMedia {
    const TYPE: &'static str = "IGMedia";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "caption" => match &self.caption {
                Some(c) => json!(c),
                None => return Field::Omit,
            },
            "media_type" => json!(self.media_type),
            "media_product_type" => json!(self.media_product_type),
            "timestamp" => json!(graph_time(self.timestamp)),
            "permalink" => json!(self.permalink),
            "shortcode" => json!(self.shortcode),
            "like_count" if self.likes_hidden => return Field::Omit,
            "like_count" => json!(self.like_count),
            "comments_count" => json!(self.comments_count),
            "username" => json!(self.username),
            "media_url" => json!(format!(
                "https://scontent.cdninstagram.com/v/sandbox/{}.jpg",
                self.id
            )),
            "thumbnail_url" if self.media_type == "VIDEO" => json!(format!(
                "https://scontent.cdninstagram.com/v/sandbox/{}_thumb.jpg",
                self.id
            )),
            "thumbnail_url" => return Field::Omit,
            "is_comment_enabled" => json!(true),
            _ => return Field::Unknown,
        })
    }
}

/// `GET /{ig-user}`.
pub(super) fn user(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    render(&meta.data().ig_account, &req.fields(&["id"]))
}

/// `GET /{ig-media}`.
pub(super) fn media_node(req: &Req, media: &IgMedia) -> Result<Value, GraphError> {
    render(media, &req.fields(&["id"]))
}

/// A cursor-paged list of media, newest first; `since` (inclusive) and `until` (exclusive)
/// filter on `timestamp`.
pub(super) fn media_list(meta: &Meta, req: &Req, media: &[IgMedia]) -> Result<Value, GraphError> {
    let since = opt_time(req, "since")?;
    let until = opt_time(req, "until")?;
    let media: Vec<&IgMedia> = media
        .iter()
        .filter(|m| since.is_none_or(|s| m.timestamp >= s))
        .filter(|m| until.is_none_or(|u| m.timestamp < u))
        .collect();
    let ids: Vec<String> = media.iter().map(|m| m.id.clone()).collect();
    let page = graph::cursor_page(&req.params, &ids, DEFAULT_LIMIT, MAX_LIMIT)?;
    let fields = req.fields(&["id"]);
    let data = media[page.range.clone()]
        .iter()
        .map(|m| render(*m, &fields))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(meta.cursor_list(req, &page, data))
}

/// The error of a missing `instagram_manage_insights` permission.
fn missing_permission() -> GraphError {
    GraphError::new(
        10,
        "(#10) Application does not have permission for this action: requires the instagram_manage_insights permission",
    )
}

/// The `metric` list, without duplicates; an error when absent or empty.
fn metric_list(req: &Req) -> Result<Vec<&str>, GraphError> {
    let mut out: Vec<&str> = Vec::new();
    for m in req
        .params
        .get("metric")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(GraphError::param("The parameter metric is required"));
    }
    Ok(out)
}

/// `(#100) metric[i] must be one of the following values: ...`.
fn unknown_metric(index: usize, valid: &[&str]) -> GraphError {
    GraphError::param(format!(
        "metric[{index}] must be one of the following values: {}",
        valid.join(", ")
    ))
}

fn text(metric: &str) -> (String, String) {
    let title = metric
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let description = format!("The {} of the media or account.", metric.replace('_', " "));
    (title, description)
}

/// `GET /{ig-media}/insights?metric=..`.
pub(super) fn media_insights(
    meta: &Meta,
    req: &Req,
    media: &IgMedia,
    owned: bool,
) -> Result<Value, GraphError> {
    if !owned {
        return Err(GraphError::new(
            10,
            "(#10) Application does not have permission for this action",
        ));
    }
    if !req.has("instagram_manage_insights") {
        return Err(missing_permission());
    }
    let metrics = metric_list(req)?;
    let all: Vec<&str> = IG_FEED_METRICS
        .iter()
        .chain(IG_REELS_METRICS)
        .chain(IG_STORY_METRICS)
        .fold(Vec::new(), |mut acc, m| {
            if !acc.contains(m) {
                acc.push(*m);
            }
            acc
        });
    for (i, metric) in metrics.iter().enumerate() {
        if RETIRED_METRICS.contains(metric) {
            return Err(GraphError::param(format!(
                "Starting from version v22.0 and above, the {metric} metric is no longer supported for the queried media. Please refer to the documentation at https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights for a list of supported metrics."
            )));
        }
        if !all.contains(metric) {
            return Err(unknown_metric(i, &all));
        }
        if !media_metrics(&media.media_product_type).contains(metric) {
            return Err(GraphError::param(format!(
                "The Media Insights API does not support the {metric} metric for this media product type."
            )));
        }
    }
    match media.insights {
        MediaInsights::BeforeConversion => {
            let mut error = GraphError::new(100, "Invalid parameter")
                .subcode(2_108_006)
                .transient(false)
                .user(
                    "Media posted before business account conversion",
                    "The media was posted before the most recent time that the user's account was converted to a business account from a personal account.",
                );
            error.data = Some(json!({"blame_field_specs": [[""]]}));
            return Err(error);
        }
        MediaInsights::TooFewViewers => {
            return Err(GraphError::new(
                10,
                "(#10) Not enough viewers for the media to show insights",
            )
            .transient(false));
        }
        MediaInsights::Empty => return Ok(json!({"data": []})),
        MediaInsights::Available => {}
    }
    let data: Vec<Value> = metrics
        .into_iter()
        .filter_map(|metric| {
            let value = meta.data().media_insight(&media.id, metric)?;
            let (title, description) = text(metric);
            Some(json!({
                "name": metric,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": title,
                "description": description,
                "id": format!("{}/insights/{metric}/lifetime", media.id),
            }))
        })
        .collect();
    Ok(json!({ "data": data }))
}

/// `GET /{ig-user}/insights?metric=..&period=day&metric_type=total_value&since=&until=`.
pub(super) fn account_insights(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    if !req.has("instagram_manage_insights") {
        return Err(missing_permission());
    }
    let metrics = metric_list(req)?;
    for (i, metric) in metrics.iter().enumerate() {
        if RETIRED_METRICS.contains(metric) {
            return Err(GraphError::param(format!(
                "Starting from version 22 and above, the {metric} metric is no longer supported for the queried user. Please refer to the documentation at https://developers.facebook.com/docs/instagram-api/reference/ig-user/insights for a list of supported metrics."
            )));
        }
        if !IG_ACCOUNT_METRICS.contains(metric) {
            return Err(unknown_metric(i, IG_ACCOUNT_METRICS));
        }
    }
    match req.params.get("period") {
        Some("day") => {}
        Some(other) => {
            return Err(GraphError::param(format!(
                "Incompatible metric and period: period {other} is not supported, use day"
            )));
        }
        None => return Err(GraphError::param("The parameter period is required")),
    }
    let total_value = match req.params.get("metric_type") {
        None | Some("time_series") => false,
        Some("total_value") => true,
        Some(_) => {
            return Err(GraphError::param(
                "metric_type must be one of the following values: time_series, total_value",
            ));
        }
    };
    if !total_value {
        let needs: Vec<&str> = metrics
            .iter()
            .copied()
            .filter(|m| IG_TOTAL_VALUE_ONLY.contains(m))
            .collect();
        if !needs.is_empty() {
            return Err(GraphError::param(format!(
                "The following metrics ({}) should be specified with parameter metric_type=total_value",
                needs.join(",")
            )));
        }
    }
    let (since, until) = insights_window(req, IG_INSIGHTS_MAX_DAYS)?;
    let today = graph::today();
    let days: Vec<_> = days_in_window(since, until)
        .into_iter()
        .filter(|d| *d <= today)
        .collect();
    let data = meta.data();
    let rows: Vec<Value> = metrics
        .iter()
        .map(|metric| {
            let (title, description) = text(metric);
            let id = format!("{IG_USER_ID}/insights/{metric}/day");
            if total_value {
                let sum: u64 = days
                    .iter()
                    .filter_map(|d| data.ig_account_insight(metric, *d))
                    .sum();
                json!({
                    "name": metric, "period": "day", "title": title, "description": description,
                    "total_value": {"value": sum}, "id": id,
                })
            } else {
                let values: Vec<Value> = days
                    .iter()
                    .filter_map(|d| {
                        let v = data.ig_account_insight(metric, *d)?;
                        Some(json!({"value": v, "end_time": end_time(*d)}))
                    })
                    .collect();
                json!({
                    "name": metric, "period": "day", "values": values, "title": title,
                    "description": description, "id": id,
                })
            }
        })
        .collect();
    if total_value {
        Ok(json!({ "data": rows }))
    } else {
        Ok(json!({"data": rows, "paging": window_paging(meta, req, since, until)}))
    }
}
