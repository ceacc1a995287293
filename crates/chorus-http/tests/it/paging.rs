//! Every paginator with its auth reads exactly the ground truth; exchanges happen once.

use std::sync::Arc;

use chorus_core::testing::{Conditions, assert_stream_contract, read_all};
use chorus_core::{ReadContext, Stream, Window};
use chorus_sandbox::platforms::reference;

use crate::support::{Endpoint, client, sandbox, stream};

fn cx() -> ReadContext {
    ReadContext {
        state: None,
        window: Window::default(),
        run_id: "t".into(),
    }
}

#[tokio::test]
async fn every_paginator_and_auth_reads_exactly_the_truth() {
    let sb = sandbox("").await;
    let mut want: Vec<String> = sb
        .truth()
        .reference
        .items
        .iter()
        .map(|i| i.id.clone())
        .collect();
    want.sort();
    for endpoint in [
        Endpoint::NextUrl,
        Endpoint::Cursor,
        Endpoint::Link,
        Endpoint::Offset,
        Endpoint::Pages,
    ] {
        sb.clear_requests();
        let c = client(&sb, endpoint, 3, reference::TOKEN);
        let s: Arc<dyn Stream> = Arc::new(stream(&sb, endpoint, Arc::clone(&c), false));
        let read = read_all(&s, cx()).await;
        assert!(read.error.is_none(), "{endpoint:?}: {:?}", read.error);
        let mut got = read.keys.clone();
        got.sort();
        assert_eq!(got, want, "{endpoint:?} read other rows than the truth");
        let log = sb.requests();
        let exchanges = log.iter().filter(|r| r.method == "POST").count();
        let expected = usize::from(matches!(endpoint, Endpoint::Offset | Endpoint::Pages));
        assert_eq!(
            exchanges, expected,
            "{endpoint:?}: one token exchange per run"
        );
        let api: Vec<_> = log.iter().filter(|r| r.method == "GET").collect();
        assert!(
            api.len() >= 4,
            "{endpoint:?}: paged in {} requests",
            api.len()
        );
        for r in &api {
            assert_eq!(r.status, Some(200), "{endpoint:?}: {r:?}");
            assert!(
                r.user_agent
                    .as_deref()
                    .is_some_and(|u| u.starts_with("chorus/"))
            );
            match endpoint {
                Endpoint::NextUrl => {
                    assert!(r.authorization.is_none());
                    assert!(r.query.as_deref().unwrap_or("").contains("access_token="));
                }
                Endpoint::Link => assert!(
                    r.authorization
                        .as_deref()
                        .is_some_and(|a| a.starts_with("Basic "))
                ),
                _ => assert!(
                    r.authorization
                        .as_deref()
                        .is_some_and(|a| a.starts_with("Bearer "))
                ),
            }
        }
    }
    // Numbers sent as strings, ids over 2^53 and nested counts decode.
    let c = client(&sb, Endpoint::Cursor, 3, reference::TOKEN);
    let s: Arc<dyn Stream> = Arc::new(stream(&sb, Endpoint::Cursor, c, false));
    let read = read_all(&s, cx()).await;
    let first = &sb.truth().reference.items[0];
    let row = read
        .rows
        .iter()
        .find(|r| r.starts_with(&format!("{}|", first.id)))
        .unwrap();
    assert!(
        row.contains(&format!("|{}|", first.stats.likes.summary.total_count)),
        "{row}"
    );
    assert!(first.id_number() > 1 << 53);
}

/// Log lines written while a test runs, for checking that no secret reaches them.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_stream_contract_holds_through_faults() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread test runtime: every task logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let clean = sandbox("").await;
    let faulty =
        sandbox("429=0.05,500=0.05,503=0.05,truncate=0.05,reset=0.03,slow=0.05,slow_ms=50").await;
    for endpoint in [Endpoint::NextUrl, Endpoint::Cursor, Endpoint::Offset] {
        let build = |conditions: Conditions| -> Arc<dyn Stream> {
            let sb = if conditions == Conditions::Clean {
                &clean
            } else {
                &faulty
            };
            Arc::new(stream(
                sb,
                endpoint,
                client(sb, endpoint, 12, reference::TOKEN),
                true,
            ))
        };
        let report = assert_stream_contract(build, &[reference::TOKEN.to_owned()]).await;
        assert_eq!(
            report.full.rows.len(),
            clean.truth().reference.items.len(),
            "{endpoint:?}"
        );
        assert!(
            report.full.checkpoints.len() >= 3,
            "{endpoint:?}: a checkpoint per 30-day slice"
        );
    }
    let faults = faulty
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faults > 0, "the faulty sandbox injected no fault");
}

#[tokio::test]
async fn the_page_cap_stops_an_endless_chain() {
    let sb = sandbox("").await;
    let c = client(&sb, Endpoint::Cursor, 3, reference::TOKEN);
    let mut s = stream(&sb, Endpoint::Cursor, c, false);
    s.max_pages = 2;
    let s: Arc<dyn Stream> = Arc::new(s);
    let read = read_all(&s, cx()).await;
    let err = read.error.unwrap();
    assert!(err.contains("stopped after 2 pages"), "{err}");
    assert!(err.contains("kept returning a next page"), "{err}");
    assert_eq!(
        read.rows.len(),
        60,
        "two pages of 30 were delivered before the stop"
    );
}
