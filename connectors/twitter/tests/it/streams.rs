//! Every `twitter` stream: the contract, the rows the sandbox's truth says it must return,
//! incremental reads, partial errors, credentials and the request shapes X requires.

use std::collections::BTreeSet;

use chorus_connector_twitter::source::TwitterConfig;
use chorus_core::testing::read_all;
use chorus_core::{ConfigTable, Cursor, ErrorKind, ReadContext, StreamEvent, StreamState};
use chorus_sandbox::platforms::x::{self, TOKEN, TOKEN_NOT_ENROLLED};
use futures::StreamExt;

use crate::support::{SETTINGS, contract, cx, sandbox, source, source_with, stream};

#[tokio::test]
async fn users_pass_the_contract() {
    let report = contract("users").await;
    assert_eq!(report.full.rows.len(), 3);
    assert!(
        report.full.rows[0].starts_with("1456789012345678901|"),
        "{}",
        report.full.rows[0]
    );
}

#[tokio::test]
async fn tweets_pass_the_contract_and_match_the_truth() {
    let report = contract("tweets").await;
    let sb = sandbox("none").await;
    let data = &sb.truth().x;
    let want: BTreeSet<String> = x::BRANDS
        .iter()
        .flat_map(|(name, ..)| x::timeline_truth(data, name, false))
        .map(|t| t.id.to_string())
        .collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got.len(), report.full.keys.len());
    assert_eq!(got, want);
}

#[tokio::test]
async fn mentions_pass_the_contract_with_their_authors() {
    let report = contract("mentions").await;
    let sb = sandbox("none").await;
    let data = &sb.truth().x;
    let want: usize = x::BRANDS
        .iter()
        .map(|(name, ..)| x::timeline_truth(data, name, true).len())
        .sum();
    assert_eq!(report.full.rows.len(), want);
    // Every mention carries its author's handle and followers from `includes.users`.
    let t = x::timeline_truth(data, "acme", true)[0];
    let author = &data.users[t.author];
    let row = report
        .full
        .rows
        .iter()
        .find(|r| r.contains(&format!("|{}|", t.id)))
        .unwrap();
    assert!(row.starts_with("1456789012345678901|acme|"), "{row}");
    assert!(
        row.ends_with(&format!(
            "|{}|{}|{}",
            author.username, author.followers_count, author.verified
        )),
        "{row}"
    );
}

#[tokio::test]
async fn search_passes_the_contract_and_labels_rows_by_query() {
    let report = contract("search").await;
    let sb = sandbox("none").await;
    let data = &sb.truth().x;
    let acme = x::search_truth(data, "acme OR #acme").unwrap();
    let globex = x::search_truth(data, "@globex -is:retweet").unwrap();
    assert!(!acme.is_empty() && !globex.is_empty());
    let want: BTreeSet<String> = acme
        .iter()
        .map(|t| format!("acme|{}", t.id))
        .chain(globex.iter().map(|t| format!("globex|{}", t.id)))
        .collect();
    let got: BTreeSet<String> = report.full.keys.iter().cloned().collect();
    assert_eq!(got, want);
    assert!(
        report
            .full
            .rows
            .iter()
            .all(|r| r.starts_with("acme|acme OR #acme|")
                || r.starts_with("globex|@globex -is:retweet|"))
    );
}

#[tokio::test]
async fn requests_ask_for_fields_and_keep_the_token_in_the_header() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let read = read_all(&stream(&src, "mentions"), cx()).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let requests = sb.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        let q = r.query.clone().unwrap_or_default();
        assert!(!q.contains(TOKEN), "{q}");
        if r.path.ends_with("/mentions") {
            assert!(q.contains("expansions=author_id"), "{q}");
            assert!(q.contains("tweet.fields=created_at%2Cauthor_id"), "{q}");
            assert!(q.contains("max_results=100"), "{q}");
        }
    }
    // The usernames were looked up once, all in one request.
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/x/2/users/by")
            .count(),
        1
    );
}

/// Reads a stream to the end and returns the rows and the last checkpoint.
async fn rows_and_state(
    s: &std::sync::Arc<dyn chorus_core::Stream>,
    state: Option<StreamState>,
) -> (usize, Option<StreamState>) {
    let mut events = s.read(ReadContext { state, ..cx() });
    let (mut rows, mut last) = (0, None);
    while let Some(e) = events.next().await {
        match e.unwrap() {
            StreamEvent::Batch(b) => rows += b.num_rows(),
            StreamEvent::Checkpoint(c) => last = Some(c),
        }
    }
    (rows, last)
}

#[tokio::test]
async fn incremental_reads_re_read_the_lookback_or_only_newer_posts() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let tweets = stream(&src, "tweets");
    let (all, state) = rows_and_state(&tweets, None).await;
    let state = state.unwrap();
    assert!(matches!(state.cursor, Some(Cursor::Timestamp(_))));
    let newest = state.extra["newest"].as_object().unwrap();
    assert_eq!(newest.len(), 3, "{newest:?}");
    // Ids are kept as strings, exactly.
    assert!(
        newest
            .values()
            .all(|n| n["id"].as_str().unwrap().len() >= 8)
    );

    // Default lookback: the last seven days again, no more.
    let (again, _) = rows_and_state(&tweets, Some(state.clone())).await;
    assert!(again > 0 && again < all / 4, "re-read {again} of {all}");

    // lookback_days = 0: only posts after the newest one, by since_id.
    sb.clear_requests();
    let strict = source_with(&sb, TOKEN, &format!("{SETTINGS}lookback_days = 0\n"));
    let (none, _) = rows_and_state(&stream(&strict, "tweets"), Some(state.clone())).await;
    assert_eq!(none, 0);
    let timeline_queries: Vec<String> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/tweets"))
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(timeline_queries.len(), 3);
    for q in &timeline_queries {
        assert!(q.contains("since_id="), "{q}");
        assert!(!q.contains("start_time="), "{q}");
    }
}

#[tokio::test]
async fn an_unknown_username_is_a_warning_not_a_failure() {
    let sb = sandbox("none").await;
    let src = source_with(&sb, TOKEN, "usernames = [\"acme\", \"nosuchuser42\"]\n");
    let users = read_all(&stream(&src, "users"), cx()).await;
    assert!(users.error.is_none(), "{:?}", users.error);
    assert_eq!(users.rows.len(), 1);
    let tweets = read_all(&stream(&src, "tweets"), cx()).await;
    assert!(tweets.error.is_none());
    assert_eq!(
        tweets.rows.len(),
        x::timeline_truth(&sb.truth().x, "acme", false).len()
    );
    let report = chorus_core::Source::check(&src).await.unwrap();
    assert!(report.detail.contains("@nosuchuser42"), "{}", report.detail);
}

#[tokio::test]
async fn refused_credentials_fail_with_exit_77_and_no_token() {
    let sb = sandbox("none").await;
    let bad = "AAAAAAAAAAAAAAAAAAAAAwrongtoken0000";
    for (token, says) in [(bad, "bearer token"), (TOKEN_NOT_ENROLLED, "Project")] {
        let src = source_with(&sb, token, SETTINGS);
        let err = chorus_core::Source::check(&src).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(err.message().contains(says), "{}", err.message());
        assert!(!err.message().contains(token), "{}", err.message());
        let read = read_all(&stream(&src, "search"), cx()).await;
        let e = read.error.unwrap();
        assert!(!e.contains(token), "{e}");
    }
}

#[tokio::test]
async fn far_future_windows_and_states_ask_for_nothing() {
    let sb = sandbox("none").await;
    let src = source(&sb);
    let future = StreamState::at(Cursor::Timestamp(
        chrono::Utc::now() + chrono::Duration::days(30),
    ));
    sb.clear_requests();
    let (rows, _) = rows_and_state(&stream(&src, "search"), Some(future)).await;
    assert_eq!(rows, 0);
    assert!(sb.requests().is_empty());
}

#[test]
fn settings_are_checked_offline() {
    let check = |body: &str| {
        let text = format!("bearer_token = \"t\"\n{body}");
        let table = ConfigTable::parse(&text, ".").unwrap();
        let settings: TwitterConfig = table.deserialize().unwrap();
        settings.validate(&table).err().map(|e| e.message)
    };
    assert!(check("usernames = [\"acme\"]").is_none());
    assert!(check("").unwrap().contains("usernames"));
    assert!(
        check("usernames = [\"@acme\"]")
            .unwrap()
            .contains("not an X username")
    );
    assert!(
        check("usernames = [\"acme\", \"ACME\"]")
            .unwrap()
            .contains("twice")
    );
    assert!(
        check("usernames = [\"acme\"]\npage_size = 5")
            .unwrap()
            .contains("10–100")
    );
    let long = "a ".repeat(300);
    assert!(
        check(&format!("searches = {{ brand = \"{long}\" }}"))
            .unwrap()
            .contains("512")
    );
    assert!(
        check("usernames = [\"acme\"]\nstart_time = \"last week\"")
            .unwrap()
            .contains("start_time")
    );
    assert!(
        check("usernames = [\"acme\"]\nstart_time = \"2009-01-01\"")
            .unwrap()
            .contains("2010-11-06")
    );
}
