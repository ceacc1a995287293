//! `merge`: upsert a run's rows into a table on its primary key.
//!
//! The run's own rows are deduplicated first (for each key the row with the greatest cursor
//! wins; on a tie, the later row). Then the stored rows with the same keys are compared: a
//! stored row whose cursor is newer stays and the run's row is dropped (a backfill never
//! rewinds a row); otherwise the file holding it is rewritten without it and the original is
//! marked for removal. Memory grows with the number of keys in the run, never with the size
//! of the table.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use chorus_core::Result;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::file::properties::WriterProperties;

use crate::reader::read_file;

/// A batch of a published file in the columns of `schema`, matched by name: a file written
/// before the table gained a column gets that column as NULLs (and the key and cursor indexes,
/// which are positions in `schema`, point at the right columns).
pub fn by_name(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(Arc::clone(c)),
            Some(c) => arrow::compute::cast(c, f.data_type()).map_err(|e| {
                chorus_core::Error::contract(format!(
                    "column \"{}\" of a published file cannot be read as {}: {e}",
                    f.name(),
                    chorus_core::schema::type_name(f.data_type())
                ))
            }),
            None => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| {
        chorus_core::Error::internal(format!("cannot line up a published file's columns: {e}"))
    })
}
use crate::writer::{StagedFile, TableWriter};

/// What a merge stages and removes.
#[derive(Debug, Default)]
pub struct MergePlan {
    /// Files to publish (the run's deduplicated rows and rewritten files).
    pub add: Vec<StagedFile>,
    /// Published files to remove (and files staged by this run that were replaced).
    pub remove: Vec<String>,
    /// Staged files that were replaced before publishing (to delete from staging).
    pub discard: Vec<String>,
}

/// How a merge reads keys and cursors out of batches.
pub struct KeyColumns {
    /// Indexes of the primary-key columns.
    pub key: Vec<usize>,
    /// Index of the cursor column, if any.
    pub cursor: Option<usize>,
}

struct Converters {
    key: RowConverter,
    cursor: Option<RowConverter>,
}

impl Converters {
    fn new(schema: &SchemaRef, cols: &KeyColumns) -> Result<Self> {
        let fields = |idx: &[usize]| {
            idx.iter()
                .map(|i| SortField::new(schema.field(*i).data_type().clone()))
                .collect::<Vec<_>>()
        };
        let key = RowConverter::new(fields(&cols.key))?;
        let cursor = match cols.cursor {
            Some(c) => Some(RowConverter::new(fields(&[c]))?),
            None => None,
        };
        Ok(Self { key, cursor })
    }

    fn keys(&self, batch: &RecordBatch, cols: &KeyColumns) -> Result<Rows> {
        let arrays: Vec<_> = cols
            .key
            .iter()
            .map(|i| Arc::clone(batch.column(*i)))
            .collect();
        Ok(self.key.convert_columns(&arrays)?)
    }

    fn cursors(&self, batch: &RecordBatch, cols: &KeyColumns) -> Result<Option<Rows>> {
        match (&self.cursor, cols.cursor) {
            (Some(conv), Some(c)) => {
                Ok(Some(conv.convert_columns(&[Arc::clone(batch.column(c))])?))
            }
            _ => Ok(None),
        }
    }
}

/// The winning row of a key: its cursor (as comparable bytes), file and row number.
type Winner = (Option<Box<[u8]>>, usize, usize);

/// Where a merge finds the table's current files and writes its rewritten ones.
#[derive(Debug, Default)]
pub struct MergeTarget {
    /// The table's current files (paths relative to the store root); `None`: every `.parquet`
    /// file listed under the table's folder.
    pub existing: Option<Vec<String>>,
    /// Write rewritten files straight to their published paths (see [`TableWriter::direct`]).
    pub direct: bool,
}

/// Plans a merge of the run's staged files into the published files of a table.
#[expect(
    clippy::too_many_arguments,
    reason = "two call sites; a parameter struct would only rename these"
)]
pub async fn plan(
    store: &Arc<dyn ObjectStore>,
    run_id: &str,
    table: &str,
    schema: &SchemaRef,
    cols: &KeyColumns,
    partition_col: Option<usize>,
    props: &WriterProperties,
    target_bytes: usize,
    staged: Vec<StagedFile>,
    target: MergeTarget,
) -> Result<MergePlan> {
    let conv = Converters::new(schema, cols)?;

    // Pass 1: the winning (file, row) for every key of the run.
    let mut winners: HashMap<Box<[u8]>, Winner> = HashMap::new();
    let mut total = 0usize;
    for (fi, file) in staged.iter().enumerate() {
        let mut stream = Box::pin(read_file(store, &file.from).await?);
        let mut offset = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let keys = conv.keys(&batch, cols)?;
            let cursors = conv.cursors(&batch, cols)?;
            for row in 0..batch.num_rows() {
                let cursor = cursors
                    .as_ref()
                    .map(|c| Box::<[u8]>::from(c.row(row).as_ref()));
                let candidate = (cursor, fi, offset + row);
                winners
                    .entry(Box::from(keys.row(row).as_ref()))
                    .and_modify(|w| {
                        if candidate.0 >= w.0 {
                            *w = candidate.clone();
                        }
                    })
                    .or_insert(candidate);
            }
            offset += batch.num_rows();
            total += batch.num_rows();
        }
    }

    // Pass 2: published files. A stored row gives way to the run's row for its key unless its
    // cursor is newer; then the run's row is the one dropped ("latest cursor wins").
    let existing: Vec<String> = match target.existing {
        Some(files) => files,
        None => {
            let prefix = Path::from(table);
            let listed: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| crate::store::io_error(format!("failed to list {table}"), e))?;
            listed
                .into_iter()
                .map(|m| m.location.to_string())
                .filter(|p| p.ends_with(".parquet"))
                .collect()
        }
    };
    let mut stale: HashSet<Box<[u8]>> = HashSet::new();
    let mut to_rewrite: Vec<String> = Vec::new();
    for path in &existing {
        let mut drops = false;
        let mut stream = Box::pin(read_file(store, path).await?);
        while let Some(batch) = stream.next().await {
            let batch = by_name(&batch?, schema)?;
            let keys = conv.keys(&batch, cols)?;
            let cursors = conv.cursors(&batch, cols)?;
            for row in 0..batch.num_rows() {
                let Some(w) = winners.get(keys.row(row).as_ref()) else {
                    continue;
                };
                let stored = cursors.as_ref().map(|c| c.row(row));
                match (stored, &w.0) {
                    (Some(stored), Some(new)) if stored.as_ref() > new.as_ref() => {
                        stale.insert(Box::from(keys.row(row).as_ref()));
                    }
                    _ => drops = true,
                }
            }
        }
        if drops {
            to_rewrite.push(path.clone());
        }
    }

    let mut plan = MergePlan::default();
    let mut rewrite = TableWriter::new(
        Arc::clone(store),
        &format!("{run_id}-m"),
        table,
        Arc::clone(schema),
        partition_col,
        props.clone(),
        target_bytes,
    );
    if target.direct {
        rewrite = rewrite.direct();
    }

    // Pass 3: the run's rows, without its own duplicates and without stale keys.
    if winners.len() < total || !stale.is_empty() {
        for (fi, file) in staged.iter().enumerate() {
            let mut stream = Box::pin(read_file(store, &file.from).await?);
            let mut offset = 0usize;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let keys = conv.keys(&batch, cols)?;
                let keep: BooleanArray = (0..batch.num_rows())
                    .map(|row| {
                        let key = keys.row(row);
                        let w = winners.get(key.as_ref());
                        Some(
                            w.is_some_and(|w| w.1 == fi && w.2 == offset + row)
                                && !stale.contains(key.as_ref()),
                        )
                    })
                    .collect();
                offset += batch.num_rows();
                rewrite.write(&filter_record_batch(&batch, &keep)?).await?;
            }
            plan.discard.push(file.from.clone());
        }
    } else {
        plan.add.extend(staged);
    }

    // Pass 4: rewrite the published files that lose rows.
    for path in to_rewrite {
        let mut stream = Box::pin(read_file(store, &path).await?);
        while let Some(batch) = stream.next().await {
            let batch = by_name(&batch?, schema)?;
            let keys = conv.keys(&batch, cols)?;
            let keep: BooleanArray = (0..batch.num_rows())
                .map(|row| {
                    let key = keys.row(row);
                    Some(!winners.contains_key(key.as_ref()) || stale.contains(key.as_ref()))
                })
                .collect();
            rewrite.write(&filter_record_batch(&batch, &keep)?).await?;
        }
        plan.remove.push(path);
    }
    plan.add.extend(rewrite.finish().await?);
    Ok(plan)
}
