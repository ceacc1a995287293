//! The `delta` sink type: settings → [`DeltaSink`], which writes Parquet files into a Delta
//! table's folder and commits them to its log.
//!
//! `write` streams the run's rows into new files under the table's folder (Delta readers see
//! only files the log names, so nothing is visible yet) and plans the commit: the files to add,
//! the partitions to overwrite, or for `merge` the files rewritten without the replaced keys.
//! `publish` commits those actions with an application transaction (`txn`: app id
//! `chorus:<pipeline>:<sink>:<table>`, version = the table's last version for that app id + 1,
//! fixed when the run staged). A publish that finds its version already committed does
//! nothing, so the runner may publish a commit record again after a crash. Commits from other
//! writers are retried through Delta's optimistic concurrency.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::Schema;
use async_trait::async_trait;
use chorus_core::{
    BatchStream, BuildContext, ConfigError, ConfigTable, ConnectorDoc, Error, Result, Sink,
    SinkFactory, StagedTable, TableSpec,
};
use chorus_sink::config::Mode;
use chorus_sink::layout::NULL_PARTITION;
use chorus_sink::merge::{self, KeyColumns, MergeTarget};
use chorus_sink::store::io_error;
use chorus_sink::writer::{StagedFile, TableWriter, writer_properties};
use chorus_sink::{ParquetSinkFactory, SinkSettings};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, MetadataExt, Remove, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::table::{self, delta_error};

/// The date column a partitioned Delta table is partitioned by: the UTC day of the
/// `partition_by` column, as in the Parquet sink's `dt=YYYY-MM-DD/` folders.
pub const PARTITION_COLUMN: &str = "dt";

/// How often `publish` reloads the table and tries again when another writer committed first.
const PUBLISH_ATTEMPTS: usize = 8;

/// The registered factory of the `delta` sink type.
pub struct DeltaSinkFactory;

const TEMPLATE: &str = r#"[sinks.{id}]
type = "delta"
inputs = []                    # source streams (`source.stream`) and transforms to write
path = "out/delta"             # a folder (relative to this file), file://, s3://, gs:// or az:// URL
# partition_by = "created_at"  # a date/timestamp column → a `dt` date partition column
# mode = "append"              # append | overwrite_partitions | merge (on the primary key)
"#;

impl SinkFactory for DeltaSinkFactory {
    fn doc(&self) -> ConnectorDoc {
        let mut keys = ParquetSinkFactory.doc().keys;
        for key in &mut keys {
            match key.name {
                "path" => {
                    key.doc = "Where tables go (one Delta table per input): a folder, relative to the pipeline file, or a file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix URL (credentials from the environment).";
                }
                "partition_by" => {
                    key.doc = "A date or timestamp column (one name for all inputs, or a table of input = column) whose UTC day becomes the table's `dt` date partition column.";
                }
                "tables" => {
                    key.doc =
                        "Table names for inputs, instead of the input id with . replaced by __.";
                }
                _ => {}
            }
        }
        ConnectorDoc {
            name: "delta",
            summary: "Writes each input as a Delta Lake table, one idempotent commit per run.",
            keys,
            template: TEMPLATE,
        }
    }

    fn build(&self, config: &ConfigTable, cx: &BuildContext) -> Result<Box<dyn Sink>, ConfigError> {
        let settings = SinkSettings::parse(config)?;
        Ok(Box::new(DeltaSink {
            settings,
            pipeline: cx.pipeline.clone(),
            sink_id: cx.id.clone(),
        }))
    }
}

/// A configured `delta` sink.
pub struct DeltaSink {
    settings: SinkSettings,
    pipeline: String,
    sink_id: String,
}

/// What kind of commit a run makes to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Operation {
    Append,
    Overwrite,
    Merge,
}

/// What publishing one table does, as kept in the commit record.
#[derive(Debug, Serialize, Deserialize)]
struct Actions {
    /// The application transaction: who commits, and its version.
    app_id: String,
    version: i64,
    operation: Operation,
    partitioned: bool,
    /// Files to add (written in place: `from` equals `to`, relative to the sink root).
    #[serde(default)]
    add: Vec<StagedFile>,
    /// Files to remove (merge), relative to the sink root.
    #[serde(default)]
    remove: Vec<String>,
    /// Overwrite: the partitions replaced (`None`: the whole table).
    #[serde(default)]
    overwrite: Option<Overwrite>,
    /// Files written and then replaced before the commit: deleted after it.
    #[serde(default)]
    discard: Vec<String>,
    /// A replaced table's new columns (a mart whose query changed), as Delta schema JSON.
    #[serde(default)]
    schema: Option<String>,
    /// The primary key of a merge, for the table's history.
    #[serde(default)]
    key: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Overwrite {
    partitions: Option<Vec<Option<String>>>,
}

fn column_index(schema: &Schema, name: &str) -> Option<usize> {
    schema.index_of(name).ok()
}

/// The partition value in the Delta log of a `dt=` folder value (NULL for the default).
fn partition_value(folder: Option<&str>) -> Option<String> {
    folder.filter(|p| *p != NULL_PARTITION).map(str::to_owned)
}

fn table_relative<'a>(table: &str, path: &'a str) -> &'a str {
    path.strip_prefix(table)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path)
}

async fn delete_quietly(store: &Arc<dyn ObjectStore>, path: &str) {
    match store.delete(&Path::from(path)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => {
            tracing::warn!(path, error = %e, "Could not delete an uncommitted file; VACUUM removes it.")
        }
    }
}

impl DeltaSink {
    fn app_id(&self, table: &str) -> String {
        format!("chorus:{}:{}:{table}", self.pipeline, self.sink_id)
    }

    async fn stage(
        &self,
        store: &Arc<dyn ObjectStore>,
        table: &TableSpec,
        run_id: &str,
        name: &str,
        partition_col: Option<usize>,
        mut data: BatchStream,
    ) -> Result<Vec<StagedFile>> {
        let props = writer_properties(&self.settings.config)?;
        let target = usize::try_from(self.settings.config.target_file_size_mb.max(1) * 1024 * 1024)
            .unwrap_or(usize::MAX);
        let mut writer = TableWriter::new(
            Arc::clone(store),
            run_id,
            name,
            Arc::clone(&table.schema),
            partition_col,
            props,
            target,
        )
        .direct();
        while let Some(batch) = data.next().await {
            let written = match batch {
                Ok(batch) => writer.write(&batch).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                writer.abort().await;
                return Err(e);
            }
        }
        writer.finish().await
    }
}

#[async_trait]
impl Sink for DeltaSink {
    fn location(&self) -> String {
        self.settings.location.display()
    }

    fn table_name(&self, input: &str) -> String {
        self.settings.table_name(input)
    }

    fn check_input(
        &self,
        input: &str,
        schema: &Schema,
        primary_key: &[String],
    ) -> Result<(), ConfigError> {
        self.settings.check_input(input, schema, primary_key)?;
        if self.settings.config.partition_column(input).is_some()
            && schema.field_with_name(PARTITION_COLUMN).is_ok()
        {
            return Err(ConfigError::new(
                format!(
                    "\"{input}\" has a column named \"{PARTITION_COLUMN}\", which a partitioned Delta table adds itself"
                ),
                None,
            )
            .with_help(format!(
                "rename the column in a sql transform, or leave \"{input}\" unpartitioned"
            )));
        }
        Ok(())
    }

    fn check_inputs(&self, inputs: &[String]) -> Result<(), ConfigError> {
        self.settings.check_inputs(inputs)
    }

    async fn check_writable(&self) -> Result<()> {
        let store = self.settings.location.store().await?;
        let probe = Path::from_iter(["_chorus", "probe"]);
        store
            .put(&probe, bytes::Bytes::from_static(b"ok").into())
            .await
            .map_err(|e| io_error(format!("cannot write to {}", self.location()), e))?;
        delete_quietly(&store, probe.as_ref()).await;
        Ok(())
    }

    async fn read_table(&self, spec: &TableSpec) -> Result<Option<BatchStream>> {
        let name = self.table_name(&spec.input);
        let store = self.settings.location.store().await?;
        let Some(delta) = table::open(&self.settings.location, &name).await? else {
            return Ok(Some(Box::pin(futures::stream::empty())));
        };
        let mut files: Vec<String> = table::active_files(&delta, &name)
            .await?
            .into_iter()
            .map(|(path, _, _)| format!("{name}/{path}"))
            .collect();
        files.sort();
        Ok(Some(chorus_sink::reader::read_files(
            store,
            files,
            Arc::clone(&spec.schema),
        )))
    }

    async fn write(
        &self,
        table: &TableSpec,
        run_id: &str,
        data: BatchStream,
    ) -> Result<StagedTable> {
        let location = &self.settings.location;
        let store = location.store().await?;
        let name = self.table_name(&table.input);
        let partition_col = self
            .settings
            .config
            .partition_column(&table.input)
            .filter(|_| !table.replace)
            .and_then(|c| column_index(&table.schema, c));
        let partitioned = partition_col.is_some();
        let mode = if table.replace {
            Mode::OverwritePartitions
        } else {
            self.settings.config.mode
        };
        let schema = table::delta_schema(&table.schema, partitioned)?;
        let delta = table::open_or_create(location, &name, &schema, partitioned).await?;
        let snapshot = delta
            .snapshot()
            .map_err(|e| delta_error(format!("cannot read Delta table {name}"), e))?;
        let current = snapshot.schema();
        let mut new_schema = None;
        if !table::same_columns(current.as_ref(), &schema) {
            if let Some(grown) = table::with_new_columns(current.as_ref(), &schema) {
                // The stream gained columns: the table gains them too, nullable, in the same
                // commit as the rows (Delta's schema evolution); older files read them as NULL.
                new_schema = Some(serde_json::to_string(&grown).map_err(|e| {
                    Error::internal(format!("cannot encode the schema of {name}: {e}"))
                })?);
            } else if table.replace {
                new_schema = Some(serde_json::to_string(&schema).map_err(|e| {
                    Error::internal(format!("cannot encode the schema of {name}: {e}"))
                })?);
            } else {
                let cols = |s: &StructType| {
                    s.fields()
                        .map(|f| f.name().clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(Error::contract(format!(
                    "Delta table {name} has the columns ({}) but \"{}\" now has ({}); write it to a new table (rename it under `tables`) or drop the table to rebuild it with --full-refresh",
                    cols(current.as_ref()),
                    table.input,
                    cols(&schema)
                )));
            }
        }
        let app_id = self.app_id(&name);
        let version = snapshot
            .transaction_version(delta.log_store().as_ref(), &app_id)
            .await
            .map_err(|e| delta_error(format!("cannot read the transactions of {name}"), e))?
            .unwrap_or(0)
            + 1;

        let staged = self
            .stage(&store, table, run_id, &name, partition_col, data)
            .await?;
        let rows = staged.iter().map(|f| f.rows).sum();
        let mut actions = Actions {
            app_id,
            version,
            operation: Operation::Append,
            partitioned,
            add: Vec::new(),
            remove: Vec::new(),
            overwrite: None,
            discard: Vec::new(),
            schema: new_schema,
            key: table.primary_key.clone(),
        };
        match mode {
            Mode::Append => actions.add = staged,
            Mode::OverwritePartitions => {
                actions.operation = Operation::Overwrite;
                // An empty run keeps the table, except a replaced one, which becomes empty.
                if !staged.is_empty() || table.replace {
                    let partitions = partitioned.then(|| {
                        staged
                            .iter()
                            .map(|f| partition_value(f.partition.as_deref()))
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect()
                    });
                    actions.overwrite = Some(Overwrite { partitions });
                }
                actions.add = staged;
            }
            Mode::Merge => {
                actions.operation = Operation::Merge;
                let key = table
                    .primary_key
                    .iter()
                    .map(|k| {
                        column_index(&table.schema, k).ok_or_else(|| {
                            Error::internal(format!(
                                "primary key column {k} of {} is missing",
                                table.input
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let cursor = table
                    .cursor_field
                    .as_deref()
                    .and_then(|c| column_index(&table.schema, c));
                let existing = table::active_files(&delta, &name)
                    .await?
                    .into_iter()
                    .map(|(path, _, _)| format!("{name}/{path}"))
                    .collect();
                let props = writer_properties(&self.settings.config)?;
                let target =
                    usize::try_from(self.settings.config.target_file_size_mb.max(1) * 1024 * 1024)
                        .unwrap_or(usize::MAX);
                let plan = merge::plan(
                    &store,
                    run_id,
                    &name,
                    &table.schema,
                    &KeyColumns { key, cursor },
                    partition_col,
                    &props,
                    target,
                    staged,
                    MergeTarget {
                        existing: Some(existing),
                        direct: true,
                    },
                )
                .await?;
                actions.add = plan.add;
                actions.remove = plan.remove;
                actions.discard = plan.discard;
            }
        }
        Ok(StagedTable {
            input: table.input.clone(),
            table: name,
            rows,
            files: actions.add.len() as u64,
            bytes: actions.add.iter().map(|f| f.bytes).sum(),
            actions: serde_json::to_value(&actions)
                .map_err(|e| Error::internal(format!("cannot record staged files: {e}")))?,
        })
    }

    async fn publish(&self, run_id: &str, staged: &[StagedTable]) -> Result<()> {
        let location = &self.settings.location;
        let store = location.store().await?;
        for t in staged {
            let a: Actions = serde_json::from_value(t.actions.clone()).map_err(|e| {
                Error::internal(format!(
                    "commit record of Delta table {} is unreadable: {e}",
                    t.table
                ))
            })?;
            publish_table(&t.table, &a, run_id, location).await?;
            for path in &a.discard {
                delete_quietly(&store, path).await;
            }
        }
        Ok(())
    }

    async fn clean_staging(&self) -> Result<()> {
        // Files are written in place and are invisible until committed; files of runs that
        // never committed are left to Delta's VACUUM, since another writer's files in flight
        // look the same.
        Ok(())
    }
}

async fn publish_table(
    name: &str,
    a: &Actions,
    run_id: &str,
    location: &chorus_sink::store::Location,
) -> Result<()> {
    let partition_by = a.partitioned.then(|| vec![PARTITION_COLUMN.to_owned()]);
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let delta = table::open(location, name).await?.ok_or_else(|| {
            Error::io(format!(
                "Delta table {name} has no log any more; its staged commit cannot be published"
            ))
        })?;
        let snapshot = delta
            .snapshot()
            .map_err(|e| delta_error(format!("cannot read Delta table {name}"), e))?;
        let done = snapshot
            .transaction_version(delta.log_store().as_ref(), &a.app_id)
            .await
            .map_err(|e| delta_error(format!("cannot read the transactions of {name}"), e))?;
        if done.is_some_and(|v| v >= a.version) {
            tracing::info!(table = name, app_id = %a.app_id, version = a.version, "Delta commit already published.");
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions = Vec::new();
        if let Some(json) = &a.schema {
            let schema: StructType = serde_json::from_str(json).map_err(|e| {
                Error::internal(format!("the recorded schema of {name} is unreadable: {e}"))
            })?;
            let metadata = snapshot
                .metadata()
                .clone()
                .with_schema(&schema)
                .map_err(|e| {
                    Error::internal(format!("cannot change the columns of {name}: {e}"))
                })?;
            actions.push(Action::Metadata(metadata));
        }
        let values = |partition: Option<String>| -> HashMap<String, Option<String>> {
            if a.partitioned {
                HashMap::from([(PARTITION_COLUMN.to_owned(), partition)])
            } else {
                HashMap::new()
            }
        };
        for f in &a.add {
            actions.push(Action::Add(Add {
                path: table_relative(name, &f.to).to_owned(),
                partition_values: values(partition_value(f.partition.as_deref())),
                size: i64::try_from(f.bytes).unwrap_or(i64::MAX),
                modification_time: now,
                data_change: true,
                stats: Some(serde_json::json!({ "numRecords": f.rows }).to_string()),
                ..Add::default()
            }));
        }
        let mut removes = Vec::new();
        if a.overwrite.is_some() || !a.remove.is_empty() {
            let active = table::active_files(&delta, name).await?;
            let merged: BTreeSet<&str> = a.remove.iter().map(|p| table_relative(name, p)).collect();
            for (path, partition, size) in active {
                let replaced = match &a.overwrite {
                    Some(Overwrite { partitions: None }) => true,
                    Some(Overwrite {
                        partitions: Some(ps),
                    }) => ps.contains(&partition),
                    None => false,
                };
                if replaced || merged.contains(path.as_str()) {
                    removes.push(Action::Remove(Remove {
                        path,
                        data_change: true,
                        deletion_timestamp: Some(now),
                        extended_file_metadata: Some(true),
                        partition_values: Some(values(partition)),
                        size: Some(size),
                        ..Remove::default()
                    }));
                }
            }
        }
        actions.extend(removes);
        let operation = match a.operation {
            Operation::Append => DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: partition_by.clone(),
                predicate: None,
            },
            Operation::Overwrite => DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: partition_by.clone(),
                predicate: a.overwrite.as_ref().and_then(|o| {
                    o.partitions.as_ref().map(|ps| {
                        let values: Vec<String> = ps
                            .iter()
                            .map(|p| match p {
                                Some(day) => format!("'{day}'"),
                                None => "NULL".to_owned(),
                            })
                            .collect();
                        format!("{PARTITION_COLUMN} IN ({})", values.join(", "))
                    })
                }),
            },
            Operation::Merge => DeltaOperation::Merge {
                predicate: None,
                merge_predicate: Some(format!("primary key ({})", a.key.join(", "))),
                matched_predicates: Vec::new(),
                not_matched_predicates: Vec::new(),
                not_matched_by_source_predicates: Vec::new(),
            },
        };
        let props = CommitProperties::default()
            .with_application_transaction(Transaction::new(&a.app_id, a.version))
            .with_metadata([("chorus_run_id".to_owned(), serde_json::json!(run_id))]);
        let result = CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(snapshot), delta.log_store(), operation)
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if attempt < PUBLISH_ATTEMPTS && is_conflict(&e) => {
                tracing::info!(table = name, attempt, error = %e, "Another writer committed to the Delta table first; trying again.");
            }
            Err(e) => {
                return Err(delta_error(
                    format!("cannot commit to Delta table {name}"),
                    e,
                ));
            }
        }
    }
    Err(Error::new(
        chorus_core::ErrorKind::Transient,
        format!("other writers kept committing to Delta table {name}; retry later"),
    ))
}

fn is_conflict(e: &deltalake::DeltaTableError) -> bool {
    matches!(
        e,
        deltalake::DeltaTableError::Transaction { .. }
            | deltalake::DeltaTableError::VersionAlreadyExists(_)
    )
}
