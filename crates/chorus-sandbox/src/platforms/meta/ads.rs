//! The Marketing API: the ad account, campaigns/adsets/ads with `filtering`, sync insights and
//! async report runs; plus the generated ad objects and their daily delivery.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::graph::{
    self, DAY_SECS, Field, FieldSpec, GraphError, Node, Params, account_time, render,
};
use super::{AD_ACCOUNT_ID, Meta, Req};
use crate::data::Rng;

/// Campaigns per unit of scale.
pub const CAMPAIGNS_PER_SCALE: usize = 6;
/// The page size of Marketing API edges when `limit` is absent.
pub const ADS_DEFAULT_LIMIT: usize = 25;
/// The largest `limit` of Marketing API edges (larger values are capped).
pub const ADS_MAX_LIMIT: usize = 500;
/// A sync insights request whose rows (time buckets × entities at the level) exceed this gets
/// 100/1487534.
pub const SYNC_MAX_ROWS: usize = 1_000;
/// An async job at level `adset` or `ad` whose rows exceed this ends `Job Failed`.
pub const ASYNC_MAX_ROWS: usize = 5_000;
/// The polls of `GET /{report_run_id}` a job takes to finish (Not Started, Started, Running,
/// then Completed or Failed).
pub const JOB_POLLS: u32 = 4;
/// Fields `/act_{id}/insights` accepts.
pub const AD_INSIGHTS_FIELDS: &[&str] = &[
    "account_id",
    "account_name",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "objective",
    "impressions",
    "reach",
    "clicks",
    "inline_link_clicks",
    "spend",
    "ctr",
    "cpc",
    "cpm",
    "frequency",
    "actions",
    "action_values",
    "date_start",
    "date_stop",
];

/// The ad account.
#[derive(Debug, Clone, Serialize)]
pub struct AdAccount {
    /// `act_{AD_ACCOUNT_ID}`.
    pub id: String,
    /// [`AD_ACCOUNT_ID`].
    pub account_id: String,
    /// The account name.
    pub name: String,
    /// 1 = active.
    pub account_status: u32,
    /// The currency.
    pub currency: String,
    /// The account's zone; insights dates and object timestamps are in it.
    pub timezone_name: String,
}

/// A campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// The id.
    pub id: String,
    /// The name.
    pub name: String,
    /// `ACTIVE`, `PAUSED`, `ARCHIVED` or `DELETED`.
    pub status: String,
    /// The status including the parents' (for a campaign, its own).
    pub effective_status: String,
    /// The objective.
    pub objective: String,
    /// Creation time, unix seconds.
    pub created_time: i64,
    /// Last update, unix seconds.
    pub updated_time: i64,
}

/// An ad set.
#[derive(Debug, Clone, Serialize)]
pub struct AdSet {
    /// The id.
    pub id: String,
    /// The parent campaign.
    pub campaign_id: String,
    /// The name.
    pub name: String,
    /// Its own status.
    pub status: String,
    /// The status including the campaign's (`CAMPAIGN_PAUSED`, ...).
    pub effective_status: String,
    /// The daily budget in cents.
    pub daily_budget: u64,
    /// Creation time, unix seconds.
    pub created_time: i64,
    /// Last update, unix seconds.
    pub updated_time: i64,
}

/// An ad.
#[derive(Debug, Clone, Serialize)]
pub struct Ad {
    /// The id.
    pub id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The ad set.
    pub adset_id: String,
    /// The name.
    pub name: String,
    /// Its own status.
    pub status: String,
    /// The status including the parents' (`ADSET_PAUSED`, `CAMPAIGN_PAUSED`, ...).
    pub effective_status: String,
    /// The creative's id.
    pub creative_id: String,
    /// Creation time, unix seconds.
    pub created_time: i64,
    /// Last update, unix seconds.
    pub updated_time: i64,
}

/// One ad's delivery on one day (account time zone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AdDay {
    /// Impressions.
    pub impressions: u64,
    /// Reach (summed as-is when rows are aggregated).
    pub reach: u64,
    /// Clicks (all).
    pub clicks: u64,
    /// Link clicks (`inline_link_clicks`, action `link_click`).
    pub link_clicks: u64,
    /// Post engagements (action `post_engagement`).
    pub post_engagement: u64,
    /// Purchases (action `purchase`).
    pub purchases: u64,
    /// Spend in cents.
    pub spend_cents: u64,
    /// Purchase value in cents (`action_values` `purchase`).
    pub purchase_value_cents: u64,
}

impl std::ops::AddAssign for AdDay {
    fn add_assign(&mut self, o: Self) {
        self.impressions += o.impressions;
        self.reach += o.reach;
        self.clicks += o.clicks;
        self.link_clicks += o.link_clicks;
        self.post_engagement += o.post_engagement;
        self.purchases += o.purchases;
        self.spend_cents += o.spend_cents;
        self.purchase_value_cents += o.purchase_value_cents;
    }
}

/// The generated Marketing API objects.
pub(super) struct Generated {
    pub account: AdAccount,
    pub campaigns: Vec<Campaign>,
    pub adsets: Vec<AdSet>,
    pub ads: Vec<Ad>,
}

fn pick_status(rng: &mut Rng) -> &'static str {
    let draw = rng.below(100);
    match draw {
        0..60 => "ACTIVE",
        60..80 => "PAUSED",
        80..90 => "ARCHIVED",
        _ => "DELETED",
    }
}

/// The effective status of a child whose own status is `own`, under a parent with `parent`
/// effective status.
fn effective(own: &str, parent: &str, paused_name: &str) -> String {
    match parent {
        "DELETED" | "ARCHIVED" => parent.to_owned(),
        _ if own != "ACTIVE" => own.to_owned(),
        "PAUSED" => paused_name.to_owned(),
        "ACTIVE" => "ACTIVE".to_owned(),
        inherited => inherited.to_owned(),
    }
}

/// Generates the Marketing API objects, created in `[from, to)` (unix seconds).
pub(super) fn generate(seed: u64, scale: usize, (from, to): (i64, i64)) -> Generated {
    let mut rng = Rng::new(seed, "meta/ads");
    let created_span = u64::try_from(to - from - 60 * DAY_SECS).unwrap_or(1);
    let time_after = |rng: &mut Rng, after: i64| {
        let span = u64::try_from(to - after).unwrap_or(1).max(1);
        after + i64::try_from(rng.below(span)).unwrap_or(0)
    };
    let objectives = [
        "OUTCOME_TRAFFIC",
        "OUTCOME_SALES",
        "OUTCOME_ENGAGEMENT",
        "OUTCOME_AWARENESS",
    ];
    let (mut campaigns, mut adsets, mut ads) = (Vec::new(), Vec::new(), Vec::new());
    let mut starts: Vec<i64> = (0..CAMPAIGNS_PER_SCALE * scale.max(1))
        .map(|_| from + i64::try_from(rng.below(created_span)).unwrap_or(0))
        .collect();
    starts.sort_unstable();
    for (c, created) in starts.into_iter().enumerate() {
        let status = pick_status(&mut rng);
        let campaign = Campaign {
            id: format!("{}", 120_210_000_000_000_000u64 + c as u64 * 10_007),
            name: format!(
                "Campaign {} - {}",
                c + 1,
                rng.pick(&["Spring", "Summer", "Launch", "Always on"])
            ),
            status: status.to_owned(),
            effective_status: status.to_owned(),
            objective: rng.pick(&objectives).to_string(),
            created_time: created,
            updated_time: time_after(&mut rng, created),
        };
        for _ in 0..1 + rng.below(3) {
            let own = pick_status(&mut rng);
            let created = time_after(&mut rng, created).min(created + 5 * DAY_SECS);
            let adset = AdSet {
                id: format!(
                    "{}",
                    120_211_000_000_000_000u64 + adsets.len() as u64 * 10_009
                ),
                campaign_id: campaign.id.clone(),
                name: format!("Ad set {}", adsets.len() + 1),
                status: own.to_owned(),
                effective_status: effective(own, &campaign.effective_status, "CAMPAIGN_PAUSED"),
                daily_budget: 1_000 + rng.below(20) * 500,
                created_time: created,
                updated_time: time_after(&mut rng, created),
            };
            for _ in 0..1 + rng.below(3) {
                let own = pick_status(&mut rng);
                let created = time_after(&mut rng, created).min(created + 3 * DAY_SECS);
                let parent = match adset.effective_status.as_str() {
                    "PAUSED" => "ADSET_PAUSED",
                    other => other,
                };
                let effective_status = match parent {
                    "ADSET_PAUSED" | "CAMPAIGN_PAUSED" if own == "ACTIVE" => parent.to_owned(),
                    _ => effective(own, parent, "ADSET_PAUSED"),
                };
                ads.push(Ad {
                    id: format!("{}", 120_212_000_000_000_000u64 + ads.len() as u64 * 10_037),
                    campaign_id: campaign.id.clone(),
                    adset_id: adset.id.clone(),
                    name: format!("Ad {}", ads.len() + 1),
                    status: own.to_owned(),
                    effective_status,
                    creative_id: format!("{}", 120_213_000_000_000_000u64 + ads.len() as u64 * 7),
                    created_time: created,
                    updated_time: time_after(&mut rng, created),
                });
            }
            adsets.push(adset);
        }
        campaigns.push(campaign);
    }
    let account = AdAccount {
        id: format!("act_{AD_ACCOUNT_ID}"),
        account_id: AD_ACCOUNT_ID.to_owned(),
        name: "Chorus Sandbox Ads".to_owned(),
        account_status: 1,
        currency: "USD".to_owned(),
        timezone_name: "America/Los_Angeles".to_owned(),
    };
    campaigns.reverse();
    adsets.reverse();
    ads.reverse();
    Generated {
        account,
        campaigns,
        adsets,
        ads,
    }
}

impl super::Dataset {
    /// The ad with this id.
    pub fn ad(&self, id: &str) -> Option<&Ad> {
        self.ads.iter().find(|a| a.id == id)
    }

    /// One ad's delivery on `day` (account zone); `None` when it did not deliver: before its
    /// creation, after it stopped (not `ACTIVE`: stopped at `updated_time`), or on a quiet
    /// day. Pure: the server additionally serves only days up to UTC today.
    pub fn ad_insights(&self, ad_id: &str, day: NaiveDate) -> Option<AdDay> {
        let ad = self.ad(ad_id)?;
        if day < graph::pacific_date(ad.created_time) {
            return None;
        }
        if ad.effective_status != "ACTIVE" && day > graph::pacific_date(ad.updated_time) {
            return None;
        }
        let mut rng = Rng::new(self.seed, &format!("meta/{ad_id}/delivery/{day}"));
        if rng.chance(0.08) {
            return None;
        }
        let impressions = 200 + rng.below(4_800);
        let reach = impressions * (60 + rng.below(30)) / 100;
        let clicks = impressions * (5 + rng.below(25)) / 1_000;
        let link_clicks = clicks * (40 + rng.below(50)) / 100;
        let purchases = rng.below(4);
        Some(AdDay {
            impressions,
            reach,
            clicks,
            link_clicks,
            post_engagement: clicks + rng.below(40),
            purchases,
            spend_cents: impressions * (500 + rng.below(1_000)) / 1_000,
            purchase_value_cents: purchases * (1_500 + rng.below(4_500)),
        })
    }
}

impl Node for AdAccount {
    const TYPE: &'static str = "AdAccount";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "account_id" => json!(self.account_id),
            "name" => json!(self.name),
            "account_status" => json!(self.account_status),
            "currency" => json!(self.currency),
            "timezone_name" => json!(self.timezone_name),
            "timezone_offset_hours_utc" => {
                let now = i64::try_from(crate::auth::now_secs()).unwrap_or(0);
                let offset = account_time(now);
                let hours: i64 = offset[offset.len() - 5..offset.len() - 2]
                    .parse()
                    .unwrap_or(-8);
                json!(hours)
            }
            "business_name" => json!("Chorus Sandbox Coffee Roasters"),
            _ => return Field::Unknown,
        })
    }
}

impl Node for Campaign {
    const TYPE: &'static str = "Campaign";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "account_id" => json!(AD_ACCOUNT_ID),
            "name" => json!(self.name),
            "status" | "configured_status" => json!(self.status),
            "effective_status" => json!(self.effective_status),
            "objective" => json!(self.objective),
            "buying_type" => json!("AUCTION"),
            "created_time" => json!(account_time(self.created_time)),
            "updated_time" => json!(account_time(self.updated_time)),
            "start_time" => json!(account_time(self.created_time)),
            _ => return Field::Unknown,
        })
    }
}

impl Node for AdSet {
    const TYPE: &'static str = "AdSet";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "account_id" => json!(AD_ACCOUNT_ID),
            "campaign_id" => json!(self.campaign_id),
            "name" => json!(self.name),
            "status" | "configured_status" => json!(self.status),
            "effective_status" => json!(self.effective_status),
            "daily_budget" => json!(self.daily_budget.to_string()),
            "optimization_goal" => json!("LINK_CLICKS"),
            "billing_event" => json!("IMPRESSIONS"),
            "created_time" => json!(account_time(self.created_time)),
            "updated_time" => json!(account_time(self.updated_time)),
            "start_time" => json!(account_time(self.created_time)),
            _ => return Field::Unknown,
        })
    }
}

impl Node for Ad {
    const TYPE: &'static str = "Ad";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "account_id" => json!(AD_ACCOUNT_ID),
            "campaign_id" => json!(self.campaign_id),
            "adset_id" => json!(self.adset_id),
            "name" => json!(self.name),
            "status" | "configured_status" => json!(self.status),
            "effective_status" => json!(self.effective_status),
            "creative" => json!({"id": self.creative_id}),
            "created_time" => json!(account_time(self.created_time)),
            "updated_time" => json!(account_time(self.updated_time)),
            _ => return Field::Unknown,
        })
    }
}

/// A Marketing API object the list edges serve.
trait AdObject: Node {
    fn updated(&self) -> i64;
    fn effective_status(&self) -> &str;
}

impl AdObject for Campaign {
    fn updated(&self) -> i64 {
        self.updated_time
    }
    fn effective_status(&self) -> &str {
        &self.effective_status
    }
}

impl AdObject for AdSet {
    fn updated(&self) -> i64 {
        self.updated_time
    }
    fn effective_status(&self) -> &str {
        &self.effective_status
    }
}

impl AdObject for Ad {
    fn updated(&self) -> i64 {
        self.updated_time
    }
    fn effective_status(&self) -> &str {
        &self.effective_status
    }
}

/// One parsed `filtering` entry.
#[derive(Debug, Clone)]
struct Filter {
    field: String,
    operator: String,
    value: Value,
}

/// Parses `filtering` (a JSON array of `{field, operator, value}`).
fn filters(params: &Params) -> Result<Vec<Filter>, GraphError> {
    let Some(raw) = params.get("filtering") else {
        return Ok(Vec::new());
    };
    let parsed: Vec<Value> = serde_json::from_str(raw)
        .map_err(|_| GraphError::param("param filtering must be an array."))?;
    parsed
        .into_iter()
        .map(|f| {
            let text = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
            match (text("field"), text("operator"), f.get("value")) {
                (Some(field), Some(operator), Some(value)) => Ok(Filter {
                    field,
                    operator,
                    value: value.clone(),
                }),
                _ => Err(GraphError::param(
                    "param filtering must be an array of objects with field, operator and value",
                )),
            }
        })
        .collect()
}

/// The statuses an `effective_status` filter (or parameter) allows; `None` when there is none.
fn status_filter(
    filters: &[Filter],
    params: &Params,
    entity: &str,
) -> Result<Option<(bool, Vec<String>)>, GraphError> {
    let mut out = None;
    if let Some(raw) = params.get("effective_status") {
        let list: Vec<String> = serde_json::from_str(raw)
            .map_err(|_| GraphError::param("param effective_status must be an array."))?;
        out = Some((true, list));
    }
    for f in filters {
        if f.field == "effective_status" || f.field == format!("{entity}.effective_status") {
            let list: Vec<String> = serde_json::from_value(f.value.clone()).map_err(|_| {
                GraphError::param("The value of an effective_status filter must be an array")
            })?;
            let include = match f.operator.as_str() {
                "IN" => true,
                "NOT_IN" => false,
                other => return Err(invalid_operator(other, &f.field)),
            };
            out = Some((include, list));
        }
    }
    Ok(out)
}

fn invalid_operator(operator: &str, field: &str) -> GraphError {
    GraphError::param(format!(
        "Filtering operator '{operator}' is not supported for field '{field}'"
    ))
}

/// Whether an object passes the default (no DELETED/ARCHIVED) or the given status filter.
fn status_ok(status: &str, filter: Option<&(bool, Vec<String>)>) -> bool {
    match filter {
        None => !matches!(status, "DELETED" | "ARCHIVED"),
        Some((include, list)) => list.iter().any(|s| s == status) == *include,
    }
}

/// `GET /act_{id}/campaigns|adsets|ads`.
pub(super) fn list(meta: &Meta, req: &Req, edge: &str) -> Result<Value, GraphError> {
    let data = meta.data();
    match edge {
        "campaigns" => list_of(meta, req, "campaign", &data.campaigns),
        "adsets" => list_of(meta, req, "adset", &data.adsets),
        _ => list_of(meta, req, "ad", &data.ads),
    }
}

fn list_of<T: AdObject>(
    meta: &Meta,
    req: &Req,
    entity: &str,
    objects: &[T],
) -> Result<Value, GraphError> {
    let filters = filters(&req.params)?;
    let status = status_filter(&filters, &req.params, entity)?;
    let mut updated: Vec<(String, i64)> = Vec::new();
    for f in &filters {
        let field = f.field.as_str();
        if field == "effective_status" || field == format!("{entity}.effective_status") {
            continue;
        }
        if field != "updated_time" && field != format!("{entity}.updated_time") {
            return Err(GraphError::param(format!(
                "Filtering field '{field}' is not supported"
            )));
        }
        let value = f
            .value
            .as_i64()
            .or_else(|| f.value.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                GraphError::param("The value of an updated_time filter must be a unix timestamp")
            })?;
        updated.push((f.operator.clone(), value));
    }
    for (operator, _) in &updated {
        if !matches!(
            operator.as_str(),
            "GREATER_THAN" | "GREATER_THAN_OR_EQUAL" | "LESS_THAN" | "LESS_THAN_OR_EQUAL"
        ) {
            return Err(invalid_operator(
                operator,
                &format!("{entity}.updated_time"),
            ));
        }
    }
    let kept: Vec<&T> = objects
        .iter()
        .filter(|o| status_ok(o.effective_status(), status.as_ref()))
        .filter(|o| {
            updated.iter().all(|(op, v)| match op.as_str() {
                "GREATER_THAN" => o.updated() > *v,
                "GREATER_THAN_OR_EQUAL" => o.updated() >= *v,
                "LESS_THAN" => o.updated() < *v,
                _ => o.updated() <= *v,
            })
        })
        .collect();
    let ids: Vec<String> = kept.iter().map(|o| o.id()).collect();
    let page = graph::cursor_page(&req.params, &ids, ADS_DEFAULT_LIMIT, ADS_MAX_LIMIT)?;
    let fields = req.fields(&["id"]);
    let rows = kept[page.range.clone()]
        .iter()
        .map(|o| render(*o, &fields))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(meta.cursor_list(req, &page, rows))
}

/// `GET /act_{id}`.
pub(super) fn account(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    render(&meta.data().ad_account, &req.fields(&["account_id", "id"]))
}

/// A validated insights query.
#[derive(Debug, Clone)]
pub(super) struct Query {
    level: String,
    fields: Vec<String>,
    /// Inclusive date buckets, in order.
    buckets: Vec<(NaiveDate, NaiveDate)>,
    /// The ids of the entities at the level that pass the filters.
    entities: Vec<String>,
    since: NaiveDate,
    until: NaiveDate,
    /// The campaign, ad set or ad the request was made on (`None` for the account).
    scope: Option<String>,
}

impl Query {
    /// Whether an ad is under the request's object.
    fn covers(&self, ad: &Ad) -> bool {
        self.scope
            .as_deref()
            .is_none_or(|s| ad.campaign_id == s || ad.adset_id == s || ad.id == s)
    }

    /// Rows the query asks for (buckets × entities), the measure of "too much data".
    pub fn size(&self) -> usize {
        self.buckets.len() * self.entities.len().max(1)
    }

    /// Whether the level is fine-grained (adset or ad).
    pub fn fine(&self) -> bool {
        matches!(self.level.as_str(), "adset" | "ad")
    }
}

/// Parses and validates an insights request on the account (`scope` `None`) or on a campaign,
/// ad set or ad (`scope` its kind and id; the default level is then its kind).
pub(super) fn query(
    meta: &Meta,
    params: &Params,
    scope: Option<(&str, &str)>,
) -> Result<Query, GraphError> {
    let level = params
        .get("level")
        .unwrap_or(scope.map_or("account", |(kind, _)| kind))
        .to_owned();
    if !matches!(level.as_str(), "account" | "campaign" | "adset" | "ad") {
        return Err(GraphError::param(
            "param level must be one of {ad, adset, campaign, account}",
        ));
    }
    let fields: Vec<String> = match params.get("fields").filter(|f| !f.trim().is_empty()) {
        Some(raw) => graph::split_top(raw)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => vec!["impressions".to_owned(), "spend".to_owned()],
    };
    for (i, f) in fields.iter().enumerate() {
        if !AD_INSIGHTS_FIELDS.contains(&f.as_str()) {
            return Err(GraphError::param(format!(
                "fields[{i}] {f} is not valid for fields param. please check https://developers.facebook.com/docs/marketing-api/reference/ads-insights/"
            )));
        }
    }
    let today = graph::today();
    let (since, until) = if let Some(raw) = params.get("time_range") {
        let range: Value = serde_json::from_str(raw).map_err(|_| {
            GraphError::param("param time_range must be an object with since and until")
        })?;
        let date = |k: &str| {
            range
                .get(k)
                .and_then(Value::as_str)
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    GraphError::param(format!("time_range.{k} must be a date (YYYY-MM-DD)"))
                })
        };
        (date("since")?, date("until")?)
    } else {
        let preset_name = params.get("date_preset").unwrap_or("last_30d");
        preset(preset_name, today, meta.data().data_start)?
    };
    if since > until {
        return Err(GraphError::param(
            "time_range.since must not be after time_range.until",
        ));
    }
    let step = match params.get("time_increment").unwrap_or("all_days") {
        "all_days" => None,
        raw => match raw.parse::<i64>() {
            Ok(n @ 1..=90) => Some(n),
            _ => {
                return Err(GraphError::param(
                    "param time_increment must be all_days or an integer between 1 and 90",
                ));
            }
        },
    };
    let mut buckets = Vec::new();
    match step {
        None => buckets.push((since, until)),
        Some(n) => {
            let mut start = since;
            while start <= until && buckets.len() < 40_000 {
                let end = (start + Duration::days(n - 1)).min(until);
                buckets.push((start, end));
                start = end + Duration::days(1);
            }
        }
    }
    let filters = filters(params)?;
    let status = status_filter(&filters, params, &level)?;
    for f in &filters {
        if !f.field.ends_with("effective_status") {
            return Err(GraphError::param(format!(
                "Filtering field '{}' is not supported",
                f.field
            )));
        }
    }
    let data = meta.data();
    let scope = scope.map(|(_, id)| id.to_owned());
    let under = |f: &dyn Fn(&Ad) -> bool| {
        data.ads.iter().any(|ad| {
            f(ad)
                && scope
                    .as_deref()
                    .is_none_or(|s| ad.campaign_id == s || ad.adset_id == s || ad.id == s)
        })
    };
    let entities: Vec<String> = match level.as_str() {
        "account" => vec![AD_ACCOUNT_ID.to_owned()],
        "campaign" => data
            .campaigns
            .iter()
            .filter(|c| status_ok(&c.effective_status, status.as_ref()))
            .filter(|c| {
                scope.as_deref() == Some(c.id.as_str()) || under(&|ad| ad.campaign_id == c.id)
            })
            .map(|c| c.id.clone())
            .collect(),
        "adset" => data
            .adsets
            .iter()
            .filter(|a| status_ok(&a.effective_status, status.as_ref()))
            .filter(|a| scope.as_deref() == Some(a.id.as_str()) || under(&|ad| ad.adset_id == a.id))
            .map(|a| a.id.clone())
            .collect(),
        _ => data
            .ads
            .iter()
            .filter(|a| status_ok(&a.effective_status, status.as_ref()))
            .filter(|a| under(&|ad| ad.id == a.id))
            .map(|a| a.id.clone())
            .collect(),
    };
    Ok(Query {
        level,
        fields,
        buckets,
        entities,
        since,
        until,
        scope,
    })
}

/// The `(since, until)` of a `date_preset` (`maximum` starts at the data's first day).
fn preset(
    name: &str,
    today: NaiveDate,
    data_start: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), GraphError> {
    let yesterday = today - Duration::days(1);
    let last = |n: i64| Ok((today - Duration::days(n), yesterday));
    match name {
        "today" => Ok((today, today)),
        "yesterday" => Ok((yesterday, yesterday)),
        "last_3d" => last(3),
        "last_7d" => last(7),
        "last_14d" => last(14),
        "last_28d" => last(28),
        "last_30d" => last(30),
        "last_90d" => last(90),
        "this_month" => Ok((today.with_day(1).unwrap_or(today), today)),
        "maximum" => Ok((data_start, today)),
        _ => Err(GraphError::param(
            "param date_preset must be one of {today, yesterday, this_month, maximum, last_3d, last_7d, last_14d, last_28d, last_30d, last_90d}",
        )),
    }
}

/// Formats cents like Graph's `spend`: `12.5`, `3`, `0.07`.
fn money(cents: u64) -> String {
    trim(format!("{}.{:02}", cents / 100, cents % 100))
}

/// A decimal with up to six places, trailing zeros trimmed.
fn decimal(x: f64) -> String {
    trim(format!("{x:.6}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The rows of a query: one per (bucket, entity) that delivered, ordered by date then id.
pub(super) fn rows(meta: &Meta, q: &Query) -> Vec<Value> {
    let data = meta.data();
    let today = graph::today();
    let account = &data.ad_account;
    let mut out = Vec::new();
    for (start, end) in &q.buckets {
        let mut by_entity: BTreeMap<&str, AdDay> = BTreeMap::new();
        for ad in data.ads.iter().filter(|ad| q.covers(ad)) {
            let key = match q.level.as_str() {
                "account" => AD_ACCOUNT_ID,
                "campaign" => ad.campaign_id.as_str(),
                "adset" => ad.adset_id.as_str(),
                _ => ad.id.as_str(),
            };
            if !q.entities.iter().any(|e| e == key) {
                continue;
            }
            let mut day = *start;
            while day <= *end && day <= today {
                if let Some(d) = data.ad_insights(&ad.id, day) {
                    *by_entity.entry(key).or_default() += d;
                }
                day += Duration::days(1);
            }
        }
        for (key, total) in by_entity {
            let ad = data.ads.iter().find(|a| match q.level.as_str() {
                "campaign" => a.campaign_id == key,
                "adset" => a.adset_id == key,
                "ad" => a.id == key,
                _ => true,
            });
            let campaign = ad.and_then(|a| data.campaigns.iter().find(|c| c.id == a.campaign_id));
            let adset = ad.and_then(|a| data.adsets.iter().find(|s| s.id == a.adset_id));
            let fine = |needed: &[&str]| needed.contains(&q.level.as_str());
            let mut row = Map::new();
            for f in &q.fields {
                let v = match f.as_str() {
                    "account_id" => json!(account.account_id),
                    "account_name" => json!(account.name),
                    "account_currency" => json!(account.currency),
                    "campaign_id" if fine(&["campaign", "adset", "ad"]) => {
                        json!(campaign.map(|c| &c.id))
                    }
                    "campaign_name" if fine(&["campaign", "adset", "ad"]) => {
                        json!(campaign.map(|c| &c.name))
                    }
                    "objective" if fine(&["campaign", "adset", "ad"]) => {
                        json!(campaign.map(|c| &c.objective))
                    }
                    "adset_id" if fine(&["adset", "ad"]) => json!(adset.map(|s| &s.id)),
                    "adset_name" if fine(&["adset", "ad"]) => json!(adset.map(|s| &s.name)),
                    "ad_id" if fine(&["ad"]) => json!(ad.map(|a| &a.id)),
                    "ad_name" if fine(&["ad"]) => json!(ad.map(|a| &a.name)),
                    "impressions" => json!(total.impressions.to_string()),
                    "reach" => json!(total.reach.to_string()),
                    "clicks" => json!(total.clicks.to_string()),
                    "inline_link_clicks" => json!(total.link_clicks.to_string()),
                    "spend" => json!(money(total.spend_cents)),
                    "ctr" => json!(decimal(ratio(total.clicks * 100, total.impressions))),
                    "cpc" if total.clicks > 0 => {
                        json!(decimal(ratio(total.spend_cents, total.clicks) / 100.0))
                    }
                    "cpm" => json!(decimal(ratio(total.spend_cents * 10, total.impressions))),
                    "frequency" => json!(decimal(ratio(total.impressions, total.reach))),
                    "actions" => {
                        let mut actions = Vec::new();
                        for (kind, n) in [
                            ("link_click", total.link_clicks),
                            ("post_engagement", total.post_engagement),
                            ("page_engagement", total.post_engagement),
                            ("purchase", total.purchases),
                        ] {
                            if n > 0 {
                                actions.push(json!({"action_type": kind, "value": n.to_string()}));
                            }
                        }
                        if actions.is_empty() {
                            continue;
                        }
                        json!(actions)
                    }
                    "action_values" if total.purchase_value_cents > 0 => json!([
                        {"action_type": "purchase", "value": money(total.purchase_value_cents)}
                    ]),
                    _ => continue,
                };
                row.insert(f.clone(), v);
            }
            row.insert("date_start".into(), json!(start.to_string()));
            row.insert("date_stop".into(), json!(end.to_string()));
            out.push(Value::Object(row));
        }
    }
    out
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A cursor-paged insights response over precomputed rows (cursors are row positions).
fn paged_rows(meta: &Meta, req: &Req, rows: Vec<Value>) -> Result<Value, GraphError> {
    let ids: Vec<String> = (0..rows.len()).map(|i| i.to_string()).collect();
    let page = graph::cursor_page(&req.params, &ids, ADS_DEFAULT_LIMIT, ADS_MAX_LIMIT)?;
    let data = rows[page.range.clone()].to_vec();
    Ok(meta.cursor_list(req, &page, data))
}

/// 100/1487534: too much data in one request.
fn too_much_data() -> GraphError {
    GraphError::new(
        100,
        "Please reduce the amount of data you're asking for, then retry your request",
    )
    .subcode(1_487_534)
    .transient(false)
    .user(
        "Too much data requested",
        "Please reduce the amount of data you're asking for, then retry your request",
    )
}

/// `GET /act_{id}/insights` (sync), or `GET /{campaign|adset|ad}/insights` with `scope`.
pub(super) fn insights(
    meta: &Meta,
    req: &Req,
    scope: Option<(&str, &str)>,
) -> Result<Value, GraphError> {
    let q = query(meta, &req.params, scope)?;
    if q.size() > SYNC_MAX_ROWS {
        return Err(too_much_data());
    }
    paged_rows(meta, req, rows(meta, &q))
}

/// One async report run.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub id: String,
    query: Query,
    polls: u32,
    fails: bool,
    created: i64,
}

impl Job {
    fn status(&self) -> (&'static str, u32) {
        match (self.polls, self.fails) {
            (0 | 1, _) => ("Job Not Started", 0),
            (2, _) => ("Job Started", 0),
            (p, _) if p < JOB_POLLS => ("Job Running", 50),
            (_, true) => ("Job Failed", 50),
            (_, false) => ("Job Completed", 100),
        }
    }
}

/// `POST /act_{id}/insights`: starts an async job.
pub(super) fn start_job(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    let q = query(meta, &req.params, None)?;
    let fails = q.fine() && q.size() > ASYNC_MAX_ROWS;
    let id = meta.new_job(|id| Job {
        id,
        query: q,
        polls: 0,
        fails,
        created: i64::try_from(crate::auth::now_secs()).unwrap_or(0),
    });
    Ok(json!({ "report_run_id": id }))
}

/// `GET /{report_run_id}`: each poll moves the job one step.
pub(super) fn poll_job(job: &mut Job) -> Value {
    job.polls += 1;
    let (status, percent) = job.status();
    let mut out = json!({
        "id": job.id,
        "account_id": AD_ACCOUNT_ID,
        "time_ref": job.created,
        "async_status": status,
        "async_percent_completion": percent,
        "date_start": job.query.since.to_string(),
        "date_stop": job.query.until.to_string(),
        "is_running": !matches!(status, "Job Completed" | "Job Failed"),
    });
    if status == "Job Completed" {
        out["time_completed"] = json!(job.created + 1);
    }
    out
}

/// `GET /{report_run_id}/insights`.
pub(super) fn job_insights(meta: &Meta, req: &Req, job: &Job) -> Result<Value, GraphError> {
    match job.status().0 {
        "Job Completed" => paged_rows(meta, req, rows(meta, &job.query)),
        "Job Failed" => Err(GraphError::new(
            -2,
            "Report Failed. Generating the report failed. Try again later.",
        )
        .subcode(2_490_547)
        .transient(false)
        .user(
            "Report Failed",
            "Generating the report failed. Try again later.",
        )),
        _ => Err(GraphError::param(
            "The report is not ready yet: poll the report run until async_status is Job Completed",
        )),
    }
}
