//! The Meta pipelines (`pipelines/facebook.toml`, `pipelines/instagram.toml`) against
//! `chorus sandbox`: they commit every table, rerun incrementally, and never write the token.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{chorus, files_below, output, repo, stderr, stream_summary};

const TOKEN: &str = "EAAsandboxMetaToken0chorus7Zx3";

/// A `chorus sandbox` process, killed when dropped.
pub(crate) struct SandboxProcess {
    child: Child,
    /// The port it listens on.
    pub(crate) port: u16,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `chorus sandbox` on a free port and waits until it answers.
pub(crate) fn start_sandbox() -> SandboxProcess {
    start_sandbox_with(chorus(&repo()), &[])
}

/// Starts `cmd sandbox ARGS` (a `chorus` command, maybe run under faketime) on a free port and
/// waits until it answers.
pub(crate) fn start_sandbox_with(mut cmd: std::process::Command, args: &[&str]) -> SandboxProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = cmd
        .args(["sandbox", "--port", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /_sandbox/requests HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if text.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the sandbox did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    SandboxProcess { child, port }
}

/// Copies `pipelines/{name}.toml` into `dir`, writing to `dir/out`.
pub(crate) fn copy_pipeline(dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("pipelines").join(format!("{name}.toml")))
        .unwrap()
        .replace(&format!("../out/{name}"), "out");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a copied pipeline against the sandbox twice; returns the two summaries.
fn run_twice(name: &str) -> (tempfile::TempDir, serde_json::Value, serde_json::Value) {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path(), name);
    let mut summaries = Vec::new();
    for run in ["first.json", "second.json"] {
        let out = output(
            chorus(dir.path())
                .arg("run")
                .arg(&pipeline)
                .args(["--summary-json", run])
                .env(
                    "META_GRAPH_URL",
                    format!("http://127.0.0.1:{}/meta", sb.port),
                )
                .env("META_ACCESS_TOKEN", TOKEN),
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains(TOKEN), "{}", stderr(&out));
        let text = std::fs::read_to_string(dir.path().join(run)).unwrap();
        assert!(!text.contains(TOKEN));
        summaries.push(serde_json::from_str(&text).unwrap());
    }
    for file in files_below(&dir.path().join("out")) {
        let bytes = std::fs::read(dir.path().join("out").join(&file)).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {file}"
        );
    }
    let second = summaries.pop().unwrap();
    let first = summaries.pop().unwrap();
    (dir, first, second)
}

#[test]
fn the_facebook_pipeline_runs_against_the_sandbox() {
    let (dir, first, second) = run_twice("facebook");
    let rows = |s: &serde_json::Value, id: &str| stream_summary(s, id)["rows"].as_u64().unwrap();
    for id in [
        "brand.page",
        "brand.posts",
        "brand.post_insights",
        "brand.page_insights",
        "ads.ads_insights",
        "ads.campaigns",
        "ads.adsets",
        "ads.ads",
    ] {
        assert!(rows(&first, id) > 0, "{id} read nothing: {first}");
        let table = dir.path().join("out").join(id.replace('.', "__"));
        assert!(
            files_below(&table).iter().any(|f| f.ends_with(".parquet")),
            "{id} has no Parquet"
        );
    }
    // The second run re-reads only the lookback (28 days) of the insights.
    assert!(rows(&second, "brand.page_insights") < rows(&first, "brand.page_insights"));
    assert!(rows(&second, "ads.ads_insights") < rows(&first, "ads.ads_insights"));
}

#[test]
fn the_instagram_pipeline_runs_against_the_sandbox() {
    let (dir, first, _) = run_twice("instagram");
    for id in [
        "ig.account",
        "ig.media",
        "ig.media_insights",
        "ig.account_insights",
        "ig.tags",
    ] {
        assert!(
            stream_summary(&first, id)["rows"].as_u64().unwrap() > 0,
            "{id} read nothing: {first}"
        );
        let table = dir.path().join("out").join(id.replace('.', "__"));
        assert!(
            files_below(&table).iter().any(|f| f.ends_with(".parquet")),
            "{id}"
        );
    }
}

#[test]
fn a_bad_token_fails_the_run_with_exit_77_and_never_shows() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = copy_pipeline(dir.path(), "instagram");
    let bad = "EAAwrongTokenForTheTest42";
    let out = output(
        chorus(dir.path())
            .arg("run")
            .arg(&pipeline)
            .env(
                "META_GRAPH_URL",
                format!("http://127.0.0.1:{}/meta", sb.port),
            )
            .env("META_ACCESS_TOKEN", bad),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(
        err.contains("the access token is invalid or expired (#190)"),
        "{err}"
    );
    assert!(err.contains("create a new token"), "{err}");
    assert!(!err.contains(bad), "{err}");
    let parquet = files_below(&dir.path().join("out"))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .count();
    assert_eq!(parquet, 0, "nothing is published");
}
