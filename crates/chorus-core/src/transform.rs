//! Transforms: tables computed from other tables.
//!
//! A [`TransformFactory`] builds a [`Transform`] from its settings and the schemas of its
//! inputs — offline, so that `chorus validate` can plan it. At run time it maps its inputs'
//! batch streams to one output batch stream.

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;

use crate::config::{ConfigError, ConfigTable};
use crate::connector::{BuildContext, ConnectorDoc};
use crate::error::Result;
use crate::stream::BatchStream;

/// One input of a transform, as the transform sees it.
#[derive(Debug, Clone)]
pub struct TransformInput {
    /// The input id: `source.stream` or a transform id.
    pub id: String,
    /// Its schema, metadata columns included.
    pub schema: SchemaRef,
    /// Its primary key.
    pub primary_key: Vec<String>,
    /// Its cursor column, if any.
    pub cursor_field: Option<String>,
}

/// The factory for one transform `type`.
pub trait TransformFactory: Send + Sync + 'static {
    /// Describes the transform type: its settings and template.
    fn doc(&self) -> ConnectorDoc;

    /// Builds the transform from its settings and its inputs' schemas, offline.
    fn build(
        &self,
        config: &ConfigTable,
        inputs: &[TransformInput],
        cx: &BuildContext,
    ) -> Result<Box<dyn Transform>, ConfigError>;
}

/// A configured transform.
#[async_trait]
pub trait Transform: Send + Sync {
    /// The schema of the output table.
    fn schema(&self) -> SchemaRef;

    /// The primary key of the output table, if it has one.
    fn primary_key(&self) -> Vec<String> {
        Vec::new()
    }

    /// Runs the transform over its inputs, given in the order of the `inputs` setting.
    async fn execute(&self, inputs: Vec<(String, BatchStream)>) -> Result<BatchStream>;
}
