//! Credentials never leave the API's origin: redirects and next-page URLs to another scheme,
//! host or port are refused with a clear error, and a second listener standing in for the
//! other host records that nothing reached it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema};
use chorus_core::testing::read_all;
use chorus_core::{ErrorKind, ReadContext, Secret, Stream, StreamSpec, SyncMode, Window};
use chorus_http::{
    Auth, ClientConfig, DefaultHook, HttpClient, PageDecoder, Paginator, Request, RestStream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "canary-token-7f3a";

/// What a test server answers to a request line's path.
type Answer = Arc<dyn Fn(&str, u16) -> String + Send + Sync>;

/// A plain HTTP/1.1 server on 127.0.0.1 that records every request head it receives.
struct Server {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&heads);
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                            buf.drain(..end + 4);
                            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                            log.lock().unwrap().push(head);
                            let resp = answer(&path, port);
                            if sock.write_all(resp.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { port, heads }
    }

    /// A server that answers every request with `200 {}` (the "other host").
    async fn sink() -> Self {
        Self::start(Arc::new(|_, _| ok("{\"data\":[]}"))).await
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(location: &str) -> String {
    format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n")
}

fn client(auth: Auth) -> HttpClient {
    let config = ClientConfig {
        retry: chorus_http::RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_total_wait: Duration::from_secs(2),
        },
        timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    };
    HttpClient::new(auth, config, Arc::new(DefaultHook)).unwrap()
}

fn auths() -> Vec<Auth> {
    vec![
        Auth::Bearer(Secret::new(TOKEN)),
        Auth::QueryToken {
            param: "access_token".into(),
            token: Secret::new(TOKEN),
        },
        Auth::Basic {
            user: "u".into(),
            password: Secret::new(TOKEN),
        },
    ]
}

async fn get(c: &HttpClient, url: &str) -> chorus_core::Result<String> {
    c.execute(&Request::get(url), |r| {
        Ok(String::from_utf8_lossy(&r.body).into_owned())
    })
    .await
}

/// The Location the API server sends, given the other server's port and the API's own port.
type Target = fn(u16, u16) -> String;

/// Redirects that leave the origin.
fn refused() -> Vec<(&'static str, Target)> {
    fn another_port(other: u16, _: u16) -> String {
        format!("http://127.0.0.1:{other}/steal")
    }
    fn another_name(_: u16, me: u16) -> String {
        format!("http://localhost:{me}/steal")
    }
    fn another_loopback(_: u16, me: u16) -> String {
        format!("http://127.0.0.2:{me}/steal")
    }
    fn https(_: u16, me: u16) -> String {
        format!("https://127.0.0.1:{me}/steal")
    }
    fn scheme_relative(other: u16, _: u16) -> String {
        format!("//127.0.0.1:{other}/steal")
    }
    fn ftp(other: u16, _: u16) -> String {
        format!("ftp://127.0.0.1:{other}/steal")
    }
    fn file(_: u16, _: u16) -> String {
        "file:///etc/passwd".to_owned()
    }
    fn userinfo(other: u16, me: u16) -> String {
        format!("http://127.0.0.1:{me}@127.0.0.1:{other}/steal")
    }
    vec![
        ("another port", another_port as Target),
        ("another host name for the same address", another_name),
        ("another loopback address", another_loopback),
        ("https on the same host and port", https),
        ("a scheme-relative URL to another port", scheme_relative),
        ("ftp", ftp),
        ("file", file),
        ("userinfo before another port", userinfo),
    ]
}

#[tokio::test]
async fn redirects_off_the_origin_are_refused_and_carry_nothing() {
    let mut cases = 0;
    for (name, target) in refused() {
        for auth in auths() {
            let other = Server::sink().await;
            let other_port = other.port;
            let api = Server::start(Arc::new(move |path, me| {
                if path.starts_with("/start") {
                    redirect(&target(other_port, me))
                } else {
                    ok("{\"data\":[]}")
                }
            }))
            .await;
            let c = client(auth.clone());
            let e = get(&c, &api.url("/start"))
                .await
                .expect_err(&format!("{name}: followed"));
            assert_eq!(e.kind(), ErrorKind::External, "{name}: {e}");
            let msg = e.to_string();
            assert!(
                msg.contains("redirected from http://127.0.0.1:"),
                "{name}: {msg}"
            );
            assert!(msg.contains("set base_url"), "{name}: {msg}");
            assert!(!msg.contains(TOKEN), "{name}: {msg}");
            assert!(other.heads().is_empty(), "{name}: {:?}", other.heads());
            let heads = api.heads();
            assert_eq!(heads.len(), 1, "{name}: retried or followed: {heads:?}");
            assert!(
                heads.iter().all(|h| !h.contains("/steal")),
                "{name}: {heads:?}"
            );
            cases += 1;
        }
    }
    assert!(cases >= 24, "{cases} refused redirect cases");
}

#[tokio::test]
async fn same_origin_redirects_are_followed_with_credentials() {
    // A relative redirect, an absolute one to the same origin, and a chain of three.
    let api = Server::start(Arc::new(|path, me| match path {
        "/relative" => redirect("/done"),
        "/absolute" => redirect(&format!("http://127.0.0.1:{me}/done")),
        "/chain" => redirect("/chain2"),
        "/chain2" => redirect("chain3"),
        "/chain3" => redirect("/done"),
        p if p.starts_with("/loop") => redirect("/loop"),
        _ => ok("{\"ok\":true}"),
    }))
    .await;
    let c = client(Auth::Bearer(Secret::new(TOKEN)));
    for start in ["/relative", "/absolute", "/chain"] {
        let body = get(&c, &api.url(start)).await.unwrap();
        assert_eq!(body, "{\"ok\":true}", "{start}");
    }
    let heads = api.heads();
    assert_eq!(heads.len(), 2 + 2 + 4, "{heads:?}");
    assert!(
        heads
            .iter()
            .all(|h| h.contains(&format!("authorization: Bearer {TOKEN}"))),
        "{heads:?}"
    );
    let e = get(&c, &api.url("/loop")).await.expect_err("a loop ended");
    assert!(e.to_string().contains("more than 5 times"), "{e}");
}

#[tokio::test]
async fn a_redirect_in_the_middle_of_a_chain_to_another_port_stops_there() {
    let other = Server::sink().await;
    let other_port = other.port;
    let api = Server::start(Arc::new(move |path, _| match path {
        "/a" => redirect("/b"),
        _ => redirect(&format!("http://127.0.0.1:{other_port}/steal")),
    }))
    .await;
    let c = client(Auth::Bearer(Secret::new(TOKEN)));
    let e = get(&c, &api.url("/a")).await.expect_err("followed");
    assert!(
        e.to_string()
            .contains(&format!("to http://127.0.0.1:{other_port}")),
        "{e}"
    );
    assert!(other.heads().is_empty());
    assert_eq!(api.heads().len(), 2);
}

fn stream(c: HttpClient, url: String, paginator: Paginator) -> Arc<dyn Stream> {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
    let decoder =
        PageDecoder::new(Arc::clone(&schema), "data", &[], &paginator.captures()).unwrap();
    Arc::new(RestStream {
        spec: StreamSpec {
            name: "items".into(),
            schema,
            primary_key: vec!["id".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: Duration::ZERO,
        },
        client: Arc::new(c),
        request: Request::get(url),
        paginator,
        decoder: Arc::new(decoder),
        window: None,
        max_pages: 100,
    })
}

fn cx() -> ReadContext {
    ReadContext {
        state: None,
        window: Window::default(),
        run_id: "t".into(),
    }
}

#[tokio::test]
async fn next_page_urls_on_another_origin_are_refused() {
    let mut cases = 0;
    for body_next in [true, false] {
        for auth in auths() {
            let other = Server::sink().await;
            let other_port = other.port;
            let api = Server::start(Arc::new(move |_, _| {
                let next = format!("http://127.0.0.1:{other_port}/items?page=2");
                if body_next {
                    ok(&format!(
                        "{{\"data\":[{{\"id\":\"1\"}}],\"paging\":{{\"next\":\"{next}\"}}}}"
                    ))
                } else {
                    let body = "{\"data\":[{\"id\":\"1\"}]}";
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlink: <{next}>; rel=\"next\"\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
            }))
            .await;
            let paginator = if body_next {
                Paginator::NextUrl {
                    path: "paging.next".into(),
                }
            } else {
                Paginator::LinkHeader
            };
            let s = stream(client(auth), api.url("/items"), paginator);
            let read = read_all(&s, cx()).await;
            let msg = read.error.expect("the next page was fetched");
            assert!(
                msg.contains(&format!(
                    "points at http://127.0.0.1:{other_port} instead of http://127.0.0.1:{}",
                    api.port
                )),
                "{msg}"
            );
            assert!(!msg.contains(TOKEN), "{msg}");
            assert!(other.heads().is_empty(), "{:?}", other.heads());
            assert_eq!(read.keys, vec!["1".to_owned()]);
            cases += 1;
        }
    }
    assert!(cases >= 6, "{cases} refused next-page cases");
}
