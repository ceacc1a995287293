//! The settings a component reads from its table in a pipeline file.
//!
//! The runner parses the pipeline file keeping every value's position, takes out the keys it
//! owns (`type`, `inputs`, `streams`), interpolates `${VAR}` references, and hands the rest to
//! the component as a [`ConfigTable`]. The component deserializes its own strict struct from it
//! with [`ConfigTable::deserialize`]; errors come back as [`ConfigError`]s that still know
//! where in the file they point, so `chorus validate` can show the line and a caret.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

/// An invalid setting, located in the pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong (lowercase, no trailing period).
    pub message: String,
    /// Byte range in the pipeline file the error points at, when known.
    pub span: Option<Range<usize>>,
    /// A short label under the caret.
    pub label: Option<String>,
    /// What to write instead.
    pub help: Option<String>,
}

impl ConfigError {
    /// An error at `span`.
    pub fn new(message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Self {
            message: message.into(),
            span,
            label: None,
            help: None,
        }
    }

    /// Adds a hint on what to write instead.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a label shown under the caret.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

impl From<toml::de::Error> for ConfigError {
    fn from(err: toml::de::Error) -> Self {
        ConfigError::new(err.message().trim_end_matches('\n'), err.span())
    }
}

/// A component's table from the pipeline file, with positions, minus the runner's keys.
#[derive(Debug, Clone)]
pub struct ConfigTable {
    table: Spanned<DeTable<'static>>,
    base_dir: PathBuf,
}

impl ConfigTable {
    /// Wraps a parsed table; `base_dir` is the folder of the pipeline file.
    pub fn new(table: Spanned<DeTable<'static>>, base_dir: impl Into<PathBuf>) -> Self {
        Self {
            table,
            base_dir: base_dir.into(),
        }
    }

    /// Parses a TOML snippet, for tests and templates.
    pub fn parse(text: &str, base_dir: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let table = DeTable::parse(leak_text(text))?;
        Ok(Self::new(table, base_dir))
    }

    /// Deserializes the component's settings struct; unknown keys and wrong types come back
    /// with the position of the offending key or value.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let span = self.table.span();
        let value = Spanned::new(span, DeValue::Table(self.table.get_ref().clone()));
        T::deserialize(ValueDeserializer::from(value)).map_err(ConfigError::from)
    }

    /// The position of the value under `key`, or of the whole table if it is absent.
    pub fn span_of(&self, key: &str) -> Range<usize> {
        self.table
            .get_ref()
            .get(key)
            .map(Spanned::span)
            .unwrap_or_else(|| self.table.span())
    }

    /// The position of the nested value at `path` (table keys and array indexes as strings).
    pub fn span_at(&self, path: &[&str]) -> Range<usize> {
        let mut span = self.table.span();
        let mut current: Option<&DeValue<'static>> = None;
        let root = self.table.get_ref();
        for (i, part) in path.iter().enumerate() {
            let next = if i == 0 {
                root.get(*part)
            } else {
                match current {
                    Some(DeValue::Table(t)) => t.get(*part),
                    Some(DeValue::Array(a)) => part.parse::<usize>().ok().and_then(|n| a.get(n)),
                    _ => None,
                }
            };
            match next {
                Some(v) => {
                    span = v.span();
                    current = Some(v.get_ref());
                }
                None => break,
            }
        }
        span
    }

    /// The string value under a top-level key, if there is one.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.table.get_ref().get(key).map(Spanned::get_ref) {
            Some(DeValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The folder relative paths in the settings are resolved against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Resolves a path written in the settings against [`ConfigTable::base_dir`].
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Keeps a copy of a pipeline file's text for the rest of the process, so that parsed values
/// can borrow from it with a `'static` lifetime. Pipeline files are read once per process and
/// are small, so this is cheaper than threading a lifetime through every component.
pub fn leak_text(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}
