//! Quotas: an hourly quota that runs out is waited for; the day's tokens running out stops
//! the stream cleanly at its last checkpoint, and the next read resumes there.

use std::collections::BTreeSet;
use std::time::Duration;

use chorus_core::testing::read_all;
use chorus_core::{ReadContext, Window};
use chorus_sandbox::platforms::ga4::QuotaLimits;

use crate::support::{cx, sandbox, source, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_hourly_quota_is_waited_for() {
    let clean = sandbox("none").await;
    let expected = read_all(&stream(&source(&clean, ""), "traffic_sources"), cx()).await;

    let sb = sandbox("none").await;
    sb.set_ga4_quota(QuotaLimits {
        tokens_per_project_per_hour: 4,
        hour: Duration::from_millis(150),
        ..QuotaLimits::default()
    });
    let src = source(&sb, "");
    let read = read_all(&stream(&src, "traffic_sources"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert_eq!(read.rows, expected.rows);
    // The read needed more tokens than one window holds, so it outlived the quota at least
    // once: by waiting when the last answer reported none left, or after a 429.
    assert!(
        src.property().tokens_used() > 4,
        "{}",
        src.property().tokens_used()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_day_stops_at_a_checkpoint_and_the_next_run_resumes() {
    let clean = sandbox("none").await;
    let expected = read_all(&stream(&source(&clean, ""), "daily_overview"), cx()).await;

    let sb = sandbox("none").await;
    sb.set_ga4_quota(QuotaLimits {
        tokens_per_day: 6,
        day: Some(Duration::from_secs(3600)),
        ..QuotaLimits::default()
    });
    let src = source(&sb, "");
    let first = read_all(&stream(&src, "daily_overview"), cx()).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(
        first.rows.len() < expected.rows.len(),
        "the quota cut the read short"
    );
    let (before, state) = first.checkpoints.last().cloned().unwrap();
    assert_eq!(
        before,
        first.rows.len(),
        "it stopped right after a checkpoint"
    );

    // A new day and a new run: it resumes from the saved cursor (minus the lookback).
    sb.set_ga4_quota(QuotaLimits::default());
    let second = read_all(
        &stream(&source(&sb, ""), "daily_overview"),
        ReadContext {
            state: Some(state),
            window: Window::default(),
            run_id: "second".into(),
        },
    )
    .await;
    assert!(second.error.is_none(), "{:?}", second.error);
    let all: BTreeSet<_> = first.rows.iter().chain(&second.rows).collect();
    let want: BTreeSet<_> = expected.rows.iter().collect();
    assert_eq!(all, want);
}
