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
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Source, replaying_ack, spawn_detached};
use crate::error::StreamError;
use crate::link::{BACKOFF_MAX, BACKOFF_START, Link};
use crate::message::{Message, Transaction};
use crate::mqtt_client::{MqttConn, qos};

/// Bento's `mqtt` input fields, beside the connection fields (`urls`, `client_id`,
/// `dynamic_client_id_suffix`, `connect_timeout`, `will`, `user`, `password`, `keepalive`,
/// `tls`); any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttInputConfig {
    /// Topic filters to subscribe to.
    pub topics: Vec<String>,
    /// QoS of the subscriptions: 0, 1 or 2.
    pub qos: u8,
    /// Start a fresh session at every connection (else the broker keeps it while away).
    pub clean_session: bool,
    /// Deliver a nacked message again (else a nack counts as an ack).
    pub auto_replay_nacks: bool,
}

impl Default for MqttInputConfig {
    fn default() -> Self {
        MqttInputConfig {
            topics: Vec::new(),
            qos: 1,
            clean_session: true,
            auto_replay_nacks: true,
        }
    }
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
        let (conn, rest) = crate::mqtt_client::split(body, path)?;
        let cfg: MqttInputConfig = crate::config::typed(&rest, path)?;
        let conn = MqttConn::new(&conn, path)?;
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
        let link = Link::register(path, links);
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
                spawn_detached(async move {
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
        crate::config::assert_refused(build, cases);
    }

    #[test]
    fn defaults_follow_bento() {
        let i = build(json!({"urls": ["tcp://127.0.0.1:1883"], "topics": ["a/#"]})).unwrap();
        assert_eq!(i.qos, QoS::AtLeastOnce);
        assert!(i.clean_session && i.replay);
        assert_eq!(i.conn.client_id(), "");
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
