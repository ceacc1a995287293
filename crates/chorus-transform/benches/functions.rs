//! Throughput of every KPI function, in rows per second: each query applies one function to a
//! 1M-row in-memory table (batches of 8,192 rows) on one thread (`target_partitions = 1`).
//! Run with `cargo bench -p chorus-transform`; criterion reports `thrpt` in elements (rows)
//! per second.

#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness code")]

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chorus_transform::functions::register_all;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

const ROWS: usize = 1_000_000;
const BATCH: usize = 8192;

const SOURCES: &[&str] = &[
    "facebook",
    "m.facebook.com",
    "google",
    "t.co",
    "l.instagram.com",
    "(direct)",
    "newsletter",
    "bing",
    "partner.example.com",
    "lnkd.in",
    "youtube.com",
    "x.com",
];
const MEDIUMS: &[&str] = &[
    "cpc",
    "organic",
    "referral",
    "(none)",
    "email",
    "social",
    "paid_social",
    "display",
];
/// Social texts: ten whose function words settle their language (English, French, Spanish)
/// and two that need the trigram detector (too short to tell; Polish without listed function
/// words), so the sentiment numbers include both paths.
const TEXTS: &[&str] = &[
    "I love this product, the support team was great!",
    "This is the worst update ever. Totally broken.",
    "The store opens at 9am on Monday.",
    "not bad at all 😍",
    "The food was good, but the service was terrible",
    "GREAT news!!! Can't wait to try it :)",
    "Ce produit est vraiment magnifique, je le recommande à tous mes amis.",
    "Este producto es horrible, no funciona y el servicio al cliente es pésimo.",
    "Shipping took three weeks and nobody answered my emails. Never again.",
    "Honestly kind of disappointed with the new design, but the app is faster.",
    "Totally broken.",
    "Świetny produkt, polecam wszystkim!",
];

fn table() -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, true),
        Field::new("medium", DataType::Utf8, true),
        Field::new("campaign", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, true),
    ]));
    (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            let rows = start..(start + BATCH).min(ROWS);
            let pick = |list: &[&'static str], i: usize| list[i % list.len()];
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Float64Array::from_iter(rows.clone().map(|i| {
                        (i % 17 != 0).then_some((i % 1000) as f64)
                    }))),
                    Arc::new(Float64Array::from_iter(
                        rows.clone().map(|i| Some((i % 250) as f64)),
                    )),
                    Arc::new(StringArray::from_iter_values(rows.clone().map(|i| {
                        format!(
                            "https://shop.example.com/p/{i}?utm_source={}&utm_medium={}&utm_campaign=winter%20sale#top",
                            pick(SOURCES, i),
                            pick(MEDIUMS, i / 3)
                        )
                    }))),
                    Arc::new(StringArray::from_iter_values(
                        rows.clone().map(|i| pick(SOURCES, i)),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        rows.clone().map(|i| pick(MEDIUMS, i / 3)),
                    )),
                    Arc::new(StringArray::from_iter_values(rows.clone().map(|i| {
                        if i % 5 == 0 { "xmas_shopping" } else { "brand" }
                    }))),
                    Arc::new(StringArray::from_iter_values(rows.map(|i| pick(TEXTS, i)))),
                ],
            )
            .unwrap()
        })
        .collect()
}

fn functions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    register_all(&mut ctx).unwrap();
    let batches = table();
    let provider = MemTable::try_new(batches[0].schema(), vec![batches]).unwrap();
    ctx.register_table("t", Arc::new(provider)).unwrap();

    let mut group = c.benchmark_group("functions_1m_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    for (name, expr) in [
        ("safe_div", "safe_div(a, b)"),
        ("rate", "rate(a, b)"),
        ("engagement_rate", "engagement_rate(a, b)"),
        ("utm_param", "utm_param(url, 'utm_campaign')"),
        ("social_network", "social_network(source)"),
        ("channel_group", "channel_group(source, medium, campaign)"),
        ("sentiment_score", "sentiment_score(text)"),
        ("sentiment_label", "sentiment_label(text)"),
        ("detect_language", "detect_language(text)"),
    ] {
        let sql = format!("SELECT {expr} AS v FROM t");
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                    assert_eq!(
                        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
                        ROWS
                    );
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, functions);
criterion_main!(benches);
