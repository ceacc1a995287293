//! The sandbox server: a [`Sandbox`] binds `127.0.0.1`, serves every platform's router from its
//! own accept loop (hyper, one task per connection) and applies fault injection and the request
//! log around each API request.
//!
//! The accept loop is ours rather than `axum::serve` so that a fault can act below HTTP: `reset`
//! drops the connection without a response, `timeout` holds it and then drops it, and `truncate`
//! sends a full `Content-Length` with half the body before closing. What the platforms answer
//! lives in `platforms`; the fault decisions in `faults`.

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::NaiveDate;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;
use tower::ServiceExt;

use crate::auth::TokenStore;
use crate::control::{self, Control};
use crate::data::{Truth, default_anchor};
use crate::error::SandboxError;
use crate::faults::{self, FaultKind, FaultSpec, OVERRIDE_HEADER};
use crate::log::{LoggedRequest, RequestLog};
use crate::platforms::ga4::{Quota, QuotaLimits};
use crate::platforms::meta::UsageOverride;
use crate::platforms::{self, Context, FaultResponder};

/// The largest request body the sandbox reads.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// How long a truncated response waits after its partial body before cutting the connection,
/// so that the partial body is flushed first.
const TRUNCATE_PAUSE: Duration = Duration::from_millis(50);

/// How to start a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The seed of the data and of the fault decisions.
    pub seed: u64,
    /// The data size multiplier (at least 1).
    pub scale: u32,
    /// The faults to inject.
    pub faults: FaultSpec,
    /// The lifetime of access tokens minted by token endpoints, in seconds (default 3600).
    pub token_ttl_secs: u64,
    /// The (exclusive) last day of generated data (default: [`default_anchor`], a week before
    /// today).
    pub anchor: NaiveDate,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            port: 0,
            seed: 0,
            scale: 1,
            faults: FaultSpec::none(),
            token_ttl_secs: 3600,
            anchor: default_anchor(),
        }
    }
}

/// What every connection task shares.
struct Shared {
    seed: u64,
    faults: FaultSpec,
    router: Router,
    log: Arc<RequestLog>,
    /// Counts API requests; the n-th one's fault is `faults.decide(seed, n)`.
    counter: AtomicU64,
    /// Each platform's prefix and status-fault responder.
    responders: Vec<(&'static str, FaultResponder)>,
}

impl Shared {
    /// The canned response of a status-code fault, from the platform that owns `path`.
    fn fault_response(&self, path: &str, kind: FaultKind) -> Option<Response> {
        self.responders
            .iter()
            .find(|(prefix, _)| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .and_then(|(_, responder)| responder(path, kind))
            .or_else(|| faults::default_response(kind))
    }
}

/// A running sandbox; dropping it (or [`Sandbox::shutdown`]) stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    base_url: String,
    config: SandboxConfig,
    truth: Arc<Truth>,
    log: Arc<RequestLog>,
    tokens: Arc<TokenStore>,
    meta_usage: Arc<UsageOverride>,
    ga4_quota: Arc<Quota>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Binds 127.0.0.1 and serves in a background task of the current tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        if config.scale == 0 {
            return Err(SandboxError::Config("scale must be at least 1".to_owned()));
        }
        let bind_error = |source| SandboxError::Bind {
            port: config.port,
            source,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let base_url = format!("http://{addr}");
        let truth = Arc::new(Truth::at(config.seed, config.scale, config.anchor));
        let tokens = Arc::new(TokenStore::new(config.seed));
        let log = Arc::new(RequestLog::default());
        let meta_usage = Arc::new(UsageOverride::default());
        let ga4_quota = Arc::new(Quota::default());

        let ctx = Context {
            base_url: base_url.clone(),
            truth: truth.clone(),
            tokens: tokens.clone(),
            token_ttl_secs: config.token_ttl_secs,
            meta_usage: meta_usage.clone(),
            ga4_quota: ga4_quota.clone(),
        };
        let control = Control {
            log: log.clone(),
            truth: truth.clone(),
            tokens: tokens.clone(),
        };
        let mut router = Router::new().nest(control::PREFIX, control::router(control));
        let mut responders = Vec::new();
        for platform in platforms::all(&ctx)? {
            router = router.nest(platform.prefix, platform.router);
            responders.push((platform.prefix, platform.fault_response));
        }
        let shared = Arc::new(Shared {
            seed: config.seed,
            faults: config.faults.clone(),
            router: router.fallback(not_found),
            log: log.clone(),
            counter: AtomicU64::new(0),
            responders,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared, stopped));
        tracing::debug!(url = %base_url, seed = config.seed, scale = config.scale, anchor = %config.anchor, faults = %config.faults, "Sandbox started.");
        Ok(Sandbox {
            addr,
            base_url,
            config,
            truth,
            log,
            tokens,
            meta_usage,
            ga4_quota,
            stop,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The base URL joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The exact rows every platform serves.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// A snapshot of the request log, ordered by sequence number.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.snapshot()
    }

    /// How many requests are logged, and how many of them got a fault (a slow answer is not
    /// one), for fault batteries.
    pub fn fault_tally(&self) -> (usize, usize) {
        let log = self.log.snapshot();
        let faulted = log
            .iter()
            .filter(|r| r.fault.is_some_and(|f| f != FaultKind::Slow))
            .count();
        (log.len(), faulted)
    }

    /// Empties the request log (the fault sequence keeps counting).
    pub fn clear_requests(&self) {
        self.log.clear();
    }

    /// Expires every access token minted so far, so their next use gets a 401.
    pub fn expire_tokens(&self) {
        self.tokens.expire_all();
    }

    /// Forces the usage percent the Meta platform reports in `X-App-Usage`,
    /// `X-Business-Use-Case-Usage` and `X-Ad-Account-Usage` (`None` restores the low default).
    pub fn set_meta_usage(&self, percent: Option<u8>) {
        self.meta_usage.set(percent);
    }

    /// Replaces the GA4 property's quota limits and window lengths and starts every window
    /// afresh (tests shorten the hour so that waiting for the next window is quick).
    pub fn set_ga4_quota(&self, limits: QuotaLimits) {
        self.ga4_quota.set(limits);
    }

    /// Stops accepting, drops every open connection and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "Sandbox server task failed.");
        }
    }
}

/// Runs a sandbox in the foreground until ctrl-c (what `chorus sandbox` calls).
pub async fn serve(config: SandboxConfig) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(config).await?;
    let (url, anchor) = (sandbox.base_url(), sandbox.config().anchor);
    tracing::info!(%url, %anchor, "Sandbox listening.");
    let signal = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    signal.map_err(SandboxError::Signal)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let stopped = async {
            // An error means the `Sandbox` was dropped: stop as well.
            let _ = stop.wait_for(|stop| *stop).await;
        };
        tokio::select! {
            () = stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "Sandbox failed to accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| handle(shared.clone(), request));
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "Sandbox connection closed with an error.");
    }
}

/// Why a connection is dropped without (a complete) response.
#[derive(Debug, thiserror::Error)]
enum Abort {
    /// The `reset` fault.
    #[error("connection reset by an injected fault")]
    Reset,
    /// The `timeout` fault, after holding the connection.
    #[error("connection dropped after an injected timeout")]
    Timeout,
    /// The request body could not be read.
    #[error("failed to read the request body")]
    Body,
}

/// One request: control routes pass straight through; API requests get their fault and a log
/// entry.
async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response, Abort> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map_err(|_| Abort::Body)?
        .to_bytes();
    if control::is_control(parts.uri.path()) {
        return Ok(route(&shared, Request::from_parts(parts, Body::from(body))).await);
    }

    let seq = shared.counter.fetch_add(1, Ordering::Relaxed);
    let forced = parts
        .headers
        .get(OVERRIDE_HEADER)
        .map(|v| faults::parse_override(&String::from_utf8_lossy(v.as_bytes())));
    let fault = match forced {
        Some(Ok(fault)) => fault,
        Some(Err(error)) => {
            let mut entry = LoggedRequest::capture(seq, &parts, &body, None);
            entry.status = Some(StatusCode::BAD_REQUEST.as_u16());
            shared.log.record(entry);
            let message = format!("invalid {OVERRIDE_HEADER} header: {error}");
            let body = json!({"error": {"message": message, "code": 400}});
            return Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
        }
        None => shared.faults.decide(shared.seed, seq),
    };
    let mut entry = LoggedRequest::capture(seq, &parts, &body, fault);

    match fault {
        Some(FaultKind::Reset) => {
            shared.log.record(entry);
            return Err(Abort::Reset);
        }
        Some(FaultKind::Timeout) => {
            shared.log.record(entry);
            tokio::time::sleep(shared.faults.timeout_hold()).await;
            return Err(Abort::Timeout);
        }
        Some(FaultKind::Slow) => tokio::time::sleep(shared.faults.slow_delay()).await,
        Some(kind) if kind.is_canned_response() => {
            if let Some(response) = shared.fault_response(parts.uri.path(), kind) {
                entry.status = Some(response.status().as_u16());
                shared.log.record(entry);
                return Ok(response);
            }
        }
        _ => {}
    }

    let response = route(&shared, Request::from_parts(parts, Body::from(body))).await;
    entry.status = Some(response.status().as_u16());
    shared.log.record(entry);
    if fault == Some(FaultKind::Truncate) {
        return Ok(truncate(response).await);
    }
    Ok(response)
}

async fn route(shared: &Shared, request: Request<Body>) -> Response {
    match shared.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// 404 for a path no platform serves.
async fn not_found(uri: Uri) -> Response {
    let message = format!("Unknown path {}", uri.path());
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": {"message": message, "code": 404}})),
    )
        .into_response()
}

/// The response with `Content-Length` of its full body but only the first half of the bytes,
/// after which the connection is cut.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let full = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    let half = full.slice(..full.len() / 2);
    let body = TruncatedBody {
        half: Some(half),
        pause: Box::pin(tokio::time::sleep(TRUNCATE_PAUSE)),
    };
    Response::from_parts(parts, Body::new(body))
}

/// The error that makes hyper cut a truncated response's connection.
#[derive(Debug, thiserror::Error)]
#[error("response truncated by an injected fault")]
struct Truncated;

/// A body that yields some bytes, pauses (so they are flushed), then fails.
struct TruncatedBody {
    half: Option<Bytes>,
    pause: Pin<Box<Sleep>>,
}

impl hyper::body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = Truncated;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Truncated>>> {
        if let Some(half) = self.half.take() {
            return Poll::Ready(Some(Ok(Frame::data(half))));
        }
        ready!(self.pause.as_mut().poll(cx));
        Poll::Ready(Some(Err(Truncated)))
    }
}
