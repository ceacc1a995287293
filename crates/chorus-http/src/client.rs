//! The HTTP client every connector uses.
//!
//! [`HttpClient::execute`] runs one exchange — auth, pacing, request, body read (capped), the
//! connector's hook, classification, parse — and retries the whole of it as [`crate::retry`]
//! decides. Errors name the method, the redacted URL, the status and a redacted snippet of the
//! body, and carry the kind the CLI turns into an exit code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use chorus_core::secret::redact;
use chorus_core::{Error, ErrorKind, Result, Secret};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::sync::{Mutex, Semaphore};

use crate::auth::{Auth, TOKEN_MARGIN, TokenResponse, refused};
use crate::rate_limit::{RateLimit, RateLimiter};
use crate::redact::{redact_query_values, redact_url, snippet};
use crate::retry::{RetryPolicy, Verdict, classify_status};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("chorus/", env!("CARGO_PKG_VERSION"));

/// The most redirects followed (each to the request's own origin) before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Settings of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, body included.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// The platform's quota, if it publishes one.
    pub rate_limit: Option<RateLimit>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The largest body accepted.
    pub max_body_bytes: usize,
}

impl Default for ClientConfig {
    /// Connect within 10 s, answer within 60 s (`CHORUS_HTTP_TIMEOUT_MS` overrides it for every
    /// connector), the default [`RetryPolicy`], four requests in flight, bodies up to 64 MiB.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: crate::retry::env_knob("CHORUS_HTTP_TIMEOUT_MS")
                .filter(|ms| *ms > 0)
                .map_or(Duration::from_secs(60), Duration::from_millis),
            retry: RetryPolicy::default(),
            rate_limit: None,
            concurrency: 4,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A connector's say in how a response is judged, before the status code is.
pub trait ResponseHook: Send + Sync {
    /// A verdict for this response, or `None` to judge by status.
    fn classify(&self, _status: StatusCode, _headers: &HeaderMap, _body: &[u8]) -> Option<Verdict> {
        None
    }

    /// Called with every response's headers, to slow down before a quota runs out. Returns
    /// a pause for every request of the source.
    fn pause(&self, _headers: &HeaderMap) -> Option<Duration> {
        None
    }
}

/// The hook that leaves everything to the status code.
pub struct DefaultHook;

impl ResponseHook for DefaultHook {}

/// One request.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The URL, possibly with a query already.
    pub url: String,
    /// Query parameters added to (or replacing those of) the URL.
    pub query: Vec<(String, String)>,
    /// A form body.
    pub form: Option<Vec<(String, String)>>,
    /// A JSON body.
    pub json: Option<serde_json::Value>,
}

impl Request {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            url: url.into(),
            query: Vec::new(),
            form: None,
            json: None,
        }
    }

    /// Sets query parameters, replacing any of the same names.
    #[must_use]
    pub fn with_params(mut self, params: &[(String, String)]) -> Self {
        for (k, v) in params {
            self.query.retain(|(q, _)| q != k);
            self.query.push((k.clone(), v.clone()));
        }
        self
    }

    /// The full URL with its query.
    pub fn full_url(&self) -> Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.url)
            .map_err(|e| Error::config(format!("invalid URL: {e}")))?;
        if !self.query.is_empty() {
            let keep: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| !self.query.iter().any(|(q, _)| q == k))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut pairs = url.query_pairs_mut();
            pairs.clear();
            for (k, v) in keep.iter().chain(&self.query) {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }
}

/// A response with its whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// Counters for the run summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
    /// Token exchanges made.
    pub exchanges: AtomicU64,
}

struct CachedToken {
    token: Secret,
    valid_until: Instant,
}

/// The client of one source.
pub struct HttpClient {
    http: reqwest::Client,
    auth: Auth,
    token: Mutex<Option<CachedToken>>,
    limiter: RateLimiter,
    permits: Semaphore,
    config: ClientConfig,
    secrets: Vec<String>,
    hook: Arc<dyn ResponseHook>,
    /// Counters.
    pub stats: Stats,
}

fn send_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "connection failed".to_owned()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

impl HttpClient {
    /// A client with `auth`, `config` and a connector's `hook`.
    pub fn new(auth: Auth, config: ClientConfig, hook: Arc<dyn ResponseHook>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .gzip(true)
            // A redirect to another origin (scheme, host or port) would carry the credentials
            // there: stop, and `attempt` turns the 3xx into an error that says why.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| crate::hosts::same_origin(first, attempt.url()));
                if same && attempt.previous().len() <= MAX_REDIRECTS {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))?;
        let limiter = config
            .rate_limit
            .map_or_else(RateLimiter::unlimited, RateLimiter::new);
        let secrets = auth.secrets();
        Ok(Self {
            http,
            token: Mutex::new(None),
            limiter,
            permits: Semaphore::new(config.concurrency.max(1)),
            secrets,
            auth,
            config,
            hook,
            stats: Stats::default(),
        })
    }

    /// Secret values to redact from anything this client's callers print.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// A URL for messages: credentials removed.
    pub fn redact(&self, url: &str) -> String {
        redact_url(url, &self.secrets)
    }

    async fn access_token(&self) -> Result<Option<Secret>> {
        if !self.auth.exchanges() {
            return Ok(None);
        }
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.valid_until > Instant::now()
        {
            return Ok(Some(t.token.clone()));
        }
        let Some((url, form)) = self.auth.exchange_form(SystemTime::now())? else {
            return Ok(None);
        };
        let mut req = Request::get(url);
        req.method = Method::POST;
        req.form = Some(form);
        self.stats.exchanges.fetch_add(1, Ordering::Relaxed);
        let token: TokenResponse = Box::pin(self.exchange(&req, false, |r| {
            serde_json::from_slice::<TokenResponse>(&r.body).map_err(|e| Verdict::Retry {
                wait: None,
                reason: format!("the token endpoint sent an unreadable answer: {e}"),
            })
        }))
        .await
        .map_err(|e| {
            if e.kind() == ErrorKind::Auth {
                refused(e.message())
            } else {
                e
            }
        })?;
        let life = Duration::from_secs(token.expires_in).saturating_sub(TOKEN_MARGIN);
        let secret = token.access_token.clone();
        *cached = Some(CachedToken {
            token: token.access_token,
            valid_until: Instant::now() + life,
        });
        Ok(Some(secret))
    }

    /// Runs one exchange with retries; `parse` turns a successful response into the result, or
    /// into a verdict (an unparseable body is usually worth a retry).
    pub async fn execute<T>(
        &self,
        req: &Request,
        parse: impl FnMut(&Response) -> Result<T, Verdict>,
    ) -> Result<T> {
        self.exchange(req, true, parse).await
    }

    async fn exchange<T>(
        &self,
        req: &Request,
        with_auth: bool,
        mut parse: impl FnMut(&Response) -> Result<T, Verdict>,
    ) -> Result<T> {
        let url = req.full_url()?;
        let shown = format!("{} {}", req.method, self.redact(url.as_str()));
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = if with_auth {
                self.access_token().await?
            } else {
                None
            };
            let outcome = self.attempt(req, &url, with_auth, token.clone()).await;
            let verdict = match &outcome {
                Err(AttemptError::Retry(reason)) => Verdict::Retry {
                    wait: None,
                    reason: reason.clone(),
                },
                Err(AttemptError::Fail(kind, reason)) => Verdict::Fail {
                    kind: *kind,
                    reason: reason.clone(),
                },
                Ok(resp) => {
                    if let Some(pause) = self.hook.pause(&resp.headers) {
                        self.limiter.pause_for(pause).await;
                    }
                    self.hook
                        .classify(resp.status, &resp.headers, &resp.body)
                        .unwrap_or_else(|| classify_status(resp.status, &resp.headers))
                }
            };
            let verdict = match (verdict, &outcome) {
                (Verdict::Success, Ok(resp)) => match parse(resp) {
                    Ok(value) => return Ok(value),
                    Err(v) => v,
                },
                (v, _) => v,
            };
            // A hook's reason may quote the body (an echoed `Authorization` header among it):
            // it is scrubbed like the snippet, with the exchanged token too.
            let scrub = |text: &str| {
                let mut secrets = self.secrets.clone();
                secrets.extend(token.as_ref().map(|t| t.expose().to_owned()));
                redact_query_values(&redact(text, &secrets))
            };
            let verdict = match verdict {
                Verdict::Fail { kind, reason } => Verdict::Fail {
                    kind,
                    reason: scrub(&reason),
                },
                Verdict::Retry { wait, reason } => Verdict::Retry {
                    wait,
                    reason: scrub(&reason),
                },
                v => v,
            };
            let body = outcome
                .as_ref()
                .map(|r| scrub(&snippet(&r.body, &self.secrets)))
                .unwrap_or_default();
            let body = if body.is_empty() {
                String::new()
            } else {
                format!(": {body}")
            };
            match verdict {
                Verdict::Success => {
                    return Err(Error::internal("a successful response was not parsed"));
                }
                Verdict::Fail {
                    kind: ErrorKind::Auth,
                    ..
                } if with_auth && self.auth.exchanges() && !refreshed => {
                    // An access token can expire early: exchange once more, then give up.
                    refreshed = true;
                    *self.token.lock().await = None;
                }
                Verdict::Fail { kind, reason } => {
                    return Err(Error::new(kind, format!("{shown} failed: {reason}{body}")));
                }
                Verdict::Retry { wait, reason } => {
                    let server_asked = wait.is_some();
                    let wait = wait.unwrap_or_else(|| {
                        self.config.retry.backoff(attempt, rand::random::<f64>())
                    });
                    if attempt >= self.config.retry.max_attempts
                        || waited + wait > self.config.retry.max_total_wait
                    {
                        return Err(Error::new(
                            ErrorKind::Transient,
                            format!(
                                "{shown} failed after {attempt} attempts over {}s: {reason}{body}",
                                waited.as_secs()
                            ),
                        ));
                    }
                    tracing::warn!(request = %shown, attempt, wait_ms = wait.as_millis() as u64, reason = %reason, "Request failed, retrying.");
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    if server_asked {
                        self.limiter.pause_for(wait).await;
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                    waited += wait;
                }
            }
        }
    }

    /// One try: returns the response with its whole body, or why it could not be had.
    async fn attempt(
        &self,
        req: &Request,
        url: &reqwest::Url,
        with_auth: bool,
        token: Option<Secret>,
    ) -> std::result::Result<Response, AttemptError> {
        self.limiter.acquire().await;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AttemptError::Fail(ErrorKind::Internal, e.to_string()))?;
        let mut url = url.clone();
        let mut builder_headers = HeaderMap::new();
        if with_auth {
            match (&self.auth, &token) {
                (_, Some(t)) => {
                    builder_headers.insert(AUTHORIZATION, bearer(t).map_err(auth_header)?);
                }
                (Auth::QueryToken { param, token }, None) => {
                    url.query_pairs_mut().append_pair(param, token.expose());
                }
                (Auth::Bearer(t), None) => {
                    builder_headers.insert(AUTHORIZATION, bearer(t).map_err(auth_header)?);
                }
                _ => {}
            }
        }
        let mut rb = self
            .http
            .request(req.method.clone(), url)
            .headers(builder_headers);
        if with_auth {
            match &self.auth {
                Auth::Basic { user, password } => {
                    rb = rb.basic_auth(user, Some(password.expose()));
                }
                Auth::BasicKey { key, password } => {
                    rb = rb.basic_auth(key.expose(), Some(password));
                }
                _ => {}
            }
        }
        if let Some(form) = &req.form {
            rb = rb.form(form);
        }
        if let Some(json) = &req.json {
            rb = rb.json(json);
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut resp = rb
            .send()
            .await
            .map_err(|e| AttemptError::Retry(send_error(e)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_redirection() {
            return Err(AttemptError::Fail(
                ErrorKind::External,
                refused_redirect(resp.url(), &headers),
            ));
        }
        let mut body = BytesMut::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.config.max_body_bytes {
                        return Err(AttemptError::Fail(
                            ErrorKind::External,
                            format!(
                                "the response is larger than {} bytes",
                                self.config.max_body_bytes
                            ),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => {
                    chorus_core::failpoint::hit("http.after_response");
                    break;
                }
                Err(e) => {
                    return Err(AttemptError::Retry(format!(
                        "the body was cut short: {}",
                        send_error(e)
                    )));
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body: body.freeze(),
        })
    }
}

/// Why a redirect was not followed, naming origins only (a URL may hold a token).
fn refused_redirect(from: &reqwest::Url, headers: &HeaderMap) -> String {
    let target = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| from.join(l));
    match target {
        Some(Ok(to)) if crate::hosts::same_origin(from, &to) => format!(
            "the server redirected more than {MAX_REDIRECTS} times; chorus stopped following"
        ),
        Some(Ok(to)) => format!(
            "the server redirected from {} to {}; chorus follows redirects only on the same scheme, host and port, so that credentials never reach another host. If the API moved, set base_url to the new address",
            crate::hosts::origin(from),
            crate::hosts::origin(&to)
        ),
        _ => "the server answered with a redirect but no usable Location".to_owned(),
    }
}

/// Why one try produced no response.
enum AttemptError {
    /// Worth another try.
    Retry(String),
    /// Not worth another try.
    Fail(ErrorKind, String),
}

fn auth_header(reason: String) -> AttemptError {
    AttemptError::Fail(ErrorKind::Config, reason)
}

fn bearer(token: &Secret) -> std::result::Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| "the token is not a valid header value".to_owned())?;
    v.set_sensitive(true);
    Ok(v)
}
