//! Every `freshdesk` stream: the contract, the rows the sandbox's truth says it must return,
//! slicing past page 300, credentials and the request shapes Freshdesk requires.

use std::collections::BTreeSet;

use chorus_core::testing::{assert_extra_fields, read_all, read_extra_fields};
use chorus_core::{ErrorKind, Source};
use chorus_sandbox::platforms::freshdesk::{self, API_KEY};
use futures::StreamExt;

use crate::support::{
    SETTINGS, contract, cx, sandbox, sandbox_at, source, source_keeping_unknown_fields,
    source_with, stream,
};

#[tokio::test]
async fn tickets_pass_the_contract_with_labels_and_first_response_minutes() {
    let report = contract("tickets").await;
    let sb = sandbox("none").await;
    let data = &sb.truth().freshdesk;
    let want: BTreeSet<String> = data.tickets.iter().map(|t| t.id.to_string()).collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got, want);
    for t in &data.tickets {
        let row = report
            .full
            .rows
            .iter()
            .find(|r| r.starts_with(&format!("{}|", t.id)))
            .unwrap();
        let cells: Vec<&str> = row.split('|').collect();
        let minutes = |m: Option<i64>| m.map_or("∅".to_owned(), |m| m.to_string());
        assert_eq!(cells[19], minutes(t.first_response_minutes()), "{row}");
        assert_eq!(cells[20], minutes(t.resolution_minutes()), "{row}");
        assert_eq!(cells[8], t.source.to_string(), "{row}");
    }
    assert!(report.full.rows.iter().any(|r| r.contains("|5|Twitter|")));
    assert!(report.full.rows.iter().any(|r| r.contains("|4|Resolved|")));
}

#[tokio::test]
async fn conversations_pass_the_contract_and_match_the_truth() {
    let report = contract("conversations").await;
    let sb = sandbox("none").await;
    let want: BTreeSet<String> = sb
        .truth()
        .freshdesk
        .tickets
        .iter()
        .flat_map(|t| t.conversations.iter().map(|c| c.id.to_string()))
        .collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn satisfaction_ratings_pass_the_contract_and_match_the_truth() {
    let report = contract("satisfaction_ratings").await;
    let sb = sandbox("none").await;
    let ratings = freshdesk::ratings(&sb.truth().freshdesk);
    let want: BTreeSet<String> = ratings.iter().map(|(_, r)| r.id.to_string()).collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got, want);
    let happy = report
        .full
        .rows
        .iter()
        .filter(|r| r.contains("|103|Extremely Happy|"))
        .count();
    assert_eq!(
        happy,
        ratings.iter().filter(|(_, r)| r.value == 103).count()
    );
}

#[tokio::test]
async fn tickets_slice_by_time_past_page_300() {
    let sb = sandbox_at("none", 2).await;
    let src = source_with(&sb, API_KEY, "start_date = \"2026-08-01\"\npage_size = 1\n");
    let read = read_all(&stream(&src, "tickets"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let n = sb.truth().freshdesk.tickets.len();
    assert!(n > 300);
    let keys: BTreeSet<&String> = read.keys.iter().collect();
    assert_eq!(keys.len(), n, "every ticket once");
    assert_eq!(read.keys.len(), n, "no ticket twice");
    let requests = sb.requests();
    let q: Vec<String> = requests
        .iter()
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert!(q.iter().any(|q| q.contains("page=300")));
    assert!(!q.iter().any(|q| q.contains("page=301")));
    let slices: BTreeSet<&str> = q
        .iter()
        .filter_map(|q| q.split('&').find(|p| p.starts_with("updated_since=")))
        .collect();
    assert_eq!(slices.len(), 2, "{slices:?}");
}

#[tokio::test]
async fn requests_send_updated_since_in_order_with_stats_and_basic_key_auth() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let read = read_all(&stream(&src, "tickets"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{API_KEY}:X"))
        )
    };
    for r in sb.requests() {
        assert_eq!(r.authorization.as_deref(), Some(basic.as_str()));
        let q = r.query.clone().unwrap_or_default();
        assert!(q.contains("updated_since=2026-08-01T00%3A00%3A00Z"), "{q}");
        assert!(q.contains("order_by=updated_at&order_type=asc"), "{q}");
        assert!(q.contains("include=stats"), "{q}");
        assert!(!q.contains(API_KEY), "{q}");
    }
}

#[tokio::test]
async fn a_refused_key_fails_as_auth_without_showing() {
    let sb = sandbox("none").await;
    let bad = "notTheRightFreshdeskKey";
    let src = source_with(&sb, bad, SETTINGS);
    let err = src.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.message().contains("View API key"), "{err:?}");
    assert!(!err.message().contains(bad), "{err:?}");
    let mut events = stream(&src, "conversations").read(cx());
    let err = events.next().await.unwrap().err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(!format!("{err:?}").contains(bad));
    assert!(source(&sb).check().await.is_ok());
}

#[tokio::test]
async fn unknown_fields_are_kept_as_json_when_the_source_asks() {
    let sb = sandbox("none").await;
    let kept = source_keeping_unknown_fields(&sb);
    // (stream, a field Freshdesk sends that the stream does not read, fields it reads); chorus
    // reads every field of a rating, so ratings have nothing to keep: NULL.
    for (name, unknown, read) in [
        ("tickets", Some("fr_escalated"), ["id", "stats", "type"]),
        (
            "conversations",
            Some("body_text"),
            ["id", "incoming", "user_id"],
        ),
        ("satisfaction_ratings", None, ["id", "ratings", "feedback"]),
    ] {
        let extras = read_extra_fields(&stream(&kept, name), cx()).await;
        let rows = read_all(&stream(&source(&sb), name), cx()).await.rows.len();
        assert_eq!(extras.len(), rows, "{name}: rows differ");
        assert_extra_fields(name, &extras, unknown, &read);
    }
}
