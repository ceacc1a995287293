//! Test support for object storage: a local S3 server (moto in server mode, on loopback).
//!
//! [`s3`] returns the server every test of a process shares. `.ci/run` starts one and exports
//! `CHORUS_TEST_S3_ENDPOINT`; without it, the first call starts `python3 -m moto.server` on a
//! free port (it stops when the test process exits), and fails with how to install moto when
//! it is missing — tests never skip silently. moto checks no signature, so the helpers here
//! speak plain HTTP to it for what `object_store` cannot do (create a bucket, list multipart
//! uploads).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support fails the test loudly"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

/// The variable naming an S3-compatible server for the tests (`http://127.0.0.1:PORT`).
pub const ENDPOINT_VAR: &str = "CHORUS_TEST_S3_ENDPOINT";

/// The local S3 server of the tests.
#[derive(Debug)]
pub struct S3Server {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server started by this process, kept alive until it exits (its stdin closing then
    /// stops it).
    _child: Option<Mutex<(Child, ChildStdin)>>,
}

static SERVER: OnceLock<S3Server> = OnceLock::new();

/// The shared local S3 server, started on first use when `CHORUS_TEST_S3_ENDPOINT` is unset.
pub fn s3() -> &'static S3Server {
    SERVER.get_or_init(|| match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.is_empty() => {
            let server = S3Server {
                endpoint: endpoint.trim_end_matches('/').to_owned(),
                _child: None,
            };
            server.wait_ready(Duration::from_secs(30));
            server
        }
        _ => start_moto(),
    })
}

fn start_moto() -> S3Server {
    let has_module = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_module,
        "the object-storage tests need a local S3 server: install moto with `python3 -m pip install 'moto[server]'` (as .ci/run does), or set {ENDPOINT_VAR} to an S3-compatible server on 127.0.0.1"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The shell stops moto when our end of its stdin closes, i.e. when this process exits.
    let script = format!(
        "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts moto");
    let stdin = child.stdin.take().expect("piped stdin");
    let server = S3Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: Some(Mutex::new((child, stdin))),
    };
    server.wait_ready(Duration::from_secs(60));
    server
}

impl S3Server {
    fn port_and_host(&self) -> (String, u16) {
        let rest = self
            .endpoint
            .strip_prefix("http://")
            .expect("the test S3 endpoint is http://host:port");
        let (host, port) = rest.rsplit_once(':').expect("the endpoint has a port");
        (host.to_owned(), port.parse().expect("a numeric port"))
    }

    fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((status, _)) = self.try_request("GET", "/")
                && status < 500
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the local S3 server at {} did not answer within {timeout:?}",
                self.endpoint
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn try_request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let (host, port) = self.port_and_host();
        let mut s = TcpStream::connect((host.as_str(), port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Sends an unsigned request (moto does not check signatures); returns status and body.
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        self.try_request(method, path)
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.endpoint))
    }

    /// Creates a bucket with a fresh name (`<stem>-<n>`) and returns its name.
    pub fn bucket(&self, stem: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{stem}-{}-{n}", std::process::id());
        let (status, body) = self.request("PUT", &format!("/{name}"));
        assert_eq!(status, 200, "creating bucket {name}: {body}");
        name
    }

    /// The keys of the multipart uploads in progress in a bucket.
    pub fn multipart_uploads(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{bucket}?uploads"));
        assert_eq!(status, 200, "listing uploads of {bucket}: {body}");
        xml_values(&body, "Key")
    }

    /// Every key in a bucket (up to 1,000), sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{bucket}?list-type=2"));
        assert_eq!(status, 200, "listing {bucket}: {body}");
        let mut keys = xml_values(&body, "Key");
        keys.sort();
        keys
    }

    /// The environment a `chorus` process needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// An `object_store` client for a bucket of this server.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_access_key_id("testing")
                .with_secret_access_key("testing")
                .with_region("us-east-1")
                .with_bucket_name(bucket)
                .build()
                .unwrap(),
        )
    }
}

fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.to_owned()))
        .collect()
}
