//! `chorus run`.

use std::io::Write;

use chorus_core::{Bound, Window};
use chorus_runner::summary::{RunSummary, Status};
use chorus_runner::{RunOptions, run as run_plan};
use chrono::{DateTime, NaiveDate, Utc};

use super::{Context, load_shard};
use crate::cli::RunArgs;
use crate::exit;

/// Parses `--start`/`--end`: a date (a calendar day in each stream's reporting zone) or an
/// RFC 3339 time (an instant).
pub fn parse_bound(flag: &str, value: &str) -> Result<Bound, String> {
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(Bound::Day(d));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| Bound::Instant(t.with_timezone(&Utc)))
        .map_err(|_| format!("{flag} {value:?} is neither a date (2024-01-31) nor an RFC 3339 time (2024-01-31T00:00:00Z)"))
}

/// Whether a window's start comes before its end (two days compare as days, else as instants
/// with days taken in UTC).
fn ordered(start: Bound, end: Bound) -> bool {
    match (start, end) {
        (Bound::Day(s), Bound::Day(e)) => s < e,
        (s, e) => s.at(&Utc) < e.at(&Utc),
    }
}

/// Runs a pipeline.
pub async fn run(ctx: &Context, args: RunArgs) -> u8 {
    let window = match (
        args.start
            .as_deref()
            .map(|v| parse_bound("--start", v))
            .transpose(),
        args.end
            .as_deref()
            .map(|v| parse_bound("--end", v))
            .transpose(),
    ) {
        (Ok(start), Ok(end)) => Window { start, end },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if let (Some(s), Some(e)) = (window.start, window.end)
        && !ordered(s, e)
    {
        eprintln!("error: --start must be before --end");
        return exit::USAGE;
    }
    let plan = match load_shard(ctx, &args.pipeline, args.shard.unwrap_or_default()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let selection = match chorus_runner::run::select(&plan, &args.select) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if args.dry_run {
        return dry_run(&plan, &selection, &window, args.full_refresh).await;
    }
    let opts = RunOptions {
        select: args.select.clone(),
        window,
        full_refresh: args.full_refresh,
        marts_only: args.marts_only,
    };
    let observer = crate::progress::observer(ctx.progress);
    let report = match run_plan(&plan, &opts, observer).await {
        Ok(r) => r,
        Err(e) => {
            let e = e.redacted(&plan.secrets);
            eprintln!("error: run of pipeline \"{}\" failed: {e}", plan.name);
            return exit::for_kind(e.kind());
        }
    };
    let to_stdout = args
        .summary_json
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-");
    let table = render_summary(&report.summary);
    if to_stdout {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    if let Some(path) = &args.summary_json {
        let json = match serde_json::to_string_pretty(&report.summary) {
            Ok(j) => j,
            Err(e) => {
                eprintln!(
                    "error: cannot encode the run summary: {e} (this is a bug in chorus, please report it)"
                );
                return exit::PARTIAL;
            }
        };
        let written = if to_stdout {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{json}")
        } else {
            std::fs::write(path, json + "\n")
        };
        if let Err(e) = written {
            eprintln!(
                "error: cannot write the run summary to {}: {e}",
                path.display()
            );
            return exit::PARTIAL;
        }
    }
    for s in &report.summary.streams {
        if let Some(e) = &s.error {
            eprintln!("error: stream \"{}\" {}: {e}", s.id, status_word(s.status));
        }
    }
    // A failure of the run as a whole (the commit record, the state store) belongs to no
    // stream; without this line a full disk at commit time would fail silently.
    if let Some(e) = &report.summary.error {
        eprintln!("error: run of pipeline \"{}\" failed: {e}", plan.name);
    }
    exit::for_failures(&report.failures)
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Committed => "committed",
        Status::Failed => "failed",
        Status::Skipped => "was not committed",
        Status::Planned => "planned",
    }
}

/// The human summary printed after a run.
pub fn render_summary(s: &RunSummary) -> String {
    let mut out = String::new();
    let outcome = match (s.success, s.commit) {
        (true, Some(c)) => format!("committed (commit {c})"),
        (true, None) => "had nothing new to commit".to_owned(),
        (false, Some(c)) => format!("partly committed (commit {c})"),
        (false, None) => "failed; nothing was committed".to_owned(),
    };
    out.push_str(&format!(
        "pipeline {}: run {} {} in {:.1} s\n",
        s.pipeline,
        s.run_id,
        outcome,
        s.duration_ms as f64 / 1000.0
    ));
    if !s.tables.is_empty() {
        out.push_str(&format!(
            "  {:<28} {:>10} {:>6}  {:<10} {}\n",
            "table", "rows", "files", "status", "location"
        ));
        for t in &s.tables {
            out.push_str(&format!(
                "  {:<28} {:>10} {:>6}  {:<10} {}/{}\n",
                t.table,
                t.rows,
                t.files,
                status_word(t.status),
                t.location,
                t.table
            ));
        }
    }
    out
}

async fn dry_run(
    plan: &chorus_runner::Plan,
    sel: &chorus_runner::run::Selection,
    window: &Window,
    full_refresh: bool,
) -> u8 {
    // Read state only where it already exists: a dry run creates nothing (opening an object
    // store creates nothing either).
    let state = if plan
        .state_location
        .local_root()
        .is_none_or(|root| root.join("commits").is_dir())
    {
        match chorus_runner::run::commit_log(plan).await {
            Ok(log) => log.state().await.unwrap_or_default(),
            Err(_) => Default::default(),
        }
    } else {
        Default::default()
    };
    println!(
        "pipeline {} (dry run: nothing is read or written)",
        plan.name
    );
    println!("state: {}", plan.state_location.display());
    if window.is_set() {
        println!(
            "window: {} .. {}",
            window.start.map_or("-".into(), |b| b.to_string()),
            window.end.map_or("-".into(), |b| b.to_string())
        );
    }
    println!("streams:");
    for id in &sel.streams {
        let from = if full_refresh {
            "full refresh".to_owned()
        } else if let Some(start) = window.start {
            format!("from the window start {start}")
        } else {
            match state.get(id).and_then(|s| s.cursor.as_ref()) {
                Some(c) => format!("from {}", serde_json::to_string(c).unwrap_or_default()),
                None => "from the start".to_owned(),
            }
        };
        println!("  {id:<32} {from}");
    }
    if !sel.transforms.is_empty() {
        println!("transforms:");
        for t in &sel.transforms {
            println!("  {t}");
        }
    }
    println!("tables:");
    for (si, input) in &sel.tables {
        let node = &plan.sinks[*si];
        println!(
            "  {input:<32} -> sink {} at {}/{}",
            node.id,
            node.sink.location(),
            node.sink.table_name(input)
        );
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_parse() {
        assert_eq!(
            parse_bound("--start", "2024-01-31").unwrap(),
            Bound::Day(NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
        );
        assert_eq!(
            parse_bound("--end", "2024-01-31T10:00:00+02:00")
                .unwrap()
                .to_string(),
            "2024-01-31T08:00:00+00:00"
        );
        assert!(
            parse_bound("--start", "yesterday")
                .unwrap_err()
                .contains("neither a date")
        );
    }

    #[test]
    fn a_window_must_go_forward() {
        let day = |s| parse_bound("--start", s).unwrap();
        assert!(ordered(day("2024-03-01"), day("2024-03-02")));
        assert!(!ordered(day("2024-03-01"), day("2024-03-01")));
        assert!(ordered(day("2024-03-01"), day("2024-03-01T00:00:01Z")));
        assert!(!ordered(day("2024-03-01T00:00:00Z"), day("2024-03-01")));
    }
}
