//! `chorus validate`.

use std::path::Path;

use super::{Context, load};
use crate::exit;

/// Validates a pipeline offline.
pub fn validate(ctx: &Context, path: &Path) -> u8 {
    match load(ctx, path) {
        Ok(plan) => {
            let streams: usize = plan.sources.iter().map(|s| s.streams.len()).sum();
            let marts = if plan.marts.is_empty() {
                String::new()
            } else {
                format!(", {} marts", plan.marts.len())
            };
            println!(
                "ok: pipeline \"{}\" is valid ({} sources, {} streams, {} transforms, {} sinks{marts})",
                plan.name,
                plan.sources.len(),
                streams,
                plan.transforms.len(),
                plan.sinks.len()
            );
            exit::OK
        }
        Err(code) => code,
    }
}
