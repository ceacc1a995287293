//! Keeping the fields a stream does not read (`keep_unknown_fields = true`).
//!
//! A connector reads each record into a struct, and serde drops the fields the struct does not
//! name: that is how a field an API adds is ignored. When a source asks to keep them, its
//! connector reads the page's body a second time with [`unknown_fields`], which gives for each
//! record a JSON object of its top-level fields outside the struct, values exactly as the API
//! wrote them, and appends them as the [`EXTRA_FIELDS_COLUMN`]. Sources that do not ask pay
//! nothing. Fields added inside a nested object the stream reads (a new key in Zendesk's `via`)
//! are not kept: the column is about the record's own fields.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chorus_core::EXTRA_FIELDS_COLUMN;
use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::value::RawValue;

/// The names `T`'s `Deserialize` reads (its serde field names, renames applied), for a
/// `#[derive(Deserialize)]` struct; empty for any other type.
pub fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails: it only wants to see the struct's field list.
    let _ = T::deserialize(FieldsProbe(&mut fields));
    fields
}

/// For each record of the array at `records_path` (dot-separated; empty: the body is the
/// array), a JSON object of its top-level fields not in `known`, or `None` when it has none.
/// An absent or `null` array gives no records.
pub fn unknown_fields(
    body: &[u8],
    records_path: &str,
    known: &[&str],
) -> Result<Vec<Option<String>>, serde_json::Error> {
    let mut at: &RawValue = serde_json::from_slice(body)?;
    for step in records_path.split('.').filter(|s| !s.is_empty()) {
        let object: BTreeMap<String, &RawValue> = serde_json::from_str(at.get())?;
        match object.get(step) {
            Some(v) => at = v,
            None => return Ok(Vec::new()),
        }
    }
    let records: Option<Vec<&RawValue>> = serde_json::from_str(at.get())?;
    Ok(records
        .unwrap_or_default()
        .into_iter()
        .map(|record| extra_of(record, known))
        .collect())
}

/// When `keep`, [`unknown_fields`] of a page whose records are read as `T`; otherwise nothing,
/// without reading the body again.
pub fn of_page<T: DeserializeOwned>(
    keep: bool,
    body: &[u8],
    records_path: &str,
) -> Result<Vec<Option<String>>, serde_json::Error> {
    if !keep {
        return Ok(Vec::new());
    }
    unknown_fields(body, records_path, fields_of::<T>())
}

/// Pairs each record with its unknown fields, in order (`None` for all when none were read).
pub fn pair<T>(records: Vec<T>, extras: Vec<Option<String>>) -> Vec<(T, Option<String>)> {
    let mut extras = extras.into_iter();
    records
        .into_iter()
        .map(|r| (r, extras.next().flatten()))
        .collect()
}

/// The JSON object of `record`'s fields not in `known` (`None` for none, or for a record that
/// is not an object).
fn extra_of(record: &RawValue, known: &[&str]) -> Option<String> {
    let object: Vec<(String, &RawValue)> =
        serde_json::from_str::<Entries<'_>>(record.get()).ok()?.0;
    let mut out = String::new();
    for (key, value) in object {
        if known.contains(&key.as_str()) {
            continue;
        }
        out.push(if out.is_empty() { '{' } else { ',' });
        // A key read from JSON always serializes back.
        out.push_str(&serde_json::to_string(&key).unwrap_or_default());
        out.push(':');
        out.push_str(value.get());
    }
    if out.is_empty() {
        return None;
    }
    out.push('}');
    Some(out)
}

/// `schema` with the [`EXTRA_FIELDS_COLUMN`] appended when `keep` (a nullable string).
pub fn with_extra_column(schema: SchemaRef, keep: bool) -> SchemaRef {
    if !keep {
        return schema;
    }
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(EXTRA_FIELDS_COLUMN, DataType::Utf8, true));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The [`EXTRA_FIELDS_COLUMN`] array from each row's unknown fields.
pub fn extra_array<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// An object's entries in the order written, values unparsed.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Entries<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Entries<'a>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A deserializer that records the field list a derived struct asks for, then stops.
struct FieldsProbe<'a>(&'a mut &'static [&'static str]);

/// The probe's way of stopping.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for FieldsProbe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only the field list is read")]
    struct Ticket {
        id: u64,
        #[serde(rename = "type")]
        kind: Option<String>,
        #[serde(skip)]
        extra: Option<String>,
    }

    #[test]
    fn a_structs_fields_are_its_serde_names() {
        assert_eq!(fields_of::<Ticket>(), &["id", "type"]);
        assert!(fields_of::<u64>().is_empty());
    }

    #[test]
    fn unknown_top_level_fields_are_kept_as_written() {
        let body = br#"{"tickets":[
            {"id":1,"type":"q","ai":{"score":0.70,"tags":[1,2]},"big":18446744073709551616},
            {"id":2,"type":null},
            {"id":3,"caf\u00e9":"x\"y"}
        ],"next_page":null}"#;
        let got = unknown_fields(body, "tickets", fields_of::<Ticket>()).unwrap();
        assert_eq!(
            got,
            vec![
                Some(r#"{"ai":{"score":0.70,"tags":[1,2]},"big":18446744073709551616}"#.into()),
                None,
                Some(r#"{"café":"x\"y"}"#.into()),
            ]
        );
        for text in got.iter().flatten() {
            serde_json::from_str::<serde_json::Value>(text).unwrap();
        }
    }

    #[test]
    fn the_records_path_may_be_empty_absent_or_null() {
        let known = &["id"];
        assert_eq!(
            unknown_fields(br#"[{"id":1,"n":2}]"#, "", known).unwrap(),
            vec![Some(r#"{"n":2}"#.into())]
        );
        assert!(
            unknown_fields(br#"{"ok":true}"#, "messages", known)
                .unwrap()
                .is_empty()
        );
        assert!(
            unknown_fields(br#"{"data":{"rows":null}}"#, "data.rows", known)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            unknown_fields(br#"{"data":{"rows":[7,{"x":1}]}}"#, "data.rows", known).unwrap(),
            vec![None, Some(r#"{"x":1}"#.into())]
        );
        assert!(unknown_fields(b"{broken", "", known).is_err());
    }

    #[test]
    fn pages_are_read_again_only_when_kept() {
        let body = br#"[{"id":1,"type":"q","new":true},{"id":2}]"#;
        assert!(of_page::<Ticket>(false, b"{broken", "").unwrap().is_empty());
        let extras = of_page::<Ticket>(true, body, "").unwrap();
        let paired = pair(vec!['a', 'b'], extras);
        assert_eq!(
            paired,
            vec![('a', Some(r#"{"new":true}"#.into())), ('b', None)]
        );
        assert_eq!(pair(vec!['a'], Vec::new()), vec![('a', None)]);
    }

    #[test]
    fn the_column_is_appended_only_when_kept() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        assert_eq!(
            with_extra_column(Arc::clone(&schema), false).fields().len(),
            1
        );
        let kept = with_extra_column(schema, true);
        assert_eq!(kept.field(1).name(), EXTRA_FIELDS_COLUMN);
        assert!(kept.field(1).is_nullable());
    }
}
