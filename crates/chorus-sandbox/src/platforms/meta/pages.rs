//! Facebook Pages: the Page node, its posts, Page insights and post insights.

use serde_json::{Map, Value, json};

use super::dataset::{metric_text, page_metric_periods};
use super::graph::{
    self, DAY_SECS, Field, FieldSpec, GraphError, Node, days_in_window, end_time, render,
    summary_edge,
};
use super::{
    DEFAULT_LIMIT, MAX_LIMIT, Meta, PAGE_INSIGHTS_MAX_DAYS, PAGE_METRICS, POST_METRICS, Page, Post,
    RETIRED_METRICS, Req,
};
use crate::auth;
use crate::data::graph_time;

impl Node for Page {
    const TYPE: &'static str = "Page";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "name" => json!(self.name),
            "category" => json!(self.category),
            "fan_count" => json!(self.fan_count),
            "followers_count" => json!(self.followers_count),
            "talking_about_count" => json!(self.talking_about_count),
            "link" => json!(self.link),
            "instagram_business_account" => json!({"id": super::IG_USER_ID}),
            "access_token" => json!(super::TOKEN),
            _ => return Field::Unknown,
        })
    }
}

impl Node for Post {
    const TYPE: &'static str = "PagePost";

    fn id(&self) -> String {
        self.id.clone()
    }

    fn field(&self, spec: &FieldSpec) -> Field {
        Field::Value(match spec.name.as_str() {
            "id" => json!(self.id),
            "created_time" => json!(graph_time(self.created_time)),
            "updated_time" => json!(graph_time(self.updated_time)),
            "message" => match &self.message {
                Some(m) => json!(m),
                None => return Field::Omit,
            },
            "story" => match &self.story {
                Some(s) => json!(s),
                None => return Field::Omit,
            },
            "status_type" => json!(self.status_type),
            "permalink_url" => json!(self.permalink_url),
            "is_published" => json!(true),
            "from" => json!({"name": "Chorus Sandbox Coffee Roasters", "id": super::PAGE_ID}),
            "shares" if self.shares == 0 => return Field::Omit,
            "shares" => json!({"count": self.shares}),
            "reactions" => summary_edge(
                spec,
                json!({"total_count": self.reactions, "viewer_reaction": "NONE"}),
            ),
            "comments" => summary_edge(
                spec,
                json!({"order": "ranked", "total_count": self.comments, "can_comment": true}),
            ),
            _ => return Field::Unknown,
        })
    }
}

/// `GET /{page}`.
pub(super) fn page(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    render(&meta.data().page, &req.fields(&["name", "id"]))
}

/// `GET /me/accounts`: the one Page the user manages, with a Page token.
pub(super) fn accounts(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    let page = &meta.data().page;
    let fields = req.fields(&["access_token", "category", "name", "id", "tasks"]);
    let mut row = Map::new();
    for spec in &fields {
        let value = match spec.name.as_str() {
            "tasks" => json!([
                "ANALYZE",
                "ADVERTISE",
                "MODERATE",
                "CREATE_CONTENT",
                "MANAGE"
            ]),
            _ => match page.field(spec) {
                Field::Value(v) => v,
                Field::Omit => continue,
                Field::Unknown => return Err(GraphError::nonexisting_field(&spec.name, "Page")),
            },
        };
        row.insert(spec.name.clone(), value);
    }
    row.entry("id").or_insert_with(|| json!(page.id));
    let ids = [page.id.clone()];
    let cursor = graph::cursor_page(&req.params, &ids, DEFAULT_LIMIT, MAX_LIMIT)?;
    let data = if cursor.range.is_empty() {
        Vec::new()
    } else {
        vec![Value::Object(row)]
    };
    Ok(meta.cursor_list(req, &cursor, data))
}

/// `GET /{post}`.
pub(super) fn post(req: &Req, post: &Post) -> Result<Value, GraphError> {
    render(
        post,
        &req.fields(&["created_time", "message", "story", "id"]),
    )
}

/// `GET /{page}/posts` (and `/published_posts`, `/feed`): newest first, cursor-paged,
/// `since` (inclusive) and `until` (exclusive) on `created_time`.
pub(super) fn posts(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    let since = opt_time(req, "since")?;
    let until = opt_time(req, "until")?;
    let posts: Vec<&Post> = meta
        .data()
        .posts
        .iter()
        .filter(|p| since.is_none_or(|s| p.created_time >= s))
        .filter(|p| until.is_none_or(|u| p.created_time < u))
        .collect();
    let ids: Vec<String> = posts.iter().map(|p| p.id.clone()).collect();
    let page = graph::cursor_page(&req.params, &ids, DEFAULT_LIMIT, MAX_LIMIT)?;
    let fields = req.fields(&["created_time", "message", "story", "id"]);
    let data = posts[page.range.clone()]
        .iter()
        .map(|p| render(*p, &fields))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(meta.cursor_list(req, &page, data))
}

/// An optional `since`/`until` parameter.
pub(super) fn opt_time(req: &Req, name: &str) -> Result<Option<i64>, GraphError> {
    req.params
        .get(name)
        .map(|raw| graph::parse_time(name, raw))
        .transpose()
}

/// The error of a missing `read_insights` permission.
fn missing_read_insights() -> GraphError {
    GraphError::new(200, "(#200) Requires read_insights permission")
}

/// The requested metrics: 3001/1504028 when none, `(#100)` when any is retired or unknown.
fn metrics<'a>(req: &'a Req, valid: &[&str]) -> Result<Vec<&'a str>, GraphError> {
    let metrics: Vec<&str> = req
        .params
        .get("metric")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if metrics.is_empty() {
        return Err(no_metric());
    }
    if metrics
        .iter()
        .any(|m| RETIRED_METRICS.contains(m) || !valid.contains(m))
    {
        return Err(GraphError::param(
            "The value must be a valid insights metric",
        ));
    }
    let mut unique = Vec::new();
    for m in metrics {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    Ok(unique)
}

/// 3001/1504028: an empty `metric`.
pub(super) fn no_metric() -> GraphError {
    GraphError::new(3001, "Invalid query").subcode(1_504_028).user(
        "No Metric Specified",
        "No metric was specified to be fetched. Please specify one or more metrics to be fetched and try again.",
    )
}

/// The `since`/`until` window of an insights request (default: the last two days), capped at
/// `max_days`.
pub(super) fn insights_window(req: &Req, max_days: i64) -> Result<(i64, i64), GraphError> {
    let now = i64::try_from(auth::now_secs()).unwrap_or(0);
    let until = opt_time(req, "until")?.unwrap_or(now);
    let since = opt_time(req, "since")?.unwrap_or(until - 2 * DAY_SECS);
    if since > until {
        return Err(GraphError::param(
            "The since parameter must be earlier than the until parameter",
        ));
    }
    if until - since > max_days * DAY_SECS {
        return Err(GraphError::param(format!(
            "There cannot be more than {max_days} days ({} s) between since and until",
            max_days * DAY_SECS
        )));
    }
    Ok((since, until))
}

/// `paging.previous`/`next` of an insights response: the same window shifted back and forward.
pub(super) fn window_paging(meta: &Meta, req: &Req, since: i64, until: i64) -> Value {
    let width = (until - since).max(DAY_SECS);
    let base = req
        .params
        .without(&["access_token", "since", "until", "pretty"]);
    let link = |s: i64, u: i64| {
        let mut params = base.clone();
        params.push(("since".to_owned(), s.to_string()));
        params.push(("until".to_owned(), u.to_string()));
        meta.link(req, params)
    };
    json!({
        "previous": link(since - width, since),
        "next": link(until, until + width),
    })
}

/// `GET /{page}/insights?metric=..&period=day&since=&until=`.
pub(super) fn page_insights(meta: &Meta, req: &Req) -> Result<Value, GraphError> {
    if !req.has("read_insights") {
        return Err(missing_read_insights());
    }
    let metrics = metrics(req, PAGE_METRICS)?;
    let periods: Vec<&str> = match req.params.get("period") {
        None => vec!["day", "week", "days_28"],
        Some(p @ ("day" | "week" | "days_28")) => vec![p],
        Some(_) => {
            return Err(GraphError::param(
                "For field 'insights': period must be one of the following values: day, week, days_28, month, lifetime, total_over_range",
            ));
        }
    };
    let (since, until) = insights_window(req, PAGE_INSIGHTS_MAX_DAYS)?;
    let today = graph::today();
    let days: Vec<_> = days_in_window(since, until)
        .into_iter()
        .filter(|d| *d <= today)
        .collect();
    let data = meta.data();
    let mut out = Vec::new();
    for metric in metrics {
        for period in &periods {
            if !page_metric_periods(metric).is_some_and(|p| p.contains(period)) {
                continue;
            }
            let values: Vec<Value> = days
                .iter()
                .filter_map(|day| {
                    let value = data.page_insight_period(metric, period, *day)?;
                    Some(json!({"value": value, "end_time": end_time(*day)}))
                })
                .collect();
            let (title, description) = metric_text(metric, period);
            out.push(json!({
                "name": metric,
                "period": period,
                "values": values,
                "title": title,
                "description": description,
                "id": format!("{}/insights/{metric}/{period}", super::PAGE_ID),
            }));
        }
    }
    Ok(json!({"data": out, "paging": window_paging(meta, req, since, until)}))
}

/// `GET /{post}/insights?metric=..`: lifetime values without `end_time`.
pub(super) fn post_insights(meta: &Meta, req: &Req, post: &Post) -> Result<Value, GraphError> {
    if !req.has("read_insights") {
        return Err(missing_read_insights());
    }
    let metrics = metrics(req, POST_METRICS)?;
    let data = metrics
        .into_iter()
        .filter_map(|metric| {
            let value = meta.data().post_insight(&post.id, metric)?;
            let (title, description) = metric_text(metric, "lifetime");
            Some(json!({
                "name": metric,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": title,
                "description": description,
                "id": format!("{}/insights/{metric}/lifetime", post.id),
            }))
        })
        .collect::<Vec<_>>();
    Ok(json!({ "data": data }))
}
