//! Ad-hoc SQL over committed Parquet tables, with the KPI functions: what `chorus demo` uses
//! to summarise a pipeline's marts. Tables are read into memory, so this is for small tables
//! (marts), not for whole extracts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use chorus_core::{Error, Result};
use datafusion::datasource::MemTable;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::session::{new_session, run_error};

/// The Parquet files below `dir`, partition folders included, in name order.
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::io(format!("cannot list {}: {e}", d.display())))?;
        for entry in entries {
            let path = entry
                .map_err(|e| Error::io(format!("cannot list {}: {e}", d.display())))?
                .path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every row of a table folder.
fn read_table(name: &str, dir: &Path) -> Result<MemTable> {
    let files = parquet_files(dir)?;
    let mut schema = None;
    let mut batches = Vec::new();
    for file in &files {
        let open =
            |e: &dyn std::fmt::Display| Error::io(format!("cannot read {}: {e}", file.display()));
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(file).map_err(|e| open(&e))?,
        )
        .map_err(|e| open(&e))?;
        schema.get_or_insert_with(|| Arc::clone(reader.schema()));
        for batch in reader.build().map_err(|e| open(&e))? {
            batches.push(batch.map_err(|e| open(&e))?);
        }
    }
    let schema = schema.ok_or_else(|| {
        Error::io(format!(
            "table {name} has no Parquet files in {}",
            dir.display()
        ))
    })?;
    MemTable::try_new(schema, vec![batches]).map_err(run_error)
}

/// Runs `sql` over Parquet tables, each registered under its name from the folder of its
/// files (a table a sink wrote: `<path>/<table>/`).
pub async fn sql_over_parquet(tables: &[(&str, &Path)], sql: &str) -> Result<Vec<RecordBatch>> {
    let ctx = new_session().map_err(run_error)?;
    for (name, dir) in tables {
        ctx.register_table(*name, Arc::new(read_table(name, dir)?))
            .map_err(run_error)?;
    }
    ctx.sql(sql)
        .await
        .map_err(run_error)?
        .collect()
        .await
        .map_err(run_error)
}
