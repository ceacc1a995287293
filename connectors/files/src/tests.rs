use super::*;
use chorus_core::Window;
use futures::StreamExt;
use std::path::Path;

fn build(dir: &Path, toml_text: &str) -> Result<Box<dyn Source>, ConfigError> {
    let table = ConfigTable::parse(toml_text, dir).unwrap();
    FilesConnector.build(&table, &BuildContext::new("crm"))
}

async fn collect(stream: &Arc<dyn Stream>, cx: ReadContext) -> (usize, Vec<StreamState>) {
    let mut rows = 0;
    let mut checkpoints = Vec::new();
    let mut events = stream.read(cx);
    while let Some(event) = events.next().await {
        match event.unwrap() {
            StreamEvent::Batch(b) => rows += b.num_rows(),
            StreamEvent::Checkpoint(s) => checkpoints.push(s),
        }
    }
    (rows, checkpoints)
}

fn cx(state: Option<StreamState>) -> ReadContext {
    ReadContext {
        state,
        window: Window::default(),
        run_id: "r".into(),
    }
}

const CONTACTS: &str = r#"
[[files]]
stream = "contacts"
paths = ["*.csv"]
format = "csv"
primary_key = ["id"]
cursor = "updated_at"
"#;

#[tokio::test]
async fn csv_is_typed_and_read_incrementally_on_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.csv"),
        "id,name,score,updated_at\n007,Ann,1.5,2024-01-01T10:00:00Z\n008,Bob,2,2024-01-02T10:00:00Z\n",
    )
    .unwrap();
    let source = build(dir.path(), CONTACTS).unwrap();
    let stream = source.streams().remove(0);
    let schema = &stream.spec().schema;
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        schema.field_with_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("updated_at").unwrap().data_type(),
        &timestamp_type()
    );

    let (rows, checkpoints) = collect(&stream, cx(None)).await;
    assert_eq!(rows, 2);
    let last = checkpoints.last().cloned().unwrap();
    assert_eq!(
        last.cursor,
        Some(Cursor::Timestamp("2024-01-02T10:00:00Z".parse().unwrap()))
    );

    // From the saved cursor nothing is new; a window re-reads what it covers.
    assert_eq!(collect(&stream, cx(Some(last.clone()))).await.0, 0);
    let mut backfill = cx(Some(last));
    backfill.window = Window {
        start: Some(chorus_core::Bound::Instant(
            "2024-01-01T00:00:00Z".parse().unwrap(),
        )),
        end: Some(chorus_core::Bound::Instant(
            "2024-01-02T00:00:00Z".parse().unwrap(),
        )),
    };
    assert_eq!(collect(&stream, backfill).await.0, 1);
}

#[tokio::test]
async fn a_bad_value_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,n\n1,5\n2,6\n").unwrap();
    let toml_text = "[[files]]\nstream = \"s\"\npaths = [\"a.csv\"]\nformat = \"csv\"\nschema = { n = \"int64\" }\n";
    let source = build(dir.path(), toml_text).unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,n\n1,5\n2,oops\n").unwrap();
    let stream = source.streams().remove(0);
    let mut events = stream.read(cx(None));
    let mut error = None;
    while let Some(e) = events.next().await {
        if let Err(e) = e {
            error = Some(e.to_string());
        }
    }
    let error = error.unwrap();
    assert!(error.contains("a.csv"), "{error}");
    assert!(error.contains("line"), "{error}");
}

#[test]
fn build_errors_point_at_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let err = build(dir.path(), CONTACTS).err().unwrap();
    assert_eq!(err.message, "no file matches *.csv");
    assert!(err.span.is_some());
    std::fs::write(dir.path().join("a.csv"), "id,name\n1,x\n").unwrap();
    let err = build(dir.path(), CONTACTS).err().unwrap();
    assert_eq!(err.message, "the files have no column \"updated_at\"");
    assert_eq!(err.help.as_deref(), Some("their columns are: id, name"));
}

#[tokio::test]
async fn ndjson_and_mtime_cursor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.ndjson"),
        "{\"id\": 1, \"v\": \"x\"}\n{\"id\": 2, \"v\": \"y\"}\n",
    )
    .unwrap();
    let toml_text = "[[files]]\nstream = \"s\"\npaths = [\"*.ndjson\"]\nformat = \"ndjson\"\nprimary_key = [\"id\"]\n";
    let source = build(dir.path(), toml_text).unwrap();
    let stream = source.streams().remove(0);
    let (rows, checkpoints) = collect(&stream, cx(None)).await;
    assert_eq!(rows, 2);
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(collect(&stream, cx(checkpoints.last().cloned())).await.0, 0);
}

#[tokio::test]
async fn every_stream_passes_the_contract() {
    use chorus_core::testing::{Conditions, assert_stream_contract};
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        (
            "a.csv",
            "id,name,updated_at\n1,a,2024-01-01T00:00:00Z\n2,b,2024-01-02T00:00:00Z\n",
        ),
        ("b.csv", "id,name,updated_at\n3,c,2024-01-03T00:00:00Z\n"),
    ] {
        std::fs::write(dir.path().join(name), body).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    for toml_text in [
        CONTACTS,
        "[[files]]\nstream = \"contacts\"\npaths = [\"*.csv\"]\nformat = \"csv\"\nprimary_key = [\"id\"]\n",
    ] {
        let source = build(dir.path(), toml_text).unwrap();
        let stream = source.streams().remove(0);
        // Local files have no faults to inject: both conditions read the same files.
        let report = assert_stream_contract(|_: Conditions| Arc::clone(&stream), &[]).await;
        assert_eq!(report.full.rows.len(), 3);
    }
}
