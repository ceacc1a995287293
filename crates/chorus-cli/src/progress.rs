//! Progress: bars per stream on a terminal, nothing extra elsewhere (the logs say enough).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use chorus_core::Error;
use chorus_runner::Observer;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::Progress;

/// Indicatif bars, one per stream.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

/// The observer for the `--progress` setting.
pub fn observer(mode: Progress) -> std::sync::Arc<dyn Observer> {
    let show = match mode {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => std::io::stderr().is_terminal() && std::env::var_os("CI").is_none(),
    };
    if show {
        std::sync::Arc::new(Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        })
    } else {
        std::sync::Arc::new(chorus_runner::Silent)
    }
}

impl Observer for Bars {
    fn stream_started(&self, id: &str) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix:<32} {human_pos:>12} rows  {per_sec:>14}  {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(id.to_owned());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(id.to_owned(), bar);
        }
    }

    fn rows(&self, id: &str, rows: u64) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(id)
        {
            bar.inc(rows);
        }
    }

    fn stream_finished(&self, id: &str, error: Option<&Error>) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(id)
        {
            bar.finish_with_message(if error.is_some() { "failed" } else { "done" });
        }
    }
}
