//! `amqp_0_9` (input): consumes a RabbitMQ (AMQP 0-9-1) queue. A message is acknowledged at
//! the broker (`basic.ack`) once the output has delivered it; a nack requeues it
//! (`basic.nack` with requeue) unless its error matches `nack_reject_patterns`, which rejects
//! it for good (dropped, or dead-lettered where the queue has a dead-letter exchange).
//! Messages unacknowledged when the connection dies are redelivered by the broker, so
//! delivery is at-least-once; `prefetch_count` bounds how many Weir holds unacknowledged.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel, Connection};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{REPLAY_PAUSE, Source, spawn_detached};
use crate::amqp_client::AmqpEndpoint;
use crate::error::StreamError;
use crate::kafka_client::TlsConfig;
use crate::link::Link;
use crate::message::{Ack, Message, Outcome, Transaction};

/// Bento's `amqp_0_9` input fields; any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpInputConfig {
    /// Broker URLs (`amqp://user:pass@host:port/vhost`), tried in order.
    pub urls: Vec<String>,
    /// The queue to consume.
    pub queue: String,
    /// Declare the queue at connection.
    pub queue_declare: QueueDeclare,
    /// Bindings of the queue to declare at connection.
    pub bindings_declare: Vec<Binding>,
    /// The consumer tag (empty: the broker picks one).
    pub consumer_tag: String,
    /// Let the broker forget each message as it is sent (at-most-once).
    pub auto_ack: bool,
    /// Nacks whose error matches one of these regexes are rejected without requeue.
    pub nack_reject_patterns: Vec<String>,
    /// Messages delivered but not yet acknowledged, at most.
    pub prefetch_count: u16,
    /// Bytes delivered but not yet acknowledged, at most (RabbitMQ implements only 0).
    pub prefetch_size: u32,
    /// TLS (not built).
    pub tls: TlsConfig,
}

impl Default for AmqpInputConfig {
    fn default() -> Self {
        AmqpInputConfig {
            urls: Vec::new(),
            queue: String::new(),
            queue_declare: QueueDeclare::default(),
            bindings_declare: Vec::new(),
            consumer_tag: String::new(),
            auto_ack: false,
            nack_reject_patterns: Vec::new(),
            prefetch_count: 10,
            prefetch_size: 0,
            tls: TlsConfig::default(),
        }
    }
}

/// `queue_declare`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueDeclare {
    /// Declare the queue.
    pub enabled: bool,
    /// The queue survives a broker restart.
    pub durable: bool,
    /// The queue is deleted when its last consumer goes.
    pub auto_delete: bool,
}

impl Default for QueueDeclare {
    fn default() -> Self {
        QueueDeclare {
            enabled: false,
            durable: true,
            auto_delete: false,
        }
    }
}

/// One entry of `bindings_declare`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Binding {
    /// The exchange to bind to.
    pub exchange: String,
    /// The binding key.
    pub key: String,
}

/// A checked `amqp_0_9` input.
pub struct AmqpInput {
    cfg: AmqpInputConfig,
    endpoint: AmqpEndpoint,
    reject: Arc<regex::RegexSet>,
    link: Arc<Link>,
}

/// The connection and channel a consumer's deliveries came on, kept open by their
/// acknowledgements (a delivery can only be acknowledged on its own channel).
struct Session {
    _conn: Connection,
    channel: Channel,
}

impl AmqpInput {
    /// Reads and checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let cfg: AmqpInputConfig = crate::config::typed(body, path)?;
        let endpoint = AmqpEndpoint::new(&cfg.urls, &cfg.tls, path)?;
        if cfg.queue.is_empty() {
            return Err(StreamError::new(
                format!("{path}.queue"),
                "a queue is required",
            ));
        }
        if cfg.prefetch_size != 0 {
            return Err(StreamError::new(
                format!("{path}.prefetch_size"),
                "a byte limit on unacknowledged messages is not built (RabbitMQ does not implement it); use prefetch_count",
            ));
        }
        for (i, b) in cfg.bindings_declare.iter().enumerate() {
            if b.exchange.is_empty() {
                return Err(StreamError::new(
                    format!("{path}.bindings_declare[{i}].exchange"),
                    "an exchange is required (the default exchange cannot be bound)",
                ));
            }
        }
        let reject = regex::RegexSet::new(&cfg.nack_reject_patterns).map_err(|e| {
            StreamError::new(
                format!("{path}.nack_reject_patterns"),
                format!("bad regex: {e}"),
            )
        })?;
        let link = Link::register(path, links);
        Ok(AmqpInput {
            cfg,
            endpoint,
            reject: Arc::new(reject),
            link,
        })
    }

    /// Connects, declares what the config asks for and starts consuming.
    async fn open(&self) -> Result<(Arc<Session>, lapin::Consumer), String> {
        let conn = self.endpoint.connect().await?;
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| format!("amqp channel: {e}"))?;
        let queue = self.cfg.queue.as_str();
        if !self.cfg.auto_ack {
            channel
                .basic_qos(self.cfg.prefetch_count, BasicQosOptions::default())
                .await
                .map_err(|e| format!("amqp basic.qos: {e}"))?;
        }
        if self.cfg.queue_declare.enabled {
            let options = QueueDeclareOptions {
                durable: self.cfg.queue_declare.durable,
                auto_delete: self.cfg.queue_declare.auto_delete,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(queue.into(), options, FieldTable::default())
                .await
                .map_err(|e| format!("amqp queue.declare `{queue}`: {e}"))?;
        }
        for b in &self.cfg.bindings_declare {
            channel
                .queue_bind(
                    queue.into(),
                    b.exchange.as_str().into(),
                    b.key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("amqp queue.bind `{queue}` to `{}`: {e}", b.exchange))?;
        }
        let options = BasicConsumeOptions {
            no_ack: self.cfg.auto_ack,
            ..BasicConsumeOptions::default()
        };
        let consumer = channel
            .basic_consume(
                queue.into(),
                self.cfg.consumer_tag.as_str().into(),
                options,
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("amqp basic.consume `{queue}`: {e}"))?;
        Ok((
            Arc::new(Session {
                _conn: conn,
                channel,
            }),
            consumer,
        ))
    }

    /// Consumes until `stop`, reconnecting with back-off whenever the connection is lost.
    async fn consume(&self, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        loop {
            let Some((session, mut consumer)) = self.link.connect(&stop, || self.open()).await
            else {
                return;
            };
            let tag = consumer.tag().to_string();
            let acks = self.ack_sender(&session);
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => return,
                    d = consumer.next() => d,
                };
                let delivery = match next {
                    Some(Ok(d)) => d,
                    Some(Err(e)) => {
                        self.link.failed(format!("amqp consumer: {e}"));
                        break;
                    }
                    None => {
                        self.link
                            .failed("the broker cancelled the consumer or closed the channel");
                        break;
                    }
                };
                let msg = to_message(&delivery, &tag);
                let t = Transaction {
                    ack: self.ack(delivery.acker, &acks),
                    msg,
                    sync: None,
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    sent = tx.send(t) => if sent.is_err() { return },
                }
            }
            drop(consumer);
            drop(session);
            if !self.link.pause(&stop).await {
                return;
            }
        }
    }

    /// The acknowledgement of one delivery, queued for the session's acknowledging task.
    fn ack(&self, acker: Acker, acks: &AckQueue) -> Ack {
        if self.cfg.auto_ack {
            return Ack::none();
        }
        let acks = acks.clone();
        Ack::new(move |outcome| {
            let _ = acks.send((acker, outcome));
        })
    }

    /// One task per session answers the broker: ack, reject (`nack_reject_patterns`) or nack
    /// with requeue. An answer is a frame queued on the channel, cheaper than a task of its
    /// own; only a requeue, which waits first, gets one. The queue holds at most
    /// `prefetch_count` answers: the broker sends no more than that unacknowledged.
    fn ack_sender(&self, session: &Arc<Session>) -> AckQueue {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Acker, Outcome)>();
        let (session, reject) = (session.clone(), self.reject.clone());
        spawn_detached(async move {
            while let Some((acker, outcome)) = rx.recv().await {
                let done = match outcome {
                    Ok(()) => acker.ack(BasicAckOptions::default()).await,
                    Err(e) if reject.is_match(&e) => {
                        tracing::debug!(error = %e, "message rejected (nack_reject_patterns)");
                        acker.reject(BasicRejectOptions { requeue: false }).await
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "message nacked; the broker requeues it");
                        // A short pause, so an output that keeps failing does not make the
                        // broker and Weir spin on the same message.
                        let session = session.clone();
                        spawn_detached(async move {
                            tokio::time::sleep(REPLAY_PAUSE).await;
                            let requeue = BasicNackOptions {
                                multiple: false,
                                requeue: true,
                            };
                            let done = acker.nack(requeue).await;
                            report(done, &session);
                        });
                        continue;
                    }
                };
                report(done, &session);
            }
        });
        tx
    }
}

/// Answers waiting to be sent to the broker.
type AckQueue = tokio::sync::mpsc::UnboundedSender<(Acker, Outcome)>;

fn report(done: Result<bool, lapin::Error>, session: &Session) {
    if let Err(e) = done
        && session.channel.status().connected()
    {
        tracing::warn!(error = %e, "amqp acknowledgement failed; the broker redelivers the message");
    }
}

impl Source for AmqpInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.consume(tx, stop).await })
    }
}

/// The delivery as a message: its body, its properties as `amqp_*` metadata and its headers.
fn to_message(d: &Delivery, consumer_tag: &str) -> Message {
    let mut msg = Message {
        content: d.data.clone(),
        ..Message::default()
    };
    let p = &d.properties;
    let text = |v: &Option<lapin::types::ShortString>| {
        bloblang::Value::String(v.as_ref().map(|s| s.to_string()).unwrap_or_default())
    };
    let meta = &mut msg.metadata;
    meta.insert("amqp_content_type", text(p.content_type()));
    meta.insert("amqp_content_encoding", text(p.content_encoding()));
    meta.insert(
        "amqp_delivery_mode",
        bloblang::Value::Int(p.delivery_mode().unwrap_or(0).into()),
    );
    meta.insert(
        "amqp_priority",
        bloblang::Value::Int(p.priority().unwrap_or(0).into()),
    );
    meta.insert("amqp_correlation_id", text(p.correlation_id()));
    meta.insert("amqp_reply_to", text(p.reply_to()));
    meta.insert("amqp_expiration", text(p.expiration()));
    meta.insert("amqp_message_id", text(p.message_id()));
    let ts = p.timestamp().unwrap_or(0);
    meta.insert(
        "amqp_timestamp",
        bloblang::Value::Int(i64::try_from(ts).unwrap_or(i64::MAX)),
    );
    meta.insert("amqp_type", text(p.kind()));
    meta.insert("amqp_user_id", text(p.user_id()));
    meta.insert("amqp_app_id", text(p.app_id()));
    meta.insert(
        "amqp_consumer_tag",
        bloblang::Value::String(consumer_tag.to_string()),
    );
    meta.insert("amqp_delivery_tag", bloblang::Value::UInt(d.delivery_tag));
    meta.insert("amqp_redelivered", bloblang::Value::Bool(d.redelivered));
    meta.insert(
        "amqp_exchange",
        bloblang::Value::String(d.exchange.to_string()),
    );
    meta.insert(
        "amqp_routing_key",
        bloblang::Value::String(d.routing_key.to_string()),
    );
    if let Some(headers) = p.headers() {
        for (k, v) in headers {
            header_meta(&mut msg, &k.as_str().replace('-', "_"), v);
        }
    }
    msg
}

/// One header as metadata: nested tables flatten to `<parent>_<key>`, everything else
/// becomes its text.
fn header_meta(msg: &mut Message, key: &str, v: &AMQPValue) {
    let text = match v {
        AMQPValue::FieldTable(t) => {
            for (k, inner) in t {
                header_meta(
                    msg,
                    &format!("{key}_{}", k.as_str().replace('-', "_")),
                    inner,
                );
            }
            return;
        }
        other => header_text(other),
    };
    msg.metadata.insert(key, bloblang::Value::String(text));
}

fn header_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::DecimalValue(d) => {
            let scale = 10f64.powi(i32::from(d.scale));
            (f64::from(d.value) / scale).to_string()
        }
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::Timestamp(t) => t.to_string(),
        AMQPValue::ByteArray(b) => String::from_utf8_lossy(b.as_slice()).into_owned(),
        AMQPValue::FieldArray(a) => {
            let items: Vec<String> = a.as_slice().iter().map(header_text).collect();
            format!("[{}]", items.join(","))
        }
        AMQPValue::FieldTable(_) | AMQPValue::Void => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<AmqpInput, StreamError> {
        AmqpInput::new(&v, "in.amqp_0_9", &mut Vec::new())
    }

    const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    #[test]
    fn defaults_follow_bento() {
        let i = build(json!({"urls": [URL], "queue": "q"})).unwrap();
        assert_eq!(i.cfg.prefetch_count, 10);
        assert!(!i.cfg.auto_ack);
        assert!(i.cfg.queue_declare.durable && !i.cfg.queue_declare.enabled);
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let cases = [
            (json!({"urls": [URL]}), "in.amqp_0_9.queue"),
            (json!({"queue": "q"}), "in.amqp_0_9.urls"),
            (
                json!({"urls": ["http://x"], "queue": "q"}),
                "in.amqp_0_9.urls[0]",
            ),
            (
                json!({"urls": ["amqps://h:5671/"], "queue": "q"}),
                "in.amqp_0_9.urls[0]",
            ),
            (
                json!({"urls": [URL], "queue": "q", "tls": {"enabled": true}}),
                "in.amqp_0_9.tls",
            ),
            (
                json!({"urls": [URL], "queue": "q", "prefetch_size": 10}),
                "in.amqp_0_9.prefetch_size",
            ),
            (
                json!({"urls": [URL], "queue": "q", "nack_reject_patterns": ["("]}),
                "in.amqp_0_9.nack_reject_patterns",
            ),
            (
                json!({"urls": [URL], "queue": "q", "queue_declare": {"arguments": {}}}),
                "in.amqp_0_9.queue_declare.arguments",
            ),
            (
                json!({"urls": [URL], "queue": "q", "bindings_declare": [{"key": "k"}]}),
                "in.amqp_0_9.bindings_declare[0].exchange",
            ),
            (
                json!({"urls": [URL], "queue": "q", "batching": {}}),
                "in.amqp_0_9.batching",
            ),
        ];
        crate::config::assert_refused(build, cases);
    }

    #[test]
    fn headers_become_metadata_with_nested_tables_flattened() {
        let mut inner = FieldTable::default();
        inner.insert("count".into(), AMQPValue::LongLongInt(2));
        let mut headers = FieldTable::default();
        headers.insert("x-trace".into(), AMQPValue::LongString("abc".into()));
        headers.insert("x-death".into(), AMQPValue::FieldTable(inner));
        headers.insert("ok".into(), AMQPValue::Boolean(true));
        let mut msg = Message::default();
        for (k, v) in &headers {
            header_meta(&mut msg, &k.as_str().replace('-', "_"), v);
        }
        let get = |k: &str| crate::message::meta_string(&msg, k);
        assert_eq!(get("x_trace").as_deref(), Some("abc"));
        assert_eq!(get("x_death_count").as_deref(), Some("2"));
        assert_eq!(get("ok").as_deref(), Some("true"));
    }
}
