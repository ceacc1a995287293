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

/// Why `name` cannot be a table (folder) name, or `None` if it can.
///
/// A table name is one folder under the sink's root, so it is `[a-z0-9_]+`: no `/`, `\`, `..`,
/// drive letter, NUL or dot, so it cannot leave the root. It must not start with `_`: `_chorus/`
/// holds the commit log and staging, `_rejects/` the rejected rows, and query engines (Spark,
/// Hive, Trino, DuckDB's hive partitioning) skip folders starting with `_` or `.`.
pub fn table_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > 200 {
        return Some(format!("it is {} bytes long; the limit is 200", name.len()));
    }
    if name.contains(['/', '\\']) {
        return Some("it contains a path separator".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        let what = match c {
            '/' | '\\' => "a path separator".to_owned(),
            '.' => "a dot".to_owned(),
            '\0' => "a NUL byte".to_owned(),
            ':' => "a colon (a drive letter or scheme)".to_owned(),
            c if c.is_ascii_uppercase() => format!("the capital letter {c}"),
            c if c.is_control() || c.is_whitespace() => {
                format!("the character U+{:04X}", u32::from(c))
            }
            c => format!("the character {c:?}"),
        };
        return Some(format!("it contains {what}"));
    }
    if name.starts_with('_') {
        return Some(if name.starts_with(CHORUS_DIR) {
            format!("it would write into {CHORUS_DIR}/, chorus's commit log and staging")
        } else {
            "it starts with _, which query engines skip and chorus reserves (_chorus, _rejects)"
                .into()
        });
    }
    None
}

/// Whether a partition label made from data is one plain folder-name segment.
pub fn is_safe_segment(label: &str) -> bool {
    !label.is_empty()
        && label != "."
        && label != ".."
        && !label
            .chars()
            .any(|c| matches!(c, '/' | '\\' | ':' | '\0') || c.is_control())
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
pub(crate) mod tests {
    use super::*;

    /// Table names that could escape the sink's root or hit its bookkeeping, each with a word
    /// of the reason given.
    pub(crate) const REFUSED_TABLES: &[(&str, &str)] = &[
        ("../x", "path separator"),
        ("..", "dot"),
        (".", "dot"),
        ("a/../../b", "path separator"),
        ("/etc/cron_d", "path separator"),
        ("/abs", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..\\..\\win", "path separator"),
        ("c:\\windows", "path separator"),
        ("c:", "colon"),
        ("C:x", "capital letter C"),
        ("a\0b", "NUL"),
        ("", "empty"),
        ("_chorus", "commit log"),
        ("_chorus_x", "commit log"),
        ("_rejects", "starts with _"),
        ("_tmp", "starts with _"),
        (".hidden", "dot"),
        ("a.b", "dot"),
        ("a b", "U+0020"),
        ("a\nb", "U+000A"),
        ("~root", "'~'"),
        ("%2e%2e", "'%'"),
        ("dt=2024", "'='"),
        ("Posts", "capital letter P"),
        ("caf\u{e9}", "'\u{e9}'"),
        ("file:///x", "path separator"),
        ("s3:bucket", "colon"),
    ];

    #[test]
    fn table_names_that_escape_are_refused() {
        assert!(REFUSED_TABLES.len() >= 29, "{}", REFUSED_TABLES.len());
        for (name, word) in REFUSED_TABLES {
            let problem = table_name_problem(name).unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(
                problem.contains(word),
                "{name:?}: {problem} should say {word}"
            );
        }
        let long = "a".repeat(201);
        assert!(table_name_problem(&long).is_some_and(|p| p.contains("limit is 200")));
        for ok in ["posts", "brand__posts", "kpi_2024", "a_", "x1"] {
            assert_eq!(table_name_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn partition_labels_are_single_segments() {
        for bad in ["", ".", "..", "a/b", "..\\x", "c:", "a\0"] {
            assert!(!is_safe_segment(bad), "{bad:?}");
        }
        for ok in ["2024-01-02", NULL_PARTITION, "-0001-01-01", "+10000-01-01"] {
            assert!(is_safe_segment(ok), "{ok:?}");
        }
    }

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
