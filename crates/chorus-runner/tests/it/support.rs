//! Shared helpers: a registry, compiling text, reading tables back.

use std::path::Path;
use std::sync::Arc;

use chorus_core::Registry;
use chorus_runner::config::PipelineText;
use chorus_runner::{Plan, RunOptions, RunReport, Silent, compile};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The files connector and the parquet sink, plus whatever `extra` adds.
pub fn registry(extra: impl FnOnce(&mut Registry)) -> Registry {
    let mut r = Registry::default();
    chorus_connector_files::register(&mut r).unwrap();
    chorus_sink::register_all(&mut r).unwrap();
    extra(&mut r);
    r
}

/// Compiles pipeline text as if read from `dir/pipeline.toml`.
pub fn plan(
    dir: &Path,
    text: &str,
    registry: &Registry,
    env: &[(&str, &str)],
) -> Result<Plan, String> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let path = dir.join("pipeline.toml");
    let text = PipelineText::new(&path, text);
    let (display, source) = (text.display.clone(), text.source);
    compile(text, registry, &move |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .map_err(|d| chorus_runner::render(&display, source, &d))
}

/// Runs a plan with default options.
pub async fn run(plan: &Plan) -> RunReport {
    chorus_runner::run(plan, &RunOptions::default(), Arc::new(Silent))
        .await
        .unwrap()
}

/// The number of rows in a table folder, and its files.
pub fn table(dir: &Path) -> (usize, Vec<String>) {
    let mut rows = 0;
    let mut files = Vec::new();
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), files);
            } else {
                files.push(e.path());
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths.sort();
    for p in paths {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap())
            .unwrap()
            .build()
            .unwrap();
        rows += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
        files.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
    }
    (rows, files)
}
