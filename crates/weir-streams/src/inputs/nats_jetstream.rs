//! `nats_jetstream` (input): reads a JetStream stream through a pull consumer. At-least-once:
//! a message is acknowledged to the server (`+ACK`) once the output has taken it and nacked
//! (`-NAK`, so the server delivers it again after a short pause) when the output refuses
//! it; one never answered (Weir killed, a write taking longer than `ack_wait`) is delivered
//! again after `ack_wait`.
//!
//! With `durable` (or `queue`, which names the same thing) the consumer is durable and
//! shared: several Weir nodes running the same stream pull from one consumer, so each message
//! is processed once in total while they all run, and a node's unacknowledged messages go to
//! the others after `ack_wait` when it dies. Without either, each instance makes an ephemeral
//! consumer of its own, which the server forgets once it is gone (`deliver` then applies
//! anew). `bind` uses an existing consumer and never makes one.
//!
//! With `subject` but no `stream`, the stream is the one holding the subject. A missing
//! stream or consumer is reported on the link and retried with back-off. The client
//! reconnects by itself; the consumer is looked up again after any read error.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Source, spawn_detached};
use crate::error::StreamError;
use crate::link::{BACKOFF_MAX, BACKOFF_START, Link};
use crate::message::{Ack, Message, Transaction};
use crate::nats_client::{NatsConn, NatsEndpoint, check_subject, headers_to_metadata};

/// Messages asked for per pull request, at most (fewer when `max_ack_pending` is lower), so
/// nodes sharing a consumer each get a share.
const BATCH: usize = 128;
/// Idle heartbeat asked of the server: a consumer gone silent is looked up again.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Bento's `nats_jetstream` input fields, beside the connection fields (`urls`,
/// `max_reconnects`, `tls`, `tls_handshake_first`, `auth`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsJetStreamInputConfig {
    /// The name of a shared durable consumer (when `durable` is empty).
    pub queue: String,
    /// Subject filter (wildcards allowed); empty: every subject of `stream`.
    pub subject: String,
    /// Durable consumer name.
    pub durable: String,
    /// Stream name; empty: the stream holding `subject`.
    pub stream: String,
    /// Use an existing consumer (`stream` and `durable` required); never make one.
    pub bind: bool,
    /// Where a new consumer starts: `all`, `last`, `last_per_subject` or `new`.
    pub deliver: String,
    /// How long the server waits for an acknowledgement before delivering again.
    #[serde(with = "crate::config::go_duration")]
    pub ack_wait: Duration,
    /// Messages delivered and not yet acknowledged, at most (for the whole consumer).
    pub max_ack_pending: i64,
}

impl Default for NatsJetStreamInputConfig {
    fn default() -> Self {
        NatsJetStreamInputConfig {
            queue: String::new(),
            subject: String::new(),
            durable: String::new(),
            stream: String::new(),
            bind: false,
            deliver: "all".into(),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1024,
        }
    }
}

/// A checked `nats_jetstream` input.
pub struct NatsJetStreamInput {
    cfg: NatsJetStreamInputConfig,
    endpoint: NatsEndpoint,
    /// The durable consumer's name (`durable`, else `queue`); `None`: ephemeral.
    name: Option<String>,
    deliver: DeliverPolicy,
    link: Arc<Link>,
}

impl NatsJetStreamInput {
    /// Checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::nats_client::split(body, path)?;
        let cfg: NatsJetStreamInputConfig = crate::config::typed(&rest, path)?;
        let at = |f: &str| format!("{path}.{f}");
        if cfg.subject.is_empty() && cfg.stream.is_empty() {
            return Err(StreamError::new(
                at("subject"),
                "a subject (or a stream, to read all of it) is required",
            ));
        }
        if !cfg.subject.is_empty() {
            check_subject(&cfg.subject, true, &at("subject"))?;
        }
        for (field, name) in [
            ("stream", &cfg.stream),
            ("durable", &cfg.durable),
            ("queue", &cfg.queue),
        ] {
            if name.contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>')) {
                return Err(StreamError::new(
                    at(field),
                    format!("`{name}` is not a JetStream name (no spaces, `.`, `*` or `>`)"),
                ));
            }
        }
        let deliver = match cfg.deliver.as_str() {
            "all" => DeliverPolicy::All,
            "last" => DeliverPolicy::Last,
            "last_per_subject" => DeliverPolicy::LastPerSubject,
            "new" => DeliverPolicy::New,
            other => {
                return Err(StreamError::new(
                    at("deliver"),
                    format!("`{other}` is not one of all, last, last_per_subject, new"),
                ));
            }
        };
        let name = [&cfg.durable, &cfg.queue]
            .into_iter()
            .find(|n| !n.is_empty())
            .cloned();
        if cfg.bind && (cfg.stream.is_empty() || name.is_none()) {
            return Err(StreamError::new(
                at("bind"),
                "binding to an existing consumer needs `stream` and `durable`",
            ));
        }
        if cfg.ack_wait.is_zero() {
            return Err(StreamError::new(at("ack_wait"), "must be more than zero"));
        }
        if cfg.max_ack_pending < 1 {
            return Err(StreamError::new(
                at("max_ack_pending"),
                "must be at least 1",
            ));
        }
        let link = Link::register(path, links);
        Ok(NatsJetStreamInput {
            cfg,
            endpoint,
            name,
            deliver,
            link,
        })
    }

    /// The consumer Weir makes when there is none.
    fn consumer_config(&self) -> pull::Config {
        pull::Config {
            durable_name: self.name.clone(),
            deliver_policy: self.deliver,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.cfg.ack_wait,
            max_ack_pending: self.cfg.max_ack_pending,
            filter_subject: self.cfg.subject.clone(),
            ..Default::default()
        }
    }

    /// Connects (unless `conn` still holds a live client), finds the stream and the
    /// consumer, and starts pulling.
    async fn open(&self, conn: &mut Option<NatsConn>) -> Result<pull::Stream, String> {
        if conn.as_ref().is_none_or(NatsConn::is_dead) {
            *conn = Some(self.endpoint.connect(&self.link, None, false).await?);
        }
        let Some(c) = conn.as_ref() else {
            return Err("nats: not connected".into());
        };
        let js = jetstream::new(c.client.clone());
        let stream_name = if self.cfg.stream.is_empty() {
            js.stream_by_subject(self.cfg.subject.clone())
                .await
                .map_err(|e| {
                    format!(
                        "nats: no stream holds the subject `{}`: {e}",
                        self.cfg.subject
                    )
                })?
        } else {
            self.cfg.stream.clone()
        };
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|e| format!("nats: stream `{stream_name}`: {e}"))?;
        let consumer: PullConsumer = match &self.name {
            Some(name) if self.cfg.bind => {
                stream.get_consumer(name).await.map_err(|e| e.to_string())
            }
            Some(name) => stream
                .get_or_create_consumer(name, self.consumer_config())
                .await
                .map_err(|e| e.to_string()),
            None => stream
                .create_consumer(self.consumer_config())
                .await
                .map_err(|e| e.to_string()),
        }
        .map_err(|e| {
            let name = self.name.as_deref().unwrap_or("(ephemeral)");
            format!("nats: consumer `{name}` of stream `{stream_name}`: {e}")
        })?;
        let batch = usize::try_from(self.cfg.max_ack_pending).map_or(BATCH, |n| n.min(BATCH));
        consumer
            .stream()
            .max_messages_per_batch(batch)
            .heartbeat(HEARTBEAT)
            .messages()
            .await
            .map_err(|e| format!("nats: pulling from stream `{stream_name}`: {e}"))
    }

    async fn consume(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        let mut conn = None;
        let mut wait = BACKOFF_START;
        loop {
            let opened = tokio::select! {
                _ = stop.cancelled() => return,
                o = self.open(&mut conn) => o,
            };
            let why = match opened {
                Ok(messages) => {
                    wait = BACKOFF_START;
                    self.link.connected();
                    // Reconnections now mark the link connected; while the consumer is
                    // looked up again they do not.
                    arm(&conn, true);
                    let Some(why) = self.read(messages, &tx, &stop).await else {
                        return;
                    };
                    arm(&conn, false);
                    why
                }
                Err(e) => e,
            };
            self.link.failed(&why);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(BACKOFF_MAX);
        }
    }

    /// Reads until an error (returned, to open the consumer again) or `stop` (`None`).
    async fn read(
        &self,
        mut messages: pull::Stream,
        tx: &mpsc::Sender<Transaction>,
        stop: &CancellationToken,
    ) -> Option<String> {
        let acks = ack_sender();
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return None,
                m = messages.next() => m,
            };
            let m = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Some(format!("nats: reading the consumer: {e}")),
                None => return Some("nats: the consumer's message stream ended".into()),
            };
            let t = Transaction {
                msg: to_message(&m),
                ack: server_ack(m, &acks),
                sync: None,
            };
            if tx.send(t).await.is_err() {
                return None;
            }
        }
    }
}

impl Source for NatsJetStreamInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.consume(tx, stop))
    }
}

fn arm(conn: &Option<NatsConn>, on: bool) {
    if let Some(c) = conn {
        c.arm(on);
    }
}

/// Acknowledgements waiting to be sent, in the order the output resolved them.
type AckQueue = mpsc::UnboundedSender<(jetstream::Message, crate::message::Outcome)>;

/// One task per consumer sends the acknowledgements: `+ACK` on success, `-NAK` on failure
/// (delivered again after a short pause, so a failing output does not make a storm). An
/// acknowledgement is a publish queued on the connection, cheaper than a task of its own. An
/// answer that cannot be sent leaves the message to be delivered again after `ack_wait`. The
/// queue is bounded by `max_ack_pending`: the server sends no more than that unacknowledged.
fn ack_sender() -> AckQueue {
    let (tx, mut rx) = mpsc::unbounded_channel::<(jetstream::Message, crate::message::Outcome)>();
    spawn_detached(async move {
        while let Some((m, outcome)) = rx.recv().await {
            let sent = match outcome {
                Ok(()) => m.ack().await,
                Err(_) => m.ack_with(AckKind::Nak(Some(super::REPLAY_PAUSE))).await,
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, "nats: acknowledgement not sent; the server will deliver again after ack_wait");
            }
        }
    });
    tx
}

fn server_ack(m: jetstream::Message, acks: &AckQueue) -> Ack {
    let acks = acks.clone();
    Ack::new(move |outcome| {
        let _ = acks.send((m, outcome));
    })
}

fn to_message(m: &jetstream::Message) -> Message {
    let mut msg = Message {
        content: m.payload.to_vec(),
        ..Message::default()
    };
    headers_to_metadata(m.headers.as_ref(), &mut msg);
    let mut set = |k: &str, v: String| {
        msg.metadata.insert(k, bloblang::Value::String(v));
    };
    set("nats_subject", m.subject.to_string());
    if let Ok(info) = m.info() {
        set("nats_sequence_stream", info.stream_sequence.to_string());
        set("nats_sequence_consumer", info.consumer_sequence.to_string());
        set("nats_num_delivered", info.delivered.to_string());
        set("nats_num_pending", info.pending.to_string());
        set("nats_domain", info.domain.unwrap_or_default().to_string());
    }
    if let Some(ns) = m.reply.as_deref().and_then(published_nanos) {
        set("nats_timestamp_unix_nano", ns.to_string());
    }
    msg
}

/// The publish time (Unix nanoseconds) from a `$JS.ACK` reply subject, in either of its
/// layouts (with or without domain and account hash).
fn published_nanos(reply: &str) -> Option<&str> {
    let tokens: Vec<&str> = reply.split('.').collect();
    match tokens.len() {
        9 => Some(tokens[7]),
        n if n >= 11 => Some(tokens[9]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<NatsJetStreamInput, StreamError> {
        NatsJetStreamInput::new(&v, "i", &mut Vec::new())
    }

    #[test]
    fn defaults_and_the_consumer_made() {
        let i = input(
            json!({"urls": ["nats://h"], "subject": "orders.>", "durable": "d",
                             "deliver": "new", "ack_wait": "5s"}),
        )
        .unwrap();
        let c = i.consumer_config();
        assert_eq!(c.durable_name.as_deref(), Some("d"));
        assert_eq!(c.deliver_policy, DeliverPolicy::New);
        assert_eq!(c.ack_policy, AckPolicy::Explicit);
        assert_eq!(c.ack_wait, Duration::from_secs(5));
        assert_eq!(c.max_ack_pending, 1024);
        assert_eq!(c.filter_subject, "orders.>");
        // `queue` names the shared consumer when `durable` is not given; neither: ephemeral.
        let q = input(json!({"urls": ["nats://h"], "subject": "a", "queue": "workers"})).unwrap();
        assert_eq!(q.name.as_deref(), Some("workers"));
        let e = input(json!({"urls": ["nats://h"], "stream": "S"})).unwrap();
        assert!(e.name.is_none());
        assert_eq!(e.consumer_config().filter_subject, "");
        assert_eq!(e.cfg.ack_wait, Duration::from_secs(30));
    }

    #[test]
    fn the_config_is_checked_naming_the_field() {
        let u = json!(["nats://h"]);
        for (body, field) in [
            (json!({"urls": u}), "i.subject"),
            (json!({"subject": "a"}), "i.urls"),
            (
                json!({"urls": u, "subject": "a", "deliver": "oldest"}),
                "i.deliver",
            ),
            (
                json!({"urls": u, "subject": "a", "durable": "a.b"}),
                "i.durable",
            ),
            (
                json!({"urls": u, "subject": "a", "bind": true, "durable": "d"}),
                "i.bind",
            ),
            (json!({"urls": u, "stream": "S", "bind": true}), "i.bind"),
            (
                json!({"urls": u, "subject": "a", "ack_wait": "0s"}),
                "i.ack_wait",
            ),
            (
                json!({"urls": u, "subject": "a", "max_ack_pending": 0}),
                "i.max_ack_pending",
            ),
            (
                json!({"urls": u, "subject": "a", "create_stream": true}),
                "i.create_stream",
            ),
            (
                json!({"urls": u, "subject": "a", "nak_delay": "1s"}),
                "i.nak_delay",
            ),
        ] {
            let e = input(body).err().unwrap();
            assert_eq!(e.path, field, "{e}");
        }
        assert!(input(json!({"urls": u, "stream": "S", "durable": "d", "bind": true})).is_ok());
    }

    #[test]
    fn the_publish_time_comes_from_either_ack_subject_layout() {
        let v1 = "$JS.ACK.S.C.1.42.7.1700000000000000000.3";
        assert_eq!(published_nanos(v1), Some("1700000000000000000"));
        let v2 = "$JS.ACK.dom.hash.S.C.1.42.7.1700000000000000001.3.tok";
        assert_eq!(published_nanos(v2), Some("1700000000000000001"));
        assert_eq!(published_nanos("_INBOX.x"), None);
    }
}
