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
            let reader = arrow::csv::ReaderBuilder::new(file_schema)
                .with_header(true)
                .with_delimiter(delimiter_byte(cfg.delimiter)?)
                .with_batch_size(BATCH_ROWS)
                .build(BufReader::new(file))
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
            for batch in reader {
                let batch = batch.map_err(|e| format!("bad row in {shown}: {e}"))?;
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
