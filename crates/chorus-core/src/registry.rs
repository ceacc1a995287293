//! The registry: every component type chorus knows, registered explicitly.
//!
//! One function in the binary crate calls each crate's `register`, one line per crate. There is
//! no global registry: the runner is handed the one it should use, so tests can build their own.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::connector::Connector;
use crate::schema::is_identifier;
use crate::sink::SinkFactory;
use crate::transform::TransformFactory;

/// A registration that would make the registry ambiguous or unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two components of one kind share a name.
    #[error("{kind} type \"{name}\" is registered twice")]
    Duplicate {
        /// `source`, `transform` or `sink`.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A name is not `[a-z0-9_]+`.
    #[error("{kind} type \"{name}\" is not a valid name (use [a-z0-9_]+)")]
    BadName {
        /// `source`, `transform` or `sink`.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

/// The component types available to a run.
#[derive(Default, Clone)]
pub struct Registry {
    connectors: BTreeMap<&'static str, Arc<dyn Connector>>,
    transforms: BTreeMap<&'static str, Arc<dyn TransformFactory>>,
    sinks: BTreeMap<&'static str, Arc<dyn SinkFactory>>,
}

fn insert<T: ?Sized>(
    map: &mut BTreeMap<&'static str, Arc<T>>,
    kind: &'static str,
    name: &'static str,
    value: Arc<T>,
) -> Result<(), RegistryError> {
    if !is_identifier(name) {
        return Err(RegistryError::BadName {
            kind,
            name: name.into(),
        });
    }
    if map.insert(name, value).is_some() {
        return Err(RegistryError::Duplicate {
            kind,
            name: name.into(),
        });
    }
    Ok(())
}

impl Registry {
    /// Adds a source connector.
    pub fn add_connector(&mut self, c: impl Connector) -> Result<(), RegistryError> {
        let name = c.doc().name;
        insert(&mut self.connectors, "source", name, Arc::new(c))
    }

    /// Adds a transform type.
    pub fn add_transform(&mut self, t: impl TransformFactory) -> Result<(), RegistryError> {
        let name = t.doc().name;
        insert(&mut self.transforms, "transform", name, Arc::new(t))
    }

    /// Adds a sink type.
    pub fn add_sink(&mut self, s: impl SinkFactory) -> Result<(), RegistryError> {
        let name = s.doc().name;
        insert(&mut self.sinks, "sink", name, Arc::new(s))
    }

    /// The connector for a source `type`.
    pub fn connector(&self, name: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(name)
    }

    /// The factory for a transform `type`.
    pub fn transform(&self, name: &str) -> Option<&Arc<dyn TransformFactory>> {
        self.transforms.get(name)
    }

    /// The factory for a sink `type`.
    pub fn sink(&self, name: &str) -> Option<&Arc<dyn SinkFactory>> {
        self.sinks.get(name)
    }

    /// Every connector, by name.
    pub fn connectors(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.connectors.values()
    }

    /// Every transform type, by name.
    pub fn transforms(&self) -> impl Iterator<Item = &Arc<dyn TransformFactory>> {
        self.transforms.values()
    }

    /// Every sink type, by name.
    pub fn sinks(&self) -> impl Iterator<Item = &Arc<dyn SinkFactory>> {
        self.sinks.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, ConfigTable};
    use crate::connector::{BuildContext, ConnectorDoc, Source};

    struct Fake(&'static str);

    impl Connector for Fake {
        fn doc(&self) -> ConnectorDoc {
            ConnectorDoc {
                name: self.0,
                summary: "fake",
                keys: vec![],
                template: "",
            }
        }
        fn build(&self, _: &ConfigTable, _: &BuildContext) -> Result<Box<dyn Source>, ConfigError> {
            Err(ConfigError::new("fake", None))
        }
    }

    #[test]
    fn duplicates_and_bad_names_are_refused() {
        let mut r = Registry::default();
        r.add_connector(Fake("files")).unwrap();
        assert_eq!(
            r.add_connector(Fake("files")).unwrap_err().to_string(),
            "source type \"files\" is registered twice"
        );
        assert!(matches!(
            r.add_connector(Fake("Files")),
            Err(RegistryError::BadName { .. })
        ));
        assert!(r.connector("files").is_some());
    }
}
