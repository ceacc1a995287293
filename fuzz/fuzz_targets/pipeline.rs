//! Fuzzes the pipeline file path of `chorus validate`: TOML parsing with recovery, `${VAR}`
//! interpolation, validation into a plan (with the `files` connector and the `parquet` sink,
//! which need no network and no DataFusion), and the rendering of every diagnostic. Any input
//! must end in a plan or in diagnostics, never in a panic.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chorus_core::Registry;
use chorus_runner::config::PipelineText;
use libfuzzer_sys::fuzz_target;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::default();
        chorus_connector_files::register(&mut r).expect("files registers");
        chorus_sink::register_all(&mut r).expect("sinks register");
        r
    })
}

/// Where the fuzzed file "lives": beside the invalid-pipeline cases, so their relative data
/// paths resolve as in the e2e tests.
fn pipeline_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/validate/fuzzed.toml"))
}

/// A fixed environment: some variables are set (one with a newline), the rest are missing.
fn env(name: &str) -> Option<String> {
    match name.as_bytes().first() {
        Some(b'X') => None,
        Some(b'N') => Some("line one\nline two".to_owned()),
        Some(_) if name.contains("MISSING") => None,
        Some(_) => Some(format!("value-of-{name}")),
        None => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A recursive glob from a fuzzed folder can walk the whole machine: that is a slow input,
    // not a bug of the parser.
    if text.contains("**") {
        return;
    }
    let pipeline = PipelineText::new(pipeline_path(), text);
    let source = pipeline.source;
    match chorus_runner::compile(pipeline, registry(), &env) {
        Ok(plan) => {
            assert!(!plan.sinks.is_empty(), "a plan without sinks was accepted");
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "compile failed without a diagnostic");
            let shown = chorus_runner::render("fuzzed.toml", source, &diags);
            assert!(
                shown.contains("error"),
                "a diagnostic rendered as {shown:?}"
            );
        }
    }
});
