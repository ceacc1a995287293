//! The DataFusion session a `sql` transform plans and runs in, and the tables its inputs
//! become.
//!
//! Each input is a table: a source stream `crm.contacts` is table `contacts` in schema `crm`,
//! a transform `post_kpis` is table `post_kpis`. At build time the tables are empty
//! placeholders with the declared schemas, so planning is offline. At run time an input read
//! once by the plan is a one-shot streaming table over its incoming [`BatchStream`]: batches
//! flow through the plan as they arrive. An input the plan reads more than once (a self-join)
//! is collected first, since a stream can be read only once.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use chorus_core::{BatchStream, Error, ErrorKind};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult, TableReference};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{StreamExt, TryStreamExt};

use crate::functions;

/// A new session with the KPI functions, spans on SQL errors and `Utf8` strings (chorus's
/// convention) rather than string views.
pub fn new_session() -> DfResult<SessionContext> {
    let mut config = SessionConfig::new().with_information_schema(false);
    config.options_mut().sql_parser.collect_spans = true;
    config.options_mut().sql_parser.map_string_types_to_utf8view = false;
    let mut ctx = SessionContext::new_with_config(config);
    functions::register_all(&mut ctx)?;
    Ok(ctx)
}

/// The table an input id names: `source.stream` → schema `source`, table `stream`.
pub fn table_ref(id: &str) -> TableReference {
    match id.split_once('.') {
        Some((schema, table)) => TableReference::partial(schema, table),
        None => TableReference::bare(id),
    }
}

/// Registers `provider` as the table of input `id`, creating its schema when needed.
pub fn register_input(
    ctx: &SessionContext,
    id: &str,
    provider: Arc<dyn TableProvider>,
) -> DfResult<()> {
    if let Some((schema, _)) = id.split_once('.') {
        let catalog_name = ctx
            .copied_config()
            .options()
            .catalog
            .default_catalog
            .clone();
        let catalog = ctx.catalog(&catalog_name).ok_or_else(|| {
            DataFusionError::Internal(format!("catalog {catalog_name} is missing"))
        })?;
        if catalog.schema(schema).is_none() {
            catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
        }
    }
    ctx.register_table(table_ref(id), provider)?;
    Ok(())
}

/// The input tables a plan reads more than once.
pub fn read_more_than_once(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    // Walking a plan cannot fail; the closure never returns an error.
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let name = scan.table_name.to_string();
            if !seen.insert(name.clone()) {
                twice.insert(name);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    twice
}

/// A placeholder table with the input's schema, for planning; it has no rows.
pub fn placeholder(schema: SchemaRef) -> DfResult<Arc<dyn TableProvider>> {
    let partition = OneShot {
        schema: Arc::clone(&schema),
        id: String::new(),
        stream: Mutex::new(Some(futures::stream::empty().boxed())),
    };
    Ok(Arc::new(StreamingTable::try_new(
        schema,
        vec![Arc::new(partition)],
    )?))
}

/// A table over an input's batch stream, read once.
pub fn streaming(
    id: &str,
    schema: SchemaRef,
    stream: BatchStream,
) -> DfResult<Arc<dyn TableProvider>> {
    let partition = OneShot {
        schema: Arc::clone(&schema),
        id: id.to_owned(),
        stream: Mutex::new(Some(stream)),
    };
    Ok(Arc::new(StreamingTable::try_new(
        schema,
        vec![Arc::new(partition)],
    )?))
}

/// A partition that hands out its stream the first time it is executed.
struct OneShot {
    schema: SchemaRef,
    id: String,
    stream: Mutex<Option<BatchStream>>,
}

impl fmt::Debug for OneShot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneShot").field("input", &self.id).finish()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        let schema = Arc::clone(&self.schema);
        match taken {
            Some(stream) => Box::pin(RecordBatchStreamAdapter::new(
                schema,
                stream.map_err(|e| DataFusionError::External(Box::new(e))),
            )),
            None => {
                let err = DataFusionError::Internal(format!(
                    "input \"{}\" was read twice; it is a stream and can be read once",
                    self.id
                ));
                Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::once(async move { Err(err) }),
                ))
            }
        }
    }
}

/// Maps a DataFusion error at run time to a chorus error, keeping the kind of an input's own
/// error that travelled through the plan.
pub fn run_error(err: DataFusionError) -> Error {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = current {
        if let Some(inner) = e.downcast_ref::<Error>() {
            return inner.clone();
        }
        if let Some(DataFusionError::ArrowError(arrow_err, _)) = e.downcast_ref::<DataFusionError>()
            && let arrow::error::ArrowError::ExternalError(inner) = arrow_err.as_ref()
            && let Some(inner) = inner.downcast_ref::<Error>()
        {
            return inner.clone();
        }
        current = e.source();
    }
    let message = err.strip_backtrace();
    let kind = match err.find_root() {
        DataFusionError::Internal(_) | DataFusionError::NotImplemented(_) => {
            return Error::internal(message);
        }
        DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::SQL(..)
        | DataFusionError::Configuration(_) => ErrorKind::Config,
        DataFusionError::IoError(_) | DataFusionError::ResourcesExhausted(_) => ErrorKind::Io,
        _ => ErrorKind::Contract,
    };
    Error::new(kind, message)
}
