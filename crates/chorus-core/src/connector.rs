//! Connectors and sources: where data comes from.
//!
//! A [`Connector`] is the registered factory for one `type` (`files`, `facebook_pages`). From a
//! source's [`ConfigTable`] it builds a [`Source`] — offline, without a network call, so that
//! `chorus validate` can build every source. A source lists its [`Stream`]s and can
//! [`check`](Source::check) its credentials with one cheap call.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{ConfigError, ConfigTable};
use crate::error::Result;
use crate::shard::Shard;
use crate::stream::{Stream, StreamSpec};

/// One setting a component accepts, for `chorus connectors`, `init` and the docs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConfigKeyDoc {
    /// The key as written in the pipeline file.
    pub name: &'static str,
    /// Its type in words (`string`, `list of strings`, `table`).
    pub type_name: &'static str,
    /// Whether the key must be given.
    pub required: bool,
    /// Whether the value is a credential, which must come from `${VAR}`.
    pub secret: bool,
    /// What it is for, one sentence.
    pub doc: &'static str,
}

impl ConfigKeyDoc {
    /// A setting that is not a credential.
    pub const fn plain(
        name: &'static str,
        type_name: &'static str,
        required: bool,
        doc: &'static str,
    ) -> Self {
        Self {
            name,
            type_name,
            required,
            secret: false,
            doc,
        }
    }

    /// A credential, which must come from `${VAR}`.
    pub const fn secret(
        name: &'static str,
        type_name: &'static str,
        required: bool,
        doc: &'static str,
    ) -> Self {
        Self {
            name,
            type_name,
            required,
            secret: true,
            doc,
        }
    }
}

/// What a component tells about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorDoc {
    /// The `type` name.
    pub name: &'static str,
    /// One sentence on what it reads or does.
    pub summary: &'static str,
    /// Its settings.
    pub keys: Vec<ConfigKeyDoc>,
    /// A commented pipeline snippet for `chorus init`; `{id}` stands for the component id.
    pub template: &'static str,
}

impl ConnectorDoc {
    /// The names of the settings declared as secrets.
    pub fn secret_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys.iter().filter(|k| k.secret).map(|k| k.name)
    }
}

/// What a component is told when it is built.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The id of the component in the pipeline (`brand` in `[sources.brand]`).
    pub id: String,
    /// The share of the accounts this worker reads (`--shard`); [`Shard::ALL`] otherwise.
    pub shard: Shard,
    /// The pipeline's name (`[pipeline] name`; empty when the file has none), with the shard
    /// of a `--shard` worker (`social#shard1of4`), for sinks that record who wrote a commit
    /// (the `delta` sink's application transactions).
    pub pipeline: String,
    /// Whether the source was asked (`keep_unknown_fields = true`) to keep the fields the API
    /// sends that its streams do not read, as JSON in an [`EXTRA_FIELDS_COLUMN`] column.
    pub keep_unknown_fields: bool,
}

/// The column that holds, as a JSON object, the fields of a record that its stream does not
/// read, when the source has `keep_unknown_fields = true` (NULL for a record without any).
pub const EXTRA_FIELDS_COLUMN: &str = "_extra_fields";

impl BuildContext {
    /// The context of component `id` in an unsharded run.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

/// The outcome of a credentials check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// What was checked and found to work, one line.
    pub detail: String,
}

/// The factory for one source `type`.
pub trait Connector: Send + Sync + 'static {
    /// Describes the connector: its settings and template.
    fn doc(&self) -> ConnectorDoc;

    /// The streams every source of this type has, for `chorus schema` (empty when the
    /// streams depend on the settings, as with `files`).
    fn fixed_streams(&self) -> Vec<StreamSpec> {
        Vec::new()
    }

    /// Whether a source of this type reads several accounts and splits them across `--shard`
    /// workers itself (with [`BuildContext::shard`]). When false, the runner gives the whole
    /// source to the one worker that owns its id.
    fn splits_accounts(&self) -> bool {
        false
    }

    /// Whether sources of this type can keep the fields they do not read
    /// (`keep_unknown_fields = true`, see [`BuildContext::keep_unknown_fields`]), or, when
    /// they cannot, why not, in one sentence that `chorus validate` shows.
    fn keeps_unknown_fields(&self) -> Result<(), &'static str> {
        Err("this connector cannot keep unknown fields")
    }

    /// Builds a source from its settings, offline.
    fn build(
        &self,
        config: &ConfigTable,
        cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError>;
}

/// A configured source.
#[async_trait]
pub trait Source: Send + Sync {
    /// The streams this source offers.
    fn streams(&self) -> Vec<Arc<dyn Stream>>;

    /// One cheap authenticated call (or, for files, a read of what exists).
    async fn check(&self) -> Result<CheckReport>;
}
