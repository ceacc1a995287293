//! Helpers of the KPI pipeline tests (`brand_awareness`, `engagement`, `listening`,
//! `traffic_conversions`): run a copied pipeline against `chorus sandbox` with every platform's
//! credentials set, and read a mart's columns as numbers.

use std::collections::BTreeMap;
use std::path::Path;

use crate::ga4::key_json;
use crate::util::{chorus, output, stderr, table_columns};

/// The sandbox's Meta access token.
pub(crate) const META_TOKEN: &str = "EAAsandboxMetaToken0chorus7Zx3";
/// The sandbox's X bearer token.
pub(crate) const X_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAChorusSandboxX%2Fbearer0token7Qw2";

/// Runs `dir/<name>.toml` against the sandbox on `port`; fails the test unless it exits 0.
pub(crate) fn run_pipeline(dir: &Path, name: &str, port: u16) {
    let out = output(
        chorus(dir)
            .arg("run")
            .arg(dir.join(format!("{name}.toml")))
            .env("META_GRAPH_URL", format!("http://127.0.0.1:{port}/meta"))
            .env("META_ACCESS_TOKEN", META_TOKEN)
            .env("X_API_URL", format!("http://127.0.0.1:{port}/x"))
            .env("X_BEARER_TOKEN", X_TOKEN)
            .env("GA4_API_URL", format!("http://127.0.0.1:{port}/ga4"))
            .env("GA4_CREDENTIALS_JSON", key_json(port)),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains(META_TOKEN) && !err.contains(X_TOKEN), "{err}");
}

/// A cell as a number; `None` for NULL (an empty cell).
pub(crate) fn num(cell: &str) -> Option<f64> {
    (!cell.is_empty()).then(|| {
        cell.parse::<f64>()
            .unwrap_or_else(|e| panic!("{cell:?}: {e}"))
    })
}

/// Whether two numbers agree to a relative 1e-9 (sums of floats in another order).
pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// A mart's rows keyed by the text of its first `key_len` columns, the other columns as
/// numbers.
pub(crate) fn keyed(
    table: &Path,
    columns: &[&str],
    key_len: usize,
) -> BTreeMap<Vec<String>, Vec<Option<f64>>> {
    let mut rows = BTreeMap::new();
    for r in table_columns(table, columns) {
        let key = r[..key_len].to_vec();
        let values = r[key_len..].iter().map(|c| num(c)).collect();
        assert!(
            rows.insert(key.clone(), values).is_none(),
            "{key:?} twice in {}",
            table.display()
        );
    }
    rows
}
