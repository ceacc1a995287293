//! One module per command; each returns the process exit code.

pub mod check;
pub mod demo;
pub mod inspect;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod state;
pub mod validate;

use std::path::Path;

use chorus_runner::Plan;
use chorus_runner::config::PipelineText;

use crate::cli::Progress;
use crate::exit;
use crate::logging::Redactions;

/// What every command is given.
pub struct Context {
    /// Secrets to redact from logs.
    pub redactions: Redactions,
    /// The `--progress` setting.
    pub progress: Progress,
}

/// Reads and validates a pipeline, printing every problem; the error is the exit code.
pub fn load(ctx: &Context, path: &Path) -> Result<Plan, u8> {
    load_shard(ctx, path, chorus_core::Shard::ALL)
}

/// [`load`] for one `--shard` worker.
pub fn load_shard(ctx: &Context, path: &Path, shard: chorus_core::Shard) -> Result<Plan, u8> {
    let text = match PipelineText::read(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read pipeline file {}: {e}", path.display());
            return Err(exit::CONFIG);
        }
    };
    let registry = match crate::registry::builtin() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e} (this is a bug in chorus, please report it)");
            return Err(exit::PARTIAL);
        }
    };
    let display = text.display.clone();
    let source = text.source;
    match chorus_runner::compile_shard(text, &registry, &|name| std::env::var(name).ok(), shard) {
        Ok(plan) => {
            ctx.redactions.extend(&plan.secrets);
            Ok(plan)
        }
        Err(diags) => {
            eprint!("{}", chorus_runner::render(&display, source, &diags));
            Err(exit::CONFIG)
        }
    }
}
