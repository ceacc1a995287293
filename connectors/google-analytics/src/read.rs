//! Reading a report: the client of one property, day slices with a checkpoint after each,
//! offset paging until `rowCount` rows have arrived, typed batches, and the quota rules.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use chorus_core::{
    Cursor, Error, ErrorKind, EventStream, ReadContext, Result, StreamEvent, StreamSpec,
    StreamState,
};
use chorus_http::produce::{Tx, events};
use chorus_http::{Auth, ClientConfig, HttpClient, Request};
use chrono::{Days, NaiveDate, NaiveTime, Utc};
use reqwest::Method;
use serde_json::json;

use crate::api::{Answer, Ga4Hook, PropertyQuota, Quota, RunReportResponse, answer};
use crate::config::{SCOPE, Settings};
use crate::error::ReportError;
use crate::streams::Report;

/// How a source talks HTTP: client settings and the waits for exhausted quotas (tests make
/// them short).
#[derive(Debug, Clone)]
pub struct Http {
    /// Timeouts and retries; its concurrency is replaced by `max_concurrent_requests`.
    pub config: ClientConfig,
    /// The wait before trying again after an hourly quota ran out.
    pub quota_wait: Duration,
    /// The longest one request waits for hourly quotas before the stream stops at its last
    /// checkpoint.
    pub max_quota_wait: Duration,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            config: ClientConfig::default(),
            quota_wait: Duration::from_secs(5 * 60),
            max_quota_wait: Duration::from_secs(65 * 60),
        }
    }
}

/// What one property's streams share: settings, the client (one token exchange per run) and
/// the quota seen last.
pub struct Property {
    /// The checked settings.
    pub settings: Settings,
    client: HttpClient,
    http: Http,
    quota: Mutex<Option<PropertyQuota>>,
    tokens_used: AtomicI64,
}

/// Why a read stopped early without failing.
#[derive(Debug)]
pub struct Stop(pub String);

impl Property {
    /// The client and state of a property.
    pub fn new(settings: Settings, http: Http) -> Result<Self> {
        let mut config = http.config.clone();
        config.concurrency = settings.concurrency as usize;
        let auth = Auth::ServiceAccount {
            key: Box::new(settings.key.clone()),
            scopes: vec![SCOPE.to_owned()],
        };
        let client = HttpClient::new(auth, config, Arc::new(Ga4Hook))?;
        Ok(Self {
            settings,
            client,
            http,
            quota: Mutex::new(None),
            tokens_used: AtomicI64::new(0),
        })
    }

    /// Token exchanges made so far (one per run is the rule).
    pub fn exchanges(&self) -> u64 {
        self.client.stats.exchanges.load(Ordering::Relaxed)
    }

    /// Quota tokens the property's requests consumed so far.
    pub fn tokens_used(&self) -> i64 {
        self.tokens_used.load(Ordering::Relaxed)
    }

    /// The quota reported by the last response.
    pub fn last_quota(&self) -> Option<PropertyQuota> {
        *self.quota.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn url(&self) -> String {
        format!(
            "{}/v1beta/properties/{}:runReport",
            self.settings.base_url, self.settings.property_id
        )
    }

    /// Adds what to do to an error, by what it says.
    pub fn explain(&self, e: Error) -> Error {
        let email = &self.settings.key.client_email;
        let id = &self.settings.property_id;
        let m = e.message();
        let hint = if m.contains("token exchange was refused") {
            format!(
                "Google refused the service-account key of {email}; create a new JSON key (IAM > Service accounts > Keys) and update the variable or file it comes from"
            )
        } else if m.contains("PERMISSION_DENIED") {
            format!(
                "add {email} as a Viewer of property {id} (GA4 Admin > Property access management), and check that property_id is right"
            )
        } else if e.kind() == ErrorKind::Auth {
            "the access token was refused; check the service-account key".to_owned()
        } else if m.contains("INVALID_ARGUMENT") {
            "fix the report's dimensions or metrics in the pipeline (API names are case-sensitive)"
                .to_owned()
        } else {
            return e;
        };
        Error::new(e.kind(), format!("{m}; {hint}"))
    }

    /// Runs one `runReport`, waiting for hourly quotas; `Err(Stop)` when the day's tokens (or
    /// the patience for hourly ones) are gone.
    pub async fn run_report(
        &self,
        body: &serde_json::Value,
        doing: &str,
    ) -> Result<std::result::Result<RunReportResponse, Stop>> {
        let mut waited = Duration::ZERO;
        let mut req = Request::get(self.url());
        req.method = Method::POST;
        req.json = Some(body.clone());
        loop {
            if let Some(q) = self.last_quota() {
                let left = |s: Option<crate::api::QuotaStatus>| s.map_or(i64::MAX, |s| s.remaining);
                if left(q.tokens_per_day) <= 0 {
                    return Ok(Err(Stop(
                        "the property's tokens for today are used up (propertyQuota.tokensPerDay)"
                            .to_owned(),
                    )));
                }
                if left(q.tokens_per_hour).min(left(q.tokens_per_project_per_hour)) <= 0 {
                    *self.quota.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    if !self
                        .wait_for_quota(&mut waited, "hourly tokens used up", doing)
                        .await
                    {
                        return Ok(Err(Stop(
                            "the hourly tokens did not come back in time".into(),
                        )));
                    }
                }
            }
            let outcome = self
                .client
                .execute(&req, answer)
                .await
                .map_err(|e| self.explain(e.context(doing)))?;
            match outcome {
                Answer::Report(report) => {
                    if let Some(q) = report.property_quota {
                        if let Some(day) = q.tokens_per_day {
                            self.tokens_used.fetch_add(day.consumed, Ordering::Relaxed);
                        }
                        tracing::debug!(
                            tokens_per_hour = ?q.tokens_per_hour.map(|s| s.remaining),
                            tokens_per_project_per_hour = ?q.tokens_per_project_per_hour.map(|s| s.remaining),
                            tokens_per_day = ?q.tokens_per_day.map(|s| s.remaining),
                            "GA4 quota left."
                        );
                        *self.quota.lock().unwrap_or_else(|p| p.into_inner()) = Some(q);
                    }
                    return Ok(Ok(report));
                }
                Answer::Exhausted(Quota::Daily, message) => {
                    return Ok(Err(Stop(format!("GA4 said: {message}"))));
                }
                Answer::Exhausted(_, message) => {
                    if !self.wait_for_quota(&mut waited, &message, doing).await {
                        return Ok(Err(Stop(format!(
                            "GA4 said: {message}, and the quota did not come back within {}s",
                            self.http.max_quota_wait.as_secs()
                        ))));
                    }
                }
            }
        }
    }

    /// Waits for the next quota window unless that would pass `max_quota_wait`.
    async fn wait_for_quota(&self, waited: &mut Duration, why: &str, doing: &str) -> bool {
        let wait = self.http.quota_wait;
        if *waited + wait > self.http.max_quota_wait {
            return false;
        }
        tracing::warn!(
            request = %doing,
            reason = %why,
            wait_secs = wait.as_secs_f64(),
            "GA4 quota exhausted, waiting for the next window."
        );
        tokio::time::sleep(wait).await;
        *waited += wait;
        true
    }
}

/// The `runReport` body of one page.
pub fn request_body(
    report: &Report,
    from: NaiveDate,
    to: NaiveDate,
    offset: u64,
    limit: u32,
) -> serde_json::Value {
    let named = |list: &[String]| list.iter().map(|n| json!({"name": n})).collect::<Vec<_>>();
    // A total order over every dimension keeps offset paging stable.
    let order: Vec<_> = report
        .dimensions
        .iter()
        .map(|d| json!({"dimension": {"dimensionName": d}}))
        .collect();
    json!({
        "dateRanges": [{"startDate": from.to_string(), "endDate": to.to_string()}],
        "dimensions": named(&report.dimensions),
        "metrics": named(&report.metrics),
        "limit": limit,
        "offset": offset,
        "orderBys": order,
        "keepEmptyRows": false,
        "returnPropertyQuota": true,
    })
}

/// Midnight UTC at the start of `day`: how a day is written in the cursor.
pub fn day_cursor(day: NaiveDate) -> chrono::DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The days a read covers, inclusive: from the saved cursor minus the lookback (or the
/// window's start, or `start_date`) to `end_date`, the window's end or today (UTC).
///
/// GA4's dates are the property's calendar days, and a window's dates are taken as those days.
/// An RFC 3339 instant in the window selects the UTC days that begin inside it: the property's
/// zone is known only from a report's answer.
pub fn read_days(
    cx: &ReadContext,
    spec: &StreamSpec,
    settings: &Settings,
) -> (NaiveDate, NaiveDate) {
    let default_start = day_cursor(settings.start_date);
    let start = match cx.window.start_day(&Utc) {
        Some(day) => day,
        None => cx
            .start_time(spec.lookback, Some(default_start))
            .unwrap_or(default_start)
            .date_naive(),
    };
    let today = Utc::now().date_naive();
    let mut last = settings.end_date.unwrap_or(today).min(today);
    if let Some(end) = cx.window.end_day(&Utc) {
        last = last.min(end.pred_opt().unwrap_or(end));
    }
    (start, last)
}

/// Whether GA4 can still restate a row of `day`: until `lookback_days` full days have passed.
pub fn is_final(day: NaiveDate, today: NaiveDate, lookback_days: u32) -> bool {
    day.checked_add_days(Days::new(u64::from(lookback_days)))
        .is_some_and(|d| d < today)
}

/// Today in the property's time zone (UTC when GA4 names a zone chorus does not know).
fn property_today(time_zone: Option<&str>) -> NaiveDate {
    let now = Utc::now();
    time_zone
        .and_then(|tz| tz.parse::<chrono_tz::Tz>().ok())
        .map_or_else(
            || now.date_naive(),
            |tz| now.with_timezone(&tz).date_naive(),
        )
}

/// One report stream of a property.
pub struct ReportStream {
    /// What the stream declares.
    pub spec: StreamSpec,
    /// The report.
    pub report: Report,
    /// The property.
    pub property: Arc<Property>,
}

impl ReportStream {
    /// Reads the report, slice by slice.
    pub fn read(&self, cx: ReadContext) -> EventStream {
        let spec = self.spec.clone();
        let report = self.report.clone();
        let property = Arc::clone(&self.property);
        events(move |tx| async move { read_report(&property, &spec, &report, cx, &tx).await })
    }
}

async fn read_report(
    property: &Property,
    spec: &StreamSpec,
    report: &Report,
    cx: ReadContext,
    tx: &Tx,
) -> Result<()> {
    let settings = &property.settings;
    let (first, last) = read_days(&cx, spec, settings);
    let mut from = first;
    let (mut rows_read, mut other_rows) = (0u64, 0u64);
    let mut warned_loss = false;
    while from <= last {
        let to = from
            .checked_add_days(Days::new(u64::from(settings.slice_days) - 1))
            .unwrap_or(last)
            .min(last);
        let mut offset = 0u64;
        loop {
            let doing = format!(
                "reading GA4 report \"{}\" of property {} for {from}..{to} at row {offset}",
                report.name, settings.property_id
            );
            let body = request_body(report, from, to, offset, settings.page_size);
            let answer = match property.run_report(&body, &doing).await? {
                Ok(answer) => answer,
                Err(Stop(why)) => {
                    tracing::warn!(
                        stream = %spec.name,
                        reason = %why,
                        resume_from = %from,
                        "GA4 quota exhausted; the stream stops at its last checkpoint and the next run resumes from there."
                    );
                    return Ok(());
                }
            };
            if answer.metadata.data_loss_from_other_row && !warned_loss {
                warned_loss = true;
                tracing::warn!(stream = %spec.name, "GA4 folded rows of this report into \"(other)\" (too many distinct values); narrow it with fewer dimensions or shorter slices.");
            }
            let received = answer.rows.len() as u64;
            let today = property_today(answer.metadata.time_zone.as_deref());
            let (batch, skipped) = to_batch(&spec.schema, report, settings, &answer, today)
                .map_err(|e| Error::from(e).context(&doing))?;
            other_rows += skipped;
            rows_read += batch.num_rows() as u64;
            if batch.num_rows() > 0 && tx.send(Ok(StreamEvent::Batch(batch))).await.is_err() {
                return Ok(());
            }
            offset += received;
            if received == 0 || offset >= answer.row_count {
                break;
            }
        }
        let next = to.checked_add_days(Days::new(1)).unwrap_or(to);
        let checkpoint = StreamState::at(Cursor::Timestamp(day_cursor(next)));
        if tx
            .send(Ok(StreamEvent::Checkpoint(checkpoint)))
            .await
            .is_err()
        {
            return Ok(());
        }
        from = next;
        if next == to {
            break;
        }
    }
    if other_rows > 0 {
        tracing::warn!(stream = %spec.name, rows = other_rows, "GA4 sent \"(other)\" rows without a date; they are left out.");
    }
    tracing::debug!(stream = %spec.name, rows = rows_read, tokens = property.tokens_used(), "GA4 report read.");
    Ok(())
}

/// The rows of one answer as a batch of `schema`; also the number of rows left out because
/// GA4 folded them into `(other)` (they have no date).
pub fn to_batch(
    schema: &SchemaRef,
    report: &Report,
    settings: &Settings,
    answer: &RunReportResponse,
    today: NaiveDate,
) -> std::result::Result<(RecordBatch, u64), ReportError> {
    let got: Vec<&str> = answer
        .dimension_headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    let got_metrics: Vec<&str> = answer
        .metric_headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    // An empty answer may leave out its headers; rows without them cannot be read.
    if !answer.rows.is_empty() && (got != report.dimensions || got_metrics != report.metrics) {
        return Err(ReportError::Headers {
            asked: [report.dimensions.clone(), report.metrics.clone()].concat(),
            got: got
                .iter()
                .chain(&got_metrics)
                .map(|s| (*s).to_owned())
                .collect(),
        });
    }
    let dims = report.dimensions.len();
    let date_index = report.dimensions.iter().position(|d| d == "date");
    let mut keep = Vec::with_capacity(answer.rows.len());
    let mut dates = Vec::with_capacity(answer.rows.len());
    let mut skipped = 0;
    for (i, row) in answer.rows.iter().enumerate() {
        if row.dimension_values.len() != dims || row.metric_values.len() != report.metrics.len() {
            return Err(ReportError::RowShape { row: i });
        }
        let date = match date_index {
            Some(d) => {
                let text = row.dimension_values[d].value.as_deref().unwrap_or("");
                if text == "(other)" {
                    skipped += 1;
                    continue;
                }
                Some(parse_date(text).ok_or_else(|| ReportError::BadValue {
                    column: "date".into(),
                    value: text.to_owned(),
                    expected: "a YYYYMMDD date",
                })?)
            }
            None => None,
        };
        keep.push(row);
        dates.push(date);
    }
    let n = keep.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    columns.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(settings.property_id.as_str(), n),
    )));
    for (d, field) in schema.fields().iter().skip(1).take(dims).enumerate() {
        if field.data_type() == &DataType::Date32 {
            columns.push(Arc::new(Date32Array::from_iter_values(
                dates.iter().map(|d| d.map_or(0, date32)),
            )));
        } else {
            columns.push(Arc::new(StringArray::from_iter_values(keep.iter().map(
                |r| {
                    r.dimension_values[d]
                        .value
                        .as_deref()
                        .unwrap_or("(not set)")
                },
            ))));
        }
    }
    for (m, field) in schema
        .fields()
        .iter()
        .skip(1 + dims)
        .take(report.metrics.len())
        .enumerate()
    {
        let kind = answer.metric_headers.get(m).map_or("", |h| h.kind.as_str());
        let text =
            |r: &&crate::api::Row| r.metric_values[m].value.clone().filter(|v| !v.is_empty());
        if field.data_type() == &DataType::Int64 {
            if n > 0 && kind != "TYPE_INTEGER" {
                warn_retyped(&report.metrics[m], kind, field.name());
            }
            let values = keep
                .iter()
                .map(|r| {
                    text(r)
                        .map(|v| {
                            whole_number(&v).ok_or_else(|| ReportError::BadValue {
                                column: field.name().clone(),
                                value: v.clone(),
                                expected: "a whole number (the column is int64)",
                            })
                        })
                        .transpose()
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            columns.push(Arc::new(Int64Array::from(values)));
        } else {
            let values = keep
                .iter()
                .map(|r| {
                    text(r)
                        .map(|v| {
                            v.parse::<f64>().map_err(|_| ReportError::BadValue {
                                column: field.name().clone(),
                                value: v.clone(),
                                expected: "a number",
                            })
                        })
                        .transpose()
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            columns.push(Arc::new(Float64Array::from(values)));
        }
    }
    let currency = answer.metadata.currency_code.as_deref();
    columns.push(Arc::new(StringArray::from(vec![currency; n])));
    columns.push(Arc::new(BooleanArray::from(
        dates
            .iter()
            .map(|d| d.is_some_and(|d| is_final(d, today, settings.lookback_days)))
            .collect::<Vec<_>>(),
    )));
    let batch = RecordBatch::try_new(Arc::clone(schema), columns)
        .map_err(|e| ReportError::Batch(e.to_string()))?;
    Ok((batch, skipped))
}

/// An integer metric's value: `12`, or a whole number written as a float (`12.0`, `1.2e3`),
/// which is how a metric arrives when GA4 types it `TYPE_FLOAT`; `None` when it is not whole.
fn whole_number(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    let v = text.parse::<f64>().ok()?;
    // 2^63 is the first f64 past i64::MAX; every whole f64 below it converts exactly.
    let whole = v.is_finite() && v.fract() == 0.0 && v.abs() < 2f64.powi(63);
    whole.then_some(v as i64)
}

/// Warns, once per metric and type for the whole process, that GA4 typed an integer metric
/// otherwise. The Data API's own examples disagree on the types of some metrics, so this is
/// no reason to fail: whole values still fit the column, and the column keeps its type.
fn warn_retyped(metric: &str, kind: &str, column: &str) {
    static WARNED: std::sync::OnceLock<Mutex<std::collections::BTreeSet<String>>> =
        std::sync::OnceLock::new();
    let key = format!("{metric} {kind}");
    let first = WARNED
        .get_or_init(Default::default)
        .lock()
        .map(|mut w| w.insert(key))
        .unwrap_or(true);
    if first {
        tracing::warn!(
            metric,
            column,
            r#type = kind,
            "GA4 typed an integer metric as another type; its whole values are kept in the int64 column, and a value that is not whole fails the stream."
        );
    }
}

/// A GA4 `date` value, `YYYYMMDD`.
fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y%m%d").ok()
}

/// Days since 1970-01-01, as Arrow's `Date32` counts them.
fn date32(day: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((day - epoch).num_days()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;
    use chrono::NaiveDate;

    use super::{to_batch, whole_number};
    use crate::api::RunReportResponse;
    use crate::config::tests::settings;
    use crate::error::ReportError;
    use crate::streams::report_schema;

    /// A `runReport` answer whose `sessions` header says `type`, with these values.
    fn answer(kind: &str, values: &[&str]) -> RunReportResponse {
        let rows: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::json!({
                    "dimensionValues": [{"value": format!("202611{:02}", i + 1)}],
                    "metricValues": [{"value": v}],
                })
            })
            .collect();
        let body = serde_json::json!({
            "dimensionHeaders": [{"name": "date"}],
            "metricHeaders": [{"name": "sessions", "type": kind}],
            "rows": rows,
            "rowCount": values.len(),
            "metadata": {"currencyCode": "USD", "timeZone": "America/Los_Angeles"},
            "kind": "analyticsData#runReport",
        });
        RunReportResponse::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn an_integer_metric_typed_float_keeps_its_int64_column() {
        let s = settings(
            "[[reports]]\nname = \"daily\"\ndimensions = [\"date\"]\nmetrics = [\"sessions\"]\n",
        )
        .unwrap();
        let report = &s.reports[0];
        let schema = report_schema(report);
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        for kind in ["TYPE_INTEGER", "TYPE_FLOAT"] {
            let (batch, _) = to_batch(
                &schema,
                report,
                &s,
                &answer(kind, &["12", "7.0", ""]),
                today,
            )
            .unwrap();
            assert_eq!(batch.schema(), schema, "{kind}");
            let sessions = batch
                .column_by_name("sessions")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            assert_eq!(
                sessions.iter().collect::<Vec<_>>(),
                vec![Some(12), Some(7), None],
                "{kind}"
            );
        }
        // A fraction cannot be an int64 without changing the column: the stream says so.
        let err =
            to_batch(&schema, report, &s, &answer("TYPE_FLOAT", &["7.5"]), today).unwrap_err();
        assert!(matches!(err, ReportError::BadValue { .. }), "{err}");
        assert!(err.to_string().contains("7.5"), "{err}");
    }

    #[test]
    fn integer_metrics_take_whole_numbers_in_either_notation() {
        assert_eq!(whole_number("12"), Some(12));
        assert_eq!(whole_number("-3"), Some(-3));
        assert_eq!(whole_number("12.0"), Some(12));
        assert_eq!(whole_number("1.2e3"), Some(1200));
        assert_eq!(
            whole_number("9007199254740993"),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(whole_number("12.5"), None);
        assert_eq!(whole_number("NaN"), None);
        assert_eq!(whole_number("inf"), None);
        assert_eq!(whole_number("1e300"), None);
        assert_eq!(whole_number(""), None);
    }
}
