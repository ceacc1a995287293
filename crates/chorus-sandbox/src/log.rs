//! The request log: what every API request looked like and what it got back, so tests can
//! assert what a connector sent (auth placement, parameters, cursors, token exchanges).
//!
//! Requests to the sandbox's own `/_sandbox/*` routes are not logged.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, Method, header, request::Parts};
use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;

/// How many entries the log keeps; older ones are dropped first (see [`LoggedRequest::seq`]).
pub const LOG_CAPACITY: usize = 100_000;

/// One API request as the sandbox received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// The request's position among API requests since the start (0-based); drives faults.
    pub seq: u64,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The `Authorization` header exactly as sent.
    pub authorization: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body of a form or JSON request with a body, as text.
    pub body: Option<String>,
    /// The fault injected into this request, if any.
    pub fault: Option<FaultKind>,
    /// The status sent back; `None` when no response was sent (reset, timeout).
    pub status: Option<u16>,
}

impl LoggedRequest {
    /// Captures a request's method, path, query, selected headers and (form/JSON) body.
    pub(crate) fn capture(seq: u64, parts: &Parts, body: &[u8], fault: Option<FaultKind>) -> Self {
        let text = |headers: &HeaderMap, name| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let content_type = text(&parts.headers, header::CONTENT_TYPE);
        let is_text_body = content_type
            .as_deref()
            .is_some_and(|ct| ct.contains("x-www-form-urlencoded") || ct.contains("json"));
        let body = (!body.is_empty() && is_text_body && parts.method != Method::GET)
            .then(|| String::from_utf8_lossy(body).into_owned());
        Self {
            seq,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            authorization: text(&parts.headers, header::AUTHORIZATION),
            user_agent: text(&parts.headers, header::USER_AGENT),
            content_type,
            body,
            fault,
            status: None,
        }
    }

    /// The decoded query parameters, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default()
    }

    /// The first value of one query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The decoded fields of a form body, in order.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        self.body
            .as_deref()
            .and_then(|b| serde_urlencoded::from_str(b).ok())
            .unwrap_or_default()
    }
}

/// The shared, bounded log behind [`crate::Sandbox::requests`].
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: Mutex<VecDeque<LoggedRequest>>,
}

impl RequestLog {
    /// Appends one entry, dropping the oldest beyond [`LOG_CAPACITY`].
    pub(crate) fn record(&self, entry: LoggedRequest) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// A copy of the log, ordered by [`LoggedRequest::seq`].
    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<LoggedRequest> = entries.iter().cloned().collect();
        out.sort_by_key(|e| e.seq);
        out
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
