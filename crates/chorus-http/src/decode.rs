//! JSON pages straight into Arrow builders.
//!
//! A [`PageDecoder`] walks one response body with serde, once: values under the records path
//! are appended to the column builders of the stream's schema (following each column's JSON
//! path, so `reactions.summary.total_count` can fill `reactions`), values at capture paths
//! (`paging.next`, `response_metadata.next_cursor`, `rowCount`) are kept as strings for the
//! paginator, and everything else is skipped without being built. No `serde_json::Value` is
//! made per record.
//!
//! Coercions: ids and other strings accept numbers (`"id": 123` → `"123"`); integers and
//! floats accept numeric strings; timestamps accept ISO 8601 with `Z`, `+00:00` or `+0000`
//! offsets, dates (midnight UTC), and unix seconds as numbers or numeric strings; dates accept
//! `YYYY-MM-DD` and `YYYYMMDD`. A value that fits none of these fails the page with an error
//! naming the column, the record and the value.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The JSON path of each column, when it is not the column's own name.
pub type FieldPaths = Vec<(String, String)>;

/// Object keys are short and come from the schema, not from an adversary choosing collisions,
/// so the decoder hashes them with Fx rather than SipHash (which cost 4 % of a run's CPU).
type KeyMap<V> = HashMap<String, V, rustc_hash::FxBuildHasher>;

#[derive(Debug, Default)]
struct Node {
    column: Option<usize>,
    children: KeyMap<Node>,
}

impl Node {
    fn insert(&mut self, path: &[&str], column: usize) {
        match path.split_first() {
            None => self.column = Some(column),
            Some((head, rest)) => self
                .children
                .entry((*head).to_owned())
                .or_default()
                .insert(rest, column),
        }
    }
}

enum Builder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date32(Date32Builder),
    ListUtf8(ListBuilder<StringBuilder>),
}

impl Builder {
    /// A builder for `data_type` with room for `rows` values and, for strings, `bytes` bytes.
    fn new(data_type: &DataType, rows: usize, bytes: usize) -> Result<Self, String> {
        Ok(match data_type {
            DataType::Utf8 => Builder::Utf8(StringBuilder::with_capacity(rows, bytes)),
            DataType::Int64 => Builder::Int64(Int64Builder::with_capacity(rows)),
            DataType::Float64 => Builder::Float64(Float64Builder::with_capacity(rows)),
            DataType::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(rows)),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => Builder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_timezone_opt(tz.clone()),
            ),
            DataType::Date32 => Builder::Date32(Date32Builder::with_capacity(rows)),
            DataType::List(f) if f.data_type() == &DataType::Utf8 => Builder::ListUtf8(
                ListBuilder::with_capacity(StringBuilder::with_capacity(rows, bytes), rows)
                    .with_field(Arc::clone(f)),
            ),
            other => {
                return Err(format!(
                    "columns of type {other} cannot be decoded from JSON yet"
                ));
            }
        })
    }

    fn append_null(&mut self) {
        match self {
            Builder::Utf8(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Boolean(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Date32(b) => b.append_null(),
            Builder::ListUtf8(b) => b.append_null(),
        }
    }

    /// The bytes of string data this builder holds, the size hint for the next page's builder.
    fn string_bytes(&self) -> usize {
        match self {
            Builder::Utf8(b) => b.values_slice().len(),
            Builder::ListUtf8(b) => b.values_ref().values_slice().len(),
            _ => 0,
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Date32(b) => Arc::new(b.finish()),
            Builder::ListUtf8(b) => Arc::new(b.finish()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Builder::Utf8(_) => "string",
            Builder::Int64(_) => "int64",
            Builder::Float64(_) => "float64",
            Builder::Boolean(_) => "bool",
            Builder::Timestamp(_) => "timestamp",
            Builder::Date32(_) => "date",
            Builder::ListUtf8(_) => "list of strings",
        }
    }
}

/// Parses a timestamp as the platforms send them, to microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    // Nearly every value is ISO 8601 with a `Z`, `+00:00` or `+0000` offset; reading it by hand
    // skips chrono's format-string machinery, which was 6 % of a posts run's CPU.
    if let Some(t) = iso_timestamp(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    // `+0000` offsets (Graph API), with or without fractional seconds.
    for fmt in ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_micros());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Some(d) = parse_date(s) {
        return Some(i64::from(d) * 86_400_000_000);
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(|secs| (secs * 1e6) as i64)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` to microseconds since the epoch, or `None`
/// for anything else (including leap seconds), which the general parser then tries.
fn iso_timestamp(b: &[u8]) -> Option<i64> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let Some((b'.', frac)) = rest.split_first() {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let kept = &frac[..digits.min(6)];
        micros = i64::from(num(kept)?) * 10i64.pow(6 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let local = date
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp();
    Some((local - offset_secs) * 1_000_000 + micros)
}

/// Parses `YYYY-MM-DD` or `YYYYMMDD` to days since the epoch.
pub fn parse_date(s: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y%m%d"))
        .ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// What one page held besides its records.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Captured {
    /// Values at the capture paths, as strings (`None` when absent or null).
    pub values: Vec<Option<String>>,
}

/// Why a page could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// What is wrong, naming the record and column for a value that does not fit.
    pub message: String,
    /// Whether the body itself is broken (malformed or cut short), so that fetching it again
    /// may help; a value of the wrong type is the data breaking the contract, and is not.
    pub retryable: bool,
}

impl DecodeError {
    fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Decodes pages of one stream into batches of its schema.
#[derive(Debug)]
pub struct PageDecoder {
    schema: SchemaRef,
    records_path: Vec<String>,
    root: Node,
    captures: Node,
    capture_count: usize,
    /// The last page's row count and each column's string bytes: pages of one stream are
    /// alike, so sizing the next page's builders from them saves regrowing them value by value.
    last_rows: AtomicUsize,
    last_bytes: Vec<AtomicUsize>,
}

impl PageDecoder {
    /// A decoder for `schema`, whose records are the array at `records_path` (empty: the body
    /// is the array), with `paths` giving the dot-separated JSON path of columns whose path
    /// is not their name, and `captures` the dot-separated paths the paginator needs.
    pub fn new(
        schema: SchemaRef,
        records_path: &str,
        paths: &[(&str, &str)],
        captures: &[&str],
    ) -> Result<Self, DecodeError> {
        let mut root = Node::default();
        for (i, field) in schema.fields().iter().enumerate() {
            Builder::new(field.data_type(), 0, 0)
                .map_err(|e| DecodeError::fatal(format!("column \"{}\": {e}", field.name())))?;
            let path = paths
                .iter()
                .find(|(col, _)| col == field.name())
                .map_or(field.name().as_str(), |(_, p)| p);
            root.insert(&path.split('.').collect::<Vec<_>>(), i);
        }
        let mut capture_root = Node::default();
        for (i, c) in captures.iter().enumerate() {
            capture_root.insert(&c.split('.').collect::<Vec<_>>(), i);
        }
        Ok(Self {
            last_bytes: schema
                .fields()
                .iter()
                .map(|_| AtomicUsize::new(0))
                .collect(),
            schema,
            records_path: records_path
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            root,
            captures: capture_root,
            capture_count: captures.len(),
            last_rows: AtomicUsize::new(0),
        })
    }

    /// The schema batches are decoded into.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes one page body into a batch and the captured values.
    pub fn decode(&self, body: &[u8]) -> Result<(RecordBatch, Captured), DecodeError> {
        // One UTF-8 check of the whole body, so that serde_json borrows strings without
        // validating each one again (per-string checks cost 5 % of a run's CPU).
        let body = std::str::from_utf8(body).map_err(|e| DecodeError {
            retryable: true,
            message: format!("the body is not UTF-8: {e}"),
        })?;
        let rows_hint = self.last_rows.load(Ordering::Relaxed);
        let mut builders = self
            .schema
            .fields()
            .iter()
            .zip(&self.last_bytes)
            .map(|(f, bytes)| Builder::new(f.data_type(), rows_hint, bytes.load(Ordering::Relaxed)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DecodeError::fatal)?;
        let mut captured = Captured {
            values: vec![None; self.capture_count],
        };
        let mut state = State {
            builders: &mut builders,
            set: vec![false; self.schema.fields().len()],
            rows: 0,
            schema: &self.schema,
        };
        let mut de = serde_json::Deserializer::from_str(body);
        PageSeed {
            records_path: &self.records_path,
            depth: 0,
            captures: Some(&self.captures),
            root: &self.root,
            state: &mut state,
            captured: &mut captured.values,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| DecodeError {
            retryable: !matches!(e.classify(), serde_json::error::Category::Data),
            message: e.to_string(),
        })?;
        let rows = state.rows;
        self.last_rows.store(rows, Ordering::Relaxed);
        for (builder, bytes) in builders.iter().zip(&self.last_bytes) {
            bytes.store(builder.string_bytes(), Ordering::Relaxed);
        }
        let columns: Vec<ArrayRef> = builders.iter_mut().map(Builder::finish).collect();
        debug_assert!(columns.iter().all(|c| c.len() == rows));
        let batch = RecordBatch::try_new_with_options(
            SchemaRef::clone(&self.schema),
            columns,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| DecodeError::fatal(e.to_string()))?;
        Ok((batch, captured))
    }
}

/// The builders of one page and which columns the current record has set.
struct State<'a> {
    builders: &'a mut [Builder],
    set: Vec<bool>,
    rows: usize,
    schema: &'a SchemaRef,
}

impl State<'_> {
    fn end_record(&mut self) {
        for (i, set) in self.set.iter_mut().enumerate() {
            if !*set {
                self.builders[i].append_null();
            }
            *set = false;
        }
        self.rows += 1;
    }
}

/// Walks the page object towards the records array, capturing what the paginator needs.
struct PageSeed<'s, 'a> {
    records_path: &'s [String],
    depth: usize,
    captures: Option<&'s Node>,
    root: &'s Node,
    state: &'s mut State<'a>,
    captured: &'s mut Vec<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.depth == self.records_path.len() {
            d.deserialize_seq(RecordsSeed {
                root: self.root,
                state: self.state,
            })
        } else {
            d.deserialize_map(self)
        }
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with \"{}\"", self.records_path.join("."))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let PageSeed {
            records_path,
            depth,
            captures,
            root,
            state,
            captured,
        } = self;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key = key.0;
            let capture = captures.and_then(|c| c.children.get(key.as_ref()));
            if records_path.get(depth).is_some_and(|p| p == key.as_ref()) {
                map.next_value_seed(PageSeed {
                    records_path,
                    depth: depth + 1,
                    captures: capture,
                    root,
                    state,
                    captured,
                })?;
            } else if let Some(node) = capture {
                map.next_value_seed(CaptureSeed { node, captured })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Captures scalar values at the capture paths below one node.
struct CaptureSeed<'s> {
    node: &'s Node,
    captured: &'s mut Vec<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for CaptureSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl CaptureSeed<'_> {
    fn put(self, value: Option<String>) {
        if let Some(i) = self.node.column {
            self.captured[i] = value;
        }
    }
}

impl<'de> Visitor<'de> for CaptureSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.put(Some(v.to_owned()));
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.put(Some(v.to_string()));
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.put(Some(v.to_string()));
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.put(Some(v.to_string()));
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.put(Some(v.to_string()));
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.put(None);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.node.children.get(key.0.as_ref()) {
                Some(node) => map.next_value_seed(CaptureSeed {
                    node,
                    captured: &mut *self.captured,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// An object key, borrowed when the input allows.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The records array.
struct RecordsSeed<'s, 'a> {
    root: &'s Node,
    state: &'s mut State<'a>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let record = self.state.rows;
            let found = seq.next_element_seed(ObjectSeed {
                node: self.root,
                state: &mut *self.state,
                record,
            })?;
            if found.is_none() {
                return Ok(());
            }
            self.state.end_record();
        }
    }
}

/// One record, or an object nested in it.
struct ObjectSeed<'s, 'a> {
    node: &'s Node,
    state: &'s mut State<'a>,
    record: usize,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.node.children.get(key.0.as_ref()) {
                Some(child) => match child.column {
                    Some(col) if child.children.is_empty() => {
                        map.next_value_seed(ValueSeed {
                            col,
                            state: &mut *self.state,
                            record: self.record,
                        })?;
                    }
                    _ => map.next_value_seed(ObjectSeed {
                        node: child,
                        state: &mut *self.state,
                        record: self.record,
                    })?,
                },
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// One value for one column.
struct ValueSeed<'s, 'a> {
    col: usize,
    state: &'s mut State<'a>,
    record: usize,
}

impl ValueSeed<'_, '_> {
    fn bad<E: de::Error>(&self, got: &dyn fmt::Display) -> E {
        let field = self.state.schema.field(self.col);
        E::custom(format!(
            "record {}: column \"{}\" expects {}, got {got}",
            self.record,
            field.name(),
            self.state.builders[self.col].type_name()
        ))
    }

    fn mark(&mut self) {
        self.state.set[self.col] = true;
    }

    fn string<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        let ok = match &mut self.state.builders[self.col] {
            Builder::Utf8(b) => {
                b.append_value(v);
                true
            }
            Builder::Int64(b) => match v.trim().parse::<i64>() {
                Ok(n) => {
                    b.append_value(n);
                    true
                }
                Err(_) if v.is_empty() => {
                    b.append_null();
                    true
                }
                Err(_) => false,
            },
            Builder::Float64(b) => match v.trim().parse::<f64>() {
                Ok(n) => {
                    b.append_value(n);
                    true
                }
                Err(_) if v.is_empty() => {
                    b.append_null();
                    true
                }
                Err(_) => false,
            },
            Builder::Boolean(b) => match v {
                "true" | "True" | "TRUE" | "1" => {
                    b.append_value(true);
                    true
                }
                "false" | "False" | "FALSE" | "0" => {
                    b.append_value(false);
                    true
                }
                _ => false,
            },
            Builder::Timestamp(b) => match parse_timestamp(v) {
                Some(t) => {
                    b.append_value(t);
                    true
                }
                None => false,
            },
            Builder::Date32(b) => match parse_date(v)
                .or_else(|| parse_timestamp(v).map(|t| t.div_euclid(86_400_000_000) as i32))
            {
                Some(d) => {
                    b.append_value(d);
                    true
                }
                None => false,
            },
            Builder::ListUtf8(_) => false,
        };
        if !ok {
            return Err(self.bad(&format_args!("{v:?}")));
        }
        self.mark();
        Ok(())
    }

    fn integer<E: de::Error>(mut self, v: i128) -> Result<(), E> {
        let ok = match &mut self.state.builders[self.col] {
            Builder::Utf8(b) => {
                b.append_value(v.to_string());
                true
            }
            Builder::Int64(b) => match i64::try_from(v) {
                Ok(n) => {
                    b.append_value(n);
                    true
                }
                Err(_) => false,
            },
            Builder::Float64(b) => {
                b.append_value(v as f64);
                true
            }
            Builder::Timestamp(b) => {
                match i64::try_from(v).ok().and_then(|s| s.checked_mul(1_000_000)) {
                    Some(t) => {
                        b.append_value(t);
                        true
                    }
                    None => false,
                }
            }
            Builder::Boolean(b) if v == 0 || v == 1 => {
                b.append_value(v == 1);
                true
            }
            _ => false,
        };
        if !ok {
            return Err(self.bad(&v));
        }
        self.mark();
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.string(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.integer(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.integer(i128::from(v))
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        let ok = match &mut self.state.builders[self.col] {
            Builder::Float64(b) => {
                b.append_value(v);
                true
            }
            Builder::Int64(b) if v.fract() == 0.0 && v.abs() < 9.0e18 => {
                b.append_value(v as i64);
                true
            }
            Builder::Utf8(b) => {
                b.append_value(v.to_string());
                true
            }
            Builder::Timestamp(b) if v.is_finite() => {
                b.append_value((v * 1e6) as i64);
                true
            }
            _ => false,
        };
        if !ok {
            return Err(self.bad(&v));
        }
        self.mark();
        Ok(())
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        let ok = match &mut self.state.builders[self.col] {
            Builder::Boolean(b) => {
                b.append_value(v);
                true
            }
            Builder::Utf8(b) => {
                b.append_value(if v { "true" } else { "false" });
                true
            }
            _ => false,
        };
        if !ok {
            return Err(self.bad(&v));
        }
        self.mark();
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // Null: leave the column unset; the record's end appends the null.
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let Builder::ListUtf8(b) = &mut self.state.builders[self.col] else {
            return Err(self.bad(&"an array"));
        };
        while let Some(item) = seq.next_element::<Option<Scalar>>()? {
            match item {
                Some(s) => b.values().append_value(s.0),
                None => b.values().append_null(),
            }
        }
        b.append(true);
        self.mark();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        Err(self.bad(&"an object"))
    }
}

/// A scalar inside a list, as text.
struct Scalar(String);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int64Array};
    use arrow::datatypes::{Field, Schema, TimestampMicrosecondType};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("created_time", chorus_core::schema::timestamp_type(), true),
            Field::new("reactions", DataType::Int64, true),
            Field::new("score", DataType::Float64, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ]))
    }

    #[test]
    fn decodes_records_paths_coercions_and_captures() {
        let d = PageDecoder::new(
            schema(),
            "data",
            &[("reactions", "reactions.summary.total_count")],
            &["paging.next", "paging.cursors.after"],
        )
        .unwrap();
        let body = br#"{"data":[
            {"id": 9007199254740993, "created_time": "2024-01-05T10:00:00+0000", "reactions": {"summary": {"total_count": 7}}, "score": "12", "tags": ["a", 1], "extra": {"x": [1,2]}},
            {"id": "2", "created_time": 1704448800, "score": 1.5}
          ],
          "paging": {"cursors": {"after": "QVFI"}, "next": "https://graph.example/next?after=QVFI"}}"#;
        let (batch, captured) = d.decode(body).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.column(0).as_string::<i32>().value(0),
            "9007199254740993"
        );
        let t = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_704_448_800_000_000);
        assert_eq!(t.value(1), 1_704_448_800_000_000);
        let r = batch
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!((r.value(0), r.is_null(1)), (7, true));
        assert_eq!(
            batch
                .column(3)
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(0),
            12.0
        );
        assert!(batch.column(4).is_null(1));
        assert_eq!(
            captured.values,
            vec![
                Some("https://graph.example/next?after=QVFI".into()),
                Some("QVFI".into())
            ]
        );
    }

    #[test]
    fn a_bare_array_and_an_empty_page() {
        let d = PageDecoder::new(schema(), "", &[], &[]).unwrap();
        let (batch, _) = d
            .decode(br#"[{"id": "a"}, {"id": "b", "reactions": null}]"#)
            .unwrap();
        assert_eq!(batch.num_rows(), 2);
        let d = PageDecoder::new(schema(), "rows", &[], &["rowCount"]).unwrap();
        let (batch, captured) = d.decode(br#"{"kind": "x"}"#).unwrap();
        assert_eq!((batch.num_rows(), captured.values[0].clone()), (0, None));
    }

    #[test]
    fn a_value_that_does_not_fit_names_the_column_and_record() {
        let d = PageDecoder::new(schema(), "data", &[], &[]).unwrap();
        let err = d
            .decode(br#"{"data":[{"id":"1"},{"id":"2","reactions":"many"}]}"#)
            .unwrap_err();
        assert!(
            err.message
                .contains("record 1: column \"reactions\" expects int64, got \"many\""),
            "{err}"
        );
        assert!(!err.retryable, "a wrong type is the data's fault");
        let err = d.decode(br#"{"data":[{"id":"1"}"#).unwrap_err();
        assert!(err.message.contains("EOF"), "{err}");
        assert!(err.retryable, "a cut-short body is worth fetching again");
        let err = d.decode(b"{\"data\":[{\"id\":\"\xff\"}]}").unwrap_err();
        assert!(err.message.contains("not UTF-8"), "{err}");
        assert!(err.retryable, "a garbled body is worth fetching again");
    }

    #[test]
    fn pages_sized_from_the_last_one_decode_the_same() {
        let d = PageDecoder::new(schema(), "data", &[], &[]).unwrap();
        let big =
            br#"{"data":[{"id":"a long identifier","tags":["x","y"]},{"id":"b"},{"id":"c"}]}"#;
        let small = br#"{"data":[{"id":"d","tags":["z"]}]}"#;
        for body in [&big[..], &small[..], &big[..]] {
            let (batch, _) = d.decode(body).unwrap();
            let fresh = PageDecoder::new(schema(), "data", &[], &[]).unwrap();
            assert_eq!(batch, fresh.decode(body).unwrap().0);
        }
    }

    #[test]
    fn timestamps_in_every_platform_format() {
        for s in [
            "2024-01-05T10:00:00Z",
            "2024-01-05T10:00:00+0000",
            "2024-01-05T11:00:00+01:00",
            "2024-01-05T10:00:00.000Z",
            "1704448800",
        ] {
            assert_eq!(parse_timestamp(s), Some(1_704_448_800_000_000), "{s}");
        }
        assert_eq!(parse_date("20240105"), parse_date("2024-01-05"));
        assert_eq!(parse_timestamp("soon"), None);
    }

    /// The hand-written ISO reader agrees with chrono on everything it accepts, and leaves
    /// everything else to it.
    #[test]
    fn the_fast_iso_reader_agrees_with_chrono() {
        let slow = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
                .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
                .ok()
                .map(|t| t.timestamp_micros())
        };
        for s in [
            "2024-01-05T10:00:00Z",
            "2024-01-05T10:00:00+0000",
            "2024-01-05T11:30:00+01:30",
            "2024-01-05T05:00:00-0500",
            "2024-01-05T05:00:00-05:00",
            "2024-01-05T10:00:00.5Z",
            "2024-01-05T10:00:00.123456Z",
            "2024-01-05T10:00:00.123456789+0000",
            "1969-12-31T23:59:59.999999Z",
            "2024-02-29T00:00:00Z",
            "0001-01-01T00:00:00Z",
        ] {
            let fast = iso_timestamp(s.as_bytes());
            assert!(fast.is_some(), "{s} should take the fast path");
            assert_eq!(fast, slow(s), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2024-01-05T24:00:00Z",
            "2024-01-05T10:00:60Z",
            "2024-01-05T10:00:00",
            "2024-01-05 10:00:00Z",
            "2024-01-05T10:00:00.Z",
            "2024-01-05T10:00:00+5",
            "2024-01-05T10:00:00+25:00",
            "2024-01-05T10:00:00Zjunk",
            "2024-1-05T10:00:00Z",
            "+2024-01-05T10:00:00Z",
        ] {
            assert_eq!(iso_timestamp(s.as_bytes()), None, "{s}");
        }
        assert_eq!(
            parse_timestamp("2024-01-05 10:00:00"),
            Some(1_704_448_800_000_000)
        );
    }
}
