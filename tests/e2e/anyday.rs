//! The clock is the test's: `chorus demo` under libfaketime at the dates that break date code —
//! both US and EU daylight-saving changes (the day before, of and after), a leap day, the last
//! minute of a year and the first half hour of the next, and month ends. The sandbox runs inside
//! the demo's process, so its data, its "today" and its limits move with the clock too.
//!
//! libfaketime comes from Debian's `faketime` package; `.ci/run` installs it when it is missing.

use std::path::Path;
use std::process::Command;

use chorus_sandbox::platforms::meta;
use chrono::{Days, NaiveDate, NaiveDateTime};

use crate::util::{DEMO_KPI_LINES, clean_env, output, stderr, stdout, table_columns};

/// libfaketime's library, wherever Debian put it for this machine's architecture.
fn libfaketime() -> std::path::PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([std::path::PathBuf::from(
            "/usr/lib/faketime/libfaketime.so.1",
        )])
        .find(|p| p.exists())
        .expect("libfaketime is missing: `apt-get install faketime` (.ci/run installs it)")
}

/// A `chorus` command whose process sees the clock start at `at` (UTC) and run on from there.
/// The library is preloaded into chorus itself (not through the `faketime` wrapper, which
/// forks), so killing the command kills chorus.
pub(crate) fn chorus_at(cwd: &Path, at: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chorus"));
    cmd.current_dir(cwd)
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", format!("@{at}"))
        .env("TZ", "UTC")
        // Timers and timeouts keep real time; only the calendar moves.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    clean_env(&mut cmd);
    cmd
}

/// Runs the demo with the clock at `at` and checks that it works as on any other day.
fn demo_at(at: &str) {
    let now = NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = output(chorus_at(dir.path(), at).args(["demo", "--out", "lake"]));
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "demo at {at}:\n{}\n{text}",
        stderr(&out)
    );
    for line in DEMO_KPI_LINES {
        assert!(text.contains(line), "at {at}: no {line:?} in\n{text}");
    }
    assert!(!text.contains("warning:"), "at {at}:\n{text}");
    let lake = dir.path().join("lake");
    let page = std::fs::read_to_string(lake.join("report.html")).unwrap();
    let start = now.date().checked_sub_days(Days::new(90)).unwrap();
    assert!(page.contains(&format!("{start} to ")), "at {at}: period");
    assert!(!page.contains("class=\"warning\""), "at {at}: warning");

    // Page insights: every Pacific day from the start to yesterday (Pacific), once, whatever
    // clock changes the 90 days cross.
    let pacific_today = meta::pacific_date(now.and_utc().timestamp());
    let mut days: Vec<NaiveDate> = table_columns(&lake.join("brand__page_insights"), &["date"])
        .into_iter()
        .map(|r| NaiveDate::parse_from_str(&r[0], "%Y-%m-%d").unwrap())
        .collect();
    days.sort();
    days.dedup();
    let want: Vec<NaiveDate> = start
        .iter_days()
        .take_while(|d| *d < pacific_today)
        .collect();
    assert_eq!(days, want, "at {at}: page insight days");
}

macro_rules! demo_on {
    ($($name:ident: $at:literal,)*) => {$(
        #[test]
        fn $name() {
            demo_at($at);
        }
    )*};
}

demo_on! {
    demo_the_day_before_the_us_spring_change: "2026-03-07 20:00:00",
    demo_on_the_us_spring_change: "2026-03-08 10:30:00",
    demo_the_day_after_the_us_spring_change: "2026-03-09 07:30:00",
    demo_on_the_eu_spring_change: "2026-03-29 01:30:00",
    demo_the_day_before_the_eu_autumn_change: "2026-10-24 12:00:00",
    demo_on_the_eu_autumn_change: "2026-10-25 00:30:00",
    demo_the_day_after_the_eu_autumn_change: "2026-10-26 23:00:00",
    demo_the_day_before_the_us_autumn_change: "2026-10-31 18:00:00",
    demo_on_the_us_autumn_change: "2026-11-01 09:30:00",
    demo_the_day_after_the_us_autumn_change: "2026-11-02 08:30:00",
    demo_on_a_leap_day: "2028-02-29 12:00:00",
    demo_in_the_last_minute_of_a_year: "2026-12-31 23:59:00",
    demo_in_the_first_half_hour_of_a_year: "2027-01-01 00:30:00",
    demo_at_a_month_end: "2027-04-30 23:30:00",
    demo_ninety_days_after_the_us_autumn_change: "2026-12-07 19:00:00",
}
