//! Opening, creating and reading the state of one Delta table under a sink's location.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use chorus_core::{Error, Result};
use chorus_sink::store::Location;
use deltalake::DeltaTable;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::logstore::{LogStore, LogStoreRef, StorageConfig, default_logstore};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::SaveMode;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::prefix::PrefixStore;

use crate::sink::PARTITION_COLUMN;

/// A chorus error for a failed Delta operation on `table`.
pub(crate) fn delta_error(what: impl std::fmt::Display, e: deltalake::DeltaTableError) -> Error {
    use deltalake::DeltaTableError as E;
    let kind = match &e {
        E::ObjectStore { source } => match source {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => chorus_core::ErrorKind::Auth,
            _ => chorus_core::ErrorKind::Transient,
        },
        E::Transaction { .. } | E::VersionAlreadyExists(_) => chorus_core::ErrorKind::Transient,
        _ => chorus_core::ErrorKind::Io,
    };
    Error::new(kind, format!("{what}: {e}"))
}

/// The log store of table `name` under `location`.
pub(crate) async fn log_store(location: &Location, name: &str) -> Result<LogStoreRef> {
    let sink_store = location.store().await?;
    let (root_store, root_url) = location.root_store_and_url().await?;
    let table_url = root_url
        .join(&format!("{name}/"))
        .map_err(|e| Error::internal(format!("cannot address table {name}: {e}")))?;
    let prefixed: Arc<dyn ObjectStore> = Arc::new(PrefixStore::new(
        sink_store,
        object_store::path::Path::from(name),
    ));
    Ok(default_logstore(
        prefixed,
        root_store,
        &table_url,
        &StorageConfig::default(),
    ))
}

/// Opens table `name`, `None` when it has no log yet.
pub(crate) async fn open(location: &Location, name: &str) -> Result<Option<DeltaTable>> {
    let store = log_store(location, name).await?;
    let exists = store
        .is_delta_table_location()
        .await
        .map_err(|e| delta_error(format!("cannot read the Delta log of table {name}"), e))?;
    if !exists {
        return Ok(None);
    }
    let mut table = DeltaTable::new(store);
    table
        .load()
        .await
        .map_err(|e| delta_error(format!("cannot load Delta table {name}"), e))?;
    Ok(Some(table))
}

/// Opens table `name`, creating it with `schema` (partitioned by [`PARTITION_COLUMN`] when
/// `partitioned`) when it does not exist. Several writers may race to create it: exactly one
/// writes version 0, the losers open the winner's table and append to it.
pub(crate) async fn open_or_create(
    location: &Location,
    name: &str,
    schema: &StructType,
    partitioned: bool,
) -> Result<DeltaTable> {
    if let Some(table) = open(location, name).await? {
        return Ok(table);
    }
    let mut create = CreateBuilder::new()
        .with_log_store(log_store(location, name).await?)
        .with_table_name(name)
        .with_columns(schema.fields().cloned())
        .with_save_mode(SaveMode::Ignore)
        // Version 0 is a conditional create. Without this, a writer that loses the race to
        // create the table retries its CREATE TABLE as version 1, which gives the table a
        // second id; with it, the loser fails and opens the winner's table below.
        .with_commit_properties(CommitProperties::default().with_max_retries(0));
    if partitioned {
        create = create.with_partition_columns([PARTITION_COLUMN]);
    }
    match create.await {
        Ok(table) => Ok(table),
        Err(e) => match open(location, name).await? {
            Some(table) => Ok(table),
            None => Err(delta_error(format!("cannot create Delta table {name}"), e)),
        },
    }
}

/// The Delta schema of an input: its columns, plus the `dt` date partition column.
pub(crate) fn delta_schema(schema: &Schema, partitioned: bool) -> Result<StructType> {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    if partitioned {
        fields.push(Field::new(PARTITION_COLUMN, DataType::Date32, true));
    }
    let arrow = Schema::new(fields);
    StructType::try_from_arrow(&arrow).map_err(|e| {
        Error::contract(format!(
            "the columns cannot be written as a Delta table ({e}); cast the column in a sql transform"
        ))
    })
}

/// The table's columns followed by the columns only `incoming` has, when `incoming` keeps every
/// column of `current` with its type (a table that only gains columns); `None` otherwise.
pub(crate) fn with_new_columns(current: &StructType, incoming: &StructType) -> Option<StructType> {
    let kept = current.fields().all(|f| {
        incoming
            .field(f.name())
            .is_some_and(|g| format!("{:?}", g.data_type()) == format!("{:?}", f.data_type()))
    });
    if !kept {
        return None;
    }
    let added: Vec<_> = incoming
        .fields()
        .filter(|g| current.field(g.name()).is_none())
        .map(|g| {
            let mut g = g.clone();
            g.nullable = true;
            g
        })
        .collect();
    if added.is_empty() {
        return None;
    }
    StructType::try_new(current.fields().cloned().chain(added)).ok()
}

/// Whether two Delta schemas have the same column names and types, in order.
pub(crate) fn same_columns(a: &StructType, b: &StructType) -> bool {
    let cols = |s: &StructType| -> Vec<(String, String)> {
        s.fields()
            .map(|f| (f.name().clone(), format!("{:?}", f.data_type())))
            .collect()
    };
    cols(a) == cols(b)
}

/// A table's active files: (path relative to the table, partition value, size).
pub(crate) async fn active_files(
    table: &DeltaTable,
    name: &str,
) -> Result<Vec<(String, Option<String>, i64)>> {
    table
        .get_active_add_actions_by_partitions(&[])
        .map_ok(|f| {
            let partition = f
                .partition_values_map()
                .get(PARTITION_COLUMN)
                .cloned()
                .flatten();
            (f.path().into_owned(), partition, f.size())
        })
        .try_collect()
        .await
        .map_err(|e| delta_error(format!("cannot list the files of Delta table {name}"), e))
}
