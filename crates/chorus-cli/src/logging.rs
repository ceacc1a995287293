//! Logs on stderr, as text or JSON, with every known secret redacted on the way out.

use std::io::Write;
use std::sync::{Arc, RwLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// Secret values to redact from log lines, filled once the pipeline is read.
#[derive(Clone, Default)]
pub struct Redactions(Arc<RwLock<Vec<String>>>);

impl Redactions {
    /// Adds secrets to redact from now on.
    pub fn extend(&self, secrets: &[String]) {
        if let Ok(mut list) = self.0.write() {
            list.extend(secrets.iter().cloned());
        }
    }

    /// Redacts a piece of text.
    pub fn apply(&self, text: &str) -> String {
        match self.0.read() {
            Ok(list) => chorus_core::secret::redact(text, &list),
            Err(_) => text.to_owned(),
        }
    }
}

/// A stderr writer that redacts each line before writing it.
pub struct RedactingWriter {
    redactions: Redactions,
    buf: Vec<u8>,
}

impl Write for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let text = String::from_utf8_lossy(&self.buf);
            let clean = self.redactions.apply(&text);
            let mut err = std::io::stderr().lock();
            err.write_all(clean.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> MakeWriter<'a> for Redactions {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redactions: self.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, level: &str, redactions: Redactions) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(redactions)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
