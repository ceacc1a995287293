//! The `dedupe` transform: the latest row per key, by a cursor column.
//!
//! The input is read to the end before anything is emitted (the latest row of a key may be the
//! last one read). Memory holds the current winner of every key, not the whole input: the rows
//! that lost are dropped as batches are compacted. Among rows with the same key and cursor
//! the one read last wins; a NULL cursor loses to any value. Rows come out in the order their
//! keys were first seen.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortOptions, interleave_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use async_trait::async_trait;
use chorus_core::{
    BatchStream, BuildContext, ConfigError, ConfigKeyDoc, ConfigTable, ConnectorDoc, Error, Result,
    Transform, TransformFactory, TransformInput,
};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::sentiment_transform::single_input;

/// Rows per output batch.
const OUTPUT_ROWS: usize = 8192;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupeSettings {
    /// The key columns; default: the input's primary key.
    #[serde(default)]
    key: Option<Vec<String>>,
    /// The cursor column; default: the input's cursor.
    #[serde(default)]
    cursor: Option<String>,
}

const TEMPLATE: &str = r#"[transforms.{id}]
type = "dedupe"
inputs = ["crm.contacts"]     # exactly one input
# key = ["id"]                # default: the input's primary key
# cursor = "updated_at"       # default: the input's cursor; the latest row per key wins
"#;

/// The registered `dedupe` transform type.
pub struct DedupeFactory;

impl TransformFactory for DedupeFactory {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "dedupe",
            summary: "Keeps the latest row per key, by a cursor column.",
            keys: vec![
                ConfigKeyDoc::plain(
                    "key",
                    "list of strings",
                    false,
                    "The columns that identify a row (default: the input's primary key).",
                ),
                ConfigKeyDoc::plain(
                    "cursor",
                    "string",
                    false,
                    "The column whose greatest value wins (default: the input's cursor).",
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
        let settings: DedupeSettings = config.deserialize()?;
        let input = single_input("dedupe", inputs, cx)?;
        let schema = &input.schema;
        let columns = || {
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let key = settings
            .key
            .clone()
            .unwrap_or_else(|| input.primary_key.clone());
        if key.is_empty() {
            return Err(ConfigError::new(
                format!("input \"{}\" has no primary key to dedupe on", input.id),
                Some(config.span_of("key")),
            )
            .with_help("set key = [\"column\", …]"));
        }
        let mut key_idx = Vec::with_capacity(key.len());
        for (i, k) in key.iter().enumerate() {
            let idx = schema.index_of(k).map_err(|_| {
                let span = if settings.key.is_some() {
                    config.span_at(&["key", &i.to_string()])
                } else {
                    config.span_of("key")
                };
                ConfigError::new(
                    format!("input \"{}\" has no column \"{k}\"", input.id),
                    Some(span),
                )
                .with_help(format!("its columns are: {}", columns()))
            })?;
            key_idx.push(idx);
        }
        let Some(cursor) = settings
            .cursor
            .clone()
            .or_else(|| input.cursor_field.clone())
        else {
            return Err(ConfigError::new(
                format!(
                    "input \"{}\" has no cursor to pick the latest row by",
                    input.id
                ),
                None,
            )
            .with_help("set cursor = \"<column>\", e.g. an updated_at timestamp"));
        };
        let cursor_idx = schema.index_of(&cursor).map_err(|_| {
            ConfigError::new(
                format!("input \"{}\" has no column \"{cursor}\"", input.id),
                Some(config.span_of("cursor")),
            )
            .with_help(format!("its columns are: {}", columns()))
        })?;
        let sortable = |idx: &usize| {
            RowConverter::supports_fields(&[SortField::new(schema.field(*idx).data_type().clone())])
        };
        if let Some(bad) = key_idx.iter().chain([&cursor_idx]).find(|i| !sortable(i)) {
            let field = schema.field(*bad);
            return Err(ConfigError::new(
                format!(
                    "column \"{}\" of type {} cannot be a key or cursor",
                    field.name(),
                    field.data_type()
                ),
                Some(config.span_of(if *bad == cursor_idx { "cursor" } else { "key" })),
            ));
        }
        Ok(Box::new(DedupeTransform {
            key,
            key_idx,
            cursor_idx,
            schema: Arc::clone(schema),
        }))
    }
}

/// A configured `dedupe` transform.
struct DedupeTransform {
    key: Vec<String>,
    key_idx: Vec<usize>,
    cursor_idx: usize,
    schema: SchemaRef,
}

/// The winner of one key so far.
struct Slot {
    cursor: Box<[u8]>,
    batch: usize,
    row: usize,
}

/// The latest row per key seen so far.
struct Latest {
    keys: RowConverter,
    cursor: RowConverter,
    key_idx: Vec<usize>,
    cursor_idx: usize,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    retained_rows: usize,
    index: HashMap<Box<[u8]>, usize>,
    slots: Vec<Slot>,
}

impl Latest {
    fn new(t: &DedupeTransform) -> Result<Self> {
        let field = |i: usize| t.schema.field(i).data_type().clone();
        let keys = RowConverter::new(
            t.key_idx
                .iter()
                .map(|i| SortField::new(field(*i)))
                .collect(),
        )?;
        let ascending_nulls_first = SortOptions {
            descending: false,
            nulls_first: true,
        };
        let cursor = RowConverter::new(vec![SortField::new_with_options(
            field(t.cursor_idx),
            ascending_nulls_first,
        )])?;
        Ok(Self {
            keys,
            cursor,
            key_idx: t.key_idx.clone(),
            cursor_idx: t.cursor_idx,
            schema: Arc::clone(&t.schema),
            batches: Vec::new(),
            retained_rows: 0,
            index: HashMap::new(),
            slots: Vec::new(),
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let key_columns: Vec<_> = self
            .key_idx
            .iter()
            .map(|i| Arc::clone(batch.column(*i)))
            .collect();
        let keys = self.keys.convert_columns(&key_columns)?;
        let cursors = self
            .cursor
            .convert_columns(&[Arc::clone(batch.column(self.cursor_idx))])?;
        let b = self.batches.len();
        for row in 0..batch.num_rows() {
            let key = keys.row(row);
            let cursor = cursors.row(row);
            match self.index.get(key.as_ref()) {
                Some(&slot) => {
                    let current = &mut self.slots[slot];
                    if cursor.as_ref() >= current.cursor.as_ref() {
                        *current = Slot {
                            cursor: cursor.as_ref().into(),
                            batch: b,
                            row,
                        };
                    }
                }
                None => {
                    self.index.insert(key.as_ref().into(), self.slots.len());
                    self.slots.push(Slot {
                        cursor: cursor.as_ref().into(),
                        batch: b,
                        row,
                    });
                }
            }
        }
        self.retained_rows += batch.num_rows();
        self.batches.push(batch);
        if self.retained_rows > 2 * self.slots.len() + 4 * OUTPUT_ROWS {
            self.compact()?;
        }
        Ok(())
    }

    /// Keeps only the winning rows, in one batch.
    fn compact(&mut self) -> Result<()> {
        let winners = self.winners()?;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            slot.batch = 0;
            slot.row = i;
        }
        self.retained_rows = winners.num_rows();
        self.batches = vec![winners];
        Ok(())
    }

    fn winners(&self) -> Result<RecordBatch> {
        if self.slots.is_empty() {
            return Ok(RecordBatch::new_empty(Arc::clone(&self.schema)));
        }
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        let indices: Vec<(usize, usize)> = self.slots.iter().map(|s| (s.batch, s.row)).collect();
        Ok(interleave_record_batch(&refs, &indices)?)
    }

    fn finish(self) -> Result<Vec<RecordBatch>> {
        let all = self.winners()?;
        Ok((0..all.num_rows())
            .step_by(OUTPUT_ROWS)
            .map(|offset| all.slice(offset, OUTPUT_ROWS.min(all.num_rows() - offset)))
            .collect())
    }
}

#[async_trait]
impl Transform for DedupeTransform {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn primary_key(&self) -> Vec<String> {
        self.key.clone()
    }

    async fn execute(&self, inputs: Vec<(String, BatchStream)>) -> Result<BatchStream> {
        let Some((_, mut input)) = inputs.into_iter().next() else {
            return Err(Error::internal("the dedupe transform was given no input"));
        };
        let mut latest = Latest::new(self)?;
        let done = async move {
            while let Some(batch) = input.try_next().await? {
                latest.push(batch)?;
            }
            latest.finish()
        };
        Ok(futures::stream::once(done)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten()
            .boxed())
    }
}
