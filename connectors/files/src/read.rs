//! Reading one file into batches of the stream's schema, off the async runtime.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::config::{FileStreamConfig, Format};
use crate::infer::{csv_header, delimiter_byte};

/// Rows per batch read from a file.
pub const BATCH_ROWS: usize = 8192;

/// Reads `path` in batches conforming to `schema`, handing each to `emit`; stops early when
/// `emit` returns false (the reader went away).
pub fn read_file(
    path: &Path,
    cfg: &FileStreamConfig,
    schema: &SchemaRef,
    mut emit: impl FnMut(RecordBatch) -> Result<bool, String>,
) -> Result<(), String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    match cfg.format {
        Format::Csv => {
            // The CSV reader maps columns by position: read with this file's own header order,
            // typed from the stream's schema, then conform.
            let file_schema = Arc::new(Schema::new(
                csv_header(path, cfg)?
                    .into_iter()
                    .map(|name| {
                        let ty = schema
                            .field_with_name(&name)
                            .map(|sf| sf.data_type().clone())
                            .unwrap_or(DataType::Utf8);
                        Field::new(name, ty, true)
                    })
                    .collect::<Vec<_>>(),
            ));
            let reader = arrow::csv::ReaderBuilder::new(Arc::clone(&file_schema))
                .with_header(true)
                .with_delimiter(delimiter_byte(cfg.delimiter)?)
                .with_batch_size(BATCH_ROWS)
                .build(BufReader::new(file))
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            for batch in reader {
                let batch = batch.map_err(|e| {
                    format!(
                        "bad row in {shown}: {}",
                        csv_error(&e.to_string(), &file_schema)
                    )
                })?;
                if !emit(conform(&batch, schema).map_err(|e| format!("{shown}: {e}"))?)? {
                    break;
                }
            }
        }
        Format::Ndjson => {
            let reader = arrow::json::ReaderBuilder::new(Arc::clone(schema))
                .with_batch_size(BATCH_ROWS)
                .with_coerce_primitive(true)
                .build(BufReader::new(file))
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            for batch in reader {
                let batch = batch.map_err(|e| format!("bad record in {shown}: {e}"))?;
                if !emit(batch)? {
                    break;
                }
            }
        }
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            for batch in reader {
                let batch = batch.map_err(|e| format!("cannot read {shown}: {e}"))?;
                if !emit(conform(&batch, schema).map_err(|e| format!("{shown}: {e}"))?)? {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Arrow's CSV error with the file's own line (Arrow counts data rows from 1, under a header
/// that is line 1) and the column's name (Arrow counts columns from 0).
fn csv_error(message: &str, file_schema: &Schema) -> String {
    let number_after = |text: &str, key: &str| -> Option<(usize, usize, usize)> {
        let start = text.find(key)? + key.len();
        let len = text[start..].bytes().take_while(u8::is_ascii_digit).count();
        Some((start, start + len, text[start..start + len].parse().ok()?))
    };
    let mut out = message.to_owned();
    if let Some((from, to, row)) = number_after(&out, " at line ") {
        out.replace_range(from..to, &(row + 1).to_string());
    }
    if let Some((from, to, col)) = number_after(&out, "Error parsing column ")
        && let Some(field) = file_schema.fields().get(col)
    {
        out.replace_range(from..to, &format!("{col} (\"{}\")", field.name()));
    }
    out
}

/// Reorders, casts and fills columns so that `batch` matches `schema` (by column name).
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef, String> {
            match batch.column_by_name(field.name()) {
                Some(col) if col.data_type() == field.data_type() => Ok(Arc::clone(col)),
                Some(col) => cast(col, field.data_type()).map_err(|e| {
                    format!(
                        "column \"{}\" cannot be read as {}: {e}",
                        field.name(),
                        chorus_core::schema::type_name(field.data_type())
                    )
                }),
                None => Ok(new_null_array(field.data_type(), batch.num_rows())),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use super::csv_error;

    #[test]
    fn csv_errors_give_the_files_line_and_the_columns_name() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("updated_at", DataType::Utf8, true),
        ]);
        assert_eq!(
            csv_error(
                "Parser error: Error parsing column 1 at line 2: Parser error: Error parsing timestamp from 'x'",
                &schema
            ),
            "Parser error: Error parsing column 1 (\"updated_at\") at line 3: Parser error: Error parsing timestamp from 'x'"
        );
        assert_eq!(csv_error("other", &schema), "other");
    }
}
