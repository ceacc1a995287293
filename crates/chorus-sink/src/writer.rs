//! The staged writer: one table's batches into Parquet files under the run's staging folder.
//!
//! Rows are split by the day of the partition column, when there is one; each partition has its
//! own open file, rolled when it reaches the target size. At most [`MAX_OPEN_FILES`] files are
//! open at once, so a backfill over many days does not hold a row group per day in memory.
//!
//! Encoding (Arrow to Parquet pages, compression) is CPU work: it runs on tokio's blocking
//! threads, so the async threads keep fetching and decoding pages while a batch is compressed.
//! Small batches are gathered up to [`GATHER_BYTES`] and handed over together.
//! A row group is closed once the writer buffers [`ROW_GROUP_BYTES`], so memory stays flat
//! however many rows a file gets.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Date32Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chorus_core::failpoint;
use chorus_core::{Error, Result};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::{Deserialize, Serialize};

use crate::config::{Compression, ParquetSinkConfig};
use crate::layout::{self, NULL_PARTITION};
use crate::upload::ObjectWriter;

/// The most files one table writer keeps open.
pub const MAX_OPEN_FILES: usize = 16;

/// The memory (encoded pages and dictionaries) at which the Parquet writer closes a row group.
///
/// A row group is held in memory until it is closed, so without this bound a file's first
/// million rows would all be buffered. 8 MiB of compressed pages per row group is still large
/// enough for readers to read and skip efficiently.
pub const ROW_GROUP_BYTES: usize = 8 * 1024 * 1024;

/// The Arrow memory of batches a file gathers before they are encoded together.
///
/// A page of an API is often a batch of 100 rows; handing each to a blocking thread on its own
/// cost a thread wake-up and the encoder's per-call work for every page. Files whose target
/// size is small gather less (a quarter of the target), so they still roll on time.
pub const GATHER_BYTES: usize = 256 * 1024;

/// A staged file and where publishing moves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedFile {
    /// Path in staging, relative to the sink root.
    pub from: String,
    /// Path once published, relative to the sink root.
    pub to: String,
    /// The `dt=` partition value, if partitioned.
    pub partition: Option<String>,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// Parquet writer properties for a sink's settings.
pub fn writer_properties(config: &ParquetSinkConfig) -> Result<WriterProperties> {
    let codec = match config.compression {
        Compression::Zstd => Codec::ZSTD(
            ZstdLevel::try_new(config.compression_level)
                .map_err(|e| Error::config(format!("compression_level: {e}")))?,
        ),
        Compression::Snappy => Codec::SNAPPY,
        Compression::None => Codec::UNCOMPRESSED,
    };
    Ok(WriterProperties::builder()
        .set_compression(codec)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(config.row_group_rows.max(1)))
        .set_created_by(format!("chorus version {}", env!("CARGO_PKG_VERSION")))
        .build())
}

struct OpenFile {
    /// The encoder; `None` only while a blocking thread has it.
    encoder: Option<ArrowWriter<Vec<u8>>>,
    /// Where the encoded bytes go (aborted on failure, so no upload is left behind).
    sink: ObjectWriter,
    from: Path,
    to: Path,
    rows: u64,
    last_used: u64,
    /// Batches received but not yet encoded, and their Arrow memory.
    gathered: Vec<RecordBatch>,
    gathered_bytes: usize,
}

/// Writes one table of one run into staging.
pub struct TableWriter {
    store: Arc<dyn ObjectStore>,
    run_id: String,
    table: String,
    schema: SchemaRef,
    partition_col: Option<usize>,
    props: WriterProperties,
    target_bytes: usize,
    open: BTreeMap<Option<String>, OpenFile>,
    next_file: u64,
    tick: u64,
    staged: Vec<StagedFile>,
    direct: bool,
}

impl TableWriter {
    /// A writer for `table`, partitioned by the column at `partition_col` if given.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        run_id: &str,
        table: &str,
        schema: SchemaRef,
        partition_col: Option<usize>,
        props: WriterProperties,
        target_bytes: usize,
    ) -> Self {
        Self {
            store,
            run_id: run_id.to_owned(),
            table: table.to_owned(),
            schema,
            partition_col,
            props,
            target_bytes: target_bytes.max(1),
            open: BTreeMap::new(),
            next_file: 0,
            tick: 0,
            staged: Vec::new(),
            direct: false,
        }
    }

    /// Writes files straight to their published paths instead of staging (`from` equals `to`),
    /// for table formats whose log decides what readers see, such as Delta Lake.
    pub fn direct(mut self) -> Self {
        self.direct = true;
        self
    }

    /// Writes a batch, splitting it by partition.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        match self.partition_col {
            None => self.write_to(None, batch).await,
            Some(col) => {
                for (partition, part) in split_by_day(batch, col)? {
                    self.write_to(partition, &part).await?;
                }
                Ok(())
            }
        }
    }

    async fn write_to(&mut self, partition: Option<String>, batch: &RecordBatch) -> Result<()> {
        self.tick += 1;
        if !self.open.contains_key(&partition) {
            if self.open.len() >= MAX_OPEN_FILES {
                self.close_least_recent().await?;
            }
            let file = self.open_file(partition.as_deref())?;
            self.open.insert(partition.clone(), file);
        }
        let tick = self.tick;
        let file = self
            .open
            .get_mut(&partition)
            .ok_or_else(|| Error::internal("open file vanished"))?;
        file.rows += batch.num_rows() as u64;
        file.last_used = tick;
        file.gathered_bytes += batch.get_array_memory_size();
        file.gathered.push(batch.clone());
        if file.gathered_bytes < GATHER_BYTES.min(self.target_bytes / 4) {
            return Ok(());
        }
        let batches = take_gathered(file);
        let size = encode(file, move |w| {
            write_batches(w, &batches)?;
            Ok(w.bytes_written() + w.in_progress_size())
        })
        .await?;
        if size >= self.target_bytes {
            self.close(&partition).await?;
        }
        Ok(())
    }

    fn open_file(&mut self, partition: Option<&str>) -> Result<OpenFile> {
        // Partition labels come from data; they are formatted dates, and stay one folder.
        if let Some(p) = partition
            && !layout::is_safe_segment(p)
        {
            return Err(Error::internal(format!(
                "partition value {p:?} of table {} is not a plain folder name",
                self.table
            )));
        }
        self.next_file += 1;
        let name = layout::file_name(&self.run_id, self.next_file);
        let to = layout::published_path(&self.table, partition, &name);
        let from = if self.direct {
            to.clone()
        } else {
            layout::staged_path(&self.run_id, &self.table, partition, &name)
        };
        let sink = ObjectWriter::new(Arc::clone(&self.store), from.clone());
        let encoder = ArrowWriter::try_new(
            Vec::new(),
            Arc::clone(&self.schema),
            Some(self.props.clone()),
        )
        .map_err(|e| Error::io(format!("failed to start {from}: {e}")))?;
        Ok(OpenFile {
            encoder: Some(encoder),
            sink,
            from,
            to,
            rows: 0,
            last_used: self.tick,
            gathered: Vec::new(),
            gathered_bytes: 0,
        })
    }

    async fn close_least_recent(&mut self) -> Result<()> {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_used)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(key) => self.close(&key).await,
            None => Ok(()),
        }
    }

    async fn close(&mut self, partition: &Option<String>) -> Result<()> {
        let Some(mut file) = self.open.remove(partition) else {
            return Ok(());
        };
        let batches = take_gathered(&mut file);
        let finished =
            match encode(&mut file, move |w| {
                write_batches(w, &batches)?;
                w.finish().map(|_| ())
            })
            .await
            {
                // The object writer aborts its upload when finishing fails.
                Ok(()) => file.sink.finish().await.map_err(|e| {
                    crate::store::io_error(format!("failed to finish {}", file.from), e)
                }),
                Err(e) => {
                    file.sink.abort().await;
                    Err(e)
                }
            };
        finished?;
        let OpenFile { from, to, rows, .. } = file;
        let bytes = self
            .store
            .head(&from)
            .await
            .map_err(|e| crate::store::io_error(format!("failed to stat {from}"), e))?
            .size;
        self.staged.push(StagedFile {
            from: from.to_string(),
            to: to.to_string(),
            partition: partition.clone(),
            rows,
            bytes,
        });
        failpoint::hit("sink.after_stage_file");
        Ok(())
    }

    /// Abandons every open file: their uploads are aborted, so nothing of them remains. Files
    /// already closed stay in staging, which the runner cleans.
    pub async fn abort(mut self) {
        for (_, mut file) in std::mem::take(&mut self.open) {
            file.sink.abort().await;
        }
    }

    /// Closes every open file and returns what was staged.
    pub async fn finish(mut self) -> Result<Vec<StagedFile>> {
        let keys: Vec<_> = self.open.keys().cloned().collect();
        for key in keys {
            if let Err(e) = self.close(&key).await {
                self.abort().await;
                return Err(e);
            }
        }
        Ok(self.staged)
    }
}

use object_store::ObjectStoreExt as _;

/// The batches a file has gathered, leaving it none.
fn take_gathered(file: &mut OpenFile) -> Vec<RecordBatch> {
    file.gathered_bytes = 0;
    std::mem::take(&mut file.gathered)
}

/// Encodes batches, closing the row group whenever the encoder holds [`ROW_GROUP_BYTES`].
fn write_batches(
    w: &mut ArrowWriter<Vec<u8>>,
    batches: &[RecordBatch],
) -> parquet::errors::Result<()> {
    for batch in batches {
        w.write(batch)?;
        if w.memory_size() >= ROW_GROUP_BYTES {
            w.flush()?;
        }
    }
    Ok(())
}

/// Runs `work` on a file's encoder on a blocking thread, then hands the bytes it encoded to
/// the file's writer.
async fn encode<T: Send + 'static>(
    file: &mut OpenFile,
    work: impl FnOnce(&mut ArrowWriter<Vec<u8>>) -> parquet::errors::Result<T> + Send + 'static,
) -> Result<T> {
    let mut encoder = file
        .encoder
        .take()
        .ok_or_else(|| Error::internal(format!("the encoder of {} is gone", file.from)))?;
    let (encoder, outcome) = tokio::task::spawn_blocking(move || {
        let outcome = work(&mut encoder).map(|v| (v, std::mem::take(encoder.inner_mut())));
        (encoder, outcome)
    })
    .await
    .map_err(|e| Error::internal(format!("encoding {} failed: {e}", file.from)))?;
    file.encoder = Some(encoder);
    let (value, bytes) =
        outcome.map_err(|e| Error::io(format!("failed to write {}: {e}", file.from)))?;
    if !bytes.is_empty() {
        file.sink
            .write_bytes(Bytes::from(bytes))
            .await
            .map_err(|e| crate::store::io_error(format!("failed to write {}", file.from), e))?;
    }
    Ok(value)
}

/// Splits a batch by the UTC day of a date or timestamp column.
pub fn split_by_day(batch: &RecordBatch, col: usize) -> Result<Vec<(Option<String>, RecordBatch)>> {
    let column = batch.column(col);
    let days = cast(column, &DataType::Date32)
        .map_err(|e| Error::contract(format!("cannot partition by column {col}: {e}")))?;
    let days = days.as_primitive::<Date32Type>();
    let mut groups: BTreeMap<Option<i32>, Vec<u32>> = BTreeMap::new();
    for row in 0..days.len() {
        let key = days.is_valid(row).then(|| days.value(row));
        groups.entry(key).or_default().push(row as u32);
    }
    if groups.len() == 1
        && let Some((key, _)) = groups.first_key_value()
    {
        return Ok(vec![(Some(day_label(*key)?), batch.clone())]);
    }
    groups
        .into_iter()
        .map(|(key, rows)| {
            let part = take_record_batch(batch, &UInt32Array::from(rows))?;
            Ok((Some(day_label(key)?), part))
        })
        .collect()
}

fn day_label(day: Option<i32>) -> Result<String> {
    let Some(d) = day else {
        return Ok(NULL_PARTITION.to_owned());
    };
    d.checked_add(719_163)
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
        .map(|date| date.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            Error::contract(format!(
                "cannot partition by a date {d} days from 1970-01-01: it is outside the years a calendar date can name"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use object_store::memory::InMemory;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[tokio::test]
    async fn row_groups_close_at_their_byte_bound_and_every_row_is_written() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
        ]));
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let props = WriterProperties::builder()
            .set_compression(Codec::UNCOMPRESSED)
            .build();
        let mut writer = TableWriter::new(
            Arc::clone(&store),
            "r1",
            "t",
            Arc::clone(&schema),
            None,
            props,
            usize::MAX,
        );
        // About 3 x ROW_GROUP_BYTES of distinct text, in small batches as connectors send them.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let rows_per_batch = 100;
        let batches = 3 * ROW_GROUP_BYTES / (rows_per_batch * 200);
        for b in 0..batches {
            let text: Vec<String> = (0..rows_per_batch)
                .map(|_| {
                    (0..25)
                        .map(|_| {
                            state ^= state << 13;
                            state ^= state >> 7;
                            state ^= state << 17;
                            format!("{:08x}", state as u32)
                        })
                        .collect()
                })
                .collect();
            let n = Int64Array::from_iter_values(
                (0..rows_per_batch as i64).map(|i| i + (b * rows_per_batch) as i64),
            );
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(n), Arc::new(StringArray::from(text))],
            )
            .unwrap();
            writer.write(&batch).await.unwrap();
        }
        let staged = writer.finish().await.unwrap();
        assert_eq!(staged.len(), 1);
        let total = (batches * rows_per_batch) as u64;
        assert_eq!(staged[0].rows, total);
        let bytes = store
            .get(&Path::from(staged[0].from.as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let reader = SerializedFileReader::new(bytes).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows() as u64, total);
        assert!(
            meta.num_row_groups() >= 3,
            "{} row groups",
            meta.num_row_groups()
        );
        for rg in meta.row_groups() {
            assert!(
                rg.compressed_size() as usize <= 2 * ROW_GROUP_BYTES,
                "a row group of {} bytes",
                rg.compressed_size()
            );
        }
    }

    #[tokio::test]
    async fn small_targets_still_roll_files_though_batches_are_gathered() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let props = WriterProperties::builder()
            .set_compression(Codec::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .build();
        // 64 KiB files: gathering a quarter of that at most, never GATHER_BYTES.
        let target = 64 * 1024;
        let mut writer =
            TableWriter::new(store, "r1", "t", Arc::clone(&schema), None, props, target);
        let (batches, rows) = (400, 100);
        for b in 0..batches {
            let n = Int64Array::from_iter_values((0..rows).map(|i| i + b * rows));
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(n)]).unwrap();
            writer.write(&batch).await.unwrap();
        }
        let staged = writer.finish().await.unwrap();
        // 320 KB of plain int64 values: about five files, none far over the target.
        assert!(staged.len() >= 4, "{} files", staged.len());
        assert_eq!(
            staged.iter().map(|f| f.rows).sum::<u64>(),
            (batches * rows) as u64
        );
        for f in &staged {
            assert!(
                f.bytes as usize <= 2 * target,
                "a file of {} bytes",
                f.bytes
            );
        }
    }

    use arrow::array::{Date32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn partition_labels_of_extreme_days_stay_one_folder() {
        for day in [-719_163, -1, 0, 2_932_896, 95_000_000, -95_000_000] {
            let label = day_label(Some(day)).unwrap();
            assert!(layout::is_safe_segment(&label), "{day}: {label:?}");
        }
        for day in [i32::MIN, i32::MIN + 1, i32::MAX - 1, i32::MAX] {
            let e = day_label(Some(day)).unwrap_err();
            assert!(e.to_string().contains("outside the years"), "{e}");
        }
        assert_eq!(day_label(None).unwrap(), NULL_PARTITION);
    }

    #[test]
    fn splits_rows_by_day_with_a_null_partition() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Date32, true),
            Field::new("v", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Date32Array::from(vec![
                    Some(19_723),
                    None,
                    Some(19_723),
                    Some(0),
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            ],
        )
        .unwrap();
        let parts = split_by_day(&batch, 0).unwrap();
        let labels: Vec<_> = parts
            .iter()
            .map(|(k, b)| (k.clone().unwrap(), b.num_rows()))
            .collect();
        assert_eq!(
            labels,
            vec![
                (NULL_PARTITION.to_owned(), 1),
                ("1970-01-01".to_owned(), 1),
                ("2024-01-01".to_owned(), 2)
            ]
        );
    }
}
