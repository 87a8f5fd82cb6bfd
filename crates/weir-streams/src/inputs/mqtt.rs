//! `mqtt` (input): subscribes to topics on an MQTT 3.1.1 broker. QoS 1 and 2 messages are
//! acknowledged at the broker (PUBACK / PUBREC) only once the output has delivered them, so
//! with `clean_session: false` a message in flight when Weir dies is sent again by the
//! broker when the same client id comes back (at-least-once). MQTT has no negative
//! acknowledgement: a nack replays the message from memory (`auto_replay_nacks`). QoS 0 is
//! at-most-once. The client's event loop runs in a task of its own and reconnects with
//! back-off, rotating through `urls`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, Publish, QoS};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Source, replaying_ack};
use crate::error::StreamError;
use crate::kafka_client::TlsConfig;
use crate::link::{BACKOFF_MAX, BACKOFF_START, Link};
use crate::message::{Message, Transaction};

/// Bento's `mqtt` input fields; any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttInputConfig {
    /// Broker URLs (`tcp://host:port` or `mqtt://host:port`).
    pub urls: Vec<String>,
    /// Client id (required with `clean_session: false`: the broker keeps the session by it).
    pub client_id: String,
    /// `nanoid`: append a random suffix to `client_id` (empty: none).
    pub dynamic_client_id_suffix: String,
    /// How long a connection attempt may take.
    #[serde(with = "crate::config::go_duration")]
    pub connect_timeout: Duration,
    /// Topic filters to subscribe to.
    pub topics: Vec<String>,
    /// QoS of the subscriptions: 0, 1 or 2.
    pub qos: u8,
    /// Start a fresh session at every connection (else the broker keeps it while away).
    pub clean_session: bool,
    /// Last will.
    pub will: WillConfig,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Keep-alive interval in seconds (0: none).
    pub keepalive: u64,
    /// Deliver a nacked message again (else a nack counts as an ack).
    pub auto_replay_nacks: bool,
    /// TLS (not built).
    pub tls: TlsConfig,
}

impl Default for MqttInputConfig {
    fn default() -> Self {
        MqttInputConfig {
            urls: Vec::new(),
            client_id: String::new(),
            dynamic_client_id_suffix: String::new(),
            connect_timeout: Duration::from_secs(30),
            topics: Vec::new(),
            qos: 1,
            clean_session: true,
            will: WillConfig::default(),
            user: String::new(),
            password: String::new(),
            keepalive: 30,
            auto_replay_nacks: true,
            tls: TlsConfig::default(),
        }
    }
}

/// `will`: what the broker publishes when the client goes away without a DISCONNECT.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct WillConfig {
    /// Set a last will.
    pub enabled: bool,
    /// Its QoS.
    pub qos: u8,
    /// Retain it.
    pub retained: bool,
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: String,
}

/// The connection fields the input and output share.
pub(crate) struct ConnFields<'a> {
    pub urls: &'a [String],
    pub client_id: &'a str,
    pub dynamic_client_id_suffix: &'a str,
    pub connect_timeout: Duration,
    pub will: &'a WillConfig,
    pub user: &'a str,
    pub password: &'a str,
    pub keepalive: u64,
    pub tls: &'a TlsConfig,
}

/// Checked connection settings, from which each connection's options are made.
pub(crate) struct MqttConn {
    brokers: Vec<(String, u16)>,
    client_id: String,
    connect_timeout: Duration,
    will: Option<LastWill>,
    credentials: Option<(String, String)>,
    keepalive: Duration,
}

/// `qos` as a QoS, naming `field` when out of range.
pub(crate) fn qos(n: u8, field: &str) -> Result<QoS, StreamError> {
    rumqttc::qos(n).map_err(|_| StreamError::new(field, format!("QoS {n} is not 0, 1 or 2")))
}

impl MqttConn {
    /// Checks the connection fields of the component at `path`.
    pub(crate) fn new(f: ConnFields<'_>, path: &str) -> Result<Self, StreamError> {
        if f.tls.enabled {
            return Err(StreamError::new(
                format!("{path}.tls"),
                "TLS to MQTT brokers is not built; use tcp:// on a trusted network",
            ));
        }
        let urls: Vec<&str> = f
            .urls
            .iter()
            .flat_map(|u| u.split(','))
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(StreamError::new(
                format!("{path}.urls"),
                "at least one URL is required",
            ));
        }
        let brokers = urls
            .iter()
            .enumerate()
            .map(|(i, u)| broker(u).map_err(|e| StreamError::new(format!("{path}.urls[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let client_id = match f.dynamic_client_id_suffix {
            "" => f.client_id.to_string(),
            "nanoid" => format!("{}{}", f.client_id, nanoid()),
            other => {
                return Err(StreamError::new(
                    format!("{path}.dynamic_client_id_suffix"),
                    format!("`{other}` is not a suffix kind (only `nanoid` is)"),
                ));
            }
        };
        let will = if f.will.enabled {
            if f.will.topic.is_empty() {
                return Err(StreamError::new(
                    format!("{path}.will.topic"),
                    "a will needs a topic",
                ));
            }
            let q = qos(f.will.qos, &format!("{path}.will.qos"))?;
            Some(LastWill::new(
                &f.will.topic,
                f.will.payload.as_bytes().to_vec(),
                q,
                f.will.retained,
            ))
        } else {
            None
        };
        if f.keepalive > u64::from(u16::MAX) {
            return Err(StreamError::new(
                format!("{path}.keepalive"),
                "at most 65535 seconds (MQTT sends it in 16 bits)",
            ));
        }
        if f.user.is_empty() && !f.password.is_empty() {
            return Err(StreamError::new(
                format!("{path}.password"),
                "MQTT 3.1.1 sends a password only with a user name; set `user`",
            ));
        }
        let credentials =
            (!f.user.is_empty()).then(|| (f.user.to_string(), f.password.to_string()));
        Ok(MqttConn {
            brokers,
            client_id,
            connect_timeout: f.connect_timeout,
            will,
            credentials,
            keepalive: Duration::from_secs(f.keepalive),
        })
    }

    /// The client id in use (with its suffix).
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Options for connecting to the `n`th broker (round robin).
    pub(crate) fn options(&self, n: usize) -> MqttOptions {
        let (host, port) = &self.brokers[n % self.brokers.len()];
        let mut o = MqttOptions::new(&self.client_id, host, *port);
        o.set_keep_alive(self.keepalive)
            // rumqttc's 10 KiB default would refuse ordinary messages; MQTT allows 256 MiB.
            .set_max_packet_size(256 << 20, 256 << 20);
        if let Some(w) = &self.will {
            o.set_last_will(w.clone());
        }
        if let Some((u, p)) = &self.credentials {
            o.set_credentials(u, p);
        }
        o
    }

    /// Applies the connect timeout (rumqttc counts it in whole seconds).
    pub(crate) fn configure(&self, el: &mut EventLoop) {
        let secs = self.connect_timeout.as_secs_f64().ceil().max(1.0) as u64;
        el.network_options.set_connection_timeout(secs);
    }

    /// How many brokers there are to rotate through.
    pub(crate) fn brokers(&self) -> usize {
        self.brokers.len()
    }
}

/// `tcp://host:port` or `mqtt://host:port` (port 1883 when absent) as host and port.
fn broker(url: &str) -> Result<(String, u16), String> {
    let u = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    match u.scheme() {
        "tcp" | "mqtt" => {}
        "ssl" | "tls" | "mqtts" => return Err("TLS to MQTT brokers is not built".into()),
        "ws" | "wss" => return Err("MQTT over WebSocket is not built".into()),
        other => return Err(format!("unknown scheme `{other}` (tcp:// or mqtt://)")),
    }
    let host = u.host_str().filter(|h| !h.is_empty()).ok_or("no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), u.port().unwrap_or(1883)))
}

/// 21 characters of nanoid's URL-safe alphabet, from random UUID bytes.
fn nanoid() -> String {
    const ALPHABET: &[u8; 64] = b"_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let bytes = [
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    ];
    bytes
        .iter()
        .flatten()
        .take(21)
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect()
}

/// Messages waiting between the event loop and the pipeline. The loop waits (and so stops
/// reading from the broker) only when this many are waiting; with QoS 1 and 2 the broker's
/// own in-flight window keeps it well below.
const WAITING: usize = 1024;

/// A checked `mqtt` input.
pub struct MqttInput {
    conn: MqttConn,
    topics: Vec<String>,
    qos: QoS,
    clean_session: bool,
    replay: bool,
    link: Arc<Link>,
}

/// What acknowledgements share: the client, the connection they came on, and the guard that
/// ends the event loop once nothing needs it (the input stopped and every ack is in).
struct Shared {
    client: AsyncClient,
    /// Bumped at every lost connection: a PUBACK belongs to the connection its message came
    /// on (the broker sends unacknowledged messages again on the next one).
    generation: Arc<AtomicU64>,
    _done: DropGuard,
}

impl MqttInput {
    /// Reads and checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let cfg: MqttInputConfig = crate::config::typed(body, path)?;
        let conn = MqttConn::new(
            ConnFields {
                urls: &cfg.urls,
                client_id: &cfg.client_id,
                dynamic_client_id_suffix: &cfg.dynamic_client_id_suffix,
                connect_timeout: cfg.connect_timeout,
                will: &cfg.will,
                user: &cfg.user,
                password: &cfg.password,
                keepalive: cfg.keepalive,
                tls: &cfg.tls,
            },
            path,
        )?;
        if cfg.topics.iter().all(|t| t.trim().is_empty()) {
            return Err(StreamError::new(
                format!("{path}.topics"),
                "at least one topic is required",
            ));
        }
        let qos = qos(cfg.qos, &format!("{path}.qos"))?;
        if !cfg.clean_session && conn.client_id().is_empty() {
            return Err(StreamError::new(
                format!("{path}.client_id"),
                "a client id is required with `clean_session: false` (the broker keeps the session by it)",
            ));
        }
        let link = Link::new(path);
        links.push(link.clone());
        Ok(MqttInput {
            conn,
            topics: cfg
                .topics
                .into_iter()
                .filter(|t| !t.trim().is_empty())
                .collect(),
            qos,
            clean_session: cfg.clean_session,
            replay: cfg.auto_replay_nacks,
            link,
        })
    }

    /// Options for the `n`th broker: acknowledgements are sent by us, once delivered.
    fn options(&self, n: usize) -> MqttOptions {
        let mut options = self.conn.options(n);
        options
            .set_clean_session(self.clean_session)
            .set_manual_acks(true);
        options
    }

    async fn consume(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        let options = self.options(0);
        // Room for many acknowledgements: rumqttc takes one request per turn of its loop.
        let (client, mut event_loop) = AsyncClient::new(options, 1024);
        self.conn.configure(&mut event_loop);
        let done = CancellationToken::new();
        let shared = Arc::new(Shared {
            client: client.clone(),
            generation: Arc::new(AtomicU64::new(0)),
            _done: done.clone().drop_guard(),
        });
        let (queue_tx, mut queue_rx) = mpsc::channel(WAITING);
        let driver = Driver {
            input: self.clone(),
            shared: Arc::downgrade(&shared),
            generation: shared.generation.clone(),
            client,
            queue: queue_tx,
            pipeline: tx.clone(),
            stop: stop.clone(),
            done,
        };
        tokio::spawn(driver.run(event_loop));
        loop {
            let t = tokio::select! {
                _ = stop.cancelled() => break,
                t = queue_rx.recv() => match t { Some(t) => t, None => break },
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                sent = tx.send(t) => if sent.is_err() { break },
            }
        }
        // Messages still waiting are dropped: their acks replay them or leave them to the
        // broker. The event loop runs on until the last acknowledgement is in.
        drop(queue_rx);
        drop(shared);
    }
}

impl Source for MqttInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.consume(tx, stop))
    }
}

/// The task that polls the event loop: it reports the connection on the link, subscribes at
/// every connection, and turns publishes into transactions.
struct Driver {
    input: Arc<MqttInput>,
    shared: Weak<Shared>,
    generation: Arc<AtomicU64>,
    client: AsyncClient,
    queue: mpsc::Sender<Transaction>,
    pipeline: mpsc::Sender<Transaction>,
    stop: CancellationToken,
    done: CancellationToken,
}

impl Driver {
    async fn run(self, mut event_loop: EventLoop) {
        let mut wait = BACKOFF_START;
        let mut broker = 0;
        loop {
            let polled = tokio::select! {
                _ = self.done.cancelled() => break,
                e = event_loop.poll() => e,
            };
            match polled {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    self.input.link.connected();
                    wait = BACKOFF_START;
                    self.subscribe();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if self.stop.is_cancelled() {
                        continue; // not acknowledged: the broker keeps QoS 1/2 for next time
                    }
                    let Some(shared) = self.shared.upgrade() else {
                        continue;
                    };
                    let t = self.transaction(p, &shared);
                    drop(shared);
                    tokio::select! {
                        _ = self.done.cancelled() => break,
                        _ = self.queue.send(t) => {}
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.generation.fetch_add(1, Ordering::SeqCst);
                    self.input.link.failed(format!("mqtt: {e}"));
                    tokio::select! {
                        _ = self.done.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(BACKOFF_MAX);
                    if self.input.conn.brokers() > 1 {
                        broker += 1;
                        event_loop.mqtt_options = self.input.options(broker);
                    }
                }
            }
        }
        // Leave cleanly, so the broker does not publish the will; give it a moment.
        if self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Ok(ev) = event_loop.poll().await {
                    if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                        break;
                    }
                }
            })
            .await;
        }
    }

    /// Subscribes to every topic (again: a clean session forgets subscriptions). The request
    /// is queued from a task of its own, as the event loop must keep being polled.
    fn subscribe(&self) {
        let client = self.client.clone();
        let filters: Vec<rumqttc::SubscribeFilter> = self
            .input
            .topics
            .iter()
            .map(|t| rumqttc::SubscribeFilter::new(t.clone(), self.input.qos))
            .collect();
        let link = self.input.link.clone();
        tokio::spawn(async move {
            if let Err(e) = client.subscribe_many(filters).await {
                link.failed(format!("mqtt subscribe: {e}"));
            }
        });
    }

    fn transaction(&self, p: Publish, shared: &Arc<Shared>) -> Transaction {
        let msg = to_message(&p);
        let generation = self.generation.load(Ordering::SeqCst);
        let (shared, replay) = (shared.clone(), self.input.replay);
        // Acknowledged at the broker once delivered, or once dropped for good when replays
        // are off; never when a replay could not happen (the broker sends it again).
        let done = Box::new(move |outcome: crate::message::Outcome| {
            if (outcome.is_err() && replay) || p.qos == QoS::AtMostOnce {
                return;
            }
            let current = move |s: &Shared| s.generation.load(Ordering::SeqCst) == generation;
            if current(&shared) && shared.client.try_ack(&p).is_err() {
                // The request queue is full: try again shortly, for as long as the message's
                // connection lasts (on a later one its id may name another message).
                super::amqp_0_9::spawn_detached(async move {
                    while current(&shared) && shared.client.try_ack(&p).is_err() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
            }
        });
        Transaction {
            ack: replaying_ack(self.pipeline.clone(), msg.clone(), replay, done),
            msg,
            sync: None,
        }
    }
}

fn to_message(p: &Publish) -> Message {
    let mut msg = Message {
        content: p.payload.to_vec(),
        ..Message::default()
    };
    let meta = &mut msg.metadata;
    meta.insert("mqtt_duplicate", bloblang::Value::Bool(p.dup));
    meta.insert("mqtt_qos", bloblang::Value::Int(p.qos as i64));
    meta.insert("mqtt_retained", bloblang::Value::Bool(p.retain));
    meta.insert("mqtt_topic", bloblang::Value::String(p.topic.clone()));
    meta.insert("mqtt_message_id", bloblang::Value::Int(i64::from(p.pkid)));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> Result<MqttInput, StreamError> {
        MqttInput::new(&v, "in.mqtt", &mut Vec::new())
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let url = "tcp://127.0.0.1:1883";
        let cases = [
            (json!({"urls": [url]}), "in.mqtt.topics"),
            (json!({"topics": ["t"]}), "in.mqtt.urls"),
            (
                json!({"urls": [url], "topics": ["t"], "qos": 3}),
                "in.mqtt.qos",
            ),
            (
                json!({"urls": ["ssl://h:8883"], "topics": ["t"]}),
                "in.mqtt.urls[0]",
            ),
            (
                json!({"urls": ["ws://h/mqtt"], "topics": ["t"]}),
                "in.mqtt.urls[0]",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "tls": {"enabled": true}}),
                "in.mqtt.tls",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "clean_session": false}),
                "in.mqtt.client_id",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "will": {"enabled": true, "topic": "w", "qos": 5}}),
                "in.mqtt.will.qos",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "dynamic_client_id_suffix": "uuid"}),
                "in.mqtt.dynamic_client_id_suffix",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "password": "p"}),
                "in.mqtt.password",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "keepalive": 70000}),
                "in.mqtt.keepalive",
            ),
            (
                json!({"urls": [url], "topics": ["t"], "shared_subscription": true}),
                "in.mqtt.shared_subscription",
            ),
        ];
        for (cfg, path) in cases {
            let e = build(cfg.clone())
                .err()
                .unwrap_or_else(|| panic!("{cfg} accepted"));
            assert_eq!(e.path, path, "{cfg}: {}", e.reason);
        }
    }

    #[test]
    fn urls_ports_and_client_id_suffix() {
        let i = build(json!({
            "urls": ["mqtt://broker, tcp://127.0.0.1:1884"], "topics": ["a/#"],
            "client_id": "weir-", "dynamic_client_id_suffix": "nanoid",
        }))
        .unwrap();
        assert_eq!(
            i.conn.brokers,
            [
                ("broker".to_string(), 1883),
                ("127.0.0.1".to_string(), 1884)
            ]
        );
        assert_eq!(i.conn.client_id().len(), "weir-".len() + 21);
        assert_eq!(
            i.conn.options(1).broker_address(),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(i.qos, QoS::AtLeastOnce);
    }

    #[test]
    fn publishes_carry_their_metadata() {
        let mut p = Publish::new("a/b", QoS::ExactlyOnce, b"x".to_vec());
        p.pkid = 7;
        p.dup = true;
        let m = to_message(&p);
        let get = |k: &str| crate::message::meta_string(&m, k);
        assert_eq!(get("mqtt_topic").as_deref(), Some("a/b"));
        assert_eq!(get("mqtt_qos").as_deref(), Some("2"));
        assert_eq!(get("mqtt_message_id").as_deref(), Some("7"));
        assert_eq!(get("mqtt_duplicate").as_deref(), Some("true"));
        assert_eq!(get("mqtt_retained").as_deref(), Some("false"));
    }
}
