//! `chorus check`: one cheap call per source.

use std::path::Path;

use super::{Context, load};
use crate::exit;

/// Checks every source's credentials (or files).
pub async fn check(ctx: &Context, path: &Path) -> u8 {
    let plan = match load(ctx, path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut failures = Vec::new();
    for s in &plan.sources {
        match s.source.check().await {
            Ok(report) => println!("ok      {:<20} {}", s.id, report.detail),
            Err(e) => {
                let e = e.redacted(&plan.secrets);
                println!("failed  {:<20} {e}", s.id);
                failures.push(e.kind());
            }
        }
    }
    for s in &plan.sinks {
        match s.sink.check_writable().await {
            Ok(()) => println!("ok      {:<20} writable: {}", s.id, s.sink.location()),
            Err(e) => {
                println!("failed  {:<20} {e}", s.id);
                failures.push(e.kind());
            }
        }
    }
    exit::for_failures(&failures)
}
