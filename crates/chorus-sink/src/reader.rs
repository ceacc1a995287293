//! Reading Parquet files back through `object_store`, for `merge` and for tests.

use std::ops::Range;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chorus_core::{Error, Result};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt, TryFutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, MetadataSuffixFetch};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

fn parquet_err(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

/// An [`AsyncFileReader`] over one object.
#[derive(Clone, Debug)]
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

impl ObjectReader {
    /// A reader of `path` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Self { store, path }
    }
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(parquet_err)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_err)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_via_suffix_and_finish(self)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl MetadataSuffixFetch for &mut ObjectReader {
    fn fetch_suffix(&mut self, suffix: usize) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let options = GetOptions {
            range: Some(GetRange::Suffix(suffix as u64)),
            ..Default::default()
        };
        async move {
            self.store
                .get_opts(&self.path, options)
                .await
                .map_err(parquet_err)?
                .bytes()
                .await
                .map_err(parquet_err)
        }
        .boxed()
    }
}

/// Streams the batches of one Parquet file.
pub async fn read_file(
    store: &Arc<dyn ObjectStore>,
    path: &str,
) -> Result<impl Stream<Item = Result<RecordBatch>> + use<>> {
    let reader = ObjectReader::new(Arc::clone(store), Path::from(path));
    let stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::io(format!("failed to open {path}: {e}")))?
        .build()
        .map_err(|e| Error::io(format!("failed to read {path}: {e}")))?;
    let path = path.to_owned();
    Ok(stream.map_err(move |e| Error::io(format!("failed to read {path}: {e}"))))
}

/// The column names of a published Parquet file, read from its footer.
pub async fn file_columns(store: &Arc<dyn ObjectStore>, path: &str) -> Result<Vec<String>> {
    let reader = ObjectReader::new(Arc::clone(store), Path::from(path));
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::io(format!("failed to open {path}: {e}")))?;
    Ok(builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// The rows of `files` (sorted by the caller), read one after another and taken under
/// `schema`: a file whose columns no longer match fails the stream with what to do.
pub fn read_files(
    store: Arc<dyn ObjectStore>,
    files: Vec<String>,
    schema: arrow::datatypes::SchemaRef,
) -> chorus_core::BatchStream {
    let batches = futures::stream::iter(files)
        .then(move |path| {
            let store = Arc::clone(&store);
            async move { read_file(&store, &path).await }
        })
        .try_flatten()
        .map(move |batch| {
            let batch = batch?;
            RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec()).map_err(|e| {
                Error::contract(format!(
                    "a committed file does not have the table's current columns ({e}); rebuild the table with --full-refresh"
                ))
            })
        });
    Box::pin(batches)
}
