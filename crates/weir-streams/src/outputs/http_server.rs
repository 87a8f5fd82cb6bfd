//! `http_server` (output): messages for HTTP consumers under the API's listen path — GET
//! long-poll (`path`), a chunked or Server-Sent Events stream (`stream_path`) and WebSocket
//! (`ws_path`).
//!
//! Delivery (what Weir decides where Bento and Tyk lose messages): written messages go into a
//! log of the last [`RETAIN_MESSAGES`] messages (at most [`RETAIN_BYTES`]). Every live stream
//! or WebSocket consumer reads the whole log from where it joined, so two tabs of one user both
//! see every message; GET long-poll consumers share one cursor and compete, as a queue. A write
//! waits (back pressure, so the input's offsets stay uncommitted) until some consumer is there
//! to take it, and, when the log is full, until the slowest live consumer has read its oldest
//! message — for at most [`SLOW_CONSUMER_GRACE`]: a consumer that reads nothing for that long
//! while the stream waits for it skips ahead, and what it skipped is counted as dropped. An SSE
//! event's `id:` names its place in the log, and a consumer reconnecting with `Last-Event-ID`
//! resumes after it. Memory is bounded by the log.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;

use super::Output;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};

/// Messages kept for consumers that reconnect or lag.
pub const RETAIN_MESSAGES: usize = 4096;
/// Bytes kept at most, whatever the count.
pub const RETAIN_BYTES: usize = 16 << 20;
/// Named WebSocket consumers remembered per output.
pub const MAX_NAMED_CONSUMERS: usize = 10_000;
/// How long a write waits for a live consumer that still needs the log's oldest message.
pub const SLOW_CONSUMER_GRACE: Duration = Duration::from_secs(10);

/// Bento's `http_server` output fields that Weir implements; any other field is refused.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerOutputConfig {
    /// Bento's own listener; must be empty (endpoints live under the API's listen path).
    pub address: String,
    /// GET long-poll endpoint.
    pub path: String,
    /// Long-lived stream endpoint.
    pub stream_path: String,
    /// WebSocket endpoint.
    pub ws_path: String,
    /// `raw_bytes` or `event_source` (SSE) for `stream_path`.
    pub stream_format: String,
    /// SSE comment interval; zero for none.
    #[serde(with = "crate::config::go_duration")]
    pub heartbeat: Duration,
    /// `binary` or `text` WebSocket frames.
    pub ws_message_type: String,
    /// Verbs of the long-poll endpoint.
    pub allowed_verbs: Vec<String>,
    /// How long a GET waits for a message before answering 408.
    #[serde(with = "crate::config::go_duration")]
    pub timeout: Duration,
    /// CORS (refused when enabled: the API's own CORS applies).
    pub cors: Cors,
}

/// Bento's `cors` block.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Cors {
    /// Refused when true.
    pub enabled: bool,
    /// Origins.
    pub allowed_origins: Vec<String>,
}

impl Default for HttpServerOutputConfig {
    fn default() -> Self {
        HttpServerOutputConfig {
            address: String::new(),
            path: "/get".into(),
            stream_path: "/get/stream".into(),
            ws_path: "/get/ws".into(),
            stream_format: "raw_bytes".into(),
            heartbeat: Duration::ZERO,
            ws_message_type: "binary".into(),
            allowed_verbs: vec!["GET".into()],
            timeout: Duration::from_secs(5),
            cors: Cors::default(),
        }
    }
}

/// What [`HttpServerOutput::try_append`] did.
enum Append {
    Done,
    /// Nobody to take it yet.
    NoConsumer,
    /// The log is full and a live consumer still needs its oldest message.
    Full,
}

/// The shared log and its consumers.
pub struct HttpServerOutput {
    /// The checked config.
    pub cfg: HttpServerOutputConfig,
    state: Mutex<Log>,
    changed: Notify,
    /// Signalled when a live consumer advances while the log is full, or leaves.
    drained: Notify,
    /// Named WebSocket consumers' acknowledged positions (next sequence number to deliver).
    named: Mutex<std::collections::HashMap<String, u64>>,
    /// Distinguishes this instance's event ids from an earlier instance's.
    pub epoch: String,
    /// Messages consumers skipped because they fell too far behind.
    pub dropped: AtomicU64,
    /// The fields written in the config (the rest are Bento's defaults).
    pub written: Vec<String>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<(u64, Bytes)>,
    bytes: usize,
    next_seq: u64,
    subscribers: usize,
    pollers: usize,
    poll_cursor: u64,
    /// A GET consumer has come: from then on, queue messages it never took count as dropped.
    polled: bool,
    /// Each live consumer's next sequence number, by consumer id.
    readers: std::collections::BTreeMap<u64, u64>,
    next_reader: u64,
}

impl Log {
    fn head(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |e| e.0)
    }

    fn full(&self, adding: usize) -> bool {
        !self.entries.is_empty()
            && (self.entries.len() >= RETAIN_MESSAGES || self.bytes + adding > RETAIN_BYTES)
    }

    /// True when a live consumer has not read the oldest message yet.
    fn oldest_unread(&self) -> bool {
        let head = self.head();
        self.readers.values().any(|c| *c <= head)
    }
}

/// Checks one endpoint path.
fn check_path(p: &str, at: String) -> Result<(), StreamError> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(StreamError::new(at, "a path must start with '/'"));
    }
    if p.contains('{') {
        return Err(StreamError::new(
            at,
            "path parameters (`{name}`) are not built",
        ));
    }
    Ok(())
}

impl HttpServerOutput {
    /// Reads and checks the config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let cfg: HttpServerOutputConfig = crate::config::typed(body, path)?;
        crate::inputs::http_server::mounted_under_the_api(&cfg.address, cfg.cors.enabled, path)?;
        check_path(&cfg.path, format!("{path}.path"))?;
        check_path(&cfg.stream_path, format!("{path}.stream_path"))?;
        check_path(&cfg.ws_path, format!("{path}.ws_path"))?;
        if !matches!(cfg.stream_format.as_str(), "raw_bytes" | "event_source") {
            return Err(StreamError::new(
                format!("{path}.stream_format"),
                "expected `raw_bytes` or `event_source`",
            ));
        }
        if !matches!(cfg.ws_message_type.as_str(), "binary" | "text") {
            return Err(StreamError::new(
                format!("{path}.ws_message_type"),
                "expected `binary` or `text`",
            ));
        }
        static EPOCHS: AtomicU64 = AtomicU64::new(0);
        let epoch = format!(
            "{:x}{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
            EPOCHS.fetch_add(1, Ordering::Relaxed)
        );
        Ok(HttpServerOutput {
            written: crate::inputs::http_server::written_fields(body),
            cfg,
            state: Mutex::new(Log::default()),
            changed: Notify::new(),
            drained: Notify::new(),
            named: Mutex::new(std::collections::HashMap::new()),
            epoch,
            dropped: AtomicU64::new(0),
        })
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the message if a consumer can take it. `force` appends even over a live
    /// consumer that still needs the oldest message (it will skip ahead).
    fn try_append(&self, content: &Bytes, force: bool) -> Append {
        let mut log = self.log();
        let backlog = log.next_seq - log.poll_cursor;
        if log.subscribers == 0 && (log.pollers as u64) <= backlog {
            return Append::NoConsumer;
        }
        if !force && log.full(content.len()) && log.oldest_unread() {
            return Append::Full;
        }
        let seq = log.next_seq;
        log.next_seq += 1;
        log.bytes += content.len();
        log.entries.push_back((seq, content.clone()));
        while log.entries.len() > RETAIN_MESSAGES
            || (log.bytes > RETAIN_BYTES && log.entries.len() > 1)
        {
            if let Some((_, b)) = log.entries.pop_front() {
                log.bytes -= b.len();
            }
        }
        let head = log.head();
        if log.poll_cursor < head {
            if log.polled {
                self.dropped
                    .fetch_add(head - log.poll_cursor, Ordering::Relaxed);
            }
            log.poll_cursor = head;
        }
        drop(log);
        self.changed.notify_waiters();
        Append::Done
    }

    /// Registers a live consumer (stream or WebSocket) starting after `resume` (an event id
    /// from `Last-Event-ID`), or at the next message. Returns its cursor.
    pub fn subscribe(self: &Arc<Self>, resume: Option<&str>) -> Subscriber {
        let after = resume
            .and_then(|id| id.split_once('-'))
            .filter(|(epoch, _)| *epoch == self.epoch)
            .and_then(|(_, seq)| seq.parse::<u64>().ok())
            .map(|seq| seq + 1);
        self.subscribe_at(after)
    }

    /// Registers a live consumer reading from sequence number `from` (clamped to the log), or
    /// from the next message.
    pub fn subscribe_at(self: &Arc<Self>, from: Option<u64>) -> Subscriber {
        let mut log = self.log();
        log.subscribers += 1;
        let id = log.next_reader;
        log.next_reader += 1;
        let cursor = from.unwrap_or(log.next_seq).min(log.next_seq);
        log.readers.insert(id, cursor);
        drop(log);
        self.changed.notify_waiters();
        Subscriber {
            out: self.clone(),
            id,
            cursor,
        }
    }

    /// The SSE event id of sequence number `seq`: `<epoch>-<seq>`, so that an id from an
    /// earlier instance is not mistaken for a place in this one.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    /// Where the named WebSocket consumer `name` resumes: after its last acknowledged message.
    pub fn acknowledged(&self, name: &str) -> Option<u64> {
        self.named
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }

    /// Records that the named consumer `name` has processed everything before `next`.
    pub fn acknowledge(&self, name: &str, next: u64) {
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        if named.len() >= MAX_NAMED_CONSUMERS && !named.contains_key(name) {
            // Bounded: names whose place fell out of the log resume at the head anyway.
            let head = self.log().head();
            named.retain(|_, at| *at >= head);
            if named.len() >= MAX_NAMED_CONSUMERS {
                return;
            }
        }
        named.insert(name.to_string(), next);
    }

    /// Takes the next message for a GET consumer, waiting up to the configured timeout.
    pub async fn poll(&self) -> Option<Bytes> {
        struct Waiting<'a>(&'a HttpServerOutput);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.log().pollers -= 1;
            }
        }
        {
            let mut log = self.log();
            log.pollers += 1;
            log.polled = true;
        }
        let _waiting = Waiting(self);
        self.changed.notify_waiters();
        let wait = async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let mut log = self.log();
                    if log.poll_cursor < log.next_seq {
                        let head = log.head();
                        let at = (log.poll_cursor - head) as usize;
                        let content = log.entries[at].1.clone();
                        log.poll_cursor += 1;
                        return content;
                    }
                }
                notified.await;
            }
        };
        tokio::time::timeout(self.cfg.timeout, wait).await.ok()
    }

    /// Consumers connected now (streams, WebSockets and waiting GETs).
    pub fn consumers(&self) -> usize {
        let log = self.log();
        log.subscribers + log.pollers
    }
}

/// A live consumer's place in the log; leaving is noticed when it is dropped.
pub struct Subscriber {
    out: Arc<HttpServerOutput>,
    id: u64,
    cursor: u64,
}

impl Subscriber {
    /// The next message and its sequence number, waiting as long as it takes.
    pub async fn next(&mut self) -> (u64, Bytes) {
        let out = self.out.clone();
        loop {
            let notified = out.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(next) = self.try_next() {
                return next;
            }
            notified.await;
        }
    }

    /// The output this consumer reads.
    pub fn output(&self) -> &HttpServerOutput {
        &self.out
    }

    /// The next message if one is in the log now.
    pub fn try_next(&mut self) -> Option<(u64, Bytes)> {
        let mut log = self.out.log();
        let head = log.head();
        if self.cursor < head {
            // Fell behind what the log keeps: skip ahead, counted.
            self.out
                .dropped
                .fetch_add(head - self.cursor, Ordering::Relaxed);
            self.cursor = head;
        }
        if self.cursor < log.next_seq {
            let (seq, content) = log.entries[(self.cursor - head) as usize].clone();
            self.cursor += 1;
            log.readers.insert(self.id, self.cursor);
            let writer_waits = log.full(0);
            drop(log);
            if writer_waits {
                self.out.drained.notify_waiters();
            }
            return Some((seq, content));
        }
        None
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mut log = self.out.log();
        log.subscribers -= 1;
        log.readers.remove(&self.id);
        drop(log);
        self.out.changed.notify_waiters();
        self.out.drained.notify_waiters();
    }
}

/// The writer side, holding the output by `Arc` so its future is `'static`.
pub struct HttpServerWriter(pub Arc<HttpServerOutput>);

impl Output for HttpServerWriter {
    fn write(&self, msg: Message, _sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let out = self.0.clone();
        let content = Bytes::from(msg.content);
        Box::pin(async move {
            let mut deadline = None;
            let mut force = false;
            loop {
                let changed = out.changed.notified();
                let drained = out.drained.notified();
                tokio::pin!(changed, drained);
                changed.as_mut().enable();
                drained.as_mut().enable();
                match out.try_append(&content, force) {
                    Append::Done => return Ok(()),
                    Append::NoConsumer => changed.await,
                    Append::Full => {
                        let until = *deadline.get_or_insert_with(|| {
                            tokio::time::Instant::now() + SLOW_CONSUMER_GRACE
                        });
                        // The slowest live consumer gets the grace to read on; then it skips.
                        force = tokio::time::timeout_at(until, drained).await.is_err();
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output() -> Arc<HttpServerOutput> {
        Arc::new(HttpServerOutput::new(&json!({"stream_path": "/s"}), "o").unwrap())
    }

    fn write(out: &Arc<HttpServerOutput>, n: usize) -> BoxFuture<'static, Outcome> {
        let msg = Message {
            content: n.to_string().into_bytes(),
            ..Message::default()
        };
        HttpServerWriter(out.clone()).write(msg, None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_waits_for_a_consumer() {
        let out = output();
        let mut pending = write(&out, 0);
        assert!(
            tokio::time::timeout(Duration::from_secs(60), &mut pending)
                .await
                .is_err()
        );
        let mut sub = out.subscribe(None);
        pending.await.unwrap();
        assert_eq!(sub.next().await.1, "0");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_log_waits_for_the_slowest_reader_then_skips_it() {
        let out = output();
        let mut slow = out.subscribe(None);
        for n in 0..RETAIN_MESSAGES {
            write(&out, n).await.unwrap();
        }
        // Full, and `slow` has not read the oldest: the next write waits for it.
        let mut next = write(&out, RETAIN_MESSAGES);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), &mut next)
                .await
                .is_err()
        );
        assert_eq!(slow.next().await.1, "0");
        next.await.unwrap();
        assert_eq!(out.dropped.load(Ordering::Relaxed), 0, "nothing lost");
        // A reader that stops for longer than the grace is skipped ahead, counted.
        let start = tokio::time::Instant::now();
        write(&out, RETAIN_MESSAGES + 1).await.unwrap();
        assert!(start.elapsed() >= SLOW_CONSUMER_GRACE);
        assert_eq!(slow.next().await.1, "2", "the oldest kept");
        assert_eq!(out.dropped.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_reconnecting_reader_resumes_after_its_last_event_id() {
        let out = output();
        let mut first = out.subscribe(None);
        for n in 0..5 {
            write(&out, n).await.unwrap();
        }
        let id = out.event_id(first.next().await.0);
        let id2 = out.event_id(first.next().await.0);
        drop(first);
        let mut again = out.subscribe(Some(&id2));
        assert_eq!(again.next().await.1, "2");
        let mut other_epoch = out.subscribe(Some(&id.replace(&out.epoch, "old")));
        let _ = &mut other_epoch;
        assert!(
            other_epoch.try_next().is_none(),
            "an unknown id starts at the next message"
        );
    }
}
