//! The `slack` connector and its source: which channels to read, the four streams' reads,
//! per-channel incremental state, and `check`.
//!
//! State of `messages` and `threads` is kept per channel in the checkpoint's `extra`:
//! `{"channels": {"C0123": "1730000000.000123"}}`, the newest ts read there. A channel without
//! an entry (new, or skipped last time) is read from the start date. The checkpoint's cursor
//! is the newest time over all channels; it stands for every channel only in a state without
//! `extra`. `messages` asks for messages after its ts (`oldest`, exclusive); `threads` reads
//! the parents of the last `thread_lookback_days` before its ts again, so new replies to recent
//! threads arrive. A `--start/--end` window reads that window in every channel, and its
//! checkpoint never moves a channel's ts backwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chorus_core::{
    BuildContext, CheckReport, ConfigError, ConfigTable, Connector, ConnectorDoc, Cursor,
    EventStream, ReadContext, Result, Shard, Source, Stream, StreamEvent, StreamSpec, StreamState,
};
use chorus_http::ClientConfig;
use chorus_http::produce::{Tx, events, send};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::api::{
    self, Api, AuthTest, Channel, ChannelsPage, Message, MessagesPage, Method, Pacing, Pager,
    Severity, SlackError, UsersPage,
};
use crate::config::{self, SlackConfig};
use crate::streams;

/// The registered `slack` connector.
pub struct SlackConnector;

const TEMPLATE: &str = r#"[sources.{id}]
type = "slack"
bot_token = "${SLACK_BOT_TOKEN}"   # scopes: channels:read, groups:read, channels:history, groups:history, users:read
start_date = "90daysAgo"  # or a date, "2026-01-01"; `today`, `yesterday` and `NdaysAgo` count back from the run
# channels = ["general", "help"]   # default: every channel the bot is a member of
# thread_lookback_days = 7          # replies to parents of the last 7 days are read again
# history_page_size = 15            # non-Marketplace apps: 15 a page, 1 request a minute
# history_requests_per_minute = 1   # Marketplace or internal apps may raise these to 50
# replies_requests_per_minute = 1
"#;

impl Connector for SlackConnector {
    fn doc(&self) -> ConnectorDoc {
        ConnectorDoc {
            name: "slack",
            summary: "Reads channels, members, messages and thread replies from the Slack Web API.",
            keys: config::keys(),
            template: TEMPLATE,
        }
    }

    fn fixed_streams(&self) -> Vec<StreamSpec> {
        streams::specs(
            Duration::from_secs(u64::from(config::DEFAULT_THREAD_LOOKBACK_DAYS) * 86_400),
            false,
        )
    }

    fn splits_accounts(&self) -> bool {
        true
    }

    fn keeps_unknown_fields(&self) -> Result<(), &'static str> {
        Ok(())
    }

    fn build(
        &self,
        config: &ConfigTable,
        cx: &BuildContext,
    ) -> Result<Box<dyn Source>, ConfigError> {
        let mut settings = SlackConfig::from_table(config)?;
        settings.keep_unknown_fields = cx.keep_unknown_fields;
        let source = SlackSource::new(settings, &Http::default())
            .map_err(|e| ConfigError::new(e.to_string(), None))?
            .for_shard(cx.shard, &cx.id);
        Ok(Box::new(source))
    }
}

/// How a source talks HTTP (tests make it fast).
#[derive(Debug, Clone, Default)]
pub struct Http {
    /// Timeouts, retries and concurrency; the pacing comes from the settings.
    pub config: ClientConfig,
}

/// A configured `slack` source.
pub struct SlackSource {
    inner: Arc<Inner>,
    streams: Vec<Arc<dyn Stream>>,
}

struct Inner {
    settings: SlackConfig,
    api: Api,
    channels: OnceCell<Vec<Channel>>,
    skipped: Mutex<BTreeSet<String>>,
    /// The `--shard` worker's share (by channel id, and `users` for the workspace's members)
    /// and the source id it is keyed by.
    shard: (Shard, String),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Channels,
    Users,
    Messages,
    Threads,
}

struct SlackStream {
    spec: StreamSpec,
    kind: Kind,
    inner: Arc<Inner>,
}

impl SlackSource {
    /// A source from its settings and HTTP behaviour.
    pub fn new(settings: SlackConfig, http: &Http) -> Result<Self> {
        let pacing = Pacing {
            per_minute: [
                None,
                Some(settings.list_requests_per_minute),
                Some(settings.list_requests_per_minute),
                Some(settings.history_requests_per_minute),
                Some(settings.replies_requests_per_minute),
            ],
        };
        let api = Api::new(
            &settings.bot_token,
            &settings.base_url,
            &pacing,
            &http.config,
            settings.keep_unknown_fields,
        )?;
        let inner = Arc::new(Inner {
            api,
            channels: OnceCell::new(),
            skipped: Mutex::new(BTreeSet::new()),
            settings,
            shard: (Shard::ALL, String::new()),
        });
        Ok(Self::rebuild(inner))
    }

    fn rebuild(inner: Arc<Inner>) -> Self {
        let kinds = [Kind::Channels, Kind::Users, Kind::Messages, Kind::Threads];
        let streams = streams::specs(
            inner.settings.thread_lookback(),
            inner.settings.keep_unknown_fields,
        )
        .into_iter()
        .zip(kinds)
        .map(|(spec, kind)| {
            Arc::new(SlackStream {
                spec,
                kind,
                inner: Arc::clone(&inner),
            }) as Arc<dyn Stream>
        })
        .collect();
        Self { inner, streams }
    }

    /// The source as one `--shard` worker of source `id` reads it: its share of the channels.
    #[must_use]
    pub fn for_shard(self, shard: Shard, id: &str) -> Self {
        let Self { mut inner, streams } = self;
        drop(streams);
        if let Some(i) = Arc::get_mut(&mut inner) {
            i.shard = (shard, id.to_owned());
        }
        Self::rebuild(inner)
    }

    /// The channels skipped so far (`name (error)`), for tests and summaries.
    pub fn skipped_channels(&self) -> Vec<String> {
        lock(&self.inner.skipped).iter().cloned().collect()
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.inner.api.requests()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Source for SlackSource {
    fn streams(&self) -> Vec<Arc<dyn Stream>> {
        self.streams.clone()
    }

    async fn check(&self) -> Result<CheckReport> {
        let i = &self.inner;
        let who: AuthTest = i
            .api
            .call(Method::AuthTest, &[])
            .await?
            .map_err(|e| e.into_error("checking the token with auth.test"))?;
        let channels = i.listing().await?;
        let members = channels
            .iter()
            .filter(|c| c.is_member == Some(true))
            .count();
        let one = [("limit".to_owned(), "1".to_owned())];
        i.api
            .call::<UsersPage>(Method::UsersList, &one)
            .await?
            .map_err(|e| e.into_error("checking users.list"))?;
        if let Some(c) = i.targets().await?.first() {
            let params = [
                ("channel".to_owned(), c.id.clone()),
                ("limit".to_owned(), "1".to_owned()),
            ];
            match i.api.call::<MessagesPage>(Method::History, &params).await? {
                Ok(_) => {}
                Err(e) if e.severity() == Severity::SkipChannel => {}
                Err(e) => return Err(e.into_error("checking conversations.history")),
            }
        }
        Ok(CheckReport {
            detail: format!(
                "workspace \"{}\" ({}) is readable as {}: {} channels listed, the bot is in {members}",
                who.team.as_deref().unwrap_or("?"),
                who.team_id.as_deref().unwrap_or("?"),
                who.user.as_deref().unwrap_or("?"),
                channels.len(),
            ),
        })
    }
}

impl Stream for SlackStream {
    fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    fn read(&self, cx: ReadContext) -> EventStream {
        let inner = Arc::clone(&self.inner);
        let spec = self.spec.clone();
        let kind = self.kind;
        events(move |tx| async move {
            match kind {
                Kind::Channels => inner.channels_stream(&spec, &tx).await,
                Kind::Users => inner.users_stream(&spec, &tx).await,
                Kind::Messages => inner.messages_stream(&spec, cx, &tx).await,
                Kind::Threads => inner.threads_stream(&spec, cx, &tx).await,
            }
        })
    }
}

/// The per-channel part of a saved state.
#[derive(Debug, Clone, Default)]
struct Marks {
    /// The newest ts read per channel, when the state has them.
    channels: Option<BTreeMap<String, String>>,
    /// The cursor, which stands for every channel in a state without `extra`.
    cursor: Option<DateTime<Utc>>,
}

impl Marks {
    fn of(state: Option<&StreamState>) -> Self {
        let Some(state) = state else {
            return Self::default();
        };
        let channels = state
            .extra
            .get("channels")
            .and_then(|v| serde_json::from_value::<BTreeMap<String, String>>(v.clone()).ok());
        let cursor = match &state.cursor {
            Some(Cursor::Timestamp(t)) => Some(*t),
            _ => None,
        };
        Self { channels, cursor }
    }

    /// Where a channel was left, in microseconds: its own mark, else the cursor when the
    /// state has no per-channel marks, else nothing (read from the start).
    fn of_channel(&self, id: &str) -> Option<i64> {
        match &self.channels {
            Some(map) => map.get(id).and_then(|ts| api::parse_ts(ts)),
            None => self.cursor.map(|t| t.timestamp_micros()),
        }
    }
}

/// The per-channel marks of a run, merged into the saved ones without going backwards.
struct Progress {
    marks: BTreeMap<String, String>,
    newest: Option<DateTime<Utc>>,
}

impl Progress {
    fn new(saved: &Marks) -> Self {
        Self {
            marks: saved.channels.clone().unwrap_or_default(),
            newest: saved.cursor,
        }
    }

    fn advance(&mut self, channel: &str, micros: i64) {
        let later = self
            .marks
            .get(channel)
            .and_then(|ts| api::parse_ts(ts))
            .is_none_or(|old| micros > old);
        if later {
            self.marks
                .insert(channel.to_owned(), api::format_ts(micros));
        }
        let t = DateTime::from_timestamp_micros(micros);
        if t > self.newest {
            self.newest = t;
        }
    }

    fn state(&self) -> StreamState {
        StreamState {
            cursor: self.newest.map(Cursor::Timestamp),
            extra: serde_json::json!({ "channels": self.marks }),
        }
    }
}

/// One channel's read window, in microseconds: after `oldest` (inclusive or not), before
/// `latest` (if any).
#[derive(Debug, Clone, Copy)]
struct Span {
    oldest: i64,
    inclusive: bool,
    latest: Option<i64>,
}

impl Span {
    fn params(&self) -> Vec<(String, String)> {
        let mut p = vec![("oldest".to_owned(), api::format_ts(self.oldest))];
        if let Some(l) = self.latest {
            p.push(("latest".to_owned(), api::format_ts(l)));
        }
        if self.inclusive {
            p.push(("inclusive".to_owned(), "true".to_owned()));
        }
        p
    }
}

impl Inner {
    /// Every channel the token can see (public ones, private ones the bot is in), read once
    /// per source.
    async fn listing(&self) -> Result<&Vec<Channel>> {
        self.channels
            .get_or_try_init(|| async {
                let mut params = vec![
                    (
                        "types".to_owned(),
                        "public_channel,private_channel".to_owned(),
                    ),
                    ("limit".to_owned(), self.settings.list_page_size.to_string()),
                ];
                if !self.settings.include_archived {
                    params.push(("exclude_archived".to_owned(), "true".to_owned()));
                }
                let mut pager = Pager::new(&self.api, Method::ConversationsList, params);
                let mut all = Vec::new();
                while let Some(page) = pager.next::<ChannelsPage>().await? {
                    let page = page.map_err(|e| e.into_error("listing channels"))?;
                    all.extend(page.channels);
                }
                Ok(all)
            })
            .await
    }

    /// The channels whose history is read: the configured ones, else every channel the bot
    /// is a member of.
    async fn targets(&self) -> Result<Vec<Channel>> {
        let mut targets = self.wanted().await?;
        targets.retain(|c| self.owns(&c.id));
        Ok(targets)
    }

    /// Whether this `--shard` worker reads the account `key` (a channel id, or `users`).
    fn owns(&self, key: &str) -> bool {
        self.shard.0.owns_account(&self.shard.1, key)
    }

    async fn wanted(&self) -> Result<Vec<Channel>> {
        let all = self.listing().await?;
        let Some(wanted) = &self.settings.channels else {
            return Ok(all
                .iter()
                .filter(|c| c.is_member == Some(true))
                .cloned()
                .collect());
        };
        let mut out: Vec<Channel> = Vec::new();
        for w in wanted {
            let w = w.trim().trim_start_matches('#');
            match all
                .iter()
                .find(|c| c.id == w || c.name.as_deref() == Some(w))
            {
                Some(c) => {
                    if !out.iter().any(|o| o.id == c.id) {
                        out.push(c.clone());
                    }
                }
                // An id the listing does not show (archived, or another type): ask anyway.
                None if looks_like_id(w) => out.push(Channel {
                    id: w.to_owned(),
                    ..Channel::default()
                }),
                None => self.skip(w, "not among the channels the token can see"),
            }
        }
        Ok(out)
    }

    /// Warns once per channel that it is skipped.
    fn skip(&self, channel: &str, why: &str) {
        if lock(&self.skipped).insert(format!("{channel} ({why})")) {
            tracing::warn!(
                channel = %channel,
                reason = %why,
                "Skipping a Slack channel the token cannot read; invite the app to it (/invite @app) or remove it from `channels`."
            );
        }
    }

    /// The history window of `channel`: the `--start/--end` window, else after the saved
    /// mark (minus `lookback`), never before the start date.
    fn span(&self, cx: &ReadContext, marks: &Marks, channel: &str, lookback: Duration) -> Span {
        let start = self.settings.start(Utc::now()).timestamp_micros();
        let latest = cx.window.end_utc().map(|e| e.timestamp_micros());
        if let Some(s) = cx.window.start_utc() {
            return Span {
                oldest: s.timestamp_micros().max(start),
                inclusive: true,
                latest,
            };
        }
        let lookback = i64::try_from(lookback.as_micros()).unwrap_or(i64::MAX);
        match marks.of_channel(channel) {
            Some(mark) if lookback == 0 && mark >= start => Span {
                oldest: mark,
                inclusive: false,
                latest,
            },
            Some(mark) => Span {
                oldest: mark.saturating_sub(lookback).max(start),
                inclusive: true,
                latest,
            },
            None => Span {
                oldest: start,
                inclusive: true,
                latest,
            },
        }
    }

    /// The label of a channel for messages.
    fn label(c: &Channel) -> String {
        match &c.name {
            Some(n) => format!("#{n} ({})", c.id),
            None => c.id.clone(),
        }
    }

    async fn channels_stream(&self, spec: &StreamSpec, tx: &Tx) -> Result<()> {
        let all = self.listing().await?;
        let rows: Vec<Channel> = match &self.settings.channels {
            None => all.clone(),
            Some(wanted) => all
                .iter()
                .filter(|c| {
                    wanted.iter().any(|w| {
                        let w = w.trim().trim_start_matches('#');
                        c.id == w || c.name.as_deref() == Some(w)
                    })
                })
                .cloned()
                .collect(),
        };
        let rows: Vec<Channel> = rows.into_iter().filter(|c| self.owns(&c.id)).collect();
        for chunk in rows.chunks(1000) {
            let batch = streams::channels_batch(&spec.schema, chunk)?;
            if !send(tx, StreamEvent::Batch(batch)).await {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn users_stream(&self, spec: &StreamSpec, tx: &Tx) -> Result<()> {
        if !self.owns("users") {
            return Ok(());
        }
        let params = vec![("limit".to_owned(), self.settings.list_page_size.to_string())];
        let mut pager = Pager::new(&self.api, Method::UsersList, params);
        while let Some(page) = pager.next::<UsersPage>().await? {
            let page = page.map_err(|e| e.into_error("listing users"))?;
            if page.members.is_empty() {
                continue;
            }
            let batch = streams::users_batch(&spec.schema, &page.members)?;
            if !send(tx, StreamEvent::Batch(batch)).await {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A pager through one channel's history in `span`.
    fn history<'a>(&'a self, cx: &'a ReadContext, channel: &'a Channel, span: Span) -> History<'a> {
        let mut params = vec![
            ("channel".to_owned(), channel.id.clone()),
            (
                "limit".to_owned(),
                self.settings.history_page_size.to_string(),
            ),
        ];
        params.extend(span.params());
        History {
            inner: self,
            pager: Pager::new(&self.api, Method::History, params),
            channel,
            cx,
            skipped: false,
        }
    }

    /// Skips the channel for `not_in_channel`/`channel_not_found`; fails for anything else.
    fn refused(&self, channel: &Channel, e: SlackError) -> Result<()> {
        if e.severity() == Severity::SkipChannel {
            self.skip(&Self::label(channel), &e.code);
            return Ok(());
        }
        Err(e.into_error(&format!("reading the history of {}", Self::label(channel))))
    }

    async fn messages_stream(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let marks = Marks::of(cx.state.as_ref());
        let mut progress = Progress::new(&marks);
        for channel in self.targets().await? {
            let span = self.span(&cx, &marks, &channel.id, Duration::ZERO);
            let mut history = self.history(&cx, &channel, span);
            let mut newest: Option<i64> = None;
            while let Some(rows) = history.next().await? {
                if rows.is_empty() {
                    continue;
                }
                for m in &rows {
                    newest = newest.max(api::parse_ts(&m.ts));
                }
                let batch = streams::messages_batch(&spec.schema, &channel.id, &rows)?;
                if !send(tx, StreamEvent::Batch(batch)).await {
                    return Ok(());
                }
            }
            if history.skipped {
                continue;
            }
            if let Some(n) = newest {
                progress.advance(&channel.id, n);
            }
            if !send(tx, StreamEvent::Checkpoint(progress.state())).await {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn threads_stream(&self, spec: &StreamSpec, cx: ReadContext, tx: &Tx) -> Result<()> {
        let marks = Marks::of(cx.state.as_ref());
        let mut progress = Progress::new(&marks);
        let lookback = self.settings.thread_lookback();
        for channel in self.targets().await? {
            let span = self.span(&cx, &marks, &channel.id, lookback);
            let mut history = self.history(&cx, &channel, span);
            let mut newest: Option<i64> = None;
            let mut parents: Vec<String> = Vec::new();
            while let Some(rows) = history.next().await? {
                for m in &rows {
                    newest = newest.max(api::parse_ts(&m.ts));
                    if m.is_thread_parent() {
                        parents.push(m.ts.clone());
                    }
                }
            }
            if history.skipped {
                continue;
            }
            for parent in &parents {
                match self.thread(spec, &channel, parent, tx).await? {
                    Flow::Go => {}
                    Flow::Skip => break,
                    Flow::Stop => return Ok(()),
                }
            }
            if let Some(n) = newest {
                progress.advance(&channel.id, n);
            }
            if !send(tx, StreamEvent::Checkpoint(progress.state())).await {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads one thread's replies and sends them.
    async fn thread(
        &self,
        spec: &StreamSpec,
        channel: &Channel,
        parent: &str,
        tx: &Tx,
    ) -> Result<Flow> {
        let params = vec![
            ("channel".to_owned(), channel.id.clone()),
            ("ts".to_owned(), parent.to_owned()),
            (
                "limit".to_owned(),
                self.settings.history_page_size.to_string(),
            ),
        ];
        let mut pager = Pager::new(&self.api, Method::Replies, params);
        while let Some(page) = pager.next::<MessagesPage>().await? {
            let page = match page {
                Ok(p) => p,
                Err(e) if e.code == "thread_not_found" => return Ok(Flow::Go),
                Err(e) => {
                    self.refused(channel, e)?;
                    return Ok(Flow::Skip);
                }
            };
            let replies: Vec<Message> = page
                .messages
                .into_iter()
                .filter(|m| m.ts != parent)
                .collect();
            if replies.is_empty() {
                continue;
            }
            let batch = streams::threads_batch(&spec.schema, &channel.id, parent, &replies)?;
            if !send(tx, StreamEvent::Batch(batch)).await {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Go)
    }
}

/// One channel's history, page by page, inside the run's window.
struct History<'a> {
    inner: &'a Inner,
    pager: Pager<'a>,
    channel: &'a Channel,
    cx: &'a ReadContext,
    /// Whether Slack refused the channel (it was skipped with a warning).
    skipped: bool,
}

impl History<'_> {
    /// The next page's messages, `None` after the last page or when the channel is skipped.
    async fn next(&mut self) -> Result<Option<Vec<Message>>> {
        let page = match self.pager.next::<MessagesPage>().await? {
            None => return Ok(None),
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                self.inner.refused(self.channel, e)?;
                self.skipped = true;
                return Ok(None);
            }
        };
        let window = self.cx.window;
        Ok(Some(
            page.messages
                .into_iter()
                .filter(|m| {
                    api::parse_ts(&m.ts)
                        .and_then(DateTime::from_timestamp_micros)
                        .is_none_or(|t| window.contains(t))
                })
                .collect(),
        ))
    }
}

/// What a thread read tells the channel loop.
enum Flow {
    /// Go on with the next thread.
    Go,
    /// The channel cannot be read: leave it.
    Skip,
    /// The reader has gone.
    Stop,
}

/// Whether a configured channel looks like an id (`C0123ABCD`, `G…`) rather than a name.
fn looks_like_id(s: &str) -> bool {
    s.len() >= 9
        && s.starts_with(['C', 'G', 'D'])
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_prefer_per_channel_entries_and_fall_back_to_the_cursor() {
        let t: DateTime<Utc> = "2026-09-01T00:00:00Z".parse().unwrap_or_default();
        let plain = StreamState::at(Cursor::Timestamp(t));
        let m = Marks::of(Some(&plain));
        assert_eq!(m.of_channel("C1"), Some(t.timestamp_micros()));
        let with = StreamState {
            cursor: Some(Cursor::Timestamp(t)),
            extra: serde_json::json!({"channels": {"C1": "1780000000.000100"}}),
        };
        let m = Marks::of(Some(&with));
        assert_eq!(m.of_channel("C1"), Some(1_780_000_000_000_100));
        assert_eq!(
            m.of_channel("C2"),
            None,
            "a new channel reads from the start"
        );
    }

    #[test]
    fn progress_never_moves_a_channel_back() {
        let mut p = Progress::new(&Marks::default());
        p.advance("C1", 2_000_000);
        p.advance("C1", 1_000_000);
        assert_eq!(p.marks["C1"], "2.000000");
        let s = p.state();
        assert_eq!(s.extra["channels"]["C1"], "2.000000");
        assert!(matches!(s.cursor, Some(Cursor::Timestamp(_))));
    }

    #[test]
    fn ids_are_told_from_names() {
        assert!(looks_like_id("C0123ABCD"));
        assert!(!looks_like_id("general"));
        assert!(!looks_like_id("C0123abcd"));
    }
}
