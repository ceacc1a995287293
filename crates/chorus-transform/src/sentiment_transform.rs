//! The `sentiment` transform: adds a sentiment score and label (and optionally the detected
//! language) for a text column of its one input, batch by batch.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use chorus_core::{
    BatchStream, BuildContext, ConfigError, ConfigKeyDoc, ConfigTable, ConnectorDoc, Error, Result,
    Transform, TransformFactory, TransformInput,
};
use futures::StreamExt;
use serde::Deserialize;

use crate::sentiment;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentimentSettings {
    /// The text column.
    text: String,
    /// The name of the score column.
    #[serde(default = "default_score")]
    score_column: String,
    /// The name of the label column.
    #[serde(default = "default_label")]
    label_column: String,
    /// The name of a language column to add, if any.
    #[serde(default)]
    language_column: Option<String>,
}

fn default_score() -> String {
    "sentiment_score".into()
}

fn default_label() -> String {
    "sentiment_label".into()
}

const TEMPLATE: &str = r#"[transforms.{id}]
type = "sentiment"
inputs = ["social.comments"]      # exactly one input
text = "text"                     # the text column
# score_column = "sentiment_score"  # Float64 in [-1, 1]; NULL for languages the lexicon lacks
# label_column = "sentiment_label"  # positive | negative | neutral
# language_column = "language"      # ISO 639-1 code, NULL when unsure
"#;

/// The registered `sentiment` transform type.
pub struct SentimentFactory;

impl TransformFactory for SentimentFactory {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "sentiment",
            summary: "Adds a sentiment score and label for a text column (VADER lexicon and rules; NULL for languages it does not cover).",
            keys: vec![
                ConfigKeyDoc::plain("text", "string", true, "The text column to score."),
                ConfigKeyDoc::plain(
                    "score_column",
                    "string",
                    false,
                    "The score column to add (default sentiment_score).",
                ),
                ConfigKeyDoc::plain(
                    "label_column",
                    "string",
                    false,
                    "The label column to add (default sentiment_label).",
                ),
                ConfigKeyDoc::plain(
                    "language_column",
                    "string",
                    false,
                    "A column to add with the detected language (ISO 639-1), if wanted.",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn build(
        &self,
        config: &ConfigTable,
        inputs: &[TransformInput],
        cx: &BuildContext,
    ) -> Result<Box<dyn Transform>, ConfigError> {
        let settings: SentimentSettings = config.deserialize()?;
        let input = single_input("sentiment", inputs, cx)?;
        let schema = &input.schema;
        let columns = || {
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = schema.index_of(&settings.text).map_err(|_| {
            ConfigError::new(
                format!("input \"{}\" has no column \"{}\"", input.id, settings.text),
                Some(config.span_of("text")),
            )
            .with_help(format!("its columns are: {}", columns()))
        })?;
        if !matches!(
            schema.field(text).data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            return Err(ConfigError::new(
                format!(
                    "column \"{}\" is {}, not text",
                    settings.text,
                    schema.field(text).data_type()
                ),
                Some(config.span_of("text")),
            ));
        }
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut added = vec![
            ("score_column", &settings.score_column, DataType::Float64),
            ("label_column", &settings.label_column, DataType::Utf8),
        ];
        if let Some(language) = &settings.language_column {
            added.push(("language_column", language, DataType::Utf8));
        }
        for (key, name, data_type) in added {
            if fields.iter().any(|f| f.name() == name) {
                return Err(ConfigError::new(
                    format!("column \"{name}\" already exists"),
                    Some(config.span_of(key)),
                )
                .with_help(format!("set `{key}` to a new column name")));
            }
            fields.push(Field::new(name, data_type, true));
        }
        Ok(Box::new(SentimentTransform {
            text,
            language: settings.language_column.is_some(),
            schema: Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
            primary_key: input.primary_key.clone(),
        }))
    }
}

/// The one input of a transform that takes exactly one.
pub(crate) fn single_input<'a>(
    type_name: &str,
    inputs: &'a [TransformInput],
    cx: &BuildContext,
) -> Result<&'a TransformInput, ConfigError> {
    match inputs {
        [one] => Ok(one),
        _ => Err(ConfigError::new(
            format!(
                "a {type_name} transform takes exactly one input, \"{}\" has {}",
                cx.id,
                inputs.len()
            ),
            None,
        )
        .with_help(format!(
            "give [transforms.{}] one input, or join them first in a sql transform",
            cx.id
        ))),
    }
}

/// A configured `sentiment` transform.
struct SentimentTransform {
    text: usize,
    language: bool,
    schema: SchemaRef,
    primary_key: Vec<String>,
}

/// Adds the score, label and (if wanted) language columns to a batch.
fn score_batch(
    batch: &RecordBatch,
    text: usize,
    language: bool,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let texts = cast(batch.column(text), &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    let scores: Vec<Option<f64>> = texts.iter().map(|t| sentiment::score(t?)).collect();
    let labels: StringArray = scores.iter().map(|s| s.map(sentiment::label)).collect();
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(Float64Array::from(scores)) as ArrayRef);
    columns.push(Arc::new(labels));
    if language {
        let languages: StringArray = texts
            .iter()
            .map(|t| sentiment::detect_language(t?))
            .collect();
        columns.push(Arc::new(languages));
    }
    debug_assert!(columns.iter().all(|c| c.len() == batch.num_rows()));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[async_trait]
impl Transform for SentimentTransform {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn primary_key(&self) -> Vec<String> {
        self.primary_key.clone()
    }

    async fn execute(&self, inputs: Vec<(String, BatchStream)>) -> Result<BatchStream> {
        let Some((_, input)) = inputs.into_iter().next() else {
            return Err(Error::internal(
                "the sentiment transform was given no input",
            ));
        };
        let (text, language, schema) = (self.text, self.language, Arc::clone(&self.schema));
        Ok(input
            .then(move |batch| {
                let schema = Arc::clone(&schema);
                async move {
                    let batch = batch?;
                    // Scoring is CPU work: keep it off the async workers.
                    tokio::task::spawn_blocking(move || {
                        score_batch(&batch, text, language, &schema)
                    })
                    .await
                    .map_err(|e| Error::internal(format!("sentiment scoring panicked: {e}")))?
                }
            })
            .boxed())
    }
}
