//! Every `zendesk` stream: the contract, the rows the sandbox's truth says it must return,
//! incremental reads, credentials and the request shapes Zendesk requires.

use std::collections::BTreeSet;

use chorus_core::testing::{assert_extra_fields, read_all, read_extra_fields};
use chorus_core::{Cursor, ErrorKind, ReadContext, Source, StreamEvent, StreamState};
use chorus_sandbox::platforms::zendesk::{self, API_TOKEN, EMAIL, OAUTH_TOKEN};
use futures::StreamExt;

use crate::support::{
    SETTINGS, contract, cx, sandbox, source, source_keeping_unknown_fields, source_with, stream,
};

#[tokio::test]
async fn tickets_pass_the_contract_and_keep_deleted_tickets() {
    let report = contract("tickets").await;
    let sb = sandbox("none").await;
    let data = &sb.truth().zendesk;
    let want: BTreeSet<String> = data.tickets.iter().map(|t| t.id.to_string()).collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got.len(), report.full.keys.len());
    assert_eq!(got, want);
    let deleted = data.tickets.iter().find(|t| t.deleted()).unwrap();
    let row = report
        .full
        .rows
        .iter()
        .find(|r| r.starts_with(&format!("{}|", deleted.id)))
        .unwrap();
    assert!(row.contains("|deleted|"), "{row}");
    // Every ticket carries its channel.
    let social = data
        .tickets
        .iter()
        .filter(|t| zendesk::SOCIAL_CHANNELS.contains(&t.channel))
        .count();
    let social_rows = report
        .full
        .rows
        .iter()
        .filter(|r| {
            ["|twitter|", "|facebook|", "|instagram_dm|"]
                .iter()
                .any(|c| r.contains(c))
        })
        .count();
    assert_eq!(social_rows, social);
}

#[tokio::test]
async fn ticket_metrics_pass_the_contract_with_null_reply_times_before_a_reply() {
    let report = contract("ticket_metrics").await;
    let sb = sandbox("none").await;
    let data = &sb.truth().zendesk;
    let live: Vec<_> = data.tickets.iter().filter(|t| !t.deleted()).collect();
    assert_eq!(report.full.rows.len(), live.len());
    let waiting = live.iter().find(|t| t.reply_minutes.is_none()).unwrap();
    let row = report
        .full
        .rows
        .iter()
        .find(|r| r.starts_with(&format!("{}|", waiting.id)))
        .unwrap();
    let cells: Vec<&str> = row.split('|').collect();
    // reply_time_calendar_minutes and _business_minutes are NULL, never 0.
    assert_eq!((cells[5], cells[6]), ("∅", "∅"), "{row}");
    let replied = live.iter().find(|t| t.reply_minutes.is_some()).unwrap();
    let row = report
        .full
        .rows
        .iter()
        .find(|r| r.starts_with(&format!("{}|", replied.id)))
        .unwrap();
    let cells: Vec<&str> = row.split('|').collect();
    assert_eq!(
        cells[5],
        replied.reply_minutes.unwrap().to_string(),
        "{row}"
    );
}

#[tokio::test]
async fn satisfaction_ratings_pass_the_contract_and_match_the_truth() {
    let report = contract("satisfaction_ratings").await;
    let sb = sandbox("none").await;
    let want: BTreeSet<String> = zendesk::ratings(&sb.truth().zendesk)
        .iter()
        .map(|(_, r)| r.id.to_string())
        .collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got, want);
    let good = report
        .full
        .rows
        .iter()
        .filter(|r| r.contains("|good|"))
        .count();
    let want_good = zendesk::ratings(&sb.truth().zendesk)
        .iter()
        .filter(|(_, r)| r.score == "good")
        .count();
    assert_eq!(good, want_good);
}

#[tokio::test]
async fn a_second_run_resumes_from_the_export_cursor_and_reads_nothing_new() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let s = stream(&src, "tickets");
    let first = read_all(&s, cx()).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    let (_, state) = first.checkpoints.last().cloned().unwrap();
    assert!(matches!(state.cursor, Some(Cursor::Token(_))));
    sb.clear_requests();
    let second = read_all(
        &s,
        ReadContext {
            state: Some(state),
            ..cx()
        },
    )
    .await;
    assert!(second.error.is_none(), "{:?}", second.error);
    assert!(second.rows.is_empty());
    let requests = sb.requests();
    assert_eq!(requests.len(), 1);
    let q = requests[0].query.clone().unwrap_or_default();
    assert!(q.contains("cursor=") && !q.contains("start_time"), "{q}");
}

#[tokio::test]
async fn the_first_export_call_sends_start_time_and_then_only_the_cursor() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let read = read_all(&stream(&src, "tickets"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let requests = sb.requests();
    assert!(requests.len() > 2, "page_size 70 makes several pages");
    let basic = {
        use base64::Engine as _;
        let b =
            base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}/token:{API_TOKEN}"));
        format!("Basic {b}")
    };
    for (i, r) in requests.iter().enumerate() {
        assert_eq!(r.path, "/zendesk/api/v2/incremental/tickets/cursor.json");
        assert_eq!(r.authorization.as_deref(), Some(basic.as_str()));
        let q = r.query.clone().unwrap_or_default();
        assert!(q.contains("per_page=70"), "{q}");
        assert_eq!(q.contains("start_time="), i == 0, "{q}");
        assert_eq!(q.contains("cursor="), i > 0, "{q}");
    }
}

#[tokio::test]
async fn a_backfill_window_keeps_only_its_tickets_and_moves_no_cursor() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    // Days 10 to 20 of the sandbox's tickets, wherever its anchor puts them.
    let first = sb.truth().zendesk.data_start;
    let start = chrono::DateTime::from_timestamp(first + 10 * 86_400, 0).unwrap();
    let end = chrono::DateTime::from_timestamp(first + 20 * 86_400, 0).unwrap();
    let read = read_all(
        &stream(&src, "tickets"),
        ReadContext {
            window: chorus_core::Window {
                start: Some(chorus_core::Bound::Instant(start)),
                end: Some(chorus_core::Bound::Instant(end)),
            },
            ..cx()
        },
    )
    .await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let want = sb
        .truth()
        .zendesk
        .tickets
        .iter()
        .filter(|t| t.updated >= start.timestamp() && t.updated < end.timestamp())
        .count();
    assert!(
        want > 0,
        "the window holds no ticket: the test would check nothing"
    );
    assert_eq!(read.rows.len(), want);
    assert!(read.checkpoints.is_empty());
}

#[tokio::test]
async fn oauth_tokens_work_and_bad_credentials_fail_as_auth_without_showing() {
    let sb = sandbox("none").await;
    let oauth = source_with(&sb, &format!("oauth_token = \"{OAUTH_TOKEN}\""), SETTINGS);
    let report = oauth.check().await.unwrap();
    assert!(report.detail.contains("accepted"), "{}", report.detail);
    let bad = "notTheRightToken0000";
    let src = source_with(
        &sb,
        &format!("email = \"{EMAIL}\"\napi_token = \"{bad}\""),
        SETTINGS,
    );
    let err = src.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(
        err.message().contains("Couldn't authenticate you"),
        "{err:?}"
    );
    assert!(!err.message().contains(bad), "{err:?}");
    let mut events = stream(&src, "tickets").read(cx());
    let first = events.next().await.unwrap();
    let err = first.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!format!("{err:?}").contains(bad));
}

#[tokio::test]
async fn satisfaction_ratings_resume_with_their_lookback() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let s = stream(&src, "satisfaction_ratings");
    let mut events = s.read(cx());
    let mut last = None;
    while let Some(e) = events.next().await {
        if let StreamEvent::Checkpoint(c) = e.unwrap() {
            last = Some(c);
        }
    }
    let Some(StreamState {
        cursor: Some(Cursor::Timestamp(newest)),
        ..
    }) = last.clone()
    else {
        panic!("no timestamp checkpoint: {last:?}");
    };
    sb.clear_requests();
    let again = read_all(
        &s,
        ReadContext {
            state: last,
            ..cx()
        },
    )
    .await;
    assert!(again.error.is_none(), "{:?}", again.error);
    let q = sb.requests()[0].query.clone().unwrap_or_default();
    let expected = (newest - chrono::Duration::days(14)).timestamp();
    assert!(q.contains(&format!("start_time={expected}")), "{q}");
    assert!(!again.rows.is_empty());
}

#[tokio::test]
async fn unknown_fields_are_kept_as_json_when_the_source_asks() {
    let sb = sandbox("none").await;
    let kept = source_keeping_unknown_fields(&sb);
    // (stream, a field Zendesk sends that the stream does not read, fields it reads)
    for (name, unknown, read) in [
        ("tickets", "raw_subject", ["id", "subject", "via"]),
        (
            "ticket_metrics",
            "group_stations",
            ["id", "ticket_id", "reopens"],
        ),
        ("satisfaction_ratings", "url", ["id", "score", "ticket_id"]),
    ] {
        let s = stream(&kept, name);
        let extras = read_extra_fields(&s, cx()).await;
        let plain = read_all(&stream(&source(&sb), name), cx()).await;
        assert_eq!(extras.len(), plain.rows.len(), "{name}: rows differ");
        assert_extra_fields(name, &extras, Some(unknown), &read);
        // A source that does not ask has no such column.
        let spec = stream(&source(&sb), name).spec().clone();
        assert!(spec.schema.column_with_name("_extra_fields").is_none());
    }
}
