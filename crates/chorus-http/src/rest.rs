//! A REST stream described as data: request, paginator, records path, field paths, window.
//!
//! [`RestStream`] implements [`chorus_core::Stream`] for the common case: page through an
//! endpoint (per time slice when the stream is incremental), decode each page into a batch,
//! and checkpoint after each slice. A connector with an odd API writes its own `Stream` from
//! the same parts ([`HttpClient`], [`Paginator`], [`PageDecoder`]).

use std::sync::Arc;
use std::time::Duration;

use chorus_core::{
    Cursor, Error, ErrorKind, EventStream, ReadContext, Result, Stream, StreamEvent, StreamSpec,
    StreamState,
};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::client::{HttpClient, Request};
use crate::decode::PageDecoder;
use crate::paginate::{Next, PageState, Paginator};
use crate::retry::Verdict;

/// How window bounds are written in query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// Unix seconds.
    UnixSeconds,
    /// RFC 3339 with `Z`.
    Rfc3339,
    /// `YYYY-MM-DD`.
    Date,
}

impl TimeFormat {
    /// Writes an instant.
    pub fn format(self, t: DateTime<Utc>) -> String {
        match self {
            TimeFormat::UnixSeconds => t.timestamp().to_string(),
            TimeFormat::Rfc3339 => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            TimeFormat::Date => t.format("%Y-%m-%d").to_string(),
        }
    }
}

/// An incremental stream's window parameters.
#[derive(Debug, Clone)]
pub struct WindowParams {
    /// The parameter for the window's start (inclusive).
    pub since_param: String,
    /// The parameter for the window's end (exclusive), if the API takes one.
    pub until_param: Option<String>,
    /// How bounds are written.
    pub format: TimeFormat,
    /// The longest window one request chain may cover (the API's limit, or for checkpoints).
    pub slice: Duration,
    /// Where the first sync starts.
    pub start_date: DateTime<Utc>,
}

/// Splits `[start, end)` into slices of at most `slice`.
pub fn slices(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    slice: Duration,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let step = chrono::Duration::from_std(slice)
        .unwrap_or(chrono::Duration::days(1))
        .max(chrono::Duration::seconds(1));
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = (s + step).min(end);
        out.push((s, e));
        s = e;
    }
    out
}

/// A stream read by paging through one endpoint.
pub struct RestStream {
    /// What the stream declares.
    pub spec: StreamSpec,
    /// The source's client.
    pub client: Arc<HttpClient>,
    /// The first request, before paging and window parameters.
    pub request: Request,
    /// How it pages.
    pub paginator: Paginator,
    /// How pages become batches.
    pub decoder: Arc<PageDecoder>,
    /// The incremental window, if the stream reads by time.
    pub window: Option<WindowParams>,
    /// The most pages one chain may take before the stream fails (a guard against loops).
    pub max_pages: u64,
}

impl RestStream {
    async fn chain(
        &self,
        base: Request,
        tx: &tokio::sync::mpsc::Sender<Result<StreamEvent>>,
    ) -> Result<bool> {
        let mut req = base.clone().with_params(&self.paginator.first());
        let mut state = PageState::default();
        loop {
            let decoder = Arc::clone(&self.decoder);
            let (batch, captured, headers) = self
                .client
                .execute(&req, |resp| {
                    decoder
                        .decode(&resp.body)
                        .map(|(b, c)| (b, c, resp.headers.clone()))
                        .map_err(|e| {
                            if e.retryable {
                                Verdict::Retry {
                                    wait: None,
                                    reason: format!("unreadable page: {e}"),
                                }
                            } else {
                                Verdict::Fail {
                                    kind: ErrorKind::Contract,
                                    reason: format!(
                                        "stream \"{}\" broke its schema: {e}",
                                        self.spec.name
                                    ),
                                }
                            }
                        })
                })
                .await?;
            state.pages += 1;
            let rows = batch.num_rows() as u64;
            state.rows += rows;
            if rows > 0 && tx.send(Ok(StreamEvent::Batch(batch))).await.is_err() {
                return Ok(false);
            }
            match self.paginator.next(&captured, &headers, rows, &state) {
                None => return Ok(true),
                Some(_) if state.pages >= self.max_pages => {
                    return Err(Error::new(
                        ErrorKind::External,
                        format!(
                            "stream \"{}\" stopped after {} pages of {}: the API kept returning a next page",
                            self.spec.name,
                            state.pages,
                            self.client.redact(&base.url)
                        ),
                    ));
                }
                Some(Next::Url(url)) => {
                    let url =
                        crate::hosts::check_next_url(&req.full_url()?, &url).map_err(|reason| {
                            Error::new(
                                ErrorKind::External,
                                format!("stream \"{}\": {reason}", self.spec.name),
                            )
                        })?;
                    req = Request {
                        url: url.into(),
                        query: Vec::new(),
                        ..base.clone()
                    }
                }
                Some(Next::Params(params)) => req = req.with_params(&params),
            }
        }
    }

    async fn produce(
        &self,
        cx: ReadContext,
        tx: &tokio::sync::mpsc::Sender<Result<StreamEvent>>,
    ) -> Result<()> {
        let Some(w) = &self.window else {
            self.chain(self.request.clone(), tx).await?;
            return Ok(());
        };
        let now = Utc::now();
        let start = cx
            .start_time(self.spec.lookback, Some(w.start_date))
            .unwrap_or(w.start_date);
        let end = cx.window.end_utc().unwrap_or(now).min(now);
        for (s, e) in slices(start, end, w.slice) {
            let mut params = vec![(w.since_param.clone(), w.format.format(s))];
            if let Some(u) = &w.until_param {
                params.push((u.clone(), w.format.format(e)));
            }
            if !self
                .chain(self.request.clone().with_params(&params), tx)
                .await?
            {
                return Ok(());
            }
            if tx
                .send(Ok(StreamEvent::Checkpoint(StreamState::at(
                    Cursor::Timestamp(e),
                ))))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Stream for RestStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let stream = Arc::new(RestStream {
            spec: self.spec.clone(),
            client: Arc::clone(&self.client),
            request: self.request.clone(),
            paginator: self.paginator.clone(),
            decoder: Arc::clone(&self.decoder),
            window: self.window.clone(),
            max_pages: self.max_pages,
        });
        crate::produce::events(move |tx| async move { stream.produce(cx, &tx).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_window_exactly() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let s = slices(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-03T12:00:00Z"),
            Duration::from_secs(86_400),
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s[2], (t("2024-01-03T00:00:00Z"), t("2024-01-03T12:00:00Z")));
        assert!(
            slices(
                t("2024-01-02T00:00:00Z"),
                t("2024-01-01T00:00:00Z"),
                Duration::from_secs(60)
            )
            .is_empty()
        );
        assert_eq!(
            TimeFormat::Rfc3339.format(t("2024-01-01T00:00:00Z")),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            TimeFormat::UnixSeconds.format(t("2024-01-01T00:00:00Z")),
            "1704067200"
        );
    }
}
