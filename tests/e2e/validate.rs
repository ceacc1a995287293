//! Every invalid pipeline under `tests/validate/` fails `validate` and `run` with exit 78, the
//! exact message in its snapshot, no network call, and nothing written.

use std::path::Path;

use crate::util::{chorus, output, repo, stderr};

/// Environment a case asks for in a leading `# env: NAME=value` line (`\n` for a newline).
fn case_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# env: "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("\\n", "\n")))
        .collect()
}

#[test]
fn every_invalid_pipeline_is_refused_with_its_message() {
    let root = repo();
    let dir = root.join("tests/validate");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 60,
        "only {} invalid-pipeline cases",
        cases.len()
    );
    // Every HTTP client honours the proxy variables: a call anywhere would land here.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let proxy = format!("http://{}", trap.local_addr().unwrap());
    for case in &cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let rel = Path::new("tests/validate").join(case.file_name().unwrap());
        let env = case_env(&std::fs::read_to_string(case).unwrap());
        for command in ["validate", "run"] {
            let mut cmd = chorus(&root);
            cmd.arg(command)
                .arg(&rel)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env_remove("NO_PROXY")
                .env_remove("no_proxy");
            for var in [
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "ALL_PROXY",
                "http_proxy",
                "https_proxy",
            ] {
                cmd.env(var, &proxy);
            }
            let out = output(&mut cmd);
            assert_eq!(
                out.status.code(),
                Some(78),
                "{name} ({command}): {}",
                stderr(&out)
            );
            assert!(
                out.stdout.is_empty(),
                "{name} ({command}) printed to stdout"
            );
            if command == "validate" {
                insta::assert_snapshot!(name.as_str(), stderr(&out));
            } else {
                assert_eq!(stderr(&out), {
                    let mut v = chorus(&root);
                    v.arg("validate")
                        .arg(&rel)
                        .envs(env.iter().map(|(k, v)| (k, v)));
                    stderr(&output(&mut v))
                });
            }
        }
    }
    assert!(
        !dir.join("out").exists(),
        "an invalid pipeline wrote output"
    );
    assert!(
        trap.accept().is_err(),
        "an invalid pipeline made a network call"
    );
}

#[test]
fn a_missing_pipeline_file_is_a_config_error() {
    let out = output(chorus(&repo()).args(["validate", "tests/validate/nope.toml"]));
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).starts_with("error: cannot read pipeline file tests/validate/nope.toml:"));
}

#[test]
fn bad_flags_are_usage_errors() {
    let root = repo();
    let out =
        output(chorus(&root).args(["run", "pipelines/files_demo.toml", "--start", "yesterday"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("neither a date"), "{}", stderr(&out));
    let out =
        output(chorus(&root).args(["run", "pipelines/files_demo.toml", "--select", "nothing.*"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("matches no stream or transform"),
        "{}",
        stderr(&out)
    );
    let out = output(chorus(&root).args(["frobnicate"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_reader_closing_the_pipe_early_is_not_a_crash() {
    let mut child = chorus(&repo())
        .arg("connectors")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before chorus writes: its writes fail with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{:?} {err}",
        out.status
    );
}
