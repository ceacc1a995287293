//! Where a sink's files go, relative to its root.
//!
//! ```text
//! <table>/[dt=YYYY-MM-DD/]part-<run_id>-<n>.parquet     published files, what readers see
//! _chorus/staging/<run_id>/<table>/[dt=…/]part-….parquet  files written but not yet published
//! _chorus/commits/…                                      the runner's commit log and state
//! ```

use object_store::path::Path;

/// The folder of the sink's own bookkeeping, ignored by readers of the tables.
pub const CHORUS_DIR: &str = "_chorus";

/// The Hive partition value used for rows whose partition column is NULL.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The default table name of an input: `brand.posts` → `brand__posts`.
pub fn default_table_name(input: &str) -> String {
    input.replace('.', "__")
}

/// The folder holding every run's staging.
pub fn staging_root() -> Path {
    Path::from_iter([CHORUS_DIR, "staging"])
}

/// The name of the `n`-th file a run writes to a table.
pub fn file_name(run_id: &str, n: u64) -> String {
    format!("part-{run_id}-{n:05}.parquet")
}

/// The path of a published file relative to the sink root.
pub fn published_path(table: &str, partition: Option<&str>, file: &str) -> Path {
    match partition {
        Some(p) => Path::from_iter([table, &format!("dt={p}"), file]),
        None => Path::from_iter([table, file]),
    }
}

/// The path of a staged file relative to the sink root.
pub fn staged_path(run_id: &str, table: &str, partition: Option<&str>, file: &str) -> Path {
    let mut parts = vec![
        CHORUS_DIR.to_owned(),
        "staging".into(),
        run_id.into(),
        table.into(),
    ];
    if let Some(p) = partition {
        parts.push(format!("dt={p}"));
    }
    parts.push(file.into());
    Path::from_iter(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_hive_layout() {
        assert_eq!(default_table_name("brand.posts"), "brand__posts");
        assert_eq!(
            published_path("t", Some("2024-01-02"), "part-r-00001.parquet").as_ref(),
            "t/dt=2024-01-02/part-r-00001.parquet"
        );
        assert_eq!(
            staged_path("r1", "t", None, "f.parquet").as_ref(),
            "_chorus/staging/r1/t/f.parquet"
        );
    }
}
