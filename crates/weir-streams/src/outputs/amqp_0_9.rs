//! `amqp_0_9` (output): publishes each message to a RabbitMQ (AMQP 0-9-1) exchange with
//! publisher confirms. A write succeeds once the broker has confirmed the message, and fails
//! (so the input redelivers) when the broker nacks it, returns it as unroutable
//! (`mandatory`), the confirm does not come within `timeout`, or the connection is lost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use super::kafka::{MetadataFilter, metadata_headers};
use crate::amqp_client::AmqpEndpoint;
use crate::error::StreamError;
use crate::kafka_client::TlsConfig;
use crate::link::{Lazy, Link};
use crate::message::{Message, Outcome, SyncSlot};

/// Bento's `amqp_0_9` output fields; any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpOutputConfig {
    /// Broker URLs, tried in order.
    pub urls: Vec<String>,
    /// The exchange (interpolated; empty is the default exchange, which routes by queue name).
    pub exchange: String,
    /// Declare the exchange before publishing to it.
    pub exchange_declare: ExchangeDeclare,
    /// Routing key (interpolated).
    pub key: String,
    /// Message type property (interpolated).
    #[serde(rename = "type")]
    pub kind: String,
    /// Content type property (interpolated).
    pub content_type: String,
    /// Content encoding property (interpolated).
    pub content_encoding: String,
    /// Correlation id property (interpolated).
    pub correlation_id: String,
    /// Reply-to property (interpolated).
    pub reply_to: String,
    /// Expiration property, in milliseconds (interpolated).
    pub expiration: String,
    /// Message id property (interpolated).
    pub message_id: String,
    /// User id property (interpolated; RabbitMQ checks it against the connection's user).
    pub user_id: String,
    /// App id property (interpolated).
    pub app_id: String,
    /// Priority, 0 to 255 (interpolated; empty for none).
    #[serde(deserialize_with = "crate::config::string_or_number::deserialize")]
    pub priority: String,
    /// Delivery mode 2 (stored to disk by durable queues) instead of 1.
    pub persistent: bool,
    /// Ask the broker to return messages no queue takes; such a write fails.
    pub mandatory: bool,
    /// Refused: RabbitMQ does not implement `immediate`.
    pub immediate: bool,
    /// Which metadata keys are not sent as headers.
    pub metadata: MetadataFilter,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
    /// How long to wait for the broker's confirm (empty: no limit).
    pub timeout: String,
    /// TLS (not built).
    pub tls: TlsConfig,
}

impl Default for AmqpOutputConfig {
    fn default() -> Self {
        AmqpOutputConfig {
            urls: Vec::new(),
            exchange: String::new(),
            exchange_declare: ExchangeDeclare::default(),
            key: String::new(),
            kind: String::new(),
            content_type: "application/octet-stream".into(),
            content_encoding: String::new(),
            correlation_id: String::new(),
            reply_to: String::new(),
            expiration: String::new(),
            message_id: String::new(),
            user_id: String::new(),
            app_id: String::new(),
            priority: String::new(),
            persistent: false,
            mandatory: false,
            immediate: false,
            metadata: MetadataFilter::default(),
            max_in_flight: 64,
            timeout: String::new(),
            tls: TlsConfig::default(),
        }
    }
}

/// `exchange_declare`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeDeclare {
    /// Declare the exchange.
    pub enabled: bool,
    /// `direct`, `fanout`, `topic`, `headers` or a plugin's type (`x-…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The exchange survives a broker restart.
    pub durable: bool,
}

impl Default for ExchangeDeclare {
    fn default() -> Self {
        ExchangeDeclare {
            enabled: false,
            kind: "direct".into(),
            durable: true,
        }
    }
}

/// The interpolated message properties, in the order of [`PROPS`].
const PROPS: [&str; 9] = [
    "type",
    "content_type",
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "user_id",
    "app_id",
];

/// A checked `amqp_0_9` output.
pub struct AmqpOutput {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: AmqpEndpoint,
    exchange: bloblang::Interpolation,
    declare: Option<(ExchangeKind, bool)>,
    key: bloblang::Interpolation,
    /// [`PROPS`], each `None` when empty.
    props: Vec<Option<bloblang::Interpolation>>,
    priority: Option<bloblang::Interpolation>,
    persistent: bool,
    mandatory: bool,
    exclude_prefixes: Vec<String>,
    max_in_flight: usize,
    timeout: Option<Duration>,
    conn: Lazy<Arc<Publisher>>,
}

/// A connection with a channel in confirm mode.
struct Publisher {
    _conn: Connection,
    channel: Channel,
    /// Exchanges declared on this connection.
    declared: Mutex<HashSet<String>>,
}

impl AmqpOutput {
    /// Reads and checks the config; the connection is made at the first write.
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let cfg: AmqpOutputConfig = crate::config::typed(body, path)?;
        let endpoint = AmqpEndpoint::new(&cfg.urls, &cfg.tls, path)?;
        if cfg.immediate {
            return Err(StreamError::new(
                format!("{path}.immediate"),
                "RabbitMQ does not implement `immediate` (it closes the connection); leave it false",
            ));
        }
        let declare = declare(&cfg, path)?;
        let interp = |text: &str, field: &str| {
            crate::config::interpolation(text, &format!("{path}.{field}"))
        };
        let optional = |text: &str, field: &str| {
            if text.is_empty() {
                Ok(None)
            } else {
                interp(text, field).map(Some)
            }
        };
        let values = [
            &cfg.kind,
            &cfg.content_type,
            &cfg.content_encoding,
            &cfg.correlation_id,
            &cfg.reply_to,
            &cfg.expiration,
            &cfg.message_id,
            &cfg.user_id,
            &cfg.app_id,
        ];
        let props = PROPS
            .iter()
            .zip(values)
            .map(|(field, text)| optional(text, field))
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = match cfg.timeout.trim() {
            "" => None,
            t => Some(
                crate::duration::parse_go_duration(t)
                    .map_err(|e| StreamError::new(format!("{path}.timeout"), e))?,
            ),
        };
        let link = Link::register(path, links);
        Ok(AmqpOutput {
            inner: Arc::new(Inner {
                endpoint,
                exchange: interp(&cfg.exchange, "exchange")?,
                declare,
                key: interp(&cfg.key, "key")?,
                props,
                priority: optional(&cfg.priority, "priority")?,
                persistent: cfg.persistent,
                mandatory: cfg.mandatory,
                exclude_prefixes: cfg.metadata.exclude_prefixes,
                max_in_flight: cfg.max_in_flight.max(1),
                timeout: timeout.filter(|t| !t.is_zero()),
                conn: Lazy::new(link),
            }),
        })
    }
}

/// What `exchange_declare` asks for, if anything: the exchange's type and durability.
fn declare(
    cfg: &AmqpOutputConfig,
    path: &str,
) -> Result<Option<(ExchangeKind, bool)>, StreamError> {
    if !cfg.exchange_declare.enabled {
        return Ok(None);
    }
    if cfg.exchange.is_empty() {
        return Err(StreamError::new(
            format!("{path}.exchange_declare"),
            "the default exchange cannot be declared; name an exchange",
        ));
    }
    let kind = match cfg.exchange_declare.kind.as_str() {
        "direct" => ExchangeKind::Direct,
        "fanout" => ExchangeKind::Fanout,
        "topic" => ExchangeKind::Topic,
        "headers" => ExchangeKind::Headers,
        other if other.starts_with("x-") => ExchangeKind::Custom(other.to_string()),
        other => {
            return Err(StreamError::new(
                format!("{path}.exchange_declare.type"),
                format!(
                    "unknown exchange type `{other}` (direct, fanout, topic, headers or a plugin's x-…)"
                ),
            ));
        }
    };
    Ok(Some((kind, cfg.exchange_declare.durable)))
}

impl Inner {
    /// The publisher, made again when the last one's connection has gone.
    async fn publisher(&self) -> Result<Arc<Publisher>, String> {
        let open = || async {
            let conn = self.endpoint.connect().await?;
            let channel = conn
                .create_channel()
                .await
                .map_err(|e| format!("amqp channel: {e}"))?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| format!("amqp confirm.select: {e}"))?;
            Ok(Arc::new(Publisher {
                _conn: conn,
                channel,
                declared: Mutex::new(HashSet::new()),
            }))
        };
        let p = self.conn.get(open).await?;
        if p.channel.status().connected() {
            return Ok(p);
        }
        self.conn.reset("the AMQP connection was closed").await;
        self.conn.get(open).await
    }

    /// Renders the exchange, routing key and properties of `msg`.
    fn render(&self, msg: &Message) -> Result<(String, String, BasicProperties), String> {
        let render = |i: &bloblang::Interpolation, what: &str| {
            i.render(msg)
                .map_err(|e| format!("{what} interpolation failed: {e}"))
        };
        let exchange = render(&self.exchange, "exchange")?;
        let key = render(&self.key, "key")?;
        let mut props =
            BasicProperties::default().with_delivery_mode(if self.persistent { 2 } else { 1 });
        for (field, interp) in PROPS.iter().zip(&self.props) {
            let Some(interp) = interp else { continue };
            let v: lapin::types::ShortString = render(interp, field)?.into();
            props = match *field {
                "type" => props.with_type(v),
                "content_type" => props.with_content_type(v),
                "content_encoding" => props.with_content_encoding(v),
                "correlation_id" => props.with_correlation_id(v),
                "reply_to" => props.with_reply_to(v),
                "expiration" => props.with_expiration(v),
                "message_id" => props.with_message_id(v),
                "user_id" => props.with_user_id(v),
                _ => props.with_app_id(v),
            };
        }
        if let Some(p) = &self.priority {
            let text = render(p, "priority")?;
            if !text.trim().is_empty() {
                let n: u8 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("priority `{text}` is not a number from 0 to 255"))?;
                props = props.with_priority(n);
            }
        }
        let mut headers = FieldTable::default();
        for (k, v) in metadata_headers(msg, &self.exclude_prefixes) {
            headers.insert(
                k.to_string().into(),
                AMQPValue::LongString(LongString::from(v)),
            );
        }
        Ok((exchange, key, props.with_headers(headers)))
    }

    async fn publish(&self, msg: Message) -> Outcome {
        let (exchange, key, props) = self.render(&msg)?;
        let p = self.publisher().await?;
        if let Some((kind, durable)) = &self.declare
            && !p
                .declared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&exchange)
        {
            let options = ExchangeDeclareOptions {
                durable: *durable,
                ..ExchangeDeclareOptions::default()
            };
            let declared = p
                .channel
                .exchange_declare(
                    exchange.as_str().into(),
                    kind.clone(),
                    options,
                    FieldTable::default(),
                )
                .await;
            if let Err(e) = declared {
                let why = format!("amqp exchange.declare `{exchange}`: {e}");
                self.conn.reset(&why).await;
                return Err(why);
            }
            p.declared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(exchange.clone());
        }
        let options = BasicPublishOptions {
            mandatory: self.mandatory,
            immediate: false,
        };
        let sent = p
            .channel
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                options,
                &msg.content,
                props,
            )
            .await;
        let confirm = match sent {
            Ok(c) => c,
            Err(e) => {
                let why = format!("amqp publish: {e}");
                self.conn.reset(&why).await;
                return Err(why);
            }
        };
        let confirmed = match self.timeout {
            Some(t) => tokio::time::timeout(t, confirm)
                .await
                .map_err(|_| format!("the broker did not confirm the message within {t:?}"))?,
            None => confirm.await,
        };
        match confirmed {
            Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => Ok(()),
            Ok(Confirmation::Ack(Some(r))) | Ok(Confirmation::Nack(Some(r))) => Err(format!(
                "the broker returned the message: {} {}",
                r.reply_code, r.reply_text
            )),
            Ok(Confirmation::Nack(None)) => Err("the broker nacked the message".to_string()),
            Err(e) => {
                let why = format!("amqp publish confirm: {e}");
                self.conn.reset(&why).await;
                Err(why)
            }
        }
    }
}

impl Output for AmqpOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.publish(msg).await })
    }

    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    fn build(v: Value) -> Result<AmqpOutput, StreamError> {
        AmqpOutput::new(&v, "out.amqp_0_9", &mut Vec::new())
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let cases = [
            (json!({"exchange": "e"}), "out.amqp_0_9.urls"),
            (
                json!({"urls": [URL], "exchange": "e", "immediate": true}),
                "out.amqp_0_9.immediate",
            ),
            (
                json!({"urls": [URL], "exchange": "e", "exchange_declare": {"enabled": true, "type": "fan"}}),
                "out.amqp_0_9.exchange_declare.type",
            ),
            (
                json!({"urls": [URL], "exchange_declare": {"enabled": true}}),
                "out.amqp_0_9.exchange_declare",
            ),
            (
                json!({"urls": [URL], "exchange": "e", "key": "${! nope( }"}),
                "out.amqp_0_9.key",
            ),
            (
                json!({"urls": [URL], "exchange": "e", "timeout": "soon"}),
                "out.amqp_0_9.timeout",
            ),
            (
                json!({"urls": [URL], "exchange": "e", "headers": {}}),
                "out.amqp_0_9.headers",
            ),
            (
                json!({"urls": [URL], "exchange": "e", "tls": {"enabled": true}}),
                "out.amqp_0_9.tls",
            ),
        ];
        crate::config::assert_refused(build, cases);
    }

    #[test]
    fn properties_and_headers_come_from_the_message() {
        let o = build(json!({
            "urls": [URL], "exchange": "ex-${! meta(\"kind\") }", "key": "${! meta(\"kind\") }.k",
            "type": "t", "message_id": "${! meta(\"id\") }", "priority": 5, "persistent": true,
            "metadata": {"exclude_prefixes": ["id"]},
        }))
        .unwrap();
        let mut msg = Message::default();
        msg.metadata
            .insert("kind", bloblang::Value::String("a".into()));
        msg.metadata
            .insert("id", bloblang::Value::String("m1".into()));
        let (exchange, key, props) = o.inner.render(&msg).unwrap();
        assert_eq!((exchange.as_str(), key.as_str()), ("ex-a", "a.k"));
        assert_eq!(props.kind().as_ref().map(|s| s.as_str()), Some("t"));
        assert_eq!(props.message_id().as_ref().map(|s| s.as_str()), Some("m1"));
        assert_eq!(
            props.content_type().as_ref().map(|s| s.as_str()),
            Some("application/octet-stream")
        );
        assert_eq!(
            (*props.priority(), *props.delivery_mode()),
            (Some(5), Some(2))
        );
        let headers = props.headers().as_ref().unwrap();
        assert!(headers.contains_key("kind") && !headers.contains_key("id"));
    }

    #[test]
    fn a_bad_priority_fails_the_write() {
        let o =
            build(json!({"urls": [URL], "exchange": "e", "priority": "${! \"high\" }"})).unwrap();
        let e = o.inner.render(&Message::default()).err().unwrap();
        assert!(e.contains("priority"), "{e}");
    }
}
