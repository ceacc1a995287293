//! The `parquet` sink type: settings → [`ParquetSink`], which stages and publishes tables.

use std::path::Path as FsPath;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use async_trait::async_trait;
use chorus_core::failpoint;
use chorus_core::{
    BatchStream, BuildContext, ConfigError, ConfigKeyDoc, ConfigTable, ConnectorDoc, Error, Result,
    Sink, SinkFactory, StagedTable, TableSpec,
};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use parquet::file::properties::WriterProperties;

use crate::config::{Mode, ParquetSinkConfig};
use crate::layout;
use crate::merge::{self, KeyColumns};
use crate::store::{Location, io_error};
use crate::writer::{StagedFile, TableWriter, writer_properties};

/// The registered factory of the `parquet` sink type.
pub struct ParquetSinkFactory;

const TEMPLATE: &str = r#"[sinks.{id}]
type = "parquet"
inputs = []                    # source streams (`source.stream`) and transforms to write
path = "out/lake"              # a folder (relative to this file), file://, s3://, gs:// or az:// URL
# partition_by = "created_at"  # a date/timestamp column → dt=YYYY-MM-DD/ folders
# mode = "append"              # append | overwrite_partitions | merge (on the primary key)
# compression = "zstd"         # zstd | snappy | none
"#;

impl SinkFactory for ParquetSinkFactory {
    fn doc(&self) -> ConnectorDoc {
        let key = ConfigKeyDoc::plain;
        ConnectorDoc {
            name: "parquet",
            summary: "Writes each input as a folder of Parquet files, committed exactly once per run.",
            keys: vec![
                key(
                    "path",
                    "string",
                    true,
                    "Where tables go: a folder, relative to the pipeline file, or a file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix URL (credentials from the environment).",
                ),
                key(
                    "partition_by",
                    "string or table",
                    false,
                    "A date or timestamp column (one name for all inputs, or a table of input = column) whose UTC day partitions files into dt=YYYY-MM-DD/.",
                ),
                key(
                    "mode",
                    "string",
                    false,
                    "append (default), overwrite_partitions (replace the partitions a run wrote) or merge (upsert on the primary key, latest cursor wins).",
                ),
                key(
                    "compression",
                    "string",
                    false,
                    "zstd (default), snappy or none.",
                ),
                key(
                    "compression_level",
                    "integer",
                    false,
                    "The zstd level, 1 to 22 (default 3).",
                ),
                key(
                    "tables",
                    "table",
                    false,
                    "Folder names for inputs, instead of the input id with . replaced by __.",
                ),
                key(
                    "target_file_size_mb",
                    "integer",
                    false,
                    "Size at which a file is closed and the next started, in MiB (default 128).",
                ),
                key(
                    "row_group_rows",
                    "integer",
                    false,
                    "The most rows in one row group (default 1048576).",
                ),
            ],
            template: TEMPLATE,
        }
    }

    fn build(&self, config: &ConfigTable, cx: &BuildContext) -> Result<Box<dyn Sink>, ConfigError> {
        Ok(Box::new(ParquetSink {
            settings: SinkSettings::parse(config)?,
            shard: cx.shard,
            id: cx.id.clone(),
        }))
    }
}

/// What to write instead of a refused table name.
const TABLE_NAME_HELP: &str = "a table name is one folder under the sink's path: use lowercase letters, digits and _ (not first), such as \"fb_posts\"";

/// The validated settings of a sink that writes Parquet tables (`parquet`, and `delta`, which
/// takes the same settings).
pub struct SinkSettings {
    /// The settings as written.
    pub config: ParquetSinkConfig,
    /// Where the tables go.
    pub location: Arc<Location>,
    /// Inputs named in `tables` and `partition_by`, with where they are written.
    named_inputs: Vec<(&'static str, String, std::ops::Range<usize>)>,
}

impl SinkSettings {
    /// Reads and checks the settings offline, with the place of every problem.
    pub fn parse(config: &ConfigTable) -> Result<Self, ConfigError> {
        let settings: ParquetSinkConfig = config.deserialize()?;
        let location = Location::parse(&settings.path, config.base_dir()).map_err(|msg| {
            ConfigError::new(
                format!(
                    "cannot write to path \"{}\": {msg}",
                    crate::store::redact_path(&settings.path)
                ),
                Some(config.span_of("path")),
            )
            .with_help("give a folder chorus can create and write, such as \"out/lake\", or an object-store URL such as \"s3://bucket/lake\"")
        })?;
        for (input, name) in &settings.tables {
            if let Some(problem) = layout::table_name_problem(name) {
                return Err(ConfigError::new(
                    format!("table name {name:?} for input \"{input}\" is not allowed: {problem}"),
                    Some(config.span_at(&["tables", input])),
                )
                .with_help(TABLE_NAME_HELP));
            }
        }
        if !(1..=22).contains(&settings.compression_level) {
            return Err(ConfigError::new(
                format!(
                    "compression_level {} is out of range",
                    settings.compression_level
                ),
                Some(config.span_of("compression_level")),
            )
            .with_help("zstd levels run from 1 (fastest) to 22 (smallest); 3 is the default"));
        }
        let mut named_inputs = Vec::new();
        for input in settings.tables.keys() {
            named_inputs.push(("tables", input.clone(), config.span_at(&["tables", input])));
        }
        if let Some(crate::config::PartitionBy::PerInput(map)) = &settings.partition_by {
            for input in map.keys() {
                named_inputs.push((
                    "partition_by",
                    input.clone(),
                    config.span_at(&["partition_by", input]),
                ));
            }
        }
        Ok(Self {
            config: settings,
            location: Arc::new(location),
            named_inputs,
        })
    }

    /// The table (folder) name of an input.
    pub fn table_name(&self, input: &str) -> String {
        self.config
            .tables
            .get(input)
            .cloned()
            .unwrap_or_else(|| layout::default_table_name(input))
    }

    /// Checks, offline, that an input fits the settings: its partition column is a date or
    /// timestamp, `merge` has a primary key.
    pub fn check_input(
        &self,
        input: &str,
        schema: &Schema,
        primary_key: &[String],
    ) -> Result<(), ConfigError> {
        if let Some(col) = self.config.partition_column(input) {
            match schema.field_with_name(col) {
                Ok(f) if matches!(f.data_type(), DataType::Date32 | DataType::Timestamp(_, _)) => {}
                Ok(f) => {
                    return Err(ConfigError::new(
                        format!(
                            "cannot partition \"{input}\" by \"{col}\": it is {}, not a date or timestamp",
                            chorus_core::schema::type_name(f.data_type())
                        ),
                        None,
                    ));
                }
                Err(_) => {
                    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                    return Err(ConfigError::new(
                        format!("cannot partition \"{input}\" by \"{col}\": it has no such column"),
                        None,
                    )
                    .with_help(format!("its columns are: {}", names.join(", "))));
                }
            }
        }
        if self.config.mode == Mode::Merge && primary_key.is_empty() {
            return Err(ConfigError::new(
                format!("mode \"merge\" needs a primary key, and \"{input}\" has none"),
                None,
            )
            .with_help("use mode = \"append\" or \"overwrite_partitions\" for this input, or give the stream a primary_key"));
        }
        Ok(())
    }

    /// Checks that the table an input is written to is one plain folder (`sink_id` is for the
    /// message).
    pub fn check_table_name(&self, sink_id: &str, input: &str) -> Result<(), ConfigError> {
        let name = self.table_name(input);
        match layout::table_name_problem(&name) {
            None => Ok(()),
            Some(problem) => Err(ConfigError::new(
                format!("\"{input}\" would be written to table {name:?}, which is not allowed: {problem}"),
                None,
            )
            .with_help(format!(
                "rename it under [sinks.{sink_id}.tables], e.g. \"{input}\" = \"{}\"",
                name.trim_start_matches('_')
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
                    .collect::<String>()
            ))),
        }
    }

    /// Checks that inputs named in `tables` and `partition_by` are inputs of the sink.
    pub fn check_inputs(&self, inputs: &[String]) -> Result<(), ConfigError> {
        for (setting, input, span) in &self.named_inputs {
            if !inputs.contains(input) {
                return Err(ConfigError::new(
                    format!("`{setting}` names \"{input}\", which is not an input of this sink"),
                    Some(span.clone()),
                )
                .with_help(format!("the sink's inputs are: {}", inputs.join(", "))));
            }
        }
        Ok(())
    }
}

/// A configured `parquet` sink.
pub struct ParquetSink {
    /// The sink's id, for messages.
    id: String,
    settings: SinkSettings,
    /// The worker's shard: it cleans only the staging of its own runs.
    shard: chorus_core::Shard,
}

/// What publishing one table does, as kept in the commit record.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Actions {
    add: Vec<StagedFile>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    discard: Vec<String>,
}

impl ParquetSink {
    /// When the table gains columns, the published files written before them, rewritten with
    /// those columns as NULL (to add) and the originals (to remove), so every file of the table
    /// keeps the same columns and every reader reads them all with no options (DuckDB and
    /// pyarrow take the first file's columns, polars refuses files that differ). Files the run
    /// already replaces or removes are left to it.
    async fn add_new_columns(
        &self,
        store: &Arc<dyn ObjectStore>,
        table: &TableSpec,
        run_id: &str,
        name: &str,
        partition_col: Option<usize>,
        actions: &Actions,
    ) -> Result<Actions> {
        let mut out = Actions::default();
        let published = published_files(store, name).await?;
        let wanted: Vec<&String> = table.schema.fields().iter().map(|f| f.name()).collect();
        let lacks = |columns: &[String]| {
            columns.iter().all(|c| wanted.contains(&c)) && columns.len() < wanted.len()
        };
        // Every run keeps a table's files alike, so one look at the file of the oldest run (file
        // names start with the run id, which sorts by time) tells whether the table gained
        // columns; only then is every file's footer read.
        let oldest = published
            .iter()
            .filter(|p| !actions.remove.contains(p) && !actions.discard.contains(p))
            .min_by_key(|p| p.rsplit('/').next().unwrap_or(p.as_str()).to_owned());
        match oldest {
            Some(path) if lacks(&crate::reader::file_columns(store, path).await?) => {}
            _ => return Ok(out),
        }
        let mut outdated = Vec::new();
        for path in published {
            if actions.remove.contains(&path) || actions.discard.contains(&path) {
                continue;
            }
            // Only a file that lacks some of the new columns and has none the table dropped.
            if lacks(&crate::reader::file_columns(store, &path).await?) {
                outdated.push(path);
            }
        }
        if outdated.is_empty() {
            return Ok(out);
        }
        tracing::info!(
            table = name,
            files = outdated.len(),
            "The table gained columns: rewriting its older files with them (as NULL)."
        );
        let writer_run = match run_id.rsplit_once("-shard") {
            Some((base, lane)) => format!("{base}-c-shard{lane}"),
            None => format!("{run_id}-c"),
        };
        let (props, target) = self.file_settings()?;
        let mut writer = TableWriter::new(
            Arc::clone(store),
            &writer_run,
            name,
            Arc::clone(&table.schema),
            partition_col,
            props,
            target,
        );
        let copied: Result<()> = async {
            for path in &outdated {
                let mut stream = Box::pin(crate::reader::read_file(store, path).await?);
                while let Some(batch) = stream.next().await {
                    writer
                        .write(&merge::by_name(&batch?, &table.schema)?)
                        .await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            // Abort the open files' uploads: nothing of a failed rewrite may linger.
            writer.abort().await;
            return Err(e);
        }
        out.add = writer.finish().await?;
        out.remove = outdated;
        Ok(out)
    }

    /// The Parquet writer properties and the target file size in bytes.
    fn file_settings(&self) -> Result<(WriterProperties, usize)> {
        let props = writer_properties(&self.settings.config)?;
        let target = usize::try_from(self.settings.config.target_file_size_mb.max(1) * 1024 * 1024)
            .unwrap_or(usize::MAX);
        Ok((props, target))
    }

    /// The local root folder of the sink, `None` on object storage.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.settings.location.local_root()
    }

    async fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        self.settings.location.store().await
    }
}

fn column_index(schema: &Schema, name: &str) -> Option<usize> {
    schema.index_of(name).ok()
}

/// The Parquet files published in table `name`.
async fn published_files(store: &Arc<dyn ObjectStore>, name: &str) -> Result<Vec<String>> {
    store
        .list(Some(&Path::from(name)))
        .map_ok(|m| m.location.to_string())
        .try_filter(|p| futures::future::ready(p.ends_with(".parquet")))
        .try_collect()
        .await
        .map_err(|e| io_error(format!("failed to list table {name}"), e))
}

async fn delete_if_exists(store: &Arc<dyn ObjectStore>, path: &str) -> Result<()> {
    match store.delete(&Path::from(path)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(io_error(format!("failed to remove {path}"), e)),
    }
}

#[async_trait]
impl Sink for ParquetSink {
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
        self.settings.check_input(input, schema, primary_key)
    }

    fn check_inputs(&self, inputs: &[String]) -> Result<(), ConfigError> {
        self.settings.check_inputs(inputs)
    }

    async fn check_writable(&self) -> Result<()> {
        let store = self.store().await?;
        let probe = Path::from_iter([layout::CHORUS_DIR, "probe"]);
        store
            .put(&probe, bytes::Bytes::from_static(b"ok").into())
            .await
            .map_err(|e| io_error(format!("cannot write to {}", self.location()), e))?;
        delete_if_exists(&store, probe.as_ref()).await
    }

    async fn read_table(&self, table: &TableSpec) -> Result<Option<BatchStream>> {
        let store = self.store().await?;
        let name = self.table_name(&table.input);
        let mut files = published_files(&store, &name).await?;
        files.sort();
        Ok(Some(crate::reader::read_files(
            store,
            files,
            Arc::clone(&table.schema),
        )))
    }

    async fn write(
        &self,
        table: &TableSpec,
        run_id: &str,
        mut data: BatchStream,
    ) -> Result<StagedTable> {
        let store = self.store().await?;
        let name = self.table_name(&table.input);
        // A replaced table (a mart) is written whole and unpartitioned.
        let partition_col = self
            .settings
            .config
            .partition_column(&table.input)
            .filter(|_| !table.replace)
            .and_then(|c| column_index(&table.schema, c));
        let mode = if table.replace {
            Mode::OverwritePartitions
        } else {
            self.settings.config.mode
        };
        let (props, target) = self.file_settings()?;
        let mut writer = TableWriter::new(
            Arc::clone(&store),
            run_id,
            &name,
            Arc::clone(&table.schema),
            partition_col,
            props.clone(),
            target,
        );
        while let Some(batch) = data.next().await {
            let written = match batch {
                Ok(batch) => writer.write(&batch).await,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                // Abort the open files' uploads: nothing of a failed table may linger.
                writer.abort().await;
                return Err(e);
            }
        }
        let staged = writer.finish().await?;
        let rows = staged.iter().map(|f| f.rows).sum();
        let actions = match mode {
            Mode::Append => Actions {
                add: staged,
                ..Actions::default()
            },
            Mode::OverwritePartitions => {
                // An empty run keeps the table, except a replaced one, which becomes empty.
                let remove = if staged.is_empty() && !table.replace {
                    Vec::new()
                } else {
                    files_to_overwrite(&store, &name, &staged, partition_col.is_some()).await?
                };
                Actions {
                    add: staged,
                    remove,
                    discard: Vec::new(),
                }
            }
            Mode::Merge => {
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
                    merge::MergeTarget::default(),
                )
                .await?;
                Actions {
                    add: plan.add,
                    remove: plan.remove,
                    discard: plan.discard,
                }
            }
        };
        let mut actions = actions;
        // Sharded workers would rewrite the same older files at once: a new column reaches them
        // at the next unsharded run of the table.
        if !self.shard.is_split() {
            let migrated = self
                .add_new_columns(&store, table, run_id, &name, partition_col, &actions)
                .await?;
            actions.add.extend(migrated.add);
            actions.remove.extend(migrated.remove);
        }
        failpoint::hit("sink.after_stage_table");
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

    async fn publish(&self, _run_id: &str, staged: &[StagedTable]) -> Result<()> {
        let store = self.store().await?;
        for table in staged {
            let actions: Actions = serde_json::from_value(table.actions.clone()).map_err(|e| {
                Error::internal(format!(
                    "commit record of table {} is unreadable: {e}",
                    table.table
                ))
            })?;
            for file in &actions.add {
                let (from, to) = (Path::from(file.from.as_str()), Path::from(file.to.as_str()));
                match store.rename(&from, &to).await {
                    Ok(()) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        // Published before a crash: the file must be in place now.
                        store.head(&to).await.map_err(|e| {
                            io_error(
                                format!(
                                    "staged file {} is missing and {} was never published",
                                    file.from, file.to
                                ),
                                e,
                            )
                        })?;
                    }
                    Err(e) => return Err(io_error(format!("failed to publish {}", file.to), e)),
                }
                failpoint::hit("publish.after_move");
            }
            for path in actions.remove.iter().chain(&actions.discard) {
                delete_if_exists(&store, path).await?;
            }
            failpoint::hit("publish.after_table");
        }
        Ok(())
    }

    fn check_table_name(&self, input: &str) -> Result<(), ConfigError> {
        self.settings.check_table_name(&self.id, input)
    }

    fn check_shared(&self) -> std::result::Result<(), String> {
        match self.settings.config.mode {
            Mode::Append => Ok(()),
            mode => Err(format!(
                "mode = \"{}\" rewrites files that another worker may be rewriting at the same time; use mode = \"append\" for the sharded run (and marts, rebuilt by `chorus run --marts-only`, for the deduplicated views)",
                match mode {
                    Mode::Merge => "merge",
                    _ => "overwrite_partitions",
                }
            )),
        }
    }

    async fn clean_staging(&self) -> Result<()> {
        let store = self.store().await?;
        let root = layout::staging_root();
        let paths: Vec<_> = store
            .list(Some(&root))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| io_error("failed to list staging", e))?;
        // `_chorus/staging/<run_id>/…`: only the runs of this worker's lane.
        let mine = |p: &Path| {
            p.parts()
                .nth(2)
                .is_some_and(|run| layout::in_lane(run.as_ref(), self.shard))
        };
        for path in paths.iter().filter(|p| mine(p)) {
            delete_if_exists(&store, path.as_ref()).await?;
        }
        // Local multipart writes leave `<file>#<n>` temporaries that listing skips.
        if let Some(root) = self.settings.location.local_root() {
            let dir = root.join(layout::CHORUS_DIR).join("staging");
            let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
                return Ok(());
            };
            while let Ok(Some(entry)) = entries.next_entry().await {
                let run = entry.file_name();
                if layout::in_lane(&run.to_string_lossy(), self.shard) {
                    tokio::fs::remove_dir_all(entry.path()).await.map_err(|e| {
                        Error::io(format!("failed to clean {}: {e}", entry.path().display()))
                    })?;
                }
            }
        }
        Ok(())
    }
}

async fn files_to_overwrite(
    store: &Arc<dyn ObjectStore>,
    table: &str,
    staged: &[StagedFile],
    partitioned: bool,
) -> Result<Vec<String>> {
    let mut prefixes: Vec<Path> = if partitioned {
        staged
            .iter()
            .filter_map(|f| f.partition.as_deref())
            .map(|p| Path::from_iter([table.to_owned(), format!("dt={p}")]))
            .collect()
    } else {
        vec![Path::from(table)]
    };
    prefixes.sort();
    prefixes.dedup();
    let mut out = Vec::new();
    for prefix in prefixes {
        let metas: Vec<_> = store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| io_error(format!("failed to list {prefix}"), e))?;
        out.extend(
            metas
                .into_iter()
                .map(|m| m.location.to_string())
                .filter(|p| p.ends_with(".parquet")),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(dir: &std::path::Path, extra: &str) -> Result<Box<dyn Sink>, ConfigError> {
        let text = format!("path = \"out\"\n{extra}\n");
        let config = ConfigTable::parse(&text, dir)?;
        ParquetSinkFactory.build(&config, &BuildContext::new("lake"))
    }

    #[test]
    fn escaping_table_names_are_refused_at_build_and_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut refused = 0;
        for (name, word) in layout::tests::REFUSED_TABLES {
            let quoted = serde_json::to_string(name).unwrap();
            let e = build(dir.path(), &format!("[tables]\n\"a.b\" = {quoted}"))
                .err()
                .unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(e.message.contains(word), "{name:?}: {}", e.message);
            assert!(e.span.is_some(), "{name:?} has no span");
            assert!(e.help.as_deref().is_some_and(|h| h.contains("fb_posts")));
            refused += 1;
        }
        // Default names from ids: a transform or source named like the bookkeeping folder.
        let sink = build(dir.path(), "").unwrap();
        for input in ["_chorus", "_chorus.posts", "_rejects", "_x.y"] {
            let e = sink.check_table_name(input).unwrap_err();
            assert!(
                e.help
                    .as_deref()
                    .is_some_and(|h| h.contains("[sinks.lake.tables]")),
                "{e:?}"
            );
            refused += 1;
        }
        sink.check_table_name("brand.posts").unwrap();
        assert!(refused >= 33, "{refused} table names refused");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "build wrote"
        );
    }
}
