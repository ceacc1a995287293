//! Secrets come from the environment, never from the file, and never show in errors.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigKeyDoc, ConfigTable, Connector, ConnectorDoc,
    Error, ErrorKind, EventStream, ReadContext, Result, Secret, Source, Stream, StreamEvent,
    StreamSpec, SyncMode,
};
use serde::Deserialize;

use crate::support::{plan, registry, run};

/// A connector whose only stream fails with an error that echoes its token, the way a
/// platform's error page echoes the URL it was called with.
struct Leaky;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeakyConfig {
    token: Secret,
    #[serde(default)]
    fail: bool,
}

impl Connector for Leaky {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "leaky",
            summary: "A test connector.",
            keys: vec![
                ConfigKeyDoc {
                    name: "token",
                    type_name: "string",
                    required: true,
                    secret: true,
                    doc: "A token.",
                },
                ConfigKeyDoc {
                    name: "fail",
                    type_name: "bool",
                    required: false,
                    secret: false,
                    doc: "Fail.",
                },
            ],
            template: "",
        }
    }

    fn build(
        &self,
        config: &ConfigTable,
        _: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let c: LeakyConfig = config.deserialize()?;
        Ok(Box::new(LeakySource(Arc::new(LeakyStream {
            token: c.token,
            fail: c.fail,
            spec: StreamSpec {
                name: "items".into(),
                schema: Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
                primary_key: vec!["id".into()],
                cursor_field: None,
                sync_modes: vec![SyncMode::FullRefresh],
                lookback: std::time::Duration::ZERO,
            },
        }))))
    }
}

struct LeakySource(Arc<LeakyStream>);

#[async_trait]
impl Source for LeakySource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        vec![self.0.clone()]
    }
    async fn check(&self) -> Result<CheckReport> {
        Err(Error::new(
            ErrorKind::Auth,
            format!(
                "401 for https://api.example.com/me?access_token={}",
                self.0.token.expose()
            ),
        ))
    }
}

struct LeakyStream {
    token: Secret,
    fail: bool,
    spec: StreamSpec,
}

impl Stream for LeakyStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }
    fn read(&self, _: ReadContext) -> EventStream {
        let event = if self.fail {
            Err(Error::new(
                ErrorKind::Transient,
                format!(
                    "http 503 from https://api.example.com/items?access_token={}",
                    self.token.expose()
                ),
            ))
        } else {
            let ids = StringArray::from(vec!["a", "b"]);
            Ok(StreamEvent::Batch(
                RecordBatch::try_new(self.spec.schema.clone(), vec![Arc::new(ids)]).unwrap(),
            ))
        };
        Box::pin(futures::stream::iter([event]))
    }
}

fn pipeline(token: &str, fail: bool) -> String {
    format!(
        "[pipeline]\nname = \"p\"\n\n[sources.api]\ntype = \"leaky\"\ntoken = \"{token}\"\nfail = {fail}\n\n[sinks.lake]\ntype = \"parquet\"\ninputs = [\"api.items\"]\npath = \"out\"\n"
    )
}

#[test]
fn a_literal_secret_is_refused_with_the_variable_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(|r| r.add_connector(Leaky).unwrap());
    let err = plan(dir.path(), &pipeline("EAAB-canary-123", false), &r, &[])
        .err()
        .unwrap();
    let expected = format!(
        "error: `token` of source \"api\" is a secret and must not be written in the file\n --> {}:6:9\n  |\n6 | token = \"EAAB-canary-123\"\n  |         ^^^^^^^^^^^^^^^^^\n  |\n  = help: read it from the environment: token = \"${{API_TOKEN}}\"\n\n",
        dir.path().join("pipeline.toml").display()
    );
    assert_eq!(err, expected);
    // A default would put the secret in the file too.
    let err = plan(
        dir.path(),
        &pipeline("${API_TOKEN:-EAAB-canary-123}", false),
        &r,
        &[],
    )
    .err()
    .unwrap();
    assert!(
        err.contains("is a secret and must not be written in the file"),
        "{err}"
    );
}

#[tokio::test]
async fn secrets_from_the_environment_are_redacted_from_errors_and_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let r = registry(|r| r.add_connector(Leaky).unwrap());
    let canary = "canary-7f3a9c-token";
    let plan = plan(
        dir.path(),
        &pipeline("${API_TOKEN}", true),
        &r,
        &[("API_TOKEN", canary)],
    )
    .unwrap();
    assert_eq!(plan.secrets, vec![canary.to_owned()]);

    let report = run(&plan).await;
    let json = serde_json::to_string(&report.summary).unwrap();
    assert!(!json.contains(canary), "{json}");
    assert!(json.contains("access_token=***"), "{json}");
    assert_eq!(report.failures, vec![ErrorKind::Transient]);

    let check = plan.sources[0]
        .source
        .check()
        .await
        .unwrap_err()
        .redacted(&plan.secrets);
    assert_eq!(
        check.to_string(),
        "401 for https://api.example.com/me?access_token=***"
    );

    // Nothing of the token reached the output or the state either.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
