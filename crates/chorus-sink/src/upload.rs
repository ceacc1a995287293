//! Writing one object: a small one in a single atomic put, a large one as a multipart upload
//! that is aborted on any failure, so no upload is left dangling in a bucket (where it would be
//! billed and invisible).
//!
//! [`ObjectWriter`] is the [`AsyncFileWriter`] the Parquet writer streams into. Bytes are
//! buffered up to [`PART_SIZE`]; the first full buffer starts a multipart upload and every
//! later one becomes a part, with at most [`MAX_IN_FLIGHT`] parts uploading at once. A write
//! or completion that fails aborts the upload before returning the error; an writer dropped
//! without being completed or aborted (a cancelled task) aborts it in the background.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::ParquetError;
use tokio::task::JoinSet;

/// The size at which buffered bytes become a part (S3 needs at least 5 MiB but the last).
pub const PART_SIZE: usize = 10 * 1024 * 1024;

/// The most parts uploading at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// Writes one object; see the module documentation.
pub struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    buffer: Vec<Bytes>,
    buffered: usize,
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
    finished: bool,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("path", &self.path)
            .field("multipart", &self.upload.is_some())
            .finish()
    }
}

impl ObjectWriter {
    /// A writer of `path` in `store`; nothing is sent until [`PART_SIZE`] bytes are buffered.
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Self {
            store,
            path,
            buffer: Vec::new(),
            buffered: 0,
            upload: None,
            parts: JoinSet::new(),
            finished: false,
        }
    }

    /// The object's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a multipart upload has been started.
    pub fn is_multipart(&self) -> bool {
        self.upload.is_some()
    }

    fn take_buffer(&mut self) -> PutPayload {
        self.buffered = 0;
        std::mem::take(&mut self.buffer).into_iter().collect()
    }

    async fn send_part(&mut self) -> object_store::Result<()> {
        if self.upload.is_none() {
            self.upload = Some(self.store.put_multipart(&self.path).await?);
        }
        let payload = self.take_buffer();
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        let part = upload.put_part(payload);
        self.parts.spawn(part);
        while self.parts.len() >= MAX_IN_FLIGHT {
            self.join_one().await?;
        }
        Ok(())
    }

    async fn join_one(&mut self) -> object_store::Result<()> {
        match self.parts.join_next().await {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(object_store::Error::Generic {
                store: "chorus",
                source: Box::new(e),
            }),
        }
    }

    /// Buffers bytes, sending a part when the buffer is full.
    pub async fn write_bytes(&mut self, bytes: Bytes) -> object_store::Result<()> {
        self.buffered += bytes.len();
        self.buffer.push(bytes);
        if self.buffered >= PART_SIZE
            && let Err(e) = self.send_part().await
        {
            self.abort().await;
            return Err(e);
        }
        Ok(())
    }

    /// Makes the object visible: one put, or the last part and the upload's completion.
    pub async fn finish(&mut self) -> object_store::Result<()> {
        let result = self.try_finish().await;
        if result.is_err() {
            self.abort().await;
        }
        result
    }

    async fn try_finish(&mut self) -> object_store::Result<()> {
        if self.upload.is_none() {
            let payload = self.take_buffer();
            self.store.put(&self.path, payload).await?;
            self.finished = true;
            return Ok(());
        }
        if self.buffered > 0 {
            let payload = self.take_buffer();
            if let Some(upload) = self.upload.as_mut() {
                self.parts.spawn(upload.put_part(payload));
            }
        }
        while !self.parts.is_empty() {
            self.join_one().await?;
        }
        if let Some(upload) = self.upload.as_mut() {
            upload.complete().await?;
        }
        self.upload = None;
        self.finished = true;
        Ok(())
    }

    /// Abandons the object: stops the parts in flight and aborts the multipart upload, if one
    /// was started, so that neither the object nor its parts remain. Idempotent.
    pub async fn abort(&mut self) {
        self.parts.shutdown().await;
        self.buffer.clear();
        self.buffered = 0;
        self.finished = true;
        if let Some(mut upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(path = %self.path, error = %e, "Could not abort a multipart upload; a lifecycle rule that aborts incomplete uploads removes it.");
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(mut upload) = self.upload.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            self.parts.abort_all();
            let path = self.path.clone();
            handle.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(path = %path, error = %e, "Could not abort a multipart upload.");
                }
            });
        }
    }
}

fn parquet_error(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileWriter for ObjectWriter {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move { self.write_bytes(bs).await.map_err(parquet_error) }.boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move { self.finish().await.map_err(parquet_error) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn small_objects_are_one_put_and_large_ones_multipart() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut w = ObjectWriter::new(Arc::clone(&store), Path::from("a"));
        w.write_bytes(Bytes::from_static(b"hello")).await.unwrap();
        assert!(!w.is_multipart());
        w.finish().await.unwrap();
        assert_eq!(store.head(&Path::from("a")).await.unwrap().size, 5);

        let mut w = ObjectWriter::new(Arc::clone(&store), Path::from("b"));
        for _ in 0..5 {
            w.write_bytes(Bytes::from(vec![7u8; PART_SIZE / 2 + 1]))
                .await
                .unwrap();
        }
        assert!(w.is_multipart());
        w.finish().await.unwrap();
        let size = store.head(&Path::from("b")).await.unwrap().size;
        assert_eq!(size, 5 * (PART_SIZE as u64 / 2 + 1));

        let mut w = ObjectWriter::new(Arc::clone(&store), Path::from("c"));
        w.write_bytes(Bytes::from(vec![1u8; PART_SIZE]))
            .await
            .unwrap();
        w.abort().await;
        assert!(store.head(&Path::from("c")).await.is_err());
    }
}
