//! Every stream through the contract harness, and the rows against the sandbox's truth.

use chorus_core::testing::{assert_extra_fields, read_all, read_extra_fields};
use chorus_sandbox::platforms::slack::TOKEN;

use crate::support::{contract, cx, sandbox, source, source_keeping_unknown_fields, stream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_keeps_the_contract_through_faults() {
    for name in ["channels", "users", "messages", "threads"] {
        let report = contract(name).await;
        assert!(!report.full.rows.is_empty(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_replies_match_the_truth() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "");
    let truth = &sb.truth().slack;
    let readable: Vec<_> = truth
        .channels
        .iter()
        .filter(|c| c.is_member && !c.is_archived)
        .collect();
    let start = truth
        .data_start
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();

    let messages = read_all(&stream(&src, "messages"), cx()).await;
    assert!(messages.error.is_none(), "{:?}", messages.error);
    let expected: usize = readable
        .iter()
        .map(|c| c.messages.iter().filter(|m| m.micros() >= start).count())
        .sum();
    assert_eq!(messages.rows.len(), expected);
    // channel_id|ts|user|bot_id|subtype|text|thread_ts|reply_count|reply_users_count|reactions|created_at
    for row in &messages.rows {
        let cols: Vec<&str> = row.split('|').collect();
        let channel = truth.channel(cols[0]).unwrap();
        let m = channel.messages.iter().find(|m| m.ts == cols[1]).unwrap();
        assert_eq!(cols[9], m.reaction_total().to_string(), "{row}");
        let micros = chorus_sandbox::platforms::slack::parse_ts(cols[1]).unwrap();
        let at = chrono::DateTime::from_timestamp_micros(micros).unwrap();
        assert_eq!(
            cols[10],
            at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "{row}"
        );
        assert_eq!(
            cols[7],
            if m.replies.is_empty() {
                "∅".to_owned()
            } else {
                m.replies.len().to_string()
            }
        );
    }

    let threads = read_all(&stream(&src, "threads"), cx()).await;
    assert!(threads.error.is_none(), "{:?}", threads.error);
    let replies: usize = readable
        .iter()
        .flat_map(|c| c.messages.iter().filter(|m| m.micros() >= start))
        .map(|m| m.replies.len())
        .sum();
    assert_eq!(threads.rows.len(), replies);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_channels_carry_their_flags() {
    let sb = sandbox("none").await;
    let src = source(&sb, TOKEN, "include_archived = true");
    let users = read_all(&stream(&src, "users"), cx()).await;
    assert_eq!(users.rows.len(), sb.truth().slack.users.len());
    // id|name|real_name|is_bot|deleted|tz|updated
    let deleted: Vec<_> = users
        .rows
        .iter()
        .filter(|r| r.split('|').nth(4) == Some("true"))
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].split('|').nth(5), Some("∅"), "{}", deleted[0]);
    assert!(
        users
            .rows
            .iter()
            .any(|r| r.split('|').nth(3) == Some("true"))
    );
    let channels = read_all(&stream(&src, "channels"), cx()).await;
    // Every channel but none private the bot is not in: all six here.
    assert_eq!(channels.rows.len(), 6);
    let default = source(&sb, TOKEN, "");
    let channels = read_all(&stream(&default, "channels"), cx()).await;
    assert_eq!(
        channels.rows.len(),
        5,
        "archived channels are left out by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_kept_as_json_when_the_source_asks() {
    let sb = sandbox("none").await;
    let kept = source_keeping_unknown_fields(&sb);
    let plain = source(&sb, TOKEN, "");
    // (stream, a field Slack sends that the stream does not read, fields it reads)
    for (name, unknown, read) in [
        ("channels", "is_channel", ["id", "name", "topic"]),
        ("users", "team_id", ["id", "name", "profile"]),
        ("messages", "type", ["ts", "text", "reactions"]),
        ("threads", "type", ["ts", "text", "thread_ts"]),
    ] {
        let extras = read_extra_fields(&stream(&kept, name), cx()).await;
        let rows = read_all(&stream(&plain, name), cx()).await.rows.len();
        assert_eq!(extras.len(), rows, "{name}: rows differ");
        assert_extra_fields(name, &extras, Some(unknown), &read);
    }
}
