//! What Slack users depend on: skipped channels, auth errors naming the scope, incremental
//! reads per channel, the thread lookback, pacing, and the token only ever in the header.

use std::time::{Duration, Instant};

use chorus_core::testing::read_all;
use chorus_core::{ErrorKind, ReadContext, Source, Window};
use chorus_sandbox::platforms::slack::{REVOKED_TOKEN, TOKEN, TOKEN_NO_HISTORY};

use crate::support::{cx, sandbox, source, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_the_bot_cannot_read_are_skipped_with_one_warning() {
    let sb = sandbox("none").await;
    let src = source(
        &sb,
        TOKEN,
        "channels = [\"#general\", \"announcements\", \"no-such-channel\"]",
    );
    let messages = read_all(&stream(&src, "messages"), cx()).await;
    assert!(messages.error.is_none(), "{:?}", messages.error);
    let general = sb
        .truth()
        .slack
        .channels
        .iter()
        .find(|c| c.name == "general")
        .unwrap();
    assert!(!messages.rows.is_empty());
    assert!(messages.rows.iter().all(|r| r.starts_with(&general.id)));
    let threads = read_all(&stream(&src, "threads"), cx()).await;
    assert!(threads.error.is_none(), "{:?}", threads.error);
    let skipped = src.skipped_channels();
    assert_eq!(
        skipped.len(),
        2,
        "one entry per channel across streams: {skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("announcements") && s.contains("not_in_channel")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|s| s.contains("no-such-channel")),
        "{skipped:?}"
    );
    // An unknown id is asked for, and Slack's channel_not_found skips it too.
    let src = source(&sb, TOKEN, "channels = [\"C0NOTREAL99\", \"general\"]");
    let messages = read_all(&stream(&src, "messages"), cx()).await;
    assert!(messages.error.is_none(), "{:?}", messages.error);
    assert!(src.skipped_channels()[0].contains("channel_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_name_the_problem_and_never_the_token() {
    let sb = sandbox("none").await;
    let lacking = source(&sb, TOKEN_NO_HISTORY, "");
    let read = read_all(&stream(&lacking, "messages"), cx()).await;
    let err = read.error.unwrap();
    assert!(err.contains("lacks the scope channels:history"), "{err}");
    assert!(err.contains("kind: Auth"), "{err}");
    let err = lacking.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("channels:history"), "{err}");
    for (token, code) in [
        (REVOKED_TOKEN, "token_revoked"),
        ("xoxb-not-a-real-token", "invalid_auth"),
    ] {
        let src = source(&sb, token, "");
        let err = src.check().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(err.message().contains(code), "{err}");
        assert!(!err.message().contains(token), "{err}");
        let read = read_all(&stream(&src, "users"), cx()).await;
        let err = read.error.unwrap();
        assert!(err.contains(code) && !err.contains(token), "{err}");
    }
    let ok = source(&sb, TOKEN, "").check().await.unwrap();
    assert!(
        ok.detail.contains("Chorus Sandbox Community"),
        "{}",
        ok.detail
    );
    for req in sb.requests() {
        let query = req.query.unwrap_or_default();
        let body = req.body.unwrap_or_default();
        assert!(
            !query.contains("xoxb") && !body.contains("xoxb"),
            "token outside the header: {} {query}",
            req.path
        );
        assert!(
            req.authorization
                .unwrap_or_default()
                .starts_with("Bearer xoxb-")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reads_continue_per_channel_and_threads_reread_the_lookback() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "thread_lookback_days = 30");
    let first = read_all(&stream(&src, "messages"), cx()).await;
    let (_, state) = first.checkpoints.last().cloned().unwrap();
    let channels = state.extra["channels"].as_object().unwrap();
    assert_eq!(
        channels.len(),
        4,
        "one mark per readable channel: {state:?}"
    );
    let again = ReadContext {
        state: Some(state.clone()),
        ..cx()
    };
    let second = read_all(&stream(&src, "messages"), again).await;
    assert!(
        second.error.is_none() && second.rows.is_empty(),
        "{:?}",
        second.rows.len()
    );
    // Every history request of the second read starts after the channel's mark.
    let oldest: Vec<String> = sb
        .requests()
        .iter()
        .rev()
        .take(4)
        .filter_map(|r| r.query.clone())
        .collect();
    assert!(
        oldest
            .iter()
            .all(|q| q.contains("oldest=17") && !q.contains("inclusive")),
        "{oldest:?}"
    );

    let threads = stream(&src, "threads");
    let full = read_all(&threads, cx()).await;
    let (_, tstate) = full.checkpoints.last().cloned().unwrap();
    let again = read_all(
        &threads,
        ReadContext {
            state: Some(tstate),
            ..cx()
        },
    )
    .await;
    assert!(again.error.is_none(), "{:?}", again.error);
    assert!(
        !again.rows.is_empty(),
        "replies of the last 30 days are read again"
    );
    assert!(again.rows.len() < full.rows.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_window_reads_only_its_days_and_never_rewinds() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "");
    let messages = stream(&src, "messages");
    let full = read_all(&messages, cx()).await;
    let (_, state) = full.checkpoints.last().cloned().unwrap();
    // A week a month into the sandbox's messages, as dates: UTC days for Slack.
    let first = sb
        .truth()
        .slack
        .data_start
        .checked_add_days(chrono::Days::new(31))
        .unwrap();
    let end = first.checked_add_days(chrono::Days::new(7)).unwrap();
    let window = Window {
        start: Some(chorus_core::Bound::Day(first)),
        end: Some(chorus_core::Bound::Day(end)),
    };
    let read = read_all(
        &messages,
        ReadContext {
            state: Some(state.clone()),
            window,
            run_id: "b".into(),
        },
    )
    .await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert!(!read.rows.is_empty() && read.rows.len() < full.rows.len());
    let days: Vec<String> = first
        .iter_days()
        .take_while(|d| *d < end)
        .map(|d| d.to_string())
        .collect();
    assert!(
        read.rows
            .iter()
            .all(|r| days.iter().any(|d| r.contains(d.as_str()))),
        "{:?}",
        &read.rows[..1]
    );
    let (_, after) = read.checkpoints.last().cloned().unwrap();
    assert_eq!(
        after.extra, state.extra,
        "a backfill keeps every channel's mark"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_requests_are_paced_and_sized_as_configured() {
    let sb = sandbox("none").await;
    let src = source(
        &sb,
        TOKEN,
        "channels = [\"general\"]\nhistory_requests_per_minute = 600\nreplies_requests_per_minute = 600000\nlist_requests_per_minute = 600000",
    );
    let started = Instant::now();
    let read = read_all(&stream(&src, "messages"), cx()).await;
    let took = started.elapsed();
    assert!(read.error.is_none(), "{:?}", read.error);
    let history: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("conversations.history"))
        .collect();
    assert!(history.len() >= 4, "{}", history.len());
    // 600 a minute: one every 100 ms after the first.
    let floor = Duration::from_millis(100) * (history.len() as u32 - 1);
    assert!(
        took >= floor,
        "{took:?} < {floor:?} for {} requests",
        history.len()
    );
    assert!(
        history
            .iter()
            .all(|r| r.query.as_deref().unwrap_or("").contains("limit=15"))
    );
}
