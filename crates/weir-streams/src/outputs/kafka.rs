//! `kafka` (output): publishes each message to a topic; the input is acknowledged once the
//! broker has confirmed the write.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::kafka_client::{SaslConfig, TlsConfig, apply_security, bootstrap};
use crate::message::{Message, Outcome, SyncSlot, meta_string};

/// Bento's `kafka` output fields that Weir implements; any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaOutputConfig {
    /// Broker addresses.
    pub addresses: Vec<String>,
    /// Topic (interpolated).
    pub topic: String,
    /// Message key (interpolated); empty means no key.
    pub key: String,
    /// `fnv1a_hash` (default), `murmur2_hash` or `random`.
    pub partitioner: String,
    /// `none`, `snappy`, `lz4`, `gzip`, `zstd`.
    pub compression: String,
    /// Headers added to every message.
    pub static_headers: std::collections::BTreeMap<String, String>,
    /// Which metadata keys are not sent as headers.
    pub metadata: MetadataFilter,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
    /// Wait for all in-sync replicas (acks=all) instead of the leader.
    pub ack_replicas: bool,
    /// Largest message accepted, in bytes.
    pub max_msg_bytes: usize,
    /// How long a write may take before it fails.
    #[serde(with = "crate::config::go_duration")]
    pub timeout: Duration,
    /// Client id.
    pub client_id: String,
    /// Rack id.
    pub rack_id: String,
    /// Retries of a failed write before it is reported.
    pub max_retries: u32,
    /// Idempotent producer.
    pub idempotent_write: bool,
    /// The protocol version to assume (librdkafka negotiates; the value is checked and kept).
    pub target_version: String,
    /// TLS.
    pub tls: TlsConfig,
    /// SASL.
    pub sasl: SaslConfig,
}

/// `metadata.exclude_prefixes`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataFilter {
    /// Metadata keys starting with one of these are not sent.
    pub exclude_prefixes: Vec<String>,
}

/// The metadata of `msg` an output sends as headers (Kafka, AMQP): every key but those
/// starting with one of `exclude_prefixes`, each with its value as text.
pub(crate) fn metadata_headers<'a>(
    msg: &'a Message,
    exclude_prefixes: &'a [String],
) -> impl Iterator<Item = (&'a str, String)> + 'a {
    msg.metadata
        .iter()
        .filter(|(k, _)| !exclude_prefixes.iter().any(|p| k.starts_with(p.as_str())))
        .map(|(k, _)| (k.as_str(), meta_string(msg, k).unwrap_or_default()))
}

impl Default for KafkaOutputConfig {
    fn default() -> Self {
        KafkaOutputConfig {
            addresses: Vec::new(),
            topic: String::new(),
            key: String::new(),
            partitioner: "fnv1a_hash".into(),
            compression: "none".into(),
            static_headers: Default::default(),
            metadata: MetadataFilter::default(),
            max_in_flight: 64,
            ack_replicas: false,
            max_msg_bytes: 1_000_000,
            timeout: Duration::from_secs(5),
            client_id: "weir".into(),
            rack_id: String::new(),
            max_retries: 0,
            idempotent_write: false,
            target_version: String::new(),
            tls: TlsConfig::default(),
            sasl: SaslConfig::default(),
        }
    }
}

/// A producer and what each write needs.
pub struct KafkaOutput {
    client: ClientConfig,
    /// Created at the first write, so `weir check` and endpoint listing connect nowhere.
    producer: OnceLock<Result<FutureProducer, String>>,
    topic: bloblang::Interpolation,
    key: Option<bloblang::Interpolation>,
    static_headers: Vec<(String, String)>,
    exclude_prefixes: Vec<String>,
    max_in_flight: usize,
}

impl KafkaOutput {
    /// Reads and checks the config (librdkafka validates every property); the producer is
    /// created at the first write.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let cfg: KafkaOutputConfig = crate::config::typed(body, path)?;
        if cfg.topic.is_empty() {
            return Err(StreamError::new(
                format!("{path}.topic"),
                "a topic is required",
            ));
        }
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", bootstrap(&cfg.addresses, path)?)
            .set("client.id", &cfg.client_id)
            .set(
                "message.timeout.ms",
                cfg.timeout.as_millis().max(1).to_string(),
            )
            .set("message.max.bytes", cfg.max_msg_bytes.max(1000).to_string())
            .set("acks", if cfg.ack_replicas { "all" } else { "1" })
            .set("message.send.max.retries", cfg.max_retries.to_string())
            // No linger, as Bento's producer: a message goes out at once, and batches form
            // only from what arrives while a request is in flight. A request/response path
            // (HTTP POST → Kafka) pays a linger on every message.
            .set("queue.buffering.max.ms", "0")
            .set(
                "enable.idempotence",
                if cfg.idempotent_write {
                    "true"
                } else {
                    "false"
                },
            );
        if !cfg.rack_id.is_empty() {
            client.set("client.rack", &cfg.rack_id);
        }
        let partitioner = match cfg.partitioner.as_str() {
            // Sarama's hash partitioners send keyless messages to a random partition.
            "fnv1a_hash" => "fnv1a_random",
            "murmur2_hash" => "murmur2_random",
            "random" => "random",
            other => {
                return Err(StreamError::new(
                    format!("{path}.partitioner"),
                    format!(
                        "the partitioner `{other}` is not built (fnv1a_hash, murmur2_hash and random are)"
                    ),
                ));
            }
        };
        client.set("partitioner", partitioner);
        match cfg.compression.as_str() {
            "none" | "" => {}
            c @ ("snappy" | "lz4" | "gzip" | "zstd") => {
                client.set("compression.codec", c);
            }
            other => {
                return Err(StreamError::new(
                    format!("{path}.compression"),
                    format!("unknown compression `{other}`"),
                ));
            }
        }
        apply_security(&mut client, &cfg.tls, &cfg.sasl, path)?;
        client
            .create_native_config()
            .map_err(|e| StreamError::new(path, format!("librdkafka refuses the settings: {e}")))?;
        let topic = crate::config::interpolation(&cfg.topic, &format!("{path}.topic"))?;
        let key = if cfg.key.is_empty() {
            None
        } else {
            Some(crate::config::interpolation(
                &cfg.key,
                &format!("{path}.key"),
            )?)
        };
        Ok(KafkaOutput {
            client,
            producer: OnceLock::new(),
            topic,
            key,
            static_headers: cfg.static_headers.into_iter().collect(),
            exclude_prefixes: cfg.metadata.exclude_prefixes,
            max_in_flight: cfg.max_in_flight.max(1),
        })
    }
}

impl Output for KafkaOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let topic = match self.topic.render(&msg) {
            Ok(t) => t,
            Err(e) => {
                return Box::pin(async move { Err(format!("topic interpolation failed: {e}")) });
            }
        };
        let key = match &self.key {
            Some(k) => match k.render(&msg) {
                Ok(k) => Some(k),
                Err(e) => {
                    return Box::pin(async move { Err(format!("key interpolation failed: {e}")) });
                }
            },
            None => None,
        };
        let mut headers =
            OwnedHeaders::new_with_capacity(self.static_headers.len() + msg.metadata.len());
        for (k, v) in &self.static_headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        for (k, v) in metadata_headers(&msg, &self.exclude_prefixes) {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let mut record = FutureRecord::to(&topic)
            .payload(&msg.content)
            .headers(headers);
        if let Some(k) = &key {
            record = record.key(k.as_bytes());
        }
        let producer = match self
            .producer
            .get_or_init(|| self.client.create().map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                let reason = format!("cannot create the Kafka producer: {e}");
                return Box::pin(async move { Err(reason) });
            }
        };
        // Queued now, in message order; confirmed by the broker later.
        match producer.send_result(record) {
            Ok(delivery) => Box::pin(async move {
                match delivery.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(format!("kafka write failed: {e}")),
                    Err(_) => Err("kafka producer went away".to_string()),
                }
            }),
            Err((e, _)) => {
                let reason = format!("kafka write failed: {e}");
                Box::pin(async move { Err(reason) })
            }
        }
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}
