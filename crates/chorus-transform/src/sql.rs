//! The `sql` transform: a SQL query over its inputs, on Apache DataFusion.
//!
//! `chorus validate` plans the query offline against the inputs' declared schemas, so unknown
//! tables, unknown columns, type errors and syntax errors are reported with their place in the
//! pipeline file. At run time the same query is planned again over the incoming streams and
//! its output is streamed to the consumers; see [`crate::session`] for how inputs become
//! tables.

use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use chorus_core::{
    BatchStream, BuildContext, ConfigError, ConfigKeyDoc, ConfigTable, ConnectorDoc, Error, Result,
    Transform, TransformFactory, TransformInput,
};
use datafusion::catalog::TableProvider;
use datafusion::common::DataFusionError;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::session::{self, new_session, register_input, run_error};

/// The settings of a `sql` transform.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlSettings {
    /// The query.
    query: String,
    /// The columns that identify an output row, for sinks in `merge` mode.
    #[serde(default)]
    primary_key: Vec<String>,
}

const TEMPLATE: &str = r#"[transforms.{id}]
type = "sql"
inputs = ["crm.contacts"]        # a source stream is table `source.stream`, a transform its id
query = """
SELECT id, company, lifecycle_stage
FROM crm.contacts
WHERE lifecycle_stage <> 'churned'
"""
# primary_key = ["id"]           # for sinks in merge mode
"#;

/// The registered `sql` transform type.
pub struct SqlFactory;

impl TransformFactory for SqlFactory {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "sql",
            summary: "Computes a table with a SQL query (DataFusion dialect) over its inputs, with the KPI functions built in.",
            keys: vec![
                ConfigKeyDoc::plain(
                    "query",
                    "string",
                    true,
                    "The query; a source stream is the table `source.stream`, a transform the table named by its id.",
                ),
                ConfigKeyDoc::plain(
                    "primary_key",
                    "list of strings",
                    false,
                    "Output columns that identify a row, for sinks in merge mode.",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn build(
        &self,
        config: &ConfigTable,
        inputs: &[TransformInput],
        _cx: &BuildContext,
    ) -> Result<Box<dyn Transform>, ConfigError> {
        let settings: SqlSettings = config.deserialize()?;
        let query_span = config.span_of("query");
        let planned = futures::executor::block_on(plan(&settings.query, inputs, None))
            .map_err(|e| sql_error(&e, &settings.query, query_span))?;
        // A query's output is a new table: facts about its inputs as a whole (GA4's list of
        // non-additive metrics, for one) do not carry over to it.
        let schema = Arc::new(arrow::datatypes::Schema::new(
            planned.physical.schema().fields().clone(),
        ));
        for (i, key) in settings.primary_key.iter().enumerate() {
            if schema.field_with_name(key).is_err() {
                let columns: Vec<&str> =
                    schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(ConfigError::new(
                    format!("primary key column \"{key}\" is not a column of the query's output"),
                    Some(config.span_at(&["primary_key", &i.to_string()])),
                )
                .with_help(format!("the output columns are: {}", columns.join(", "))));
            }
        }
        Ok(Box::new(SqlTransform {
            query: settings.query,
            inputs: inputs.to_vec(),
            schema,
            primary_key: settings.primary_key,
        }))
    }
}

/// A planned query and the session it was planned in.
struct Planned {
    ctx: SessionContext,
    physical: Arc<dyn ExecutionPlan>,
}

/// Plans `query` over `inputs`: over empty placeholders when `streams` is `None`, else over
/// the given streams (in the order of `inputs`).
async fn plan(
    query: &str,
    inputs: &[TransformInput],
    streams: Option<Vec<BatchStream>>,
) -> Result<Planned, DataFusionError> {
    // First plan over placeholders, to learn which inputs the query reads more than once.
    let ctx = new_session()?;
    for input in inputs {
        register_input(
            &ctx,
            &input.id,
            session::placeholder(Arc::clone(&input.schema))?,
        )?;
    }
    let state = ctx.state();
    let logical = state.optimize(&state.create_logical_plan(query).await?)?;
    let Some(streams) = streams else {
        let physical = state.create_physical_plan(&logical).await?;
        return Ok(Planned { ctx, physical });
    };

    let read_twice = session::read_more_than_once(&logical);
    let ctx = new_session()?;
    for (input, stream) in inputs.iter().zip(streams) {
        let schema = Arc::clone(&input.schema);
        let provider: Arc<dyn TableProvider> = if read_twice.contains(&input.id) {
            let batches: Vec<RecordBatch> = stream
                .map_err(|e| DataFusionError::External(Box::new(e)))
                .try_collect()
                .await?;
            Arc::new(MemTable::try_new(schema, vec![batches])?)
        } else {
            session::streaming(&input.id, schema, stream)?
        };
        register_input(&ctx, &input.id, provider)?;
    }
    let state = ctx.state();
    let logical = state.optimize(&state.create_logical_plan(query).await?)?;
    let physical = state.create_physical_plan(&logical).await?;
    Ok(Planned { ctx, physical })
}

/// A SQL planning error, pointing into the query in the pipeline file where DataFusion says
/// where the problem is, else at the `query` value.
fn sql_error(err: &DataFusionError, query: &str, value_span: Range<usize>) -> ConfigError {
    let first = err.iter().next().unwrap_or(err);
    let raw = first.strip_backtrace();
    let message = clean_message(raw.lines().next().unwrap_or_default());
    let diagnostic = first.diagnostic().or_else(|| err.diagnostic());
    let located = diagnostic
        .and_then(|d| d.span)
        .or_else(|| parser_location(&raw))
        .and_then(|s| locate(query, &value_span, s));
    let span = located.unwrap_or_else(|| first_line(&value_span, query));
    let mut e = ConfigError::new(format!("invalid SQL: {message}"), Some(span));
    if let Some(d) = diagnostic {
        e = e.with_label(d.message.clone());
        if let Some(help) = d.helps.first() {
            e = e.with_help(help.message.clone());
        }
    }
    e
}

/// DataFusion's message without the layers of prefixes it wraps errors in: the innermost
/// reason, as a user would say it.
fn clean_message(message: &str) -> String {
    const PREFIXES: &[&str] = &[
        "Error during planning: ",
        "Execution error: ",
        "Schema error: ",
        "SQL error: ",
        "Optimizer rule 'type_coercion' failed\ncaused by\n",
    ];
    let mut m = message;
    if let Some((_, inner)) = m.split_once("coercion failed with: ") {
        m = inner.split(". No function matches").next().unwrap_or(inner);
    }
    while let Some(rest) = PREFIXES.iter().find_map(|p| m.strip_prefix(p)) {
        m = rest;
    }
    if let Some(inner) = m
        .strip_prefix("ParserError(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        let inner = inner.rsplit_once(" at Line: ").map_or(inner, |(m, _)| m);
        return format!("syntax error: {inner}");
    }
    // chorus's style: lowercase, no trailing period.
    let m = m.trim_end_matches('.');
    let mut chars = m.chars();
    match chars.next() {
        Some(c) if chars.next().is_some_and(char::is_lowercase) => {
            format!("{}{}", c.to_lowercase(), &m[c.len_utf8()..])
        }
        _ => m.to_owned(),
    }
}

/// The location a SQL parser error names (`… at Line: 2, Column: 8`), if any.
fn parser_location(message: &str) -> Option<datafusion::common::Span> {
    let (_, rest) = message.rsplit_once("Line: ")?;
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let at = datafusion::common::Location {
        line: line.trim().parse().ok()?,
        column: column.parse().ok()?,
    };
    Some(datafusion::common::Span { start: at, end: at })
}

/// Where the query text starts in the pipeline file, when the TOML string holds it verbatim
/// (no escapes): after `"` or `'`, or after `"""`/`'''` and the newline TOML trims there.
fn content_start(query: &str, value_span: &Range<usize>) -> Option<usize> {
    let extra = value_span.len().checked_sub(query.len())?;
    let opening = match extra {
        2 => 1,
        6 => 3,
        7 => 4,
        8 => 5,
        _ => return None,
    };
    Some(value_span.start + opening)
}

/// The file span of a DataFusion span (1-based line and character column in the query).
fn locate(
    query: &str,
    value_span: &Range<usize>,
    span: datafusion::common::Span,
) -> Option<Range<usize>> {
    let base = content_start(query, value_span)?;
    let offset = |line: u64, column: u64| -> Option<usize> {
        let line_start: usize = query
            .split('\n')
            .take(usize::try_from(line).ok()?.checked_sub(1)?)
            .map(|l| l.len() + 1)
            .sum();
        let text = query.get(line_start..)?;
        let col = usize::try_from(column).ok()?.checked_sub(1)?;
        let in_line = text.char_indices().nth(col).map_or(text.len(), |(i, _)| i);
        Some(line_start + in_line)
    };
    let start = offset(span.start.line, span.start.column)?;
    let end = offset(span.end.line, span.end.column)
        .filter(|e| *e > start)
        .unwrap_or(start + 1);
    Some(base + start..base + end.min(query.len()))
}

/// The first line of the query in the file, so that the caret stays on one line; the whole
/// value when the query is one line.
fn first_line(value_span: &Range<usize>, query: &str) -> Range<usize> {
    let Some(newline) = query.find('\n') else {
        return value_span.clone();
    };
    match content_start(query, value_span) {
        Some(start) if newline > 0 => start..start + newline,
        Some(start) => value_span.start..start,
        None => value_span.start..value_span.start + 1,
    }
}

/// A planned `sql` transform.
struct SqlTransform {
    query: String,
    inputs: Vec<TransformInput>,
    schema: SchemaRef,
    primary_key: Vec<String>,
}

#[async_trait]
impl Transform for SqlTransform {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn primary_key(&self) -> Vec<String> {
        self.primary_key.clone()
    }

    async fn execute(&self, inputs: Vec<(String, BatchStream)>) -> Result<BatchStream> {
        let mut streams = Vec::with_capacity(self.inputs.len());
        let mut given = inputs;
        for input in &self.inputs {
            let at = given
                .iter()
                .position(|(id, _)| *id == input.id)
                .ok_or_else(|| Error::internal(format!("input \"{}\" was not given", input.id)))?;
            streams.push(given.swap_remove(at).1);
        }
        let planned = plan(&self.query, &self.inputs, Some(streams))
            .await
            .map_err(run_error)?;
        let output = execute_stream(planned.physical, planned.ctx.task_ctx()).map_err(run_error)?;
        let schema = Arc::clone(&self.schema);
        Ok(output
            .map(move |batch| {
                let batch = batch.map_err(run_error)?;
                if batch.schema() == schema {
                    Ok(batch)
                } else {
                    RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec()).map_err(
                        |e| Error::internal(format!("query output does not match its plan: {e}")),
                    )
                }
            })
            .boxed())
    }
}
