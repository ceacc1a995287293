//! The Meta Graph API platform, under `/meta`: Facebook Pages, Instagram (Facebook Login
//! flavour) and the Marketing API, as `GET /meta/{version}/{id}[/{edge}]` with `{version}` like
//! `v25.0` (any `vNN.N`). Facts and sources: `docs/dev/platforms/meta-graph-api.md`.
//!
//! What is emulated:
//! - Auth: [`TOKEN`] (every permission) or [`TOKEN_NO_INSIGHTS`] (no `read_insights`, no
//!   `instagram_manage_insights`), from `Authorization: Bearer` or `?access_token=`; anything
//!   else is HTTP 400 code 190. When the token came in the query, `paging.next`/`previous` echo
//!   `access_token=` (as Graph does); when it came in the header they do not.
//! - Check support: `GET /me`, `GET /me/permissions`, `GET /me/accounts` (the Page with its
//!   token and IG account), `GET /debug_token?input_token=`.
//! - POST parameters are read from the query, a form body or a JSON object body.
//! - Pages: `GET /{page}`, `/{page}/posts` and `/published_posts` (cursor paging, `since`/`until`,
//!   `fields` with `reactions.summary(true).limit(0)`), `/{page}/insights` (daily values with
//!   Pacific-midnight `end_time`, 90-day window, time-window paging that never ends),
//!   `/{post}/insights` (lifetime values).
//! - Instagram: `GET /{ig-user}`, `/{ig-user}/media` (feed and reels; `like_count` omitted for
//!   hidden likes), `/{ig-user}/stories`, `/{ig-user}/tags`, `GET /{media}`,
//!   `/{media}/insights` (per product type; deprecated metrics, 2108006 for media older than the
//!   business conversion, `(#10) Not enough viewers` for small stories, empty data),
//!   `/{ig-user}/insights` (`metric_type=total_value` required for the total-value metrics,
//!   30-day window, `time_series` daily values for `reach`/`follower_count`).
//! - Marketing API: `GET /act_{id}` (`timezone_name` America/Los_Angeles), `/act_{id}/campaigns`,
//!   `/adsets`, `/ads` (timestamps with the account offset, `filtering` on `updated_time` and
//!   `effective_status`, deleted/archived hidden unless filtered in), sync `/act_{id}/insights`
//!   (`level`, `fields`, `time_range`, `date_preset`, `time_increment`, numbers as strings,
//!   `actions`/`action_values`, 100/1487534 above [`SYNC_MAX_ROWS`]; also sync
//!   `/{campaign|adset|ad}/insights`, default level the object's), async
//!   `POST /act_{id}/insights` → `GET /{run}` (one status step per poll) → `GET /{run}/insights`,
//!   with `Job Failed` and -2/2490547 above [`ASYNC_MAX_ROWS`] at adset/ad level.
//! - Errors in the Graph envelope; every response carries `X-App-Usage`, and object requests
//!   `X-Business-Use-Case-Usage` keyed by the object id (percent override:
//!   [`crate::Sandbox::set_meta_usage`]).
//! - Status faults become Graph errors by path family (never HTTP 429), each with usage headers
//!   at 100 % and `estimated_time_to_regain_access` 0:
//!
//! | fault | Pages | Instagram | ads insights (`/insights`, report runs) | ads management | other |
//! |---|---|---|---|---|---|
//! | `429` | 403, 80001 | 403, 80002 | 403, 80000/2446079 | 403, 80004/2446079 | 403, 4 |
//! | `429reset` | 400, 32 | 400, 17 | 400, 17/2446079 | 400, 613/1487742 | 400, 17 |
//! | `throttle400` | 400, 4 | 400, 4 | 400, 4 | 400, 4 | 400, 4 |
//! | `500` / `503` / `error200` | 500 code 1/99, 503 code 2, 200 code 2; all `is_transient: true` |||||
//!
//! Unverified shape choices (not confirmed against a live token): the exact 190 message, the
//! permission error (`(#200) Requires read_insights permission`), the 3001/1504028 body's user
//! title, `shares`/zero-valued `*_by_type` keys being omitted, `YYYY-MM-DD` in `since`/`until`
//! read as Pacific midnight, the default insights window (the last two days), the `summary`
//! objects' extra keys, cursors (base64 of the item id), and an unknown version answering
//! `Unknown path components` (code 2500). Instagram: stories are served by `/stories` only
//! (as Graph does) but never expire (the Truth is clock-free); the IG permission error text,
//! the deprecated-media-metric and unknown-metric texts, the 30-day window text
//! (`There cannot be more than 30 days (2592000 s) between since and until`, mirroring Pages),
//! a required `period`, and `total_value` answers without `paging`. Marketing API: the 1487534
//! body's `error_user_title`, the "report not ready" error, reach summed across days and ads
//! (real reach is deduplicated), insights rows only for (bucket, entity) pairs with delivery,
//! rows ordered by date then id, the action types (`link_click`, `post_engagement`,
//! `page_engagement`, `purchase`), list edges ordered newest first and `limit` capped at
//! [`ADS_MAX_LIMIT`]; `Job Skipped` and stuck jobs are not emulated.

mod ads;
mod check;
mod dataset;
mod graph;
mod instagram;
mod pages;

pub use ads::{
    AD_INSIGHTS_FIELDS, ADS_DEFAULT_LIMIT, ADS_MAX_LIMIT, ASYNC_MAX_ROWS, Ad, AdAccount, AdDay,
    AdSet, CAMPAIGNS_PER_SCALE, Campaign, JOB_POLLS, SYNC_MAX_ROWS,
};
pub use dataset::{Dataset, POSTS_PER_SCALE, Page, Post};
pub use graph::{end_time, pacific_date, pacific_midnight, today};
pub use instagram::{
    IG_ACCOUNT_METRICS, IG_FEED_METRICS, IG_INSIGHTS_MAX_DAYS, IG_REELS_METRICS, IG_STORY_METRICS,
    IG_TOTAL_VALUE_ONLY, IgAccount, IgMedia, MEDIA_PER_SCALE, MediaInsights, STORIES_PER_SCALE,
    TAGS_PER_SCALE, media_metrics,
};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::auth;
use crate::data::{self, Truth, mix};
use crate::faults::FaultKind;
use crate::platforms::{Context, Platform};
use graph::{CursorPage, FieldSpec, GraphError, Params};

/// The path prefix of the Meta platform.
pub const PREFIX: &str = "/meta";
/// A valid access token with every permission the connectors use.
pub const TOKEN: &str = "EAAsandboxMetaToken0chorus7Zx3";
/// A valid access token without `read_insights` and `instagram_manage_insights`.
pub const TOKEN_NO_INSIGHTS: &str = "EAAsandboxMetaTokenNoInsights4Qv8";
/// The Facebook Page id.
pub const PAGE_ID: &str = "104857392018475";
/// The Instagram professional account id.
pub const IG_USER_ID: &str = "17841400123456789";
/// The ad account id, without `act_` (paths use `act_{AD_ACCOUNT_ID}`).
pub const AD_ACCOUNT_ID: &str = "1029384756";
/// The app id `debug_token` reports.
pub const APP_ID: &str = "1357924680246810";
/// The user id `/me` and `debug_token` report.
pub const USER_ID: &str = "10160123456789012";
/// The days over which objects are created, ending at the anchor (2026-01-01..2026-11-01 at
/// [`crate::data::REFERENCE_ANCHOR`]).
pub const DATA_DAYS: i64 = 304;
/// The page size of cursor-paged edges when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 25;
/// The largest `limit` of cursor-paged edges (larger values are capped).
pub const MAX_LIMIT: usize = 100;
/// The longest `since`..`until` window of Page insights, in days.
pub const PAGE_INSIGHTS_MAX_DAYS: i64 = 90;
/// The permissions of [`TOKEN`].
pub const SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_read_engagement",
    "read_insights",
    "instagram_basic",
    "instagram_manage_insights",
    "instagram_manage_comments",
    "ads_read",
    "business_management",
    "public_profile",
];
/// The permissions [`TOKEN_NO_INSIGHTS`] lacks.
pub const INSIGHTS_SCOPES: &[&str] = &["read_insights", "instagram_manage_insights"];
/// Page insights metrics that currently work (`period=day`; most also `week`/`days_28`).
pub const PAGE_METRICS: &[&str] = &[
    "page_total_actions",
    "page_post_engagements",
    "page_media_view",
    "page_total_media_view_unique",
    "page_daily_follows",
    "page_daily_follows_unique",
    "page_daily_unfollows_unique",
    "page_follows",
    "page_video_views",
    "page_views_total",
    "page_actions_post_reactions_total",
];
/// Post insights metrics that currently work (lifetime values).
pub const POST_METRICS: &[&str] = &[
    "post_media_view",
    "post_total_media_view_unique",
    "post_clicks",
    "post_clicks_by_type",
    "post_reactions_by_type_total",
    "post_video_views",
];
/// Retired insights metrics: any one of them fails the whole request with `(#100)`.
pub const RETIRED_METRICS: &[&str] = &[
    "page_impressions",
    "page_impressions_unique",
    "page_impressions_paid",
    "page_impressions_paid_unique",
    "page_impressions_organic_unique",
    "page_impressions_viral_unique",
    "page_impressions_nonviral_unique",
    "page_posts_impressions",
    "page_posts_impressions_unique",
    "page_posts_impressions_paid",
    "page_posts_impressions_organic_unique",
    "page_engaged_users",
    "page_consumptions",
    "page_consumptions_unique",
    "page_fans",
    "page_fan_adds",
    "page_fan_adds_unique",
    "page_fan_removes",
    "page_fans_city",
    "page_fans_country",
    "page_fans_locale",
    "post_impressions",
    "post_impressions_unique",
    "post_impressions_paid",
    "post_impressions_paid_unique",
    "post_impressions_organic",
    "post_impressions_organic_unique",
    "post_impressions_viral",
    "post_impressions_viral_unique",
    "post_impressions_nonviral_unique",
    "post_impressions_fan_unique",
    "post_engaged_users",
    "impressions",
    "plays",
    "video_views",
    "clips_replays_count",
    "ig_reels_aggregated_all_plays_count",
    "engagement",
    "email_contacts",
    "phone_call_clicks",
    "text_message_clicks",
    "get_directions_clicks",
];

/// The earliest creation date of generated objects (UTC): [`DATA_DAYS`] before `anchor`.
pub fn data_start(anchor: NaiveDate) -> NaiveDate {
    data::offset(anchor, -DATA_DAYS)
}

/// The (exclusive) date every generated object is created before (UTC): the anchor itself.
pub fn data_end(anchor: NaiveDate) -> NaiveDate {
    anchor
}

/// The usage percent a test forces into the Meta rate-limit headers (none by default).
#[derive(Debug)]
pub(crate) struct UsageOverride(AtomicU32);

impl Default for UsageOverride {
    fn default() -> Self {
        Self(AtomicU32::new(u32::MAX))
    }
}

impl UsageOverride {
    /// Forces `percent`, or restores the default with `None`.
    pub(crate) fn set(&self, percent: Option<u8>) {
        self.0
            .store(percent.map_or(u32::MAX, u32::from), Ordering::Relaxed);
    }

    fn get(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Relaxed)).filter(|p| *p != u32::MAX)
    }
}

/// Which business-use-case budget a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the Instagram and ads families arrive with their endpoints"
)]
enum Family {
    Pages,
    Instagram,
    AdsInsights,
    AdsManagement,
}

impl Family {
    fn buc_type(self) -> &'static str {
        match self {
            Family::Pages => "pages",
            Family::Instagram => "instagram",
            Family::AdsInsights => "ads_insights",
            Family::AdsManagement => "ads_management",
        }
    }

    fn is_ads(self) -> bool {
        matches!(self, Family::AdsInsights | Family::AdsManagement)
    }
}

/// What an id in the path names.
enum Target<'a> {
    Me,
    DebugToken,
    Page,
    Post(&'a Post),
    IgUser,
    /// A medium, and whether the account owns it (tagged media are someone else's).
    Media(&'a IgMedia, bool),
    AdAccount,
    Campaign(&'a Campaign),
    AdSet(&'a AdSet),
    Ad(&'a Ad),
    ReportRun(String),
}

/// One decoded request.
struct Req {
    /// The API version from the path, e.g. `v25.0`.
    pub version: String,
    /// The path after the version, e.g. `104857392018475/posts`.
    pub path: String,
    /// Query (and form) parameters.
    pub params: Params,
    /// The token, when it came in the query (echoed in paging links).
    pub query_token: Option<String>,
    /// The token's permissions.
    pub scopes: Vec<&'static str>,
}

impl Req {
    /// Whether the token has `scope`.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.contains(&scope)
    }

    /// The `fields` list, or `defaults`.
    pub fn fields(&self, defaults: &[&str]) -> Vec<FieldSpec> {
        graph::parse_fields(self.params.get("fields"), defaults)
    }
}

/// Shared state of the Meta routes.
struct Meta {
    base_url: String,
    truth: Arc<Truth>,
    usage: Arc<UsageOverride>,
    calls: AtomicU64,
    jobs: Mutex<HashMap<String, ads::Job>>,
    job_count: AtomicU64,
}

/// Builds the Meta platform.
pub(crate) fn platform(ctx: &Context) -> Platform {
    let state = Arc::new(Meta {
        base_url: ctx.base_url.clone(),
        truth: ctx.truth.clone(),
        usage: ctx.meta_usage.clone(),
        calls: AtomicU64::new(0),
        jobs: Mutex::new(HashMap::new()),
        job_count: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/{version}/{id}", get(get_node).post(post_node))
        .route("/{version}/{id}/{edge}", get(get_edge).post(post_edge))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unsupported_method)
        .with_state(state.clone());
    Platform {
        prefix: PREFIX,
        router,
        fault_response: Arc::new(move |path, kind| state.fault_response(path, kind)),
    }
}

async fn get_node(
    State(s): State<Arc<Meta>>,
    Path((version, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    s.serve(Method::GET, &version, &id, None, query, &headers, &[])
}

async fn post_node(
    State(s): State<Arc<Meta>>,
    Path((version, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.serve(Method::POST, &version, &id, None, query, &headers, &body)
}

async fn get_edge(
    State(s): State<Arc<Meta>>,
    Path((version, id, edge)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    s.serve(
        Method::GET,
        &version,
        &id,
        Some(&edge),
        query,
        &headers,
        &[],
    )
}

async fn post_edge(
    State(s): State<Arc<Meta>>,
    Path((version, id, edge)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.serve(
        Method::POST,
        &version,
        &id,
        Some(&edge),
        query,
        &headers,
        &body,
    )
}

async fn unknown_path(State(s): State<Arc<Meta>>, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches(PREFIX);
    let error = GraphError::new(2500, format!("Unknown path components: {path}"));
    s.finish(None, None, Err(error), false)
}

async fn unsupported_method(State(s): State<Arc<Meta>>, method: Method, uri: Uri) -> Response {
    let id = uri.path().rsplit('/').next().unwrap_or("");
    let error = GraphError::unsupported(&method.as_str().to_lowercase(), id);
    s.finish(None, None, Err(error), false)
}

/// Whether `version` looks like `v25.0`.
fn valid_version(version: &str) -> bool {
    version.strip_prefix('v').is_some_and(|rest| {
        rest.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// The permissions of a token, if it is valid.
fn scopes_of(token: &str) -> Option<Vec<&'static str>> {
    match token {
        TOKEN => Some(SCOPES.to_vec()),
        TOKEN_NO_INSIGHTS => Some(
            SCOPES
                .iter()
                .copied()
                .filter(|s| !INSIGHTS_SCOPES.contains(s))
                .collect(),
        ),
        _ => None,
    }
}

impl Meta {
    /// The dataset.
    fn data(&self) -> &Dataset {
        &self.truth.meta
    }

    /// The async report runs, by id.
    fn jobs(&self) -> MutexGuard<'_, HashMap<String, ads::Job>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a new report run built by `job` from its id; returns the id.
    fn new_job(&self, job: impl FnOnce(String) -> ads::Job) -> String {
        let n = self.job_count.fetch_add(1, Ordering::Relaxed);
        let id = (612_000_000_000_001u64 + n * 7_919).to_string();
        self.jobs().insert(id.clone(), job(id.clone()));
        id
    }

    /// What `id` names, if anything.
    fn resolve(&self, id: &str) -> Option<Target<'_>> {
        match id {
            "me" => Some(Target::Me),
            "debug_token" => Some(Target::DebugToken),
            PAGE_ID => Some(Target::Page),
            IG_USER_ID => Some(Target::IgUser),
            _ if id.strip_prefix("act_") == Some(AD_ACCOUNT_ID) => Some(Target::AdAccount),
            _ => {
                let data = self.data();
                if let Some(c) = data.campaigns.iter().find(|c| c.id == id) {
                    return Some(Target::Campaign(c));
                }
                if let Some(a) = data.adsets.iter().find(|a| a.id == id) {
                    return Some(Target::AdSet(a));
                }
                if let Some(a) = data.ad(id) {
                    return Some(Target::Ad(a));
                }
                if self.jobs().contains_key(id) {
                    return Some(Target::ReportRun(id.to_owned()));
                }
                if let Some(post) = data.post(id) {
                    return Some(Target::Post(post));
                }
                if let Some(media) = data.ig_media(id) {
                    return Some(Target::Media(media, true));
                }
                data.tags
                    .iter()
                    .find(|m| m.id == id)
                    .map(|m| Target::Media(m, false))
            }
        }
    }

    /// The budget a request on `id`/`edge` counts against, and the business object's id.
    fn family(&self, id: &str, edge: Option<&str>) -> Option<(Family, String)> {
        let ads = |family| Some((family, AD_ACCOUNT_ID.to_owned()));
        match self.resolve(id)? {
            Target::ReportRun(_) => ads(Family::AdsInsights),
            Target::AdAccount | Target::Campaign(_) | Target::AdSet(_) | Target::Ad(_) => {
                if edge == Some("insights") {
                    ads(Family::AdsInsights)
                } else {
                    ads(Family::AdsManagement)
                }
            }
            Target::Page | Target::Post(_) => Some((Family::Pages, PAGE_ID.to_owned())),
            Target::IgUser | Target::Media(..) => Some((Family::Instagram, IG_USER_ID.to_owned())),
            Target::Me | Target::DebugToken => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn serve(
        &self,
        method: Method,
        version: &str,
        id: &str,
        edge: Option<&str>,
        query: Option<String>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let family = self.family(id, edge);
        let version_ok = valid_version(version).then_some(version);
        let result = self.answer(method, version, id, edge, query.as_deref(), headers, body);
        self.finish(version_ok, family, result, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        method: Method,
        version: &str,
        id: &str,
        edge: Option<&str>,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Value, GraphError> {
        if !valid_version(version) {
            let rest = edge.map(|e| format!("/{e}")).unwrap_or_default();
            return Err(GraphError::new(
                2500,
                format!("Unknown path components: /{version}/{id}{rest}"),
            ));
        }
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let params = Params::parse(query, body, json)?;
        let query_token = params.get("access_token").map(str::to_owned);
        let token = auth::bearer_token(headers)
            .map(str::to_owned)
            .or_else(|| query_token.clone())
            .ok_or_else(GraphError::invalid_token)?;
        let scopes = scopes_of(&token).ok_or_else(GraphError::invalid_token)?;
        let req = Req {
            version: version.to_owned(),
            path: match edge {
                Some(edge) => format!("{id}/{edge}"),
                None => id.to_owned(),
            },
            // The header wins when both are present, and then nothing is echoed.
            query_token: query_token.filter(|_| auth::bearer_token(headers).is_none()),
            params,
            scopes,
        };
        let target = self
            .resolve(id)
            .ok_or_else(|| GraphError::unsupported(&method.to_string().to_lowercase(), id))?;
        if method == Method::POST {
            return match (target, edge) {
                (Target::AdAccount, Some("insights")) => ads::start_job(self, &req),
                _ => Err(GraphError::unsupported("post", id)),
            };
        }
        match (target, edge) {
            (Target::Me, None) => Ok(check::me()),
            (Target::Me, Some("permissions")) => Ok(check::permissions(&req)),
            (Target::Me, Some("accounts")) => pages::accounts(self, &req),
            (Target::DebugToken, None) => check::debug_token(&req),
            (Target::Page, None) => pages::page(self, &req),
            (Target::Page, Some("posts" | "published_posts" | "feed")) => pages::posts(self, &req),
            (Target::Page, Some("insights")) => pages::page_insights(self, &req),
            (Target::Post(post), None) => pages::post(&req, post),
            (Target::Post(post), Some("insights")) => pages::post_insights(self, &req, post),
            (Target::IgUser, None) => instagram::user(self, &req),
            (Target::IgUser, Some("media")) => {
                instagram::media_list(self, &req, &self.data().media)
            }
            (Target::IgUser, Some("stories")) => {
                instagram::media_list(self, &req, &self.data().stories)
            }
            (Target::IgUser, Some("tags")) => instagram::media_list(self, &req, &self.data().tags),
            (Target::IgUser, Some("insights")) => instagram::account_insights(self, &req),
            (Target::Media(media, _), None) => instagram::media_node(&req, media),
            (Target::Media(media, owned), Some("insights")) => {
                instagram::media_insights(self, &req, media, owned)
            }
            (Target::IgUser, Some(edge)) => Err(GraphError::nonexisting_field(edge, "IGUser")),
            (Target::Media(..), Some(edge)) => Err(GraphError::nonexisting_field(edge, "IGMedia")),
            (Target::AdAccount, None) => ads::account(self, &req),
            (Target::AdAccount, Some(edge @ ("campaigns" | "adsets" | "ads"))) => {
                ads::list(self, &req, edge)
            }
            (Target::AdAccount, Some("insights")) => ads::insights(self, &req, None),
            (Target::Campaign(c), Some("insights")) => {
                ads::insights(self, &req, Some(("campaign", &c.id)))
            }
            (Target::AdSet(a), Some("insights")) => {
                ads::insights(self, &req, Some(("adset", &a.id)))
            }
            (Target::Ad(a), Some("insights")) => ads::insights(self, &req, Some(("ad", &a.id))),
            (Target::Campaign(c), None) => graph::render(c, &req.fields(&["id"])),
            (Target::AdSet(a), None) => graph::render(a, &req.fields(&["id"])),
            (Target::Ad(a), None) => graph::render(a, &req.fields(&["id"])),
            (Target::ReportRun(run), None) => self
                .jobs()
                .get_mut(&run)
                .map(ads::poll_job)
                .ok_or_else(|| GraphError::unsupported("get", id)),
            (Target::ReportRun(run), Some("insights")) => {
                let job = self.jobs().get(&run).cloned();
                match job {
                    Some(job) => ads::job_insights(self, &req, &job),
                    None => Err(GraphError::unsupported("get", id)),
                }
            }
            (Target::AdAccount, Some(edge)) => {
                Err(GraphError::nonexisting_field(edge, "AdAccount"))
            }
            (Target::Page, Some(edge)) => Err(GraphError::nonexisting_field(edge, "Page")),
            (Target::Post(_), Some(edge)) => Err(GraphError::nonexisting_field(edge, "PagePost")),
            (_, _) => Err(GraphError::unsupported("get", id)),
        }
    }

    /// An absolute link to the request's path with `params`; the query token goes first.
    fn link(&self, req: &Req, params: Vec<(String, String)>) -> String {
        let mut all = Vec::new();
        if let Some(token) = &req.query_token {
            all.push(("access_token".to_owned(), token.clone()));
        }
        all.push(("pretty".to_owned(), "0".to_owned()));
        all.extend(params);
        let query = serde_urlencoded::to_string(&all).unwrap_or_default();
        format!(
            "{}{PREFIX}/{}/{}?{query}",
            self.base_url, req.version, req.path
        )
    }

    /// A cursor-paged list response: `{"data": [...], "paging": {...}}` (no `paging` when empty).
    fn cursor_list(&self, req: &Req, page: &CursorPage, data: Vec<Value>) -> Value {
        let (Some(before), Some(after)) = (&page.before, &page.after) else {
            return json!({ "data": data });
        };
        let base = req
            .params
            .without(&["access_token", "after", "before", "limit", "pretty"]);
        let link = |name: &str, cursor: &str| {
            let mut params = base.clone();
            params.push(("limit".to_owned(), page.limit.to_string()));
            params.push((name.to_owned(), cursor.to_owned()));
            self.link(req, params)
        };
        let mut paging = json!({"cursors": {"before": before, "after": after}});
        if page.has_previous {
            paging["previous"] = json!(link("before", before));
        }
        if page.has_next {
            paging["next"] = json!(link("after", after));
        }
        json!({ "data": data, "paging": paging })
    }

    /// The next `fbtrace_id`.
    fn fbtrace_id(&self, n: u64) -> String {
        let encoded = URL_SAFE_NO_PAD.encode(mix(n ^ 0x0f0b_7ace).to_be_bytes());
        format!("A{}", &encoded[..10])
    }

    /// The usage percent to report: the forced one, or a low value growing slowly with calls.
    fn usage_percent(&self, calls: u64) -> u32 {
        self.usage
            .get()
            .unwrap_or_else(|| 1 + u32::try_from(calls / 100).unwrap_or(u32::MAX).min(8))
    }

    /// The rate-limit headers of one response.
    fn usage_headers(
        &self,
        calls: u64,
        family: Option<&(Family, String)>,
        throttled: bool,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let pct = if throttled {
            100
        } else {
            self.usage_percent(calls)
        };
        let header = |name: &'static str, value: Value| {
            HeaderValue::from_str(&value.to_string())
                .ok()
                .map(|v| (HeaderName::from_static(name), v))
        };
        let mut out = Vec::new();
        out.extend(header(
            "x-app-usage",
            json!({"call_count": pct, "total_time": pct / 2, "total_cputime": pct / 2}),
        ));
        if let Some((family, key)) = family {
            let mut entry = json!({
                "type": family.buc_type(),
                "call_count": pct,
                "total_cputime": pct / 2,
                "total_time": pct / 2,
                "estimated_time_to_regain_access": 0,
            });
            if family.is_ads() {
                entry["ads_api_access_tier"] = json!("standard_access");
            }
            out.extend(header(
                "x-business-use-case-usage",
                json!({ key.as_str(): [entry] }),
            ));
            if family.is_ads() {
                out.extend(header(
                    "x-ad-account-usage",
                    json!({"acc_id_util_pct": f64::from(pct), "reset_time_duration": 0, "ads_api_access_tier": "standard_access"}),
                ));
            }
            if *family == Family::AdsInsights {
                out.extend(header(
                    "x-fb-ads-insights-throttle",
                    json!({"app_id_util_pct": f64::from(pct), "acc_id_util_pct": f64::from(pct), "ads_api_access_tier": "standard_access"}),
                ));
            }
        }
        out
    }

    /// The JSON response with Graph's headers.
    fn finish(
        &self,
        version: Option<&str>,
        family: Option<(Family, String)>,
        result: Result<Value, GraphError>,
        throttled: bool,
    ) -> Response {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed);
        let (status, body) = match result {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => (error.status, error.body(&self.fbtrace_id(calls))),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.extend(self.usage_headers(calls, family.as_ref(), throttled));
        if let Some(version) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static("facebook-api-version"), version);
        }
        response
    }

    /// The Meta response to a status-code fault on `path`.
    fn fault_response(&self, path: &str, kind: FaultKind) -> Option<Response> {
        let mut segments = path
            .trim_start_matches(PREFIX)
            .trim_start_matches('/')
            .split('/');
        let version = segments.next().filter(|v| valid_version(v));
        let id = segments.next().unwrap_or("");
        let edge = segments.next();
        let family = self.family(id, edge);
        let error = fault_error(family.as_ref().map(|(f, _)| *f), kind)?;
        let throttled = error.code != 1 && error.code != 2;
        Some(self.finish(version, family, Err(error), throttled))
    }
}

/// The Graph error a status-code fault stands for, by path family.
fn fault_error(family: Option<Family>, kind: FaultKind) -> Option<GraphError> {
    const MORE: &str = "Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.";
    let app_limit = || GraphError::new(4, "(#4) Application request limit reached").transient(true);
    let error = match kind {
        // The business-use-case throttle of the family (HTTP 403, as users report).
        FaultKind::TooManyRequests => match family {
            Some(Family::Pages) => GraphError::new(
                80001,
                format!("(#80001) There have been too many calls to this Page account. {MORE}"),
            ),
            Some(Family::Instagram) => GraphError::new(
                80002,
                format!("(#80002) There have been too many calls to this Instagram account. {MORE}"),
            ),
            Some(Family::AdsInsights) => GraphError::new(
                80000,
                format!("(#80000) There have been too many calls from this ad-account. {MORE}"),
            )
            .subcode(2_446_079),
            Some(Family::AdsManagement) => GraphError::new(
                80004,
                format!("(#80004) There have been too many calls to this ad-account. {MORE}"),
            )
            .subcode(2_446_079),
            None => app_limit(),
        }
        .transient(true)
        .status(StatusCode::FORBIDDEN),
        // The user / custom-rate throttle of the family.
        FaultKind::TooManyRequestsReset => match family {
            Some(Family::Pages) => GraphError::new(32, "(#32) Page request limit reached"),
            Some(Family::AdsManagement) => GraphError::new(
                613,
                "(#613) Calls to this api have exceeded the rate limit.",
            )
            .subcode(1_487_742)
            .user(
                "Too many calls",
                "There have been too many calls from this ad-account. Please wait a bit and try again.",
            ),
            Some(Family::AdsInsights) => {
                GraphError::new(17, "(#17) User request limit reached").subcode(2_446_079)
            }
            Some(Family::Instagram) | None => {
                GraphError::new(17, "(#17) User request limit reached")
            }
        }
        .transient(true),
        FaultKind::Throttle400 => app_limit(),
        FaultKind::InternalError => GraphError::new(1, "An unknown error occurred")
            .subcode(99)
            .transient(true)
            .status(StatusCode::INTERNAL_SERVER_ERROR),
        FaultKind::Unavailable => GraphError::new(2, "(#2) Service temporarily unavailable")
            .transient(true)
            .status(StatusCode::SERVICE_UNAVAILABLE),
        FaultKind::Error200 => GraphError::new(2, "(#2) Service temporarily unavailable")
            .transient(true)
            .status(StatusCode::OK),
        FaultKind::Slow | FaultKind::Timeout | FaultKind::Truncate | FaultKind::Reset => {
            return None;
        }
    };
    Some(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(valid_version("v25.0"));
        assert!(valid_version("v3.3"));
        assert!(!valid_version("v25"));
        assert!(!valid_version("25.0"));
        assert!(!valid_version("v25.x"));
    }
}
