//! `nats` (input): subscribes to a subject on core NATS, alone or in a queue group (`queue`:
//! the group's members share the messages, each message goes to one of them).
//!
//! Core NATS is at-most-once: the server keeps nothing, so a message published while Weir is
//! not subscribed (before the stream starts, while the connection is down) is gone, and one
//! received but not yet delivered when Weir stops is lost. A nack is delivered again from
//! memory while the stream runs (`auto_replay_nacks`); with `send_ack`, an acknowledged
//! message that carries a reply subject is answered with `+ACK` (as Bento does).
//!
//! Received messages wait in the subscription's buffer, `prefetch_count` of them at most;
//! when it is full the client drops what arrives and reports a slow consumer, which is
//! logged and counted. The client reconnects and re-subscribes by itself; the link follows
//! its connection events.

use std::sync::Arc;

use async_nats::{Client, Subject, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Source, replaying_ack, spawn_detached};
use crate::error::StreamError;
use crate::link::Link;
use crate::message::{Message, Outcome, Transaction};
use crate::nats_client::{NatsConn, NatsEndpoint, check_subject, headers_to_metadata};

/// Bento's `nats` input fields, beside the connection fields (`urls`, `max_reconnects`,
/// `tls`, `tls_handshake_first`, `auth`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsInputConfig {
    /// The subject (wildcards allowed).
    pub subject: String,
    /// A queue group: members share the messages.
    pub queue: String,
    /// Deliver a nacked message again from memory (else a nack counts as done).
    pub auto_replay_nacks: bool,
    /// Answer `+ACK` on the message's reply subject once it is acknowledged.
    pub send_ack: bool,
    /// Refused when set: core NATS cannot redeliver.
    pub nak_delay: String,
    /// Messages buffered in the subscription before the client drops new ones.
    pub prefetch_count: usize,
}

impl Default for NatsInputConfig {
    fn default() -> Self {
        NatsInputConfig {
            subject: String::new(),
            queue: String::new(),
            auto_replay_nacks: true,
            send_ack: true,
            nak_delay: String::new(),
            prefetch_count: 524_288,
        }
    }
}

/// A checked `nats` input.
pub struct NatsInput {
    cfg: NatsInputConfig,
    endpoint: NatsEndpoint,
    link: Arc<Link>,
}

impl NatsInput {
    /// Checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::nats_client::split(body, path)?;
        let cfg: NatsInputConfig = crate::config::typed(&rest, path)?;
        check_subject(&cfg.subject, true, &format!("{path}.subject"))?;
        if cfg.queue.chars().any(char::is_whitespace) {
            return Err(StreamError::new(
                format!("{path}.queue"),
                "a queue group name has no spaces",
            ));
        }
        if !cfg.nak_delay.is_empty() {
            return Err(StreamError::new(
                format!("{path}.nak_delay"),
                "core NATS cannot redeliver, so there is nothing to delay: a nack is replayed \
                 from memory (auto_replay_nacks); use nats_jetstream for redelivery by the server",
            ));
        }
        if cfg.prefetch_count == 0 {
            return Err(StreamError::new(
                format!("{path}.prefetch_count"),
                "must be at least 1",
            ));
        }
        let link = Link::register(path, links);
        Ok(NatsInput {
            cfg,
            endpoint,
            link,
        })
    }

    /// Connects and subscribes; the server has the subscription when this returns.
    async fn subscribe(&self) -> Result<(NatsConn, Subscriber), String> {
        let conn = self
            .endpoint
            .connect(&self.link, Some(self.cfg.prefetch_count), false)
            .await?;
        let (client, subject) = (&conn.client, self.cfg.subject.clone());
        let sub = if self.cfg.queue.is_empty() {
            client.subscribe(subject).await
        } else {
            client
                .queue_subscribe(subject, self.cfg.queue.clone())
                .await
        }
        .map_err(|e| format!("nats: subscribing to `{}`: {e}", self.cfg.subject))?;
        client
            .flush()
            .await
            .map_err(|e| format!("nats: subscribing to `{}`: {e}", self.cfg.subject))?;
        Ok((conn, sub))
    }

    async fn consume(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        while let Some((conn, mut sub)) = self.link.connect(&stop, || self.subscribe()).await {
            conn.arm(true);
            loop {
                let m = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = sub.next() => m,
                };
                // The client gave up reconnecting (`max_reconnects`): make a new one.
                let Some(m) = m else { break };
                let msg = to_message(&m);
                let done = self.done(conn.client.clone(), m.reply);
                let t = Transaction {
                    ack: replaying_ack(tx.clone(), msg.clone(), self.cfg.auto_replay_nacks, done),
                    msg,
                    sync: None,
                };
                if tx.send(t).await.is_err() {
                    return;
                }
            }
            if conn.dropped() > 0 {
                tracing::warn!(input = %self.link.component, dropped = conn.dropped(), "the subscription overflowed");
            }
            self.link.failed("the NATS subscription ended");
            if !self.link.pause(&stop).await {
                return;
            }
        }
    }

    /// What runs once a message is finally acknowledged: the `+ACK` reply (`send_ack`).
    fn done(&self, client: Client, reply: Option<Subject>) -> Box<dyn FnOnce(Outcome) + Send> {
        let reply = reply.filter(|_| self.cfg.send_ack);
        Box::new(move |outcome| {
            let (Ok(()), Some(reply)) = (outcome, reply) else {
                return;
            };
            spawn_detached(async move {
                if let Err(e) = client.publish(reply, Bytes::from_static(b"+ACK")).await {
                    tracing::debug!(error = %e, "nats: the +ACK reply was not sent");
                }
            });
        })
    }
}

impl Source for NatsInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.consume(tx, stop))
    }
}

fn to_message(m: &async_nats::Message) -> Message {
    let mut msg = Message {
        content: m.payload.to_vec(),
        ..Message::default()
    };
    headers_to_metadata(m.headers.as_ref(), &mut msg);
    let s = |v: &str| bloblang::Value::String(v.to_string());
    msg.metadata.insert("nats_subject", s(m.subject.as_str()));
    if let Some(r) = &m.reply {
        msg.metadata.insert("nats_reply_subject", s(r.as_str()));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<NatsInput, StreamError> {
        NatsInput::new(&v, "i", &mut Vec::new())
    }

    #[test]
    fn the_config_is_checked_naming_the_field() {
        let ok = input(json!({"urls": ["nats://127.0.0.1:4222"], "subject": "a.>", "queue": "q"}))
            .unwrap();
        assert!(ok.cfg.auto_replay_nacks && ok.cfg.send_ack);
        assert_eq!(ok.cfg.prefetch_count, 524_288);
        for (body, field) in [
            (json!({"urls": ["nats://h"]}), "i.subject"),
            (json!({"subject": "a"}), "i.urls"),
            (json!({"urls": ["nats://h"], "subject": "a b"}), "i.subject"),
            (
                json!({"urls": ["nats://h"], "subject": "a", "nak_delay": "1s"}),
                "i.nak_delay",
            ),
            (
                json!({"urls": ["nats://h"], "subject": "a", "queue": "a b"}),
                "i.queue",
            ),
            (
                json!({"urls": ["nats://h"], "subject": "a", "prefetch_count": 0}),
                "i.prefetch_count",
            ),
            (
                json!({"urls": ["nats://h"], "subject": "a", "extract_tracing_map": "root = @"}),
                "i.extract_tracing_map",
            ),
            (
                json!({"urls": ["nats://h"], "subject": "a", "subjects": ["b"]}),
                "i.subjects",
            ),
        ] {
            let e = input(body).err().unwrap();
            assert_eq!(e.path, field, "{e}");
        }
    }

    #[test]
    fn messages_carry_subject_reply_and_headers() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("X-Trace", "t1");
        let m = async_nats::Message {
            subject: "a.b".into(),
            reply: Some("_INBOX.1".into()),
            payload: Bytes::from_static(b"hi"),
            headers: Some(headers),
            status: None,
            description: None,
            length: 2,
        };
        let msg = to_message(&m);
        assert_eq!(msg.content, b"hi");
        let meta = |k| crate::message::meta_string(&msg, k);
        assert_eq!(meta("nats_subject").as_deref(), Some("a.b"));
        assert_eq!(meta("nats_reply_subject").as_deref(), Some("_INBOX.1"));
        assert_eq!(meta("X-Trace").as_deref(), Some("t1"));
    }
}
