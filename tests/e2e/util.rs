//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A `chorus` command with no chorus variables inherited from the environment.
pub fn chorus(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    clean_env(cmd.current_dir(cwd));
    cmd
}

/// Quiet logs, no failpoint and none of the tests' own `CHORUS_TEST_*` variables.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env("CHORUS_LOG", "warn").env_remove("CHORUS_FAILPOINT");
    for (k, _) in std::env::vars() {
        if k.starts_with("CHORUS_TEST_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The KPI line of each platform and account that `chorus demo` prints.
pub const DEMO_KPI_LINES: [&str; 8] = [
    "  facebook   brand      followers ",
    "  facebook   ads        ads CTR ",
    "  instagram  ig         followers ",
    "  x          acme       followers ",
    "  web        ga         sessions ",
    "  zendesk    support    tickets ",
    "  freshdesk  support    tickets ",
    "  slack      community  daily active members ",
];

/// The UTC day `n` days before today: what a pipeline's `start_date = "{n}daysAgo"` reads from.
pub fn days_ago(n: u64) -> chrono::NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today.checked_sub_days(chrono::Days::new(n)).unwrap()
}

/// Runs a command and returns its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("chorus runs")
}

/// Text of stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Text of stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Copies the files demo (pipeline and data) into `dir`, writing its output under `dir/out`.
pub fn copy_demo(dir: &Path) -> PathBuf {
    let src = repo().join("pipelines");
    copy_dir(&src.join("data"), &dir.join("data"));
    let text = std::fs::read_to_string(src.join("files_demo.toml"))
        .unwrap()
        .replace("../out/files_demo", "out");
    let path = dir.join("files_demo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Copies the example pipeline `pipelines/<name>.toml` and the demo data into `dir`, writing
/// its output under `dir/out`.
pub fn copy_pipeline(dir: &Path, name: &str) -> PathBuf {
    let src = repo().join("pipelines");
    copy_dir(&src.join("data"), &dir.join("data"));
    let text = std::fs::read_to_string(src.join(format!("{name}.toml")))
        .unwrap()
        .replace(&format!("../out/{name}"), "out");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file below `dir`, relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The rows of a table folder as sorted text lines, without the per-run metadata columns, with
/// the partition folder of each file in front.
pub fn table_rows(table: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for file in files_below(table) {
        assert!(
            file.ends_with(".parquet"),
            "a reader would see {file} in {}",
            table.display()
        );
        let partition = Path::new(&file)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(table.join(&file)).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let keep: Vec<usize> = batch
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| f.name() != "_run_id" && f.name() != "_extracted_at")
                .map(|(i, _)| i)
                .collect();
            let opts = FormatOptions::default();
            let formatters: Vec<_> = keep
                .iter()
                .map(|&i| ArrayFormatter::try_new(batch.column(i).as_ref(), &opts).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect();
                rows.push(format!("{partition}|{}", cells.join("|")));
            }
        }
    }
    rows.sort();
    rows
}

/// The summary of one stream in a run summary.
pub fn stream_summary<'a>(summary: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    summary["streams"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id))
        .unwrap_or_else(|| panic!("no stream {id} in the summary: {summary}"))
}

/// The values of some columns of every row of a table, as text, rows in file order.
pub fn table_columns(table: &Path, columns: &[&str]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for file in files_below(table) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(table.join(&file)).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let opts = FormatOptions::default();
            let formatters: Vec<_> = columns
                .iter()
                .map(|c| {
                    let column = batch
                        .column_by_name(c)
                        .unwrap_or_else(|| panic!("no column {c} in {}", table.display()));
                    ArrayFormatter::try_new(column.as_ref(), &opts).unwrap()
                })
                .collect();
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect(),
                );
            }
        }
    }
    rows
}

/// What a fake HTTP server answers: status line, content type and body; `None` holds the
/// connection without answering.
pub type Answer = Option<(String, String, String)>;

/// Serves `answer(request head)` on a free port of 127.0.0.1 until the test process ends.
pub fn fake_server(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = std::sync::Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let Some((status, kind, body)) = answer(&String::from_utf8_lossy(&head)) else {
                    std::thread::sleep(std::time::Duration::from_secs(30));
                    return;
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}
