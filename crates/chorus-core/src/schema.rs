//! Arrow schema conventions every stream follows.
//!
//! Columns are snake_case; ids are `Utf8`; timestamps are `Timestamp(Microsecond, "UTC")`;
//! calendar days are `Date32`; counts `Int64`; rates `Float64`. The runner appends the
//! [`metadata_fields`] to every row. Config files name types with [`parse_type_name`].

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, TimeUnit};

/// The name of the column holding the source id of a row.
pub const SOURCE_COLUMN: &str = "_source";
/// The name of the column holding the extraction time of a row.
pub const EXTRACTED_AT_COLUMN: &str = "_extracted_at";
/// The name of the column holding the run id that extracted a row.
pub const RUN_ID_COLUMN: &str = "_run_id";

/// The canonical timestamp type: microseconds in UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

/// The three columns the runner appends to every row: `_source`, `_extracted_at`, `_run_id`.
pub fn metadata_fields() -> [Field; 3] {
    [
        Field::new(SOURCE_COLUMN, DataType::Utf8, false),
        Field::new(EXTRACTED_AT_COLUMN, timestamp_type(), false),
        Field::new(RUN_ID_COLUMN, DataType::Utf8, false),
    ]
}

/// The type names a pipeline file may use, with their Arrow types.
pub const TYPE_NAMES: &[&str] = &["string", "int64", "float64", "bool", "date", "timestamp"];

/// The Arrow type for a type name written in a pipeline file (`string`, `int64`, `float64`,
/// `bool`, `date`, `timestamp`), or `None` for an unknown name.
pub fn parse_type_name(name: &str) -> Option<DataType> {
    Some(match name {
        "string" => DataType::Utf8,
        "int64" => DataType::Int64,
        "float64" => DataType::Float64,
        "bool" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => timestamp_type(),
        _ => return None,
    })
}

/// The pipeline-file name of an Arrow type, for messages and `chorus schema`.
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "float64".into(),
        DataType::Boolean => "bool".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            "timestamp".into()
        }
        other => other.to_string().to_lowercase(),
    }
}

/// Whether `name` is a well-formed identifier for pipelines, sources, streams and tables:
/// `[a-z0-9_]+`.
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_name_round_trips() {
        for name in TYPE_NAMES {
            let ty = parse_type_name(name).unwrap();
            assert_eq!(type_name(&ty), *name);
        }
        assert_eq!(parse_type_name("varchar"), None);
    }

    #[test]
    fn identifiers_are_lower_snake_case() {
        assert!(is_identifier("brand_posts_2"));
        assert!(!is_identifier("Brand"));
        assert!(!is_identifier("a.b"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("../x"));
    }
}
