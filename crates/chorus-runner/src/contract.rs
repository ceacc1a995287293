//! Column contracts: a stream's table keeps the column types of its first commit.
//!
//! A source whose schema follows its data (the `files` connector infers it from the files it
//! finds) can declare another type for a column from one run to the next: one CSV value
//! `not-a-time` turns a `timestamp` column into `string`. Written as is, the table's files would
//! disagree on the column's type and every reader would fail on the table. So each commit
//! records the column types of every stream it committed ([`ContractColumn`], in the commit
//! log), and a later run reads the stream into the recorded types: each value is cast to its
//! column's recorded type, and a value that cannot be cast is a bad value, handled by the
//! pipeline's [`BadValuePolicy`]. New columns join the contract with their declared type.
//! What does not live here: the sinks (they write the schema they are given) and the rejects
//! table, which is not built yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chorus_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a run does with a value that cannot be read as its column's recorded type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BadValuePolicy {
    /// Fail the stream (exit 65); nothing of it is committed. The default.
    #[default]
    Fail,
    /// Write NULL in its place, warn, and count it in the summary (`bad_values`).
    Null,
}

impl BadValuePolicy {
    /// The policy named in a pipeline file (`"fail"`, `"null"`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fail" => Some(Self::Fail),
            "null" => Some(Self::Null),
            _ => None,
        }
    }
}

/// One column of a recorded contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractColumn {
    /// The column name.
    pub name: String,
    /// Its Arrow type, as Arrow prints it (`Timestamp(µs, "UTC")`, `Int64`, …).
    pub data_type: String,
}

/// The recorded contracts of a pipeline's streams, by stream id.
pub type Contracts = BTreeMap<String, Vec<ContractColumn>>;

/// How a run reads one stream: the schema it writes, and which columns take their type from the
/// recorded contract instead of the stream's declaration.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The schema the stream's table is written with (metadata columns included).
    pub schema: SchemaRef,
    /// Indexes of the columns whose recorded type differs from the declared one.
    pub cast: Vec<usize>,
}

/// The schema a stream declared (`declared`, metadata columns included), with the type of every
/// column that `recorded` holds under another type replaced by the recorded one.
pub fn effective(declared: &SchemaRef, recorded: Option<&[ContractColumn]>) -> Effective {
    let Some(recorded) = recorded else {
        return Effective {
            schema: Arc::clone(declared),
            cast: Vec::new(),
        };
    };
    let mut cast = Vec::new();
    let fields: Vec<Field> = declared
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let kept = recorded
                .iter()
                .find(|c| c.name == *f.name())
                .and_then(|c| c.data_type.parse::<DataType>().ok())
                .filter(|t| t != f.data_type());
            match kept {
                Some(t) => {
                    cast.push(i);
                    Field::new(f.name(), t, true).with_metadata(f.metadata().clone())
                }
                None => f.as_ref().clone(),
            }
        })
        .collect();
    Effective {
        schema: Arc::new(Schema::new_with_metadata(
            fields,
            declared.metadata().clone(),
        )),
        cast,
    }
}

/// The contract after a commit of a stream read with `schema` (metadata columns excluded): the
/// recorded columns keep their types, and new columns join with theirs.
pub fn record(
    schema: &Schema,
    metadata_columns: usize,
    before: Option<&[ContractColumn]>,
) -> Vec<ContractColumn> {
    let mut out: Vec<ContractColumn> = before.map(<[_]>::to_vec).unwrap_or_default();
    let data = schema.fields().len().saturating_sub(metadata_columns);
    for f in schema.fields().iter().take(data) {
        if !out.iter().any(|c| c.name == *f.name()) {
            out.push(ContractColumn {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            });
        }
    }
    out
}

/// Casts `col` to `to`; values that cannot be cast become NULL. Returns the cast column, how
/// many values were bad (not NULL before, NULL after) and the first few of them as text.
pub fn cast_column(col: &ArrayRef, to: &DataType) -> Result<(ArrayRef, u64, Vec<String>)> {
    let options = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    let out = cast_with_options(col, to, &options).map_err(|e| {
        Error::contract(format!(
            "a {} column cannot be read as {}: {e}",
            chorus_core::schema::type_name(col.data_type()),
            chorus_core::schema::type_name(to)
        ))
    })?;
    let mut bad = 0u64;
    let mut examples = Vec::new();
    let text = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default()).ok();
    for i in 0..col.len() {
        if col.is_valid(i) && out.is_null(i) {
            bad += 1;
            if examples.len() < 3
                && let Some(t) = &text
            {
                examples.push(t.value(i).to_string());
            }
        }
    }
    Ok((out, bad, examples))
}

#[cfg(test)]
mod tests {
    use arrow::array::{StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::TimeUnit;

    use super::*;

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    #[test]
    fn a_column_keeps_its_recorded_type_and_new_columns_join() {
        let first = Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("created_at", ts(), true),
            Field::new("_run_id", DataType::Utf8, true),
        ]);
        let contract = record(&first, 1, None);
        assert_eq!(contract.len(), 2);
        // The next run's files hold a bad value: inference says string, and a new column came.
        let drifted: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("created_at", DataType::Utf8, true),
            Field::new("score", DataType::Int64, true),
            Field::new("_run_id", DataType::Utf8, true),
        ]));
        let e = effective(&drifted, Some(&contract));
        assert_eq!(e.cast, vec![1]);
        assert_eq!(e.schema.field(1).data_type(), &ts());
        assert_eq!(e.schema.field(2).data_type(), &DataType::Int64);
        let after = record(&e.schema, 1, Some(&contract));
        assert_eq!(
            after.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["id", "created_at", "score"]
        );
        assert_eq!(after[1].data_type.parse::<DataType>().unwrap(), ts());
        // Without a record, the declaration is the schema.
        assert!(effective(&drifted, None).cast.is_empty());
    }

    #[test]
    fn values_that_do_not_fit_the_recorded_type_are_counted() {
        let col: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2024-03-01T10:00:00Z"),
            Some("not-a-time"),
            None,
        ]));
        let (out, bad, examples) = cast_column(&col, &ts()).unwrap();
        let out = out
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(out.value(0), 1_709_287_200_000_000);
        assert!(out.is_null(1) && out.is_null(2));
        assert_eq!((bad, examples), (1, vec!["not-a-time".to_owned()]));
    }

    #[test]
    fn policies_are_named_in_the_pipeline_file() {
        assert_eq!(BadValuePolicy::parse("fail"), Some(BadValuePolicy::Fail));
        assert_eq!(BadValuePolicy::parse("null"), Some(BadValuePolicy::Null));
        assert_eq!(BadValuePolicy::parse("drop"), None);
    }
}
