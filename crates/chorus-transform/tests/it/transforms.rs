//! The three transforms built from pipeline settings and run over in-memory streams, the way
//! the runner drives them.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use chorus_core::{
    BatchStream, BuildContext, ConfigError, ConfigTable, Error, ErrorKind, Transform,
    TransformFactory, TransformInput,
};
use chorus_transform::dedupe::DedupeFactory;
use chorus_transform::sentiment_transform::SentimentFactory;
use chorus_transform::sql::SqlFactory;
use futures::{StreamExt, TryStreamExt};

fn posts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, true),
        Field::new("likes", DataType::Int64, true),
        Field::new("reach", DataType::Float64, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

fn posts(rows: &[(&str, Option<&str>, i64, f64, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        posts_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.4 * 1_000_000))
                    .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap()
}

fn input(id: &str) -> TransformInput {
    TransformInput {
        id: id.into(),
        schema: posts_schema(),
        primary_key: vec!["id".into()],
        cursor_field: Some("updated_at".into()),
    }
}

fn build(
    factory: &dyn TransformFactory,
    settings: &str,
    inputs: &[TransformInput],
) -> Result<Box<dyn Transform>, ConfigError> {
    let config = ConfigTable::parse(settings, ".").unwrap();
    factory.build(
        &config,
        inputs,
        &BuildContext {
            id: "t".into(),
            ..BuildContext::default()
        },
    )
}

fn stream(batches: Vec<RecordBatch>) -> BatchStream {
    futures::stream::iter(batches.into_iter().map(Ok)).boxed()
}

async fn run(t: &dyn Transform, inputs: Vec<(&str, Vec<RecordBatch>)>) -> Result<String, Error> {
    let inputs = inputs
        .into_iter()
        .map(|(id, b)| (id.to_owned(), stream(b)))
        .collect();
    let out: Vec<RecordBatch> = t.execute(inputs).await?.try_collect().await?;
    for b in &out {
        assert_eq!(b.schema(), t.schema(), "batches match the declared schema");
    }
    Ok(pretty_format_batches(&out).unwrap().to_string())
}

fn batch_a() -> RecordBatch {
    posts(&[
        ("1", Some("I love it!"), 10, 200.0, 1),
        ("2", Some("Worst launch ever"), 2, 0.0, 1),
    ])
}

fn batch_b() -> RecordBatch {
    posts(&[
        ("1", Some("I love it! (edited)"), 12, 220.0, 5),
        ("3", None, 0, 50.0, 2),
        ("2", Some("stale copy"), 1, 10.0, 0),
    ])
}

#[tokio::test]
async fn sql_reads_source_streams_as_schema_tables_and_has_the_kpi_functions() {
    let t = build(
        &SqlFactory,
        r#"query = "SELECT id, engagement_rate(likes, reach) AS er FROM brand.posts ORDER BY id, er NULLS LAST"
primary_key = ["id"]"#,
        &[input("brand.posts")],
    )
    .unwrap();
    assert_eq!(t.primary_key(), ["id"]);
    let out = run(
        t.as_ref(),
        vec![("brand.posts", vec![batch_a(), batch_b()])],
    )
    .await
    .unwrap();
    insta_like(
        &out,
        "
+----+-------------------+
| id | er                |
+----+-------------------+
| 1  | 5.0               |
| 1  | 5.454545454545454 |
| 2  | 10.0              |
| 2  |                   |
| 3  | 0.0               |
+----+-------------------+",
    );
}

#[tokio::test]
async fn sql_joins_two_inputs_and_a_self_join_reads_an_input_twice() {
    let t = build(
        &SqlFactory,
        r#"query = """
SELECT a.id, COUNT(*) AS pairs
FROM brand.posts a JOIN brand.posts b ON a.id = b.id
JOIN latest l ON l.id = a.id
GROUP BY a.id ORDER BY a.id"""
"#,
        &[input("brand.posts"), input("latest")],
    )
    .unwrap();
    let out = run(
        t.as_ref(),
        vec![
            ("latest", vec![batch_a()]),
            ("brand.posts", vec![batch_a(), batch_b()]),
        ],
    )
    .await
    .unwrap();
    insta_like(
        &out,
        "
+----+-------+
| id | pairs |
+----+-------+
| 1  | 4     |
| 2  | 4     |
+----+-------+",
    );
}

#[tokio::test]
async fn an_input_error_keeps_its_kind_through_the_query() {
    let t = build(
        &SqlFactory,
        r#"query = "SELECT id FROM brand.posts WHERE likes > 1""#,
        &[input("brand.posts")],
    )
    .unwrap();
    let failing: BatchStream = futures::stream::iter(vec![
        Ok(batch_a()),
        Err(Error::new(ErrorKind::Transient, "http 503")),
    ])
    .boxed();
    let out: Result<Vec<RecordBatch>, Error> = t
        .execute(vec![("brand.posts".into(), failing)])
        .await
        .unwrap()
        .try_collect()
        .await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(err.message(), "http 503");
}

#[test]
fn sql_errors_point_into_the_query() {
    let settings = "query = \"\"\"\nSELECT id,\n       likez\nFROM brand.posts\"\"\"\n";
    let err = build(&SqlFactory, settings, &[input("brand.posts")])
        .err()
        .unwrap();
    let span = err.span.clone().unwrap();
    assert_eq!(&settings[span], "likez", "{err:?}");
    assert!(err.message.starts_with("invalid SQL: "), "{}", err.message);

    let err = build(
        &SqlFactory,
        r#"query = "SELECT * FROM brand.post""#,
        &[input("brand.posts")],
    )
    .err()
    .unwrap();
    assert!(err.message.contains("brand.post"), "{}", err.message);

    let err = build(
        &SqlFactory,
        "query = \"SELECT id FROM brand.posts\"\nprimary_key = [\"nope\"]",
        &[input("brand.posts")],
    )
    .err()
    .unwrap();
    assert!(err.message.contains("\"nope\""), "{}", err.message);
}

#[tokio::test]
async fn sentiment_adds_score_label_and_language() {
    let t = build(
        &SentimentFactory,
        "text = \"message\"\nlanguage_column = \"language\"",
        &[input("brand.posts")],
    )
    .unwrap();
    assert_eq!(t.primary_key(), ["id"]);
    let batch = posts(&[
        (
            "1",
            Some("I love this, the team did a great job!"),
            0,
            0.0,
            0,
        ),
        (
            "2",
            Some("Ce produit est vraiment magnifique, je le recommande à tous mes amis."),
            0,
            0.0,
            0,
        ),
        ("3", None, 0, 0.0, 0),
    ]);
    let out = run(t.as_ref(), vec![("brand.posts", vec![batch])])
        .await
        .unwrap();
    let fields: Vec<String> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        fields[5..],
        ["sentiment_score", "sentiment_label", "language"]
    );
    assert!(out.contains("| positive        | en "), "{out}");
    assert!(
        out.contains("|                 |                 | fr "),
        "{out}"
    );
}

#[test]
fn sentiment_settings_are_checked() {
    let err = build(
        &SentimentFactory,
        "text = \"body\"",
        &[input("brand.posts")],
    )
    .err()
    .unwrap();
    assert!(
        err.message.contains("no column \"body\""),
        "{}",
        err.message
    );
    let err = build(
        &SentimentFactory,
        "text = \"likes\"",
        &[input("brand.posts")],
    )
    .err()
    .unwrap();
    assert!(err.message.contains("not text"), "{}", err.message);
    let err = build(
        &SentimentFactory,
        "text = \"message\"\nscore_column = \"likes\"",
        &[input("brand.posts")],
    )
    .err()
    .unwrap();
    assert!(err.message.contains("already exists"), "{}", err.message);
    let err = build(
        &SentimentFactory,
        "text = \"message\"",
        &[input("a.b"), input("c.d")],
    )
    .err()
    .unwrap();
    assert!(err.message.contains("exactly one input"), "{}", err.message);
}

#[tokio::test]
async fn dedupe_keeps_the_latest_row_per_key() {
    let t = build(&DedupeFactory, "", &[input("brand.posts")]).unwrap();
    assert_eq!(t.primary_key(), ["id"]);
    let out = run(
        t.as_ref(),
        vec![("brand.posts", vec![batch_a(), batch_b()])],
    )
    .await
    .unwrap();
    insta_like(
        &out,
        "
+----+---------------------+-------+-------+----------------------+
| id | message             | likes | reach | updated_at           |
+----+---------------------+-------+-------+----------------------+
| 1  | I love it! (edited) | 12    | 220.0 | 1970-01-01T00:00:05Z |
| 2  | Worst launch ever   | 2     | 0.0   | 1970-01-01T00:00:01Z |
| 3  |                     | 0     | 50.0  | 1970-01-01T00:00:02Z |
+----+---------------------+-------+-------+----------------------+",
    );
}

#[tokio::test]
async fn dedupe_compacts_and_breaks_ties_by_arrival() {
    let t = build(
        &DedupeFactory,
        "key = [\"message\"]\ncursor = \"likes\"",
        &[input("x.y")],
    )
    .unwrap();
    // Many batches of the same few keys: memory stays at the winners; the last of equal
    // cursors wins.
    let batches: Vec<RecordBatch> = (0..200)
        .map(|i| {
            let rows: Vec<(String, Option<String>, i64, f64, i64)> = (0..500)
                .map(|r| {
                    (
                        format!("{i}-{r}"),
                        Some(format!("k{}", r % 3)),
                        7,
                        f64::from(i),
                        0,
                    )
                })
                .collect();
            let refs: Vec<(&str, Option<&str>, i64, f64, i64)> = rows
                .iter()
                .map(|r| (r.0.as_str(), r.1.as_deref(), r.2, r.3, r.4))
                .collect();
            posts(&refs)
        })
        .collect();
    let out = run(t.as_ref(), vec![("x.y", batches)]).await.unwrap();
    insta_like(
        &out,
        "
+---------+---------+-------+-------+----------------------+
| id      | message | likes | reach | updated_at           |
+---------+---------+-------+-------+----------------------+
| 199-498 | k0      | 7     | 199.0 | 1970-01-01T00:00:00Z |
| 199-499 | k1      | 7     | 199.0 | 1970-01-01T00:00:00Z |
| 199-497 | k2      | 7     | 199.0 | 1970-01-01T00:00:00Z |
+---------+---------+-------+-------+----------------------+",
    );
}

#[test]
fn dedupe_needs_a_key_and_a_cursor() {
    let mut no_key = input("a.b");
    no_key.primary_key.clear();
    let err = build(&DedupeFactory, "", &[no_key]).err().unwrap();
    assert!(err.message.contains("no primary key"), "{}", err.message);
    let mut no_cursor = input("a.b");
    no_cursor.cursor_field = None;
    let err = build(&DedupeFactory, "", &[no_cursor]).err().unwrap();
    assert!(err.message.contains("no cursor"), "{}", err.message);
    let err = build(&DedupeFactory, "key = [\"nope\"]", &[input("a.b")])
        .err()
        .unwrap();
    assert!(
        err.message.contains("no column \"nope\""),
        "{}",
        err.message
    );
}

/// Compares pretty-printed output with the expected table, ignoring surrounding whitespace.
fn insta_like(actual: &str, expected: &str) {
    assert_eq!(actual.trim(), expected.trim(), "\n{actual}");
}
