//! `POST /ga4/v1beta/properties/{id}:runReport`: auth, property access, the request body, the
//! quotas, and the report itself.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{Days, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::dataset::{DIMENSIONS, format_value, metric_type};
use super::{
    CURRENCY, FORBIDDEN_PROPERTY_ID, Ga4, GoogleError, NO_SCOPE, PROPERTY_ID, TIME_ZONE,
    TOKEN_SCOPE, google_error,
};
use crate::auth::{self, TokenStatus};

/// The row limit when the request has none.
pub const DEFAULT_LIMIT: u64 = 10_000;
/// The most rows one response carries, whatever the limit.
pub const MAX_LIMIT: u64 = 250_000;
/// The most date ranges a request may have.
pub const MAX_DATE_RANGES: usize = 4;

const SCHEMA_HINT: &str = "For a list of valid dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema ";

/// The fields a `RunReportRequest` may have (the path's `property` aside).
const REQUEST_FIELDS: &[&str] = &[
    "property",
    "dimensions",
    "metrics",
    "dateRanges",
    "dimensionFilter",
    "metricFilter",
    "offset",
    "limit",
    "metricAggregations",
    "orderBys",
    "currencyCode",
    "cohortSpec",
    "keepEmptyRows",
    "returnPropertyQuota",
    "comparisons",
];

type Reply = Result<Response, GoogleError>;

fn invalid(message: &str) -> GoogleError {
    google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

/// The handler.
pub(super) async fn run_report(
    State(state): State<Arc<Ga4>>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state
        .run_report(&target, &headers, &body)
        .unwrap_or_else(IntoResponse::into_response)
}

/// Today in the property's zone.
fn property_today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}

/// A `dateRanges` bound: `YYYY-MM-DD`, `NdaysAgo`, `yesterday` or `today`.
fn parse_date(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    match text {
        "today" => Some(today),
        "yesterday" => today.checked_sub_days(Days::new(1)),
        _ => {
            if let Some(n) = text.strip_suffix("daysAgo") {
                return today.checked_sub_days(Days::new(n.parse().ok()?));
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
        }
    }
}

/// An int64 field, which proto3 JSON allows as a number or a string.
fn int64(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, GoogleError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(&format!("Invalid value at '{name}' (TYPE_INT64)"))),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| invalid(&format!("Invalid value at '{name}' (TYPE_INT64), \"{s}\""))),
        Some(_) => Err(invalid(&format!("Invalid value at '{name}' (TYPE_INT64)"))),
    }
}

/// The `name`s of a list of `{name}` objects.
fn names(body: &Map<String, Value>, field: &str) -> Vec<String> {
    body.get(field)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Ga4 {
    fn run_report(&self, target: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
        // Auth first: Google answers 401 before it looks at the property.
        match auth::bearer_token(headers) {
            None => {
                return Err(google_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                ));
            }
            Some(token) => {
                if self.tokens.check(token, NO_SCOPE) == TokenStatus::Valid {
                    return Err(google_error(
                        StatusCode::FORBIDDEN,
                        "PERMISSION_DENIED",
                        "Request had insufficient authentication scopes.",
                    ));
                }
                if self.tokens.check(token, TOKEN_SCOPE) != TokenStatus::Valid {
                    return Err(google_error(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHENTICATED",
                        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                    ));
                }
            }
        }
        let Some(property) = target.strip_suffix(":runReport") else {
            return Err(google_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested URL was not found on this server.",
            ));
        };
        if property.is_empty() || !property.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(&format!(
                "Invalid property ID: {property}. A numeric Property ID is required. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id."
            )));
        }
        if property != PROPERTY_ID || property == FORBIDDEN_PROPERTY_ID {
            return Err(google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property. To learn more about Property ID, see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
            ));
        }
        let _slot = self.quota.enter().map_err(exhausted)?;
        let body: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
            invalid("Invalid JSON payload received. Expected an object at the top level.")
        })?;
        if let Some(unknown) = body.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
            return Err(invalid(&format!(
                "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
            )));
        }
        let dimensions = names(&body, "dimensions");
        let metrics = names(&body, "metrics");
        if let Some(d) = dimensions
            .iter()
            .find(|d| !DIMENSIONS.contains(&d.as_str()))
        {
            return Err(invalid(&format!(
                "Field {d} is not a valid dimension. {SCHEMA_HINT}"
            )));
        }
        if let Some(m) = metrics.iter().find(|m| metric_type(m).is_none()) {
            return Err(invalid(&format!(
                "Field {m} is not a valid metric. {SCHEMA_HINT}"
            )));
        }
        let today = property_today();
        let (from, to) = self.date_range(&body, today)?;
        let limit = match int64(&body, "limit")? {
            None => DEFAULT_LIMIT,
            Some(n) if n > 0 => (n as u64).min(MAX_LIMIT),
            Some(_) => return Err(invalid("limit must be positive.")),
        };
        let offset = match int64(&body, "offset")? {
            None => 0,
            Some(n) if n >= 0 => n as u64,
            Some(_) => return Err(invalid("offset must be non-negative.")),
        };
        self.quota.admit().map_err(exhausted)?;

        let dims: Vec<&str> = dimensions.iter().map(String::as_str).collect();
        let mets: Vec<&str> = metrics.iter().map(String::as_str).collect();
        let mut rows = self.truth.ga4.report(from, to, today, &dims, &mets);
        order(&mut rows, &body, &dims, &mets);
        let row_count = rows.len();
        let page: Vec<Value> = rows
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(key, values)| {
                json!({
                    "dimensionValues": key.iter().map(|v| json!({"value": v})).collect::<Vec<_>>(),
                    "metricValues": mets.iter().zip(values).map(|(m, v)| {
                        json!({"value": format_value(metric_type(m).unwrap_or("TYPE_FLOAT"), *v)})
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        let days = (to - from).num_days().max(0) as u64 + 1;
        let columns = (dims.len() + mets.len()) as u64;
        let tokens = 1 + (page.len() as u64 * columns).div_ceil(1000) + days / 30;
        let quota = self.quota.charge(tokens as i64);

        let mut answer = Map::new();
        answer.insert(
            "dimensionHeaders".into(),
            json!(dims.iter().map(|d| json!({"name": d})).collect::<Vec<_>>()),
        );
        answer.insert(
            "metricHeaders".into(),
            json!(
                mets.iter()
                    .map(|m| json!({"name": m, "type": metric_type(m)}))
                    .collect::<Vec<_>>()
            ),
        );
        // proto3 JSON leaves out empty lists and zero counts.
        if row_count > 0 {
            answer.insert("rows".into(), Value::Array(page));
            answer.insert("rowCount".into(), json!(row_count));
        }
        let currency = body
            .get("currencyCode")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or(CURRENCY);
        answer.insert(
            "metadata".into(),
            json!({"currencyCode": currency, "timeZone": TIME_ZONE}),
        );
        if body.get("returnPropertyQuota").and_then(Value::as_bool) == Some(true) {
            answer.insert("propertyQuota".into(), quota);
        }
        answer.insert("kind".into(), json!("analyticsData#runReport"));
        Ok((StatusCode::OK, axum::Json(Value::Object(answer))).into_response())
    }

    /// The one date range, inclusive.
    fn date_range(
        &self,
        body: &Map<String, Value>,
        today: NaiveDate,
    ) -> Result<(NaiveDate, NaiveDate), GoogleError> {
        let ranges = body
            .get("dateRanges")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if ranges.is_empty() {
            return Err(invalid(
                "Must specify at least one date range unless this is a cohort request.",
            ));
        }
        if ranges.len() > MAX_DATE_RANGES {
            return Err(invalid(&format!(
                "Requests are limited to {MAX_DATE_RANGES} dateRanges."
            )));
        }
        if ranges.len() > 1 {
            return Err(invalid(
                "The chorus sandbox does not emulate more than one date range.",
            ));
        }
        let bound = |name: &str| {
            let text = ranges[0].get(name).and_then(Value::as_str).unwrap_or("");
            parse_date(text, today).ok_or_else(|| {
                invalid(&format!(
                    "Invalid {name}: \"{text}\". Dates must be YYYY-MM-DD, NdaysAgo, yesterday, or today."
                ))
            })
        };
        let (from, to) = (bound("startDate")?, bound("endDate")?);
        if from > to {
            return Err(invalid(&format!(
                "Invalid date range. startDate ({from}) must be before or equal to endDate ({to})."
            )));
        }
        Ok((from, to))
    }
}

fn exhausted(e: super::Exhausted) -> GoogleError {
    google_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        &e.to_string(),
    )
}

/// Sorts rows by `orderBys` (dimension values or metric values); without them rows stay in
/// dimension-value order.
fn order(
    rows: &mut [(Vec<String>, Vec<f64>)],
    body: &Map<String, Value>,
    dims: &[&str],
    mets: &[&str],
) {
    let Some(order_bys) = body.get("orderBys").and_then(Value::as_array) else {
        return;
    };
    enum Key {
        Dim(usize, bool),
        Met(usize, bool),
    }
    let keys: Vec<Key> = order_bys
        .iter()
        .filter_map(|o| {
            let desc = o.get("desc").and_then(Value::as_bool).unwrap_or(false);
            if let Some(name) = o
                .pointer("/dimension/dimensionName")
                .and_then(Value::as_str)
            {
                return dims
                    .iter()
                    .position(|d| *d == name)
                    .map(|i| Key::Dim(i, desc));
            }
            let name = o.pointer("/metric/metricName").and_then(Value::as_str)?;
            mets.iter()
                .position(|m| *m == name)
                .map(|i| Key::Met(i, desc))
        })
        .collect();
    rows.sort_by(|a, b| {
        for key in &keys {
            let (ord, desc) = match key {
                Key::Dim(i, desc) => (a.0[*i].cmp(&b.0[*i]), *desc),
                Key::Met(i, desc) => (a.1[*i].total_cmp(&b.1[*i]), *desc),
            };
            let ord = if desc { ord.reverse() } else { ord };
            if ord.is_ne() {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_take_every_documented_form() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let d = |s: &str| parse_date(s, today).map(|d| d.to_string());
        assert_eq!(d("today").unwrap(), "2026-03-10");
        assert_eq!(d("yesterday").unwrap(), "2026-03-09");
        assert_eq!(d("7daysAgo").unwrap(), "2026-03-03");
        assert_eq!(d("2026-01-02").unwrap(), "2026-01-02");
        assert_eq!(d("20260102"), None);
    }
}
