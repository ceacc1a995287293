//! The sink's storage on S3 (moto on loopback): conditional creates, multipart uploads that
//! are aborted on failure, files the Parquet reader reads back.

use std::sync::Arc;

use arrow::array::{BinaryArray, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chorus_sink::config::ParquetSinkConfig;
use chorus_sink::testing::s3;
use chorus_sink::upload::{ObjectWriter, PART_SIZE};
use chorus_sink::writer::{TableWriter, writer_properties};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions};

#[tokio::test]
async fn a_create_only_put_fails_when_the_object_exists() {
    let server = s3();
    let bucket = server.bucket("create");
    let store = server.store(&bucket);
    let path = Path::from("commits/0000000001.json");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    store
        .put_opts(&path, Bytes::from_static(b"first").into(), create())
        .await
        .unwrap();
    let err = store
        .put_opts(&path, Bytes::from_static(b"second").into(), create())
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err:?}"
    );
    let kept = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(kept.as_ref(), b"first");
}

#[tokio::test]
async fn an_aborted_multipart_upload_leaves_nothing_behind() {
    let server = s3();
    let bucket = server.bucket("abort");
    let store = server.store(&bucket);
    let mut w = ObjectWriter::new(Arc::clone(&store), Path::from("t/part-1.parquet"));
    for _ in 0..3 {
        w.write_bytes(Bytes::from(vec![42u8; PART_SIZE]))
            .await
            .unwrap();
    }
    assert!(w.is_multipart());
    assert_eq!(server.multipart_uploads(&bucket), vec!["t/part-1.parquet"]);
    w.abort().await;
    assert!(server.multipart_uploads(&bucket).is_empty());
    assert!(server.keys(&bucket).is_empty());

    // Completed, the same upload is one object of the full size.
    let mut w = ObjectWriter::new(Arc::clone(&store), Path::from("t/part-2.parquet"));
    for _ in 0..3 {
        w.write_bytes(Bytes::from(vec![42u8; PART_SIZE]))
            .await
            .unwrap();
    }
    w.finish().await.unwrap();
    assert!(server.multipart_uploads(&bucket).is_empty());
    let size = store
        .head(&Path::from("t/part-2.parquet"))
        .await
        .unwrap()
        .size;
    assert_eq!(size, 3 * PART_SIZE as u64);
}

fn noise_batch(rows: usize, seed: u64) -> RecordBatch {
    // Incompressible bytes, so a few batches pass the multipart threshold.
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let values: Vec<Vec<u8>> = (0..rows)
        .map(|_| {
            (0..1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("blob", DataType::Binary, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            Arc::new(BinaryArray::from_iter_values(values.iter())),
        ],
    )
    .unwrap()
}

fn settings() -> ParquetSinkConfig {
    toml::from_str(
        r#"
path = "s3://unused/x"
compression = "none"
row_group_rows = 2048
"#,
    )
    .unwrap()
}

#[tokio::test]
async fn a_table_writer_that_fails_aborts_its_open_uploads() {
    let server = s3();
    let bucket = server.bucket("table");
    let store = server.store(&bucket);
    let props = writer_properties(&settings()).unwrap();
    let batch = noise_batch(4096, 1);
    let mut writer = TableWriter::new(
        Arc::clone(&store),
        "r1",
        "events",
        batch.schema(),
        None,
        props.clone(),
        usize::MAX,
    );
    // 4 MiB a batch: the third starts the multipart upload.
    for seed in 0..4 {
        writer.write(&noise_batch(4096, seed)).await.unwrap();
    }
    assert_eq!(server.multipart_uploads(&bucket).len(), 1);
    writer.abort().await;
    assert!(server.multipart_uploads(&bucket).is_empty());
    assert!(
        server.keys(&bucket).is_empty(),
        "{:?}",
        server.keys(&bucket)
    );

    // The same table finished is a staged file the reader reads back whole.
    let mut writer = TableWriter::new(
        Arc::clone(&store),
        "r2",
        "events",
        batch.schema(),
        None,
        props,
        usize::MAX,
    );
    for seed in 0..4 {
        writer.write(&noise_batch(4096, seed)).await.unwrap();
    }
    let staged = writer.finish().await.unwrap();
    assert_eq!(staged.len(), 1);
    assert!(server.multipart_uploads(&bucket).is_empty());
    let rows: usize = chorus_sink::reader::read_file(&store, &staged[0].from)
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 4 * 4096);
}
