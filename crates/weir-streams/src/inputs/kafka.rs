//! `kafka` (input): reads topics through a consumer group. An offset is committed only once
//! every message up to it has been acknowledged by the output (at-least-once), and a nacked
//! message is delivered again from memory (`auto_replay_nacks`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::Source;
use crate::error::StreamError;
use crate::kafka_client::{SaslConfig, TlsConfig, apply_security, bootstrap};
use crate::link::Link;
use crate::message::{Ack, Message, Transaction};

/// Bento's `kafka` input fields that Weir implements; any other field is refused.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaInputConfig {
    /// Broker addresses.
    pub addresses: Vec<String>,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// The consumer group (required: offsets are committed to it).
    pub consumer_group: String,
    /// Client id.
    pub client_id: String,
    /// Rack id.
    pub rack_id: String,
    /// With no committed offset, start from the oldest message (else the newest).
    pub start_from_oldest: bool,
    /// Messages read but not yet acknowledged, at most (per input).
    pub checkpoint_limit: usize,
    /// Deliver a nacked message again (else a nack counts as an ack).
    pub auto_replay_nacks: bool,
    /// How often acknowledged offsets are committed.
    #[serde(with = "crate::config::go_duration")]
    pub commit_period: Duration,
    /// Consumer group timings.
    pub group: GroupConfig,
    /// The protocol version to assume (librdkafka negotiates; the value is checked and kept).
    pub target_version: String,
    /// TLS.
    pub tls: TlsConfig,
    /// SASL.
    pub sasl: SaslConfig,
}

/// `group` timings.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    /// Session timeout.
    #[serde(with = "crate::config::go_duration")]
    pub session_timeout: Duration,
    /// Heartbeat interval.
    #[serde(with = "crate::config::go_duration")]
    pub heartbeat_interval: Duration,
    /// Rebalance timeout (librdkafka's `max.poll.interval.ms`).
    #[serde(with = "crate::config::go_duration")]
    pub rebalance_timeout: Duration,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(60),
        }
    }
}

impl Default for KafkaInputConfig {
    fn default() -> Self {
        KafkaInputConfig {
            addresses: Vec::new(),
            topics: Vec::new(),
            consumer_group: String::new(),
            client_id: "weir".into(),
            rack_id: String::new(),
            start_from_oldest: true,
            checkpoint_limit: 1024,
            auto_replay_nacks: true,
            commit_period: Duration::from_secs(1),
            group: GroupConfig::default(),
            target_version: String::new(),
            tls: TlsConfig::default(),
            sasl: SaslConfig::default(),
        }
    }
}

/// A checked config, ready to connect.
pub struct KafkaInput {
    cfg: KafkaInputConfig,
    client: ClientConfig,
    path: String,
    link: Arc<Link>,
}

impl KafkaInput {
    /// Reads and checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let cfg: KafkaInputConfig = crate::config::typed(body, path)?;
        if cfg.topics.is_empty() {
            return Err(StreamError::new(
                format!("{path}.topics"),
                "at least one topic is required",
            ));
        }
        for (i, t) in cfg.topics.iter().enumerate() {
            if t.contains(':') {
                return Err(StreamError::new(
                    format!("{path}.topics[{i}]"),
                    "explicit `topic:partition` assignments are not built; name the topic and use a consumer group",
                ));
            }
        }
        if cfg.consumer_group.trim().is_empty() {
            return Err(StreamError::new(
                format!("{path}.consumer_group"),
                "a consumer group is required: Weir commits acknowledged offsets to it",
            ));
        }
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", bootstrap(&cfg.addresses, path)?)
            .set("group.id", &cfg.consumer_group)
            .set("client.id", &cfg.client_id)
            .set("enable.auto.commit", "true")
            // Offsets are stored by us, only once acknowledged, and committed by librdkafka.
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.commit.interval.ms",
                cfg.commit_period.as_millis().max(1).to_string(),
            )
            .set(
                "auto.offset.reset",
                if cfg.start_from_oldest {
                    "earliest"
                } else {
                    "latest"
                },
            )
            .set(
                "session.timeout.ms",
                cfg.group.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                cfg.group.heartbeat_interval.as_millis().to_string(),
            )
            .set(
                "max.poll.interval.ms",
                cfg.group.rebalance_timeout.as_millis().max(1).to_string(),
            );
        if !cfg.rack_id.is_empty() {
            client.set("client.rack", &cfg.rack_id);
        }
        apply_security(&mut client, &cfg.tls, &cfg.sasl, path)?;
        let link = Link::register(path, links);
        Ok(KafkaInput {
            cfg,
            client,
            path: path.to_string(),
            link,
        })
    }

    /// Consumes until `stop`, sending transactions to `tx`. The consumer (and its group
    /// membership) lives until the last acknowledgement has been stored. librdkafka
    /// reconnects by itself; the link reports what reads see.
    async fn consume(&self, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        let consumer: StreamConsumer = match self.client.create() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(input = %self.path, error = %e, "cannot create the Kafka consumer");
                self.link.failed(e);
                return;
            }
        };
        let topics: Vec<&str> = self.cfg.topics.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&topics) {
            tracing::error!(input = %self.path, error = %e, "cannot subscribe");
            self.link.failed(e);
            return;
        }
        self.link.connected();
        let shared = Arc::new(Shared {
            consumer,
            offsets: Mutex::new(HashMap::new()),
            replay: self.cfg.auto_replay_nacks,
            tx: tx.clone(),
        });
        let limit = Arc::new(Semaphore::new(self.cfg.checkpoint_limit.max(1)));
        loop {
            let permit = tokio::select! {
                _ = stop.cancelled() => break,
                p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            };
            let received = tokio::select! {
                _ = stop.cancelled() => break,
                m = shared.consumer.recv() => m,
            };
            let m = match received {
                Ok(m) => m,
                Err(e) => {
                    self.link.failed(&e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            if !self.link.is_up() {
                self.link.connected();
            }
            let msg = to_message(&m);
            let at = (m.topic().to_string(), m.partition(), m.offset());
            shared.pending(&at);
            let t = Transaction {
                ack: shared.ack(at, msg.clone(), permit),
                msg,
                sync: None,
            };
            if tx.send(t).await.is_err() {
                break;
            }
        }
    }
}

impl Source for KafkaInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.consume(tx, stop).await })
    }
}

/// The consumer and the acknowledgement bookkeeping, shared by every outstanding ack.
struct Shared {
    consumer: StreamConsumer,
    /// Per (topic, partition): offsets read → acknowledged yet?
    offsets: Mutex<HashMap<(String, i32), BTreeMap<i64, bool>>>,
    replay: bool,
    tx: mpsc::Sender<Transaction>,
}

impl Shared {
    fn pending(&self, (topic, partition, offset): &(String, i32, i64)) {
        let mut all = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        all.entry((topic.clone(), *partition))
            .or_default()
            .insert(*offset, false);
    }

    fn ack(
        self: &Arc<Self>,
        at: (String, i32, i64),
        msg: Message,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Ack {
        let shared = self.clone();
        Ack::new(move |outcome| match outcome {
            Ok(()) => {
                shared.acknowledged(&at);
                drop(permit);
            }
            Err(e) if shared.replay => {
                tracing::warn!(topic = %at.0, partition = at.1, offset = at.2, error = %e, "message nacked; delivering it again");
                let again = shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let t = Transaction {
                        ack: again.ack(at, msg.clone(), permit),
                        msg,
                        sync: None,
                    };
                    let _ = again.tx.send(t).await;
                });
            }
            Err(e) => {
                tracing::warn!(topic = %at.0, partition = at.1, offset = at.2, error = %e, "message nacked; dropped (auto_replay_nacks: false)");
                shared.acknowledged(&at);
                drop(permit);
            }
        })
    }

    /// Marks an offset done and stores the next offset after the contiguous acknowledged run.
    fn acknowledged(&self, (topic, partition, offset): &(String, i32, i64)) {
        let commit = {
            let mut all = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
            let Some(marks) = all.get_mut(&(topic.clone(), *partition)) else {
                return;
            };
            if let Some(done) = marks.get_mut(offset) {
                *done = true;
            }
            let mut last = None;
            while let Some(entry) = marks.first_entry() {
                if !*entry.get() {
                    break;
                }
                last = Some(*entry.key());
                entry.remove();
            }
            last
        };
        if let Some(last) = commit {
            let mut tpl = TopicPartitionList::new();
            if tpl
                .add_partition_offset(topic, *partition, Offset::Offset(last + 1))
                .is_ok()
                && let Err(e) = self.consumer.store_offsets(&tpl)
            {
                // The partition moved to another member in a rebalance; it will re-read.
                tracing::debug!(%topic, partition, error = %e, "offset not stored");
            }
        }
    }
}

fn to_message(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let mut msg = Message {
        content: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        ..Message::default()
    };
    let meta = &mut msg.metadata;
    let s = |v: String| bloblang::Value::String(v);
    if let Some(key) = m.key() {
        meta.insert("kafka_key", s(String::from_utf8_lossy(key).into_owned()));
    }
    meta.insert("kafka_topic", s(m.topic().to_string()));
    meta.insert("kafka_partition", s(m.partition().to_string()));
    meta.insert("kafka_offset", s(m.offset().to_string()));
    if let Some(ms) = m.timestamp().to_millis() {
        meta.insert("kafka_timestamp_unix", s((ms / 1000).to_string()));
        meta.insert("kafka_timestamp_ms", s(ms.to_string()));
    }
    meta.insert(
        "kafka_tombstone_message",
        s(m.payload().is_none().to_string()),
    );
    if let Some(headers) = m.headers() {
        for h in headers.iter() {
            let v = h
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            meta.insert(h.key, s(v));
        }
    }
    msg
}
