//! Schema inference and normalisation to chorus's column conventions.
//!
//! Inferred types are widened to the conventions of `chorus_core::schema`: integers become
//! `Int64`, floats `Float64`, timestamps `Timestamp(Microsecond, "UTC")`; columns that hold ids
//! (the primary key, `id`, `*_id`) stay strings, since platform ids exceed 2^53 and CRM ids
//! carry leading zeros. Declared types override all of that.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chorus_core::schema::{parse_type_name, timestamp_type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::{FileStreamConfig, Format};

/// How many records inference samples per file.
pub const INFER_RECORDS: usize = 1000;

/// Infers the schema of one file in its raw (unnormalised) form.
pub fn infer_file(path: &Path, cfg: &FileStreamConfig) -> Result<Schema, String> {
    sample_file(path, cfg, INFER_RECORDS)
}

/// The column names of a CSV file, in file order, read from its header alone.
pub fn csv_header(path: &Path, cfg: &FileStreamConfig) -> Result<Vec<String>, String> {
    let schema = sample_file(path, cfg, 0)?;
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

fn sample_file(path: &Path, cfg: &FileStreamConfig, records: usize) -> Result<Schema, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let schema = match cfg.format {
        Format::Csv => {
            let (schema, _) = arrow::csv::reader::Format::default()
                .with_header(true)
                .with_delimiter(delimiter_byte(cfg.delimiter)?)
                .infer_schema(&mut file, Some(records))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            schema
        }
        Format::Ndjson => {
            let (schema, _) = arrow::json::reader::infer_json_schema(
                BufReader::new(&mut file),
                Some(INFER_RECORDS),
            )
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            file.rewind().map_err(|e| e.to_string())?;
            schema
        }
        Format::Parquet => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            builder.schema().as_ref().clone()
        }
    };
    Ok(schema)
}

/// The CSV delimiter as a byte, refusing characters that are not single bytes.
pub fn delimiter_byte(c: char) -> Result<u8, String> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| format!("delimiter {c:?} is not a single ASCII character"))
}

fn is_id_column(name: &str, cfg: &FileStreamConfig) -> bool {
    name == "id" || name.ends_with("_id") || cfg.primary_key.iter().any(|k| k == name)
}

/// The chorus type for an inferred type.
fn normalise(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => DataType::Int64,
        DataType::UInt64 | DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            DataType::Float64
        }
        DataType::Timestamp(_, _) | DataType::Date64 => timestamp_type(),
        DataType::Null | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        other => other.clone(),
    }
}

/// The common type of a column seen with two types in different files.
fn widen(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (a, b) if a == b => a.clone(),
        (DataType::Null, other) | (other, DataType::Null) => other.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        (DataType::Date32, DataType::Timestamp(..))
        | (DataType::Timestamp(..), DataType::Date32) => timestamp_type(),
        _ => DataType::Utf8,
    }
}

/// Merges the raw schemas of a stream's files into its declared schema.
pub fn stream_schema(raw: &[Schema], cfg: &FileStreamConfig) -> Result<SchemaRef, String> {
    let mut fields: Vec<(String, DataType)> = Vec::new();
    for schema in raw {
        for field in schema.fields() {
            let ty = if is_id_column(field.name(), cfg) && !field.data_type().is_nested() {
                DataType::Utf8
            } else {
                normalise(field.data_type())
            };
            match fields.iter_mut().find(|(n, _)| n == field.name()) {
                Some((_, existing)) => *existing = widen(existing, &ty),
                None => fields.push((field.name().clone(), ty)),
            }
        }
    }
    if let Some(declared) = &cfg.schema {
        for (name, value) in declared {
            let ty = value.as_str().and_then(parse_type_name).ok_or_else(|| {
                let shown = value
                    .as_str()
                    .map_or_else(|| value.type_str().to_owned(), |s| format!("\"{s}\""));
                format!(
                    "column \"{name}\" has unknown type {shown}; use one of {}",
                    chorus_core::schema::TYPE_NAMES.join(", ")
                )
            })?;
            match fields.iter_mut().find(|(n, _)| n == name) {
                Some((_, existing)) => *existing = ty,
                None => fields.push((name.clone(), ty)),
            }
        }
    }
    Ok(Arc::new(Schema::new(
        fields
            .into_iter()
            .map(|(name, ty)| Field::new(name, ty, true))
            .collect::<Vec<_>>(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pk: &[&str]) -> FileStreamConfig {
        FileStreamConfig {
            stream: "s".into(),
            paths: vec![],
            format: Format::Csv,
            primary_key: pk.iter().map(|s| s.to_string()).collect(),
            cursor: None,
            schema: None,
            delimiter: ',',
            lookback_days: 0,
        }
    }

    #[test]
    fn ids_stay_strings_and_types_widen() {
        let a = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("account_id", DataType::Int64, true),
            Field::new("n", DataType::Int32, true),
            Field::new(
                "at",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None),
                true,
            ),
        ]);
        let b = Schema::new(vec![Field::new("n", DataType::Float64, true)]);
        let s = stream_schema(&[a, b], &cfg(&[])).unwrap();
        let types: Vec<_> = s.fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(
            types,
            vec![
                DataType::Utf8,
                DataType::Utf8,
                DataType::Float64,
                timestamp_type()
            ]
        );
    }

    #[test]
    fn declared_types_override_and_unknown_types_are_refused() {
        let mut c = cfg(&[]);
        c.schema = Some(toml::from_str("n = \"int64\"\nextra = \"date\"").unwrap());
        let a = Schema::new(vec![Field::new("n", DataType::Float64, true)]);
        let s = stream_schema(std::slice::from_ref(&a), &c).unwrap();
        assert_eq!(s.field(0).data_type(), &DataType::Int64);
        assert_eq!(s.field(1).data_type(), &DataType::Date32);
        c.schema = Some(toml::from_str("n = \"varchar\"").unwrap());
        let err = stream_schema(&[a], &c).unwrap_err();
        assert!(err.contains("unknown type \"varchar\""), "{err}");
    }
}
