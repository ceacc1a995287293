//! Canary credentials in every secret field never show: not in text or JSON logs, error
//! messages, the run summary, the state or the Parquet files, along every way a run can fail —
//! credentials refused, a server that echoes the request (URL and headers) into a 500, an HTML
//! error page or a broken JSON body, timeouts, refused connections.

use std::net::TcpListener;

use crate::meta::start_sandbox;
use crate::util::{chorus, fake_server, files_below, output, stderr, stdout, table_rows};

/// How the fake server answers every request; the answers carry the whole request back.
#[derive(Debug, Clone, Copy)]
enum Echo {
    /// HTTP 500 whose body is the request.
    Status500,
    /// HTTP 502 with an HTML page quoting the request.
    Html,
    /// HTTP 200 with JSON cut off in the middle of the request's text.
    BrokenJson,
    /// HTTP 401 whose body is the request.
    Refused,
    /// Reads the request and never answers.
    Hang,
}

/// Serves `echo` on a free port until the test process ends.
fn echo_server(echo: Echo) -> u16 {
    fake_server(move |head| {
        let request = head.replace('"', "'");
        let (status, kind, body) = match echo {
            Echo::Status500 => ("500 Internal Server Error", "text/plain", request),
            Echo::Html => (
                "502 Bad Gateway",
                "text/html",
                format!("<html><body><h1>502</h1><pre>{request}</pre></body></html>"),
            ),
            Echo::BrokenJson => (
                "200 OK",
                "application/json",
                format!("{{\"data\": [{{\"id\": \"1\", \"message\": \"{request}"),
            ),
            Echo::Refused => ("401 Unauthorized", "application/json", request),
            Echo::Hang => return None,
        };
        Some((status.to_owned(), kind.to_owned(), body))
    })
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One source of a pipeline: its settings (with `{base}` for the API's URL) and the
/// environment variable its secret comes from.
struct Platform {
    name: &'static str,
    source: &'static str,
    /// Path under the sandbox for the base URL.
    prefix: &'static str,
    stream: &'static str,
    variable: &'static str,
    canary: &'static str,
    /// How the secret travels besides as itself (Basic credentials), for the search.
    encoded: Option<&'static str>,
}

const PLATFORMS: &[Platform] = &[
    Platform {
        name: "facebook_pages",
        source: "type = \"facebook_pages\"\npage_id = \"104857392018475\"\naccess_token = \"${CANARY}\"\nstart_date = \"90daysAgo\"",
        prefix: "/meta",
        stream: "posts",
        variable: "CANARY",
        canary: "EAAcanaryPagesToken0chorusZ9q1w2e3r4",
        encoded: None,
    },
    Platform {
        name: "instagram",
        source: "type = \"instagram\"\nig_user_id = \"17841400123456789\"\naccess_token = \"${CANARY}\"\nstart_date = \"90daysAgo\"",
        prefix: "/meta",
        stream: "media",
        variable: "CANARY",
        canary: "EAAcanaryInstagramToken0chorusK8j7h6",
        encoded: None,
    },
    Platform {
        name: "facebook_ads",
        source: "type = \"facebook_ads\"\naccount_id = \"act_1029384756\"\naccess_token = \"${CANARY}\"\nstart_date = \"90daysAgo\"",
        prefix: "/meta",
        stream: "campaigns",
        variable: "CANARY",
        canary: "EAAcanaryAdsToken0chorusP0o9i8u7y6",
        encoded: None,
    },
    Platform {
        name: "twitter",
        source: "type = \"twitter\"\nbearer_token = \"${CANARY}\"\nusernames = [\"acme\"]",
        prefix: "/x",
        stream: "tweets",
        variable: "CANARY",
        canary: "AAAAAAAAAAAAAAAAAAAAAcanaryX0chorus%2FQ1w2E3r4",
        encoded: None,
    },
    Platform {
        name: "slack",
        source: "type = \"slack\"\nbot_token = \"${CANARY}\"\nstart_date = \"90daysAgo\"",
        prefix: "/slack/api",
        stream: "messages",
        variable: "CANARY",
        canary: "xoxb-9-9-canarySlackToken0chorusM5n6",
        encoded: None,
    },
    Platform {
        name: "zendesk",
        source: "type = \"zendesk\"\nsubdomain = \"acme\"\nemail = \"admin@acme-support.example\"\napi_token = \"${CANARY}\"\nstart_date = \"90daysAgo\"",
        prefix: "/zendesk",
        stream: "tickets",
        variable: "CANARY",
        canary: "ZdCanaryToken0chorusT5r4e3w2",
        // base64("admin@acme-support.example/token:ZdCanaryToken0chorusT5r4e3w2")
        encoded: Some(
            "YWRtaW5AYWNtZS1zdXBwb3J0LmV4YW1wbGUvdG9rZW46WmRDYW5hcnlUb2tlbjBjaG9ydXNUNXI0ZTN3Mg==",
        ),
    },
    Platform {
        name: "freshdesk",
        source: "type = \"freshdesk\"\ndomain = \"acme\"\napi_key = \"${CANARY}\"\nstart_date = \"90daysAgo\"",
        prefix: "/freshdesk",
        stream: "tickets",
        variable: "CANARY",
        canary: "FdCanaryKey0chorusB7v6c5",
        // base64("FdCanaryKey0chorusB7v6c5:X")
        encoded: Some("RmRDYW5hcnlLZXkwY2hvcnVzQjd2NmM1Olg="),
    },
];

fn platform(name: &str) -> &'static Platform {
    PLATFORMS.iter().find(|p| p.name == name).unwrap()
}

/// Where a failure path points the source.
enum Server {
    /// The sandbox, which refuses the canary.
    Sandbox(u16),
    /// A fake server.
    Echo(Echo),
    /// Nothing listening.
    Closed,
}

/// Runs `p` against `server` twice (text logs, then JSON logs and a summary) and fails the
/// test if the canary shows anywhere; returns the exit code.
fn assert_never_shows(
    p: &Platform,
    server: &Server,
    path_name: &str,
    env: &[(&str, &str)],
) -> Option<i32> {
    let base = match server {
        Server::Sandbox(port) => format!("http://127.0.0.1:{port}{}", p.prefix),
        Server::Echo(echo) => format!("http://127.0.0.1:{}{}", echo_server(*echo), p.prefix),
        Server::Closed => format!("http://127.0.0.1:{}{}", closed_port(), p.prefix),
    };
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[pipeline]\nname = \"canary\"\n\n[sources.s]\n{}\nbase_url = \"{base}\"\n\n[sinks.lake]\ntype = \"parquet\"\ninputs = [\"s.{}\"]\npath = \"out\"\n",
        p.source, p.stream
    );
    let pipeline = dir.path().join("canary.toml");
    std::fs::write(&pipeline, text).unwrap();
    let needles: Vec<&str> = std::iter::once(p.canary).chain(p.encoded).collect();
    let check = |what: &str, haystack: &str| {
        for needle in &needles {
            assert!(
                !haystack.contains(needle),
                "{} / {path_name}: the secret shows in {what}:\n{haystack}",
                p.name
            );
        }
    };
    let mut code = None;
    for json in [false, true] {
        let mut cmd = chorus(dir.path());
        cmd.args(["--log-level", "debug"]);
        if json {
            cmd.args(["--log-format", "json"]);
        }
        let out = output(
            cmd.arg("run")
                .arg(&pipeline)
                .args(["--summary-json", "summary.json"])
                .env(p.variable, p.canary)
                .env("CHORUS_HTTP_MAX_ATTEMPTS", "2")
                .env("CHORUS_HTTP_BACKOFF_MS", "10")
                .env("CHORUS_HTTP_TIMEOUT_MS", "700")
                .envs(env.iter().copied()),
        );
        assert_ne!(
            out.status.code(),
            Some(0),
            "{} / {path_name}: the run did not fail",
            p.name
        );
        check("stdout", &stdout(&out));
        check("the logs", &stderr(&out));
        code = out.status.code();
    }
    for file in files_below(dir.path()) {
        let full = dir.path().join(&file);
        if file.ends_with(".parquet") {
            continue;
        }
        check(
            &file,
            &String::from_utf8_lossy(&std::fs::read(full).unwrap()),
        );
    }
    let out = dir.path().join("out");
    if out.exists() {
        for table in std::fs::read_dir(&out).unwrap() {
            let table = table.unwrap().path();
            if table.file_name().is_some_and(|n| n != "_chorus") {
                check("the Parquet output", &table_rows(&table).join("\n"));
            }
        }
    }
    code
}

#[test]
fn canary_secrets_never_show_along_any_failure_path() {
    let sb = start_sandbox();
    let mut paths = 0;
    // Credentials refused by each platform: exit 77.
    for p in PLATFORMS {
        let code = assert_never_shows(p, &Server::Sandbox(sb.port), "credentials refused", &[]);
        assert_eq!(code, Some(77), "{}: credentials refused", p.name);
        paths += 1;
    }
    // Servers that echo the request, with its headers and URL, into what they answer: every
    // platform, every way of echoing (a body the platform's own error reader quotes among them).
    for p in PLATFORMS {
        for echo in [Echo::Status500, Echo::Html, Echo::BrokenJson, Echo::Refused] {
            assert_never_shows(p, &Server::Echo(echo), &format!("{echo:?}"), &[]);
            paths += 1;
        }
    }
    for name in ["facebook_pages", "slack"] {
        assert_never_shows(platform(name), &Server::Echo(Echo::Hang), "Hang", &[]);
        paths += 1;
    }
    for name in ["zendesk", "instagram"] {
        assert_never_shows(platform(name), &Server::Closed, "connection refused", &[]);
        paths += 1;
    }
    // A panic while a response that echoes the request is in hand.
    for name in ["twitter", "zendesk"] {
        assert_never_shows(
            platform(name),
            &Server::Echo(Echo::Status500),
            "a panic",
            &[("CHORUS_FAILPOINT", "http.after_response:1:panic")],
        );
        paths += 1;
    }
    eprintln!("secrets: {paths} failure paths, no canary shown");
    assert!(paths >= 41, "{paths} paths");
}
