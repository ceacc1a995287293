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

/// Whether the staging folder of run `run_id` belongs to the worker of `shard`: a `--shard i/n`
/// worker's run ids end in `-shard<i>of<n>` (see [`shard_suffix`]), so workers sharing an output
/// clean up only their own staging.
pub fn in_lane(run_id: &str, shard: chorus_core::Shard) -> bool {
    match run_id.rsplit_once("-shard") {
        Some((_, lane)) => shard.is_split() && lane == lane_name(shard),
        None => !shard.is_split(),
    }
}

/// The suffix of the run ids of a `--shard` worker; empty for an unsharded run.
pub fn shard_suffix(shard: chorus_core::Shard) -> String {
    if shard.is_split() {
        format!("-shard{}", lane_name(shard))
    } else {
        String::new()
    }
}

fn lane_name(shard: chorus_core::Shard) -> String {
    format!("{}of{}", shard.index(), shard.count())
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

    #[test]
    fn each_worker_owns_the_staging_of_its_own_runs() {
        use chorus_core::Shard;
        let (s1, s2) = (Shard::new(1, 4).unwrap(), Shard::new(2, 4).unwrap());
        let run = format!("20261124T000000Z-abc123{}", shard_suffix(s1));
        assert!(in_lane(&run, s1));
        assert!(!in_lane(&run, s2));
        assert!(!in_lane(&run, Shard::ALL));
        assert!(in_lane("20261124T000000Z-abc123", Shard::ALL));
        assert!(in_lane("20261124T000000Z-abc123-marts", Shard::ALL));
        assert!(!in_lane("20261124T000000Z-abc123", s1));
        assert_eq!(shard_suffix(Shard::ALL), "");
    }
}
