//! Schema drift and bad data: a field the API adds is ignored, or kept in `_extra_fields` when
//! the source asks for it; a field whose type changes
//! fails that stream with exit 65, naming the column, and commits nothing for it while the
//! other streams commit; HTML error pages and broken JSON are retried, then end in an error
//! that says what came back.

use std::path::Path;

use crate::util::{Answer, chorus, fake_server, files_below, output, stderr, table_columns};

/// One Freshdesk ticket, as the API sends it (`include=stats`).
const TICKET: &str = r#"{"associated_tickets_count":null,"cc_emails":[],"company_id":null,"created_at":"2026-10-31T21:47:00Z","custom_fields":{},"due_by":"2026-11-03T21:47:00Z","fr_due_by":"2026-11-01T21:47:00Z","fr_escalated":false,"fwd_emails":[],"group_id":43000000902,"id":200,"is_escalated":false,"priority":2,"product_id":null,"reply_cc_emails":[],"requester_id":43000103012,"responder_id":43000000504,"source":1,"spam":false,"stats":{"agent_responded_at":"2026-11-01T12:21:00Z","closed_at":null,"first_responded_at":"2026-11-01T03:34:00Z","pending_since":null,"reopened_at":null,"requester_responded_at":"2026-11-01T10:50:00Z","resolved_at":null,"status_updated_at":"2026-10-31T21:47:00Z"},"status":2,"subject":"Damaged parcel","support_email":null,"tags":[],"ticket_cc_emails":[],"to_emails":null,"type":null,"updated_at":"2026-11-01T12:27:00Z"}"#;

/// A Freshdesk whose tickets are `tickets` and whose surveys are empty.
fn freshdesk(tickets: String) -> u16 {
    fake_server(move |head| -> Answer {
        let body = if head.starts_with("GET /api/v2/tickets") {
            tickets.clone()
        } else {
            "[]".to_owned()
        };
        Some(("200 OK".into(), "application/json".into(), body))
    })
}

fn run(dir: &Path, port: u16) -> std::process::Output {
    run_with(dir, port, "")
}

/// [`run`] with `settings` added to the source.
fn run_with(dir: &Path, port: u16, settings: &str) -> std::process::Output {
    let text = format!(
        "[pipeline]\nname = \"drift\"\n\n[sources.fd]\n{settings}type = \"freshdesk\"\ndomain = \"acme\"\napi_key = \"${{FD_KEY}}\"\nstart_date = \"2026-09-01\"\nbase_url = \"http://127.0.0.1:{port}\"\nstreams = [\"tickets\", \"satisfaction_ratings\"]\n\n[sinks.lake]\ntype = \"parquet\"\ninputs = [\"fd.tickets\", \"fd.satisfaction_ratings\"]\npath = \"out\"\n"
    );
    std::fs::write(dir.join("drift.toml"), text).unwrap();
    output(
        chorus(dir)
            .args(["run", "drift.toml"])
            .env("FD_KEY", "FdDriftKey0chorus")
            .env("CHORUS_HTTP_MAX_ATTEMPTS", "3")
            .env("CHORUS_HTTP_BACKOFF_MS", "10"),
    )
}

#[test]
fn a_new_field_is_ignored() {
    let added = TICKET.replace(
        "\"spam\":false,",
        "\"spam\":false,\"sentiment_score\":0.7,\"ai_summary\":{\"text\":\"late\",\"tags\":[1,2]},",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), freshdesk(format!("[{added}]")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = table_columns(&dir.path().join("out/fd__tickets"), &["id", "priority"]);
    assert_eq!(rows, vec![vec!["200".to_owned(), "2".to_owned()]]);
}

#[test]
fn a_new_field_is_kept_when_the_source_asks() {
    let added = TICKET.replace(
        "\"spam\":false,",
        "\"spam\":false,\"sentiment_score\":0.70,\"ai_summary\":{\"text\":\"late\",\"tags\":[1,2]},",
    );
    let plain = TICKET.replace("\"id\":200,", "\"id\":201,");
    let dir = tempfile::tempdir().unwrap();
    let port = freshdesk(format!("[{added},{plain}]"));
    let out = run_with(dir.path(), port, "keep_unknown_fields = true\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut rows = table_columns(
        &dir.path().join("out/fd__tickets"),
        &["id", "priority", "_extra_fields"],
    );
    rows.sort();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row[1], "2", "the columns read are unchanged: {row:?}");
        let extra: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&row[2]).unwrap_or_else(|e| panic!("{e}: {}", row[2]));
        // What chorus does not read, as Freshdesk wrote it; nothing it does read.
        assert_eq!(extra["custom_fields"], serde_json::json!({}));
        assert_eq!(extra["fr_escalated"], serde_json::json!(false));
        for read in ["id", "priority", "stats", "subject", "updated_at", "type"] {
            assert!(!extra.contains_key(read), "{read} in {}", row[2]);
        }
        let new = extra.contains_key("sentiment_score");
        assert_eq!(new, row[0] == "200", "{row:?}");
        assert_eq!(new, extra.contains_key("ai_summary"), "{row:?}");
    }
    assert!(
        rows[0][2].contains(r#""sentiment_score":0.70"#)
            && rows[0][2].contains(r#""ai_summary":{"text":"late","tags":[1,2]}"#),
        "values are kept as written: {}",
        rows[0][2]
    );
}

#[test]
fn a_changed_type_fails_that_stream_with_65_naming_the_column_and_commits_nothing_for_it() {
    for (column, changed) in [
        (
            "priority",
            TICKET.replace("\"priority\":2", "\"priority\":\"urgent\""),
        ),
        (
            "created_at",
            TICKET.replace(
                "\"created_at\":\"2026-10-31T21:47:00Z\"",
                "\"created_at\":1793483220",
            ),
        ),
        (
            "subject",
            TICKET.replace(
                "\"subject\":\"Damaged parcel\"",
                "\"subject\":{\"text\":\"Damaged parcel\"}",
            ),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), freshdesk(format!("[{changed}]")));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(65), "{column}: {err}");
        assert!(
            err.contains(column),
            "{column}: the error does not name it: {err}"
        );
        assert!(err.contains("fd.tickets"), "{column}: {err}");
        assert!(
            files_below(&dir.path().join("out/fd__tickets")).is_empty(),
            "{column}: the failed stream committed files"
        );
        // The stream that kept its contract did not fail with it.
        assert!(
            !err.contains("stream \"fd.satisfaction_ratings\" failed"),
            "{column}: {err}"
        );
    }
}

#[test]
fn html_error_pages_and_broken_json_are_retried_then_end_in_a_clear_error() {
    for (what, answer, code, says) in [
        (
            "an HTML error page",
            (
                "502 Bad Gateway",
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>",
            ),
            75,
            "502",
        ),
        (
            "an HTML page with 200",
            (
                "200 OK",
                "text/html",
                "<html><body>Maintenance</body></html>",
            ),
            75,
            "Maintenance",
        ),
        (
            "broken JSON",
            ("200 OK", "application/json", "[{\"id\": 200, \"subj"),
            75,
            "[{\"id\": 200",
        ),
    ] {
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&hits);
        let port = fake_server(move |head| -> Answer {
            if head.starts_with("GET /api/v2/tickets") {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Some((answer.0.into(), answer.1.into(), answer.2.into()))
        });
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), port);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{what}: {err}");
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "{what}: not retried"
        );
        assert!(err.contains("failed after 3 attempts"), "{what}: {err}");
        assert!(
            err.contains(says),
            "{what}: the error does not show what came back: {err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
}
