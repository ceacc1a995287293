//! Runs the SQL test files in `tests/sql/`: every query with its expected output as a
//! pretty-printed table, or the error it must fail with.
//!
//! A file is a list of blocks separated by blank lines; `#` starts a comment line.
//!
//! ```text
//! query
//! SELECT safe_div(1, 0) AS r
//! ----
//! +---+
//! | r |
//! +---+
//! |   |
//! +---+
//!
//! query error must be a number
//! SELECT safe_div('a', 1)
//! ```
//!
//! With `CHORUS_BLESS=1` the expected tables are rewritten from the actual output (review the
//! diff before committing).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::util::pretty::pretty_format_batches;
use chorus_transform::session::new_session;

enum Expect {
    Table(String),
    Error(String),
}

struct Case {
    comments: Vec<String>,
    line: usize,
    sql: String,
    expect: Expect,
}

fn parse(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut comments = Vec::new();
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.starts_with('#') {
            comments.push(line.to_owned());
        }
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let error = match line.strip_prefix("query") {
            Some("") => None,
            Some(rest) if rest.trim_start().starts_with("error ") => {
                Some(rest.trim_start()["error ".len()..].to_owned())
            }
            _ => panic!("line {start}: expected `query` or `query error <text>`, got {line:?}"),
        };
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let expect = match error {
            Some(e) => Expect::Error(e),
            None => {
                assert!(
                    i < lines.len() && lines[i].trim() == "----",
                    "line {start}: a query needs `----` and its expected table"
                );
                i += 1;
                let mut table = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    table.push(lines[i]);
                    i += 1;
                }
                Expect::Table(table.join("\n"))
            }
        };
        cases.push(Case {
            comments: std::mem::take(&mut comments),
            line: start,
            sql: sql.join("\n"),
            expect,
        });
    }
    cases
}

async fn run(sql: &str) -> Result<String, String> {
    let ctx = new_session().map_err(|e| e.to_string())?;
    let df = ctx.sql(sql).await.map_err(|e| e.strip_backtrace())?;
    let batches = df.collect().await.map_err(|e| e.strip_backtrace())?;
    Ok(pretty_format_batches(&batches)
        .map_err(|e| e.to_string())?
        .to_string())
}

fn render(cases: &[(Case, Result<String, String>)]) -> String {
    let mut out = String::new();
    for (case, actual) in cases {
        for c in &case.comments {
            writeln!(out, "{c}").unwrap();
        }
        match (&case.expect, actual) {
            (Expect::Error(e), _) => {
                writeln!(out, "query error {e}\n{}\n", case.sql).unwrap();
            }
            (Expect::Table(_), Ok(table)) => {
                writeln!(out, "query\n{}\n----\n{table}\n", case.sql).unwrap();
            }
            (Expect::Table(_), Err(e)) => panic!("line {}: {e}", case.line),
        }
    }
    out
}

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn sql_test_files() {
    let bless = std::env::var_os("CHORUS_BLESS").is_some();
    let mut failures = Vec::new();
    let mut count = 0;
    for file in files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut results = Vec::new();
        for case in parse(&text) {
            count += 1;
            let actual = run(&case.sql).await;
            let name = format!("{}:{}", file.display(), case.line);
            match (&case.expect, &actual) {
                (Expect::Table(want), Ok(got)) if want.trim() != got.trim() && !bless => {
                    failures.push(format!(
                        "{name}\n{}\nexpected:\n{want}\ngot:\n{got}",
                        case.sql
                    ));
                }
                (Expect::Table(_), Err(e)) => {
                    failures.push(format!("{name}\n{}\nfailed: {e}", case.sql))
                }
                (Expect::Error(want), Ok(got)) => {
                    failures.push(format!(
                        "{name}\n{}\nexpected error {want:?}, got:\n{got}",
                        case.sql
                    ));
                }
                (Expect::Error(want), Err(e)) if !e.contains(want.as_str()) => {
                    failures.push(format!(
                        "{name}\n{}\nexpected error {want:?}, got: {e}",
                        case.sql
                    ));
                }
                _ => {}
            }
            results.push((case, actual));
        }
        if bless && failures.is_empty() {
            std::fs::write(&file, render(&results).trim_end().to_owned() + "\n").unwrap();
        }
    }
    assert!(count > 0, "no test files found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
