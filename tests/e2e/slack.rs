//! The Slack pipeline (`pipelines/community.toml`) against `chorus sandbox`: it commits every
//! table and the community KPIs, rereads only what is new, and a refused token ends the run
//! with exit 77 and a fix-it message, never the token.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::meta::start_sandbox;
use crate::util::{
    chorus, files_below, output, repo, stderr, stream_summary, table_columns, table_rows,
};

const TOKEN: &str = "xoxb-1000000001-2000000002-chorusSandboxSlackToken7";
const REVOKED: &str = "xoxb-1000000001-2000000004-chorusRevokedToken9";

/// The pipeline, writing under `dir/out`, paced for the sandbox (which does not enforce
/// Slack's one request a minute).
fn copy_pipeline(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("pipelines/community.toml"))
        .unwrap()
        .replace("../out/community", "out")
        .replace(
            "history_requests_per_minute = 1",
            "history_requests_per_minute = 600000",
        )
        .replace(
            "replies_requests_per_minute = 1",
            "replies_requests_per_minute = 600000",
        );
    let path = dir.join("community.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, pipeline: &Path, port: u16, token: &str, summary: &str) -> std::process::Output {
    output(
        chorus(dir)
            .arg("run")
            .arg(pipeline)
            .args(["--summary-json", summary])
            .env(
                "SLACK_API_URL",
                format!("http://127.0.0.1:{port}/slack/api"),
            )
            .env("SLACK_BOT_TOKEN", token),
    )
}

/// Per UTC day since the start: the people posting (messages, broadcasts and thread replies
/// by members who are not bots) and their posts, in the channels the bot reads.
fn community_truth(truth: &chorus_sandbox::Truth) -> BTreeMap<String, (usize, usize)> {
    // The pipeline's `start_date = "120daysAgo"`.
    let start = crate::util::days_ago(120)
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    let people: BTreeSet<&str> = truth
        .slack
        .users
        .iter()
        .filter(|u| !u.is_bot && u.id != "USLACKBOT")
        .map(|u| u.id.as_str())
        .collect();
    let mut days: BTreeMap<String, (BTreeSet<String>, usize)> = BTreeMap::new();
    let mut post = |micros: i64, user: &str| {
        if !people.contains(user) {
            return;
        }
        let day = chrono::DateTime::from_timestamp_micros(micros)
            .unwrap()
            .date_naive()
            .to_string();
        let entry = days.entry(day).or_default();
        entry.0.insert(user.to_owned());
        entry.1 += 1;
    };
    for channel in truth
        .slack
        .channels
        .iter()
        .filter(|c| c.is_member && !c.is_archived)
    {
        for m in channel.messages.iter().filter(|m| m.micros() >= start) {
            if let Some(user) = &m.user
                && matches!(m.subtype.as_deref(), None | Some("thread_broadcast"))
            {
                post(m.micros(), user);
            }
            for r in &m.replies {
                if let Some(user) = &r.user
                    && r.subtype.is_none()
                {
                    post(r.micros(), user);
                }
            }
        }
    }
    days.into_iter()
        .map(|(day, (people, posts))| (day, (people.len(), posts)))
        .collect()
}

#[test]
fn the_community_pipeline_runs_against_the_sandbox() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path());
    let mut summaries = Vec::new();
    for name in ["first.json", "second.json"] {
        let out = run(dir.path(), &pipeline, sb.port, TOKEN, name);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains(TOKEN), "{}", stderr(&out));
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(!text.contains(TOKEN));
        summaries.push(serde_json::from_str::<serde_json::Value>(&text).unwrap());
    }
    let rows = |s: &serde_json::Value, id: &str| stream_summary(s, id)["rows"].as_u64().unwrap();
    let (first, second) = (&summaries[0], &summaries[1]);
    for id in [
        "community.channels",
        "community.users",
        "community.messages",
        "community.threads",
    ] {
        assert!(rows(first, id) > 0, "{id} read nothing: {first}");
    }
    // The second run reads no message twice, and only the threads of the lookback.
    assert_eq!(rows(second, "community.messages"), 0, "{second}");
    assert!(rows(second, "community.threads") < rows(first, "community.threads"));
    let out = dir.path().join("out");
    for table in [
        "community__channels",
        "community__users",
        "community__messages",
        "community__threads",
        "community_daily",
        "thread_participation",
    ] {
        assert!(
            files_below(&out.join(table))
                .iter()
                .any(|f| f.ends_with(".parquet")),
            "{table} has no Parquet"
        );
    }
    for file in files_below(&out) {
        let bytes = std::fs::read(out.join(&file)).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {file}"
        );
    }
    // Daily active members and their messages equal the sandbox's truth.
    let want = community_truth(&chorus_sandbox::Truth::new(0, 1));
    let got: BTreeMap<String, (usize, usize)> = table_columns(
        &out.join("community_daily"),
        &["day", "active_members", "messages"],
    )
    .into_iter()
    .map(|r| (r[0].clone(), (r[1].parse().unwrap(), r[2].parse().unwrap())))
    .collect();
    assert_eq!(got, want);
    // day|active_members|messages|messages_per_active_member (after the partition and _source)
    let daily = table_rows(&out.join("community_daily"));
    assert!(daily.len() > 30, "{}", daily.len());
    for row in &daily {
        let cols: Vec<&str> = row.split('|').collect();
        let active: f64 = cols[2].parse().unwrap();
        let messages: f64 = cols[3].parse().unwrap();
        let per: f64 = cols[4].parse().unwrap();
        assert!(
            active >= 1.0 && (per - messages / active).abs() < 1e-9,
            "{row}"
        );
    }
    let threads = table_rows(&out.join("thread_participation"));
    assert!(
        threads.iter().any(|r| r.split('|').nth(3) != Some("0")),
        "{threads:?}"
    );
}

#[test]
fn a_revoked_token_fails_the_run_with_exit_77_and_never_shows() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path());
    let out = run(dir.path(), &pipeline, sb.port, REVOKED, "summary.json");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("Slack refused the token (token_revoked)"),
        "{err}"
    );
    assert!(err.contains("create a new bot token"), "{err}");
    assert!(!err.contains(REVOKED), "{err}");
    let summary = std::fs::read_to_string(dir.path().join("summary.json")).unwrap_or_default();
    assert!(!summary.contains(REVOKED));
    let parquet = files_below(&dir.path().join("out"))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .count();
    assert_eq!(parquet, 0, "nothing is published");
}
