//! Benchmarks of the kit: JSON → Arrow decode in bytes per second, and paging through the
//! sandbox in pages per second. Run with `cargo bench -p chorus-http`.

#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness code")]

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use chorus_core::testing::read_all;
use chorus_core::{ReadContext, Secret, Stream, StreamSpec, SyncMode, Window};
use chorus_http::{
    Auth, ClientConfig, DefaultHook, HttpClient, PageDecoder, Paginator, Request, RestStream,
};
use chorus_sandbox::platforms::reference;
use chorus_sandbox::{Sandbox, SandboxConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A Graph-API-like page of `n` posts.
fn page(n: usize) -> Vec<u8> {
    let mut s = String::from("{\"data\":[");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            r#"{{"id":"1002345678901234_{i}","created_time":"2024-01-05T10:{:02}:00+0000","message":"Post number {i} about our winter sale, with a link https://example.com/p?utm_source=facebook","status_type":"added_photos","permalink_url":"https://www.facebook.com/1002345678901234/posts/{i}","reactions":{{"data":[],"summary":{{"total_count":{}}}}},"comments":{{"data":[],"summary":{{"total_count":{}}}}},"shares":{{"count":"{}"}}}}"#,
            i % 60,
            i * 7 % 1000,
            i % 50,
            i % 20
        )
        .unwrap();
    }
    s.push_str(r#"],"paging":{"cursors":{"before":"QVFIUm","after":"QVFIUn"},"next":"https://graph.facebook.com/v23.0/1/posts?after=QVFIUn"}}"#);
    s.into_bytes()
}

fn decode(c: &mut Criterion) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("created_time", chorus_core::schema::timestamp_type(), true),
        Field::new("message", DataType::Utf8, true),
        Field::new("status_type", DataType::Utf8, true),
        Field::new("permalink_url", DataType::Utf8, true),
        Field::new("reactions", DataType::Int64, true),
        Field::new("comments", DataType::Int64, true),
        Field::new("shares", DataType::Int64, true),
    ]));
    let decoder = PageDecoder::new(
        schema,
        "data",
        &[
            ("reactions", "reactions.summary.total_count"),
            ("comments", "comments.summary.total_count"),
            ("shares", "shares.count"),
        ],
        &["paging.next"],
    )
    .unwrap();
    let body = page(100);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("graph_posts_page_100", |b| {
        b.iter(|| decoder.decode(&body).unwrap())
    });
    group.finish();
}

fn paging(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sb = rt
        .block_on(Sandbox::start(SandboxConfig {
            scale: 20,
            ..SandboxConfig::default()
        }))
        .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("updated_at", chorus_core::schema::timestamp_type(), true),
    ]));
    let pages = (20 * reference::ITEMS_PER_SCALE).div_ceil(100) as u64;
    let client = Arc::new(
        HttpClient::new(
            Auth::Bearer(Secret::new(reference::TOKEN)),
            ClientConfig::default(),
            Arc::new(DefaultHook),
        )
        .unwrap(),
    );
    let paginator = Paginator::Cursor {
        param: "cursor".into(),
        path: "response_metadata.next_cursor".into(),
    };
    let stream: Arc<dyn Stream> = Arc::new(RestStream {
        spec: StreamSpec {
            name: "items".into(),
            schema: Arc::clone(&schema),
            primary_key: vec!["id".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: std::time::Duration::ZERO,
        },
        client,
        request: Request::get(sb.url("/ref/v1/cursor"))
            .with_params(&[("limit".into(), "100".into())]),
        decoder: Arc::new(PageDecoder::new(schema, "items", &[], &paginator.captures()).unwrap()),
        paginator,
        window: None,
        max_pages: 10_000,
    });
    let mut group = c.benchmark_group("paging");
    group.throughput(Throughput::Elements(pages));
    group.sample_size(20);
    group.bench_function("sandbox_cursor_pages", |b| {
        b.to_async(&rt).iter(|| async {
            let cx = ReadContext {
                state: None,
                window: Window::default(),
                run_id: "bench".into(),
            };
            let read = read_all(&stream, cx).await;
            assert!(read.error.is_none());
        });
    });
    group.finish();
}

criterion_group!(benches, decode, paging);
criterion_main!(benches);
