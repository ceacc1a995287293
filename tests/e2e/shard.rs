//! `chorus run --shard i/n`: n workers that share one output read every account exactly once,
//! commit independently, and together write what one unsharded run writes; `--marts-only`
//! then builds the marts over all of it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use chorus_sandbox::platforms::{freshdesk, slack, x, zendesk};

use crate::ga4::key_json;
use crate::kpi::META_TOKEN;
use crate::meta::start_sandbox;
use crate::util::{chorus, copy_pipeline, files_below, output, stderr, table_columns, table_rows};

const SHARDS: u32 = 4;

const TABLES: &[&str] = &[
    "brand__page",
    "brand__posts",
    "ig__account",
    "ig__media",
    "x__users",
    "x__tweets",
    "x__mentions",
    "x__search",
    "community__channels",
    "community__users",
    "community__messages",
    "community__threads",
    "zd__tickets",
    "fd__tickets",
];

/// The credentials and URLs of every platform of the sandbox on `port`.
pub(crate) fn sandbox_env(port: u16) -> Vec<(&'static str, String)> {
    let base = format!("http://127.0.0.1:{port}");
    vec![
        ("META_GRAPH_URL", format!("{base}/meta")),
        ("META_ACCESS_TOKEN", META_TOKEN.to_owned()),
        ("X_API_URL", format!("{base}/x")),
        ("X_BEARER_TOKEN", x::TOKEN.to_owned()),
        ("GA4_API_URL", format!("{base}/ga4")),
        ("GA4_CREDENTIALS_JSON", key_json(port)),
        ("SLACK_API_URL", format!("{base}/slack/api")),
        ("SLACK_BOT_TOKEN", slack::TOKEN.to_owned()),
        ("ZENDESK_API_URL", format!("{base}/zendesk")),
        ("ZENDESK_API_TOKEN", zendesk::API_TOKEN.to_owned()),
        ("FRESHDESK_API_URL", format!("{base}/freshdesk")),
        ("FRESHDESK_API_KEY", freshdesk::API_KEY.to_owned()),
    ]
}

/// `GET` a sandbox control route; the JSON body.
pub(crate) fn control(port: u16, method: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} /_sandbox/{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// The account a data request reads, for the requests that read one account's data; listing
/// calls shared by the workers (user lookups, channel and member lists) have none.
fn account_of(req: &serde_json::Value) -> Option<String> {
    let path = req["path"].as_str()?;
    let params = format!(
        "{}&{}",
        req["query"].as_str().unwrap_or(""),
        req["body"].as_str().unwrap_or("")
    );
    let param = |name: &str| {
        params
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
    };
    if let Some(rest) = path.strip_prefix("/x/2/users/") {
        // `/x/2/users/<id>/tweets|mentions`; `/x/2/users/by` is the shared lookup.
        return rest.split_once('/').map(|(id, _)| format!("x:{id}"));
    }
    if path == "/x/2/tweets/search/recent" {
        return param("query").map(|q| format!("x-search:{q}"));
    }
    if path.ends_with("conversations.history") || path.ends_with("conversations.replies") {
        return param("channel").map(|c| format!("slack:{c}"));
    }
    for (prefix, platform) in [("/zendesk/", "zendesk"), ("/freshdesk/", "freshdesk")] {
        if path.starts_with(prefix) {
            return Some(platform.to_owned());
        }
    }
    // Graph: `/meta/v2x.0/<node>/…`, one node per Page or Instagram account.
    let rest = path.strip_prefix("/meta/")?;
    let node = rest.split('/').nth(1)?;
    Some(format!("meta:{node}"))
}

fn run(dir: &Path, pipeline: &Path, port: u16, args: &[&str]) -> std::process::Command {
    let mut cmd = chorus(dir);
    cmd.arg("run")
        .arg(pipeline)
        .args(args)
        .envs(sandbox_env(port));
    cmd
}

fn snapshot(dir: &Path) -> BTreeMap<&'static str, Vec<String>> {
    TABLES
        .iter()
        .map(|t| (*t, table_rows(&dir.join("out").join(t))))
        .collect()
}

#[test]
fn shards_split_the_accounts_and_together_write_one_runs_output() {
    // The reference: one unsharded run.
    let sb = start_sandbox();
    let whole = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(whole.path(), "sharded");
    let out = output(&mut run(whole.path(), &pipeline, sb.port, &[]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = snapshot(whole.path());
    for (t, rows) in &expected {
        assert!(!rows.is_empty(), "the unsharded run wrote nothing to {t}");
    }
    let requests = control(sb.port, "GET", "requests");
    let all_accounts: BTreeSet<String> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter_map(account_of)
        .collect();
    assert!(all_accounts.len() >= 10, "{all_accounts:?}");

    // Shards one after another, to see which reads what: each account by exactly one shard.
    let sb = start_sandbox();
    let split = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(split.path(), "sharded");
    let mut owner: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..SHARDS {
        control(sb.port, "DELETE", "requests");
        let shard = format!("{i}/{SHARDS}");
        let out = output(&mut run(
            split.path(),
            &pipeline,
            sb.port,
            &["--shard", &shard],
        ));
        assert_eq!(out.status.code(), Some(0), "{shard}: {}", stderr(&out));
        let read: BTreeSet<String> = control(sb.port, "GET", "requests")
            .as_array()
            .unwrap()
            .iter()
            .filter_map(account_of)
            .collect();
        for account in read {
            if let Some(other) = owner.insert(account.clone(), i) {
                panic!("{account} was read by shard {other} and shard {i}");
            }
        }
    }
    let shared: BTreeSet<String> = owner.keys().cloned().collect();
    assert_eq!(
        shared, all_accounts,
        "the shards did not read every account"
    );
    let used: BTreeSet<u32> = owner.values().copied().collect();
    assert!(
        used.len() >= 3,
        "the accounts went to too few shards: {owner:?}"
    );
    assert_eq!(snapshot(split.path()), expected);
    // Each shard kept a log of its own; the unsharded log is untouched.
    let state = files_below(&split.path().join("out/_chorus"));
    for i in 0..SHARDS {
        assert!(
            state
                .iter()
                .any(|f| f.starts_with(&format!("shards/{i}-of-{SHARDS}/commits/"))),
            "{state:?}"
        );
    }
    assert!(
        !state.iter().any(|f| f.starts_with("commits/")),
        "{state:?}"
    );
    assert!(
        !state.iter().any(|f| f.starts_with("staging/")),
        "{state:?}"
    );
    // The marts are not built by the workers, only by --marts-only.
    assert!(!split.path().join("out/x_posts_per_account").exists());

    // All shards at once into one output: the same rows, and marts over all of them.
    let together = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(together.path(), "sharded");
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            run(
                together.path(),
                &pipeline,
                sb.port,
                &["--shard", &format!("{i}/{SHARDS}")],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "shard {i}: {}", stderr(&out));
    }
    assert_eq!(snapshot(together.path()), expected);
    let out = output(&mut run(
        together.path(),
        &pipeline,
        sb.port,
        &["--marts-only"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let marts = table_columns(
        &together.path().join("out/x_posts_per_account"),
        &["kind", "account", "posts"],
    );
    let kinds: BTreeSet<&str> = marts.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["account", "query"]));
    let queries: BTreeMap<&str, u64> = marts
        .iter()
        .filter(|r| r[0] == "query")
        .map(|r| (r[1].as_str(), r[2].parse().unwrap()))
        .collect();
    let expected_search: BTreeMap<String, u64> = {
        let mut counts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in table_columns(&whole.path().join("out/x__search"), &["query_name", "id"]) {
            counts.entry(r[0].clone()).or_default().insert(r[1].clone());
        }
        counts
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect()
    };
    assert_eq!(
        queries,
        expected_search
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<BTreeMap<_, _>>()
    );
}

#[test]
fn a_sink_that_rewrites_files_refuses_shards() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path(), "sharded");
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("mode = \"append\"", "mode = \"merge\"");
    std::fs::write(&pipeline, text).unwrap();
    let out = output(&mut run(dir.path(), &pipeline, 9, &["--shard", "1/4"]));
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot take several --shard workers"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("out/x__tweets").exists());
    for bad in ["4/4", "1", "x/4"] {
        let out = output(&mut run(dir.path(), &pipeline, 9, &["--shard", bad]));
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }
}
