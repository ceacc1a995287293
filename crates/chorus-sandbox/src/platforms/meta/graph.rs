//! Graph API plumbing every Meta endpoint shares: decoded parameters, the error envelope, the
//! `fields` grammar, node rendering, cursor and time-window paging, and Pacific-day times.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use serde_json::{Map, Value, json};

use crate::data::graph_time;

/// Seconds in a day.
pub(super) const DAY_SECS: i64 = 86_400;

/// Decoded query (and, for POST, form body) parameters, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct Params(pub Vec<(String, String)>);

impl Params {
    /// Decodes a query string and an optional body (form-encoded, or a JSON object when `json`);
    /// body parameters come last. JSON values that are not strings keep their JSON text.
    pub fn parse(query: Option<&str>, body: &[u8], json: bool) -> Result<Self, GraphError> {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| GraphError::param("The query string is malformed"))?;
        if json && !body.is_empty() {
            let object: Map<String, Value> = serde_json::from_slice(body)
                .map_err(|_| GraphError::param("The request body is not a JSON object"))?;
            pairs.extend(object.into_iter().map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            }));
        } else if !body.is_empty() {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| GraphError::param("The request body is malformed"))?;
            pairs.extend(form);
        }
        Ok(Self(pairs))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter except `names`.
    pub fn without(&self, names: &[&str]) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, _)| !names.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// A Graph error (boxed, so `Result`s stay small).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct GraphError(Box<ErrorBody>);

impl std::ops::Deref for GraphError {
    type Target = ErrorBody;

    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for GraphError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

/// The HTTP status and the fields of the `{"error": {...}}` envelope.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ErrorBody {
    pub status: StatusCode,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    pub kind: &'static str,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
    pub transient: Option<bool>,
    pub data: Option<Value>,
}

impl GraphError {
    /// HTTP 400 `OAuthException` with `code` and `message` (which carries its own `(#code)`).
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorBody {
            status: StatusCode::BAD_REQUEST,
            code,
            subcode: None,
            message: message.into(),
            kind: "OAuthException",
            user_title: None,
            user_msg: None,
            transient: None,
            data: None,
        }))
    }

    /// `(#100) {text}`: an invalid parameter.
    pub fn param(text: impl AsRef<str>) -> Self {
        Self::new(100, format!("(#100) {}", text.as_ref()))
    }

    /// `(#100) Tried accessing nonexisting field (f) on node type (T)`.
    pub fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::param(format!(
            "Tried accessing nonexisting field ({field}) on node type ({node_type})"
        ))
    }

    /// The `GraphMethodException` for an id that does not exist or an unsupported method.
    pub fn unsupported(method: &str, id: &str) -> Self {
        let mut error = Self::new(
            100,
            format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. Please \
                 read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .subcode(33);
        error.kind = "GraphMethodException";
        error
    }

    /// HTTP 400 code 190: a missing or unknown access token.
    pub fn invalid_token() -> Self {
        Self::new(
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// This error with a subcode.
    pub fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// This error with an HTTP status.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// This error with `is_transient`.
    pub fn transient(mut self, transient: bool) -> Self {
        self.transient = Some(transient);
        self
    }

    /// This error with `error_user_title` and `error_user_msg`.
    pub fn user(mut self, title: &str, msg: &str) -> Self {
        self.user_title = Some(title.to_owned());
        self.user_msg = Some(msg.to_owned());
        self
    }

    /// The `{"error": {...}}` body with the given `fbtrace_id`.
    pub fn body(&self, fbtrace_id: &str) -> Value {
        let mut error = Map::new();
        error.insert("message".into(), json!(self.message));
        error.insert("type".into(), json!(self.kind));
        error.insert("code".into(), json!(self.code));
        if let Some(subcode) = self.subcode {
            error.insert("error_subcode".into(), json!(subcode));
        }
        if let Some(transient) = self.transient {
            error.insert("is_transient".into(), json!(transient));
        }
        if let Some(title) = &self.user_title {
            error.insert("error_user_title".into(), json!(title));
        }
        if let Some(msg) = &self.user_msg {
            error.insert("error_user_msg".into(), json!(msg));
        }
        if let Some(data) = &self.data {
            error.insert("error_data".into(), data.clone());
        }
        error.insert("fbtrace_id".into(), json!(fbtrace_id));
        json!({ "error": error })
    }
}

/// One entry of a `fields` list, e.g. `reactions.summary(true).limit(0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldSpec {
    /// The field's name (`reactions`).
    pub name: String,
    /// Whether `.summary(true)` (or `summary(total_count)`) was asked for.
    pub summary: bool,
    /// The `.limit(n)` modifier.
    pub limit: Option<usize>,
}

impl FieldSpec {
    /// A plain field.
    pub fn plain(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            summary: false,
            limit: None,
        }
    }
}

/// Splits on commas outside parentheses and braces.
pub(super) fn split_top(raw: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in raw.char_indices() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(raw[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(raw[start..].trim());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Parses `fields`; without it (or when empty) the node's defaults apply.
pub(super) fn parse_fields(raw: Option<&str>, defaults: &[&str]) -> Vec<FieldSpec> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return defaults.iter().map(|f| FieldSpec::plain(f)).collect();
    };
    split_top(raw)
        .into_iter()
        .map(|entry| {
            let end = entry.find(['.', '{', '(']).unwrap_or(entry.len());
            let name = entry[..end].to_owned();
            let modifiers = &entry[end..];
            let summary = modifier(modifiers, "summary").is_some_and(|v| v != "false");
            let limit = modifier(modifiers, "limit").and_then(|v| v.parse().ok());
            FieldSpec {
                name,
                summary,
                limit,
            }
        })
        .collect()
}

/// The argument of `.name(arg)` in a field's modifiers, outside any `{...}` sub-selection.
fn modifier<'a>(modifiers: &'a str, name: &str) -> Option<&'a str> {
    let top = modifiers.split('{').next().unwrap_or("");
    let start = top.find(&format!("{name}("))? + name.len() + 1;
    let len = top[start..].find(')')?;
    Some(top[start..start + len].trim())
}

/// What a node answers for one field.
pub(super) enum Field {
    /// The field's value.
    Value(Value),
    /// A known field that is left out of this object (e.g. `shares` at 0).
    Omit,
    /// A field this node type does not have.
    Unknown,
}

/// A Graph node that can be rendered with a `fields` list.
pub(super) trait Node {
    /// The node type named in "nonexisting field" errors.
    const TYPE: &'static str;
    /// The node's id.
    fn id(&self) -> String;
    /// One field's value.
    fn field(&self, spec: &FieldSpec) -> Field;
}

/// Renders a node with the requested fields; `id` is always included, last when not asked for.
pub(super) fn render<N: Node>(node: &N, fields: &[FieldSpec]) -> Result<Value, GraphError> {
    let mut out = Map::new();
    for spec in fields {
        match node.field(spec) {
            Field::Value(v) => {
                out.insert(spec.name.clone(), v);
            }
            Field::Omit => {}
            Field::Unknown => return Err(GraphError::nonexisting_field(&spec.name, N::TYPE)),
        }
    }
    if !out.contains_key("id") {
        out.insert("id".into(), json!(node.id()));
    }
    Ok(Value::Object(out))
}

/// An edge summary like `reactions.summary(true).limit(0)`: `{"data":[],"summary":{...}}`.
pub(super) fn summary_edge(spec: &FieldSpec, summary: Value) -> Value {
    if spec.summary {
        json!({"data": [], "summary": summary})
    } else {
        json!({"data": []})
    }
}

/// An opaque cursor naming one item.
pub(super) fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{id}"))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("cursor:")
        .map(str::to_owned)
}

/// The slice of one cursor page and its `paging` object (without URLs yet).
pub(super) struct CursorPage {
    /// The indices of the page's items.
    pub range: std::ops::Range<usize>,
    /// The `before` cursor (first item), if the page has items.
    pub before: Option<String>,
    /// The `after` cursor (last item), if the page has items.
    pub after: Option<String>,
    /// Whether items follow this page.
    pub has_next: bool,
    /// Whether items precede this page.
    pub has_previous: bool,
    /// The page size used.
    pub limit: usize,
}

/// Picks one page of `ids` from `limit` (default `default`, capped at `max`) and `after`/`before`.
pub(super) fn cursor_page(
    params: &Params,
    ids: &[String],
    default: usize,
    max: usize,
) -> Result<CursorPage, GraphError> {
    let limit = match params.get("limit") {
        None => default,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .map_err(|_| GraphError::param("Param limit must be a non-negative integer"))?,
    }
    .min(max);
    let position = |cursor: &str| -> Result<usize, GraphError> {
        decode_cursor(cursor)
            .and_then(|id| ids.iter().position(|i| *i == id))
            .ok_or_else(|| GraphError::param("The parameter after or before is not a valid cursor"))
    };
    let range = if let Some(after) = params.get("after") {
        let start = position(after)? + 1;
        start..(start + limit).min(ids.len())
    } else if let Some(before) = params.get("before") {
        let end = position(before)?;
        end.saturating_sub(limit)..end
    } else {
        0..limit.min(ids.len())
    };
    let nonempty = !range.is_empty();
    Ok(CursorPage {
        before: nonempty.then(|| encode_cursor(&ids[range.start])),
        after: nonempty.then(|| encode_cursor(&ids[range.end - 1])),
        has_next: nonempty && range.end < ids.len(),
        has_previous: nonempty && range.start > 0,
        range,
        limit,
    })
}

/// A parsed `since`/`until`: unix seconds, or `YYYY-MM-DD` as Pacific midnight.
pub(super) fn parse_time(name: &str, raw: &str) -> Result<i64, GraphError> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(pacific_midnight(date));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp());
    }
    if let Ok(t) = DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%z") {
        return Ok(t.timestamp());
    }
    Err(GraphError::param(format!(
        "The parameter {name} must be a unix timestamp or a date (YYYY-MM-DD)"
    )))
}

/// Unix seconds of midnight at the start of `date` in America/Los_Angeles.
pub fn pacific_midnight(date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    Los_Angeles
        .from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc().timestamp(), |t| t.timestamp())
}

/// The Pacific calendar date of a unix time.
pub fn pacific_date(unix_secs: i64) -> NaiveDate {
    DateTime::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .with_timezone(&Los_Angeles)
        .date_naive()
}

/// The `end_time` of a daily insights value for the Pacific `day`: the next Pacific midnight,
/// formatted like `2026-01-02T08:00:00+0000` (07:00 in summer).
pub fn end_time(day: NaiveDate) -> String {
    graph_time(pacific_midnight(next_day(day)))
}

/// The day after `day`.
pub(super) fn next_day(day: NaiveDate) -> NaiveDate {
    day.checked_add_days(Days::new(1)).unwrap_or(day)
}

/// The Pacific days whose `end_time` lies in `(since, until]`.
pub(super) fn days_in_window(since: i64, until: i64) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut day = pacific_date(since);
    while pacific_midnight(next_day(day)) <= until && days.len() < 400 {
        if pacific_midnight(next_day(day)) > since {
            days.push(day);
        }
        day = next_day(day);
    }
    days
}

/// Today's UTC date: insights values exist up to and including it.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Formats unix seconds in the ad account's zone: `2026-03-04T10:11:12-0800`.
pub(super) fn account_time(unix_secs: i64) -> String {
    DateTime::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .with_timezone(&Los_Angeles)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_at_the_top_level() {
        let fields = parse_fields(
            Some(
                "id,reactions.summary(true).limit(0),creative{id,name},comments.summary(total_count)",
            ),
            &[],
        );
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "reactions", "creative", "comments"]);
        assert!(fields[1].summary && fields[1].limit == Some(0));
        assert!(!fields[2].summary);
        assert!(fields[3].summary);
    }

    #[test]
    fn end_times_follow_pacific_dst() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(end_time(d("2018-01-01")), "2018-01-02T08:00:00+0000");
        assert_eq!(end_time(d("2017-04-15")), "2017-04-16T07:00:00+0000");
        assert_eq!(
            days_in_window(
                pacific_midnight(d("2018-01-01")),
                pacific_midnight(d("2018-01-03"))
            ),
            [d("2018-01-01"), d("2018-01-02")]
        );
        assert_eq!(
            days_in_window(1_492_272_745, 1_492_359_145),
            [d("2017-04-15")]
        );
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor("1_2")).as_deref(), Some("1_2"));
    }
}
