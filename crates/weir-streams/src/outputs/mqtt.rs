//! `mqtt` (output): publishes each message to an MQTT 3.1.1 broker. A QoS 1 write succeeds
//! when the broker's PUBACK arrives, a QoS 2 write at its PUBCOMP, a QoS 0 write once it is
//! on the socket; a write fails (so the input redelivers) after `write_timeout` or when the
//! connection is lost. The connection is made at the first write and made again, with
//! back-off, after it is lost.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::Output;
use crate::error::StreamError;
use crate::link::{Lazy, Link};
use crate::message::{Message, Outcome, SyncSlot};
use crate::mqtt_client::{MqttConn, qos};

/// Bento's `mqtt` output fields, beside the connection fields (`urls`, `client_id`,
/// `dynamic_client_id_suffix`, `connect_timeout`, `will`, `user`, `password`, `keepalive`,
/// `tls`); any other field is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttOutputConfig {
    /// Topic (interpolated).
    pub topic: String,
    /// QoS: 0, 1 or 2.
    pub qos: u8,
    /// Retain messages.
    pub retained: bool,
    /// Retain flag per message (interpolated to `true` or `false`; overrides `retained`).
    pub retained_interpolated: String,
    /// How long a write may wait for the broker.
    #[serde(with = "crate::config::go_duration")]
    pub write_timeout: Duration,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
}

impl Default for MqttOutputConfig {
    fn default() -> Self {
        MqttOutputConfig {
            topic: String::new(),
            qos: 1,
            retained: false,
            retained_interpolated: String::new(),
            write_timeout: Duration::from_secs(3),
            max_in_flight: 64,
        }
    }
}

/// A checked `mqtt` output.
pub struct MqttOutput {
    inner: Arc<Inner>,
}

struct Inner {
    conn: MqttConn,
    topic: bloblang::Interpolation,
    qos: QoS,
    retained: bool,
    retained_interpolated: Option<bloblang::Interpolation>,
    write_timeout: Duration,
    max_in_flight: usize,
    session: Lazy<Arc<Session>>,
    /// Connections made so far, to use the brokers in turn.
    attempts: std::sync::atomic::AtomicUsize,
}

/// One connection: the client, the writes waiting for the broker, and the event loop's task
/// (ended when the session is dropped).
struct Session {
    client: AsyncClient,
    waiting: Arc<Mutex<Waiting>>,
    /// Cancelled when the event loop has ended (connection lost).
    dead: CancellationToken,
    _stop: DropGuard,
}

/// Writes waiting for the broker. rumqttc gives a publish its packet id when it takes it
/// from the request queue, in queue order, and says so with `Outgoing::Publish(id)`; so
/// writes wait in `queued` in the order they were queued until their id is known.
#[derive(Default)]
struct Waiting {
    queued: VecDeque<oneshot::Sender<Outcome>>,
    by_id: HashMap<u16, oneshot::Sender<Outcome>>,
    /// A publish whose id was still in flight (the broker acked out of order); rumqttc
    /// sends it once that id is acknowledged.
    collided: Option<(u16, oneshot::Sender<Outcome>)>,
}

impl Waiting {
    /// Fails every waiting write (the connection is gone).
    fn fail_all(&mut self, why: &str) {
        let all = self
            .queued
            .drain(..)
            .chain(self.by_id.drain().map(|(_, w)| w))
            .chain(self.collided.take().map(|(_, w)| w));
        for w in all {
            let _ = w.send(Err(why.to_string()));
        }
    }
}

impl MqttOutput {
    /// Reads and checks the config; the connection is made at the first write.
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (conn, rest) = crate::mqtt_client::split(body, path)?;
        let cfg: MqttOutputConfig = crate::config::typed(&rest, path)?;
        let conn = MqttConn::new(&conn, path)?;
        if cfg.topic.is_empty() {
            return Err(StreamError::new(
                format!("{path}.topic"),
                "a topic is required",
            ));
        }
        let topic = crate::config::interpolation(&cfg.topic, &format!("{path}.topic"))?;
        let retained_interpolated = match cfg.retained_interpolated.as_str() {
            "" => None,
            text => Some(crate::config::interpolation(
                text,
                &format!("{path}.retained_interpolated"),
            )?),
        };
        let link = Link::register(path, links);
        Ok(MqttOutput {
            inner: Arc::new(Inner {
                conn,
                topic,
                qos: qos(cfg.qos, &format!("{path}.qos"))?,
                retained: cfg.retained,
                retained_interpolated,
                write_timeout: cfg.write_timeout,
                max_in_flight: cfg.max_in_flight.max(1),
                session: Lazy::new(link),
                attempts: Default::default(),
            }),
        })
    }
}

impl Inner {
    /// The session, made again when the last one's connection has gone.
    async fn session(&self) -> Result<Arc<Session>, String> {
        let s = self.session.get(|| self.connect()).await?;
        if !s.dead.is_cancelled() {
            return Ok(s);
        }
        self.session.reset("the MQTT connection was lost").await;
        self.session.get(|| self.connect()).await
    }

    /// Connects to the next broker and starts its event loop once the broker has said
    /// CONNACK.
    async fn connect(&self) -> Result<Arc<Session>, String> {
        let n = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut options = self.conn.options(n);
        // Room for every write in flight, and for writes that timed out but whose ids the
        // broker has yet to acknowledge.
        let window = (self.max_in_flight * 2).clamp(16, usize::from(u16::MAX - 1));
        options.set_inflight(window as u16);
        let (client, mut event_loop) = AsyncClient::new(options, window);
        self.conn.configure(&mut event_loop);
        match event_loop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {}
            Ok(other) => return Err(format!("mqtt connect: unexpected {other:?}")),
            Err(e) => return Err(format!("mqtt connect: {e}")),
        }
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let (dead, stop) = (CancellationToken::new(), CancellationToken::new());
        let link = self.session.link.clone();
        tokio::spawn(drive(
            event_loop,
            waiting.clone(),
            self.qos,
            link,
            dead.clone(),
            stop.clone(),
        ));
        Ok(Arc::new(Session {
            client,
            waiting,
            dead,
            _stop: stop.drop_guard(),
        }))
    }

    async fn publish(&self, msg: Message) -> Outcome {
        let topic = self
            .topic
            .render(&msg)
            .map_err(|e| format!("topic interpolation failed: {e}"))?;
        let retain = match &self.retained_interpolated {
            None => self.retained,
            Some(i) => {
                let text = i
                    .render(&msg)
                    .map_err(|e| format!("retained_interpolated failed: {e}"))?;
                match text.trim() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(format!(
                            "retained_interpolated gave `{other}`, not true or false"
                        ));
                    }
                }
            }
        };
        let session = self.session().await?;
        let (tx, rx) = oneshot::channel();
        {
            // Queued under the lock, so `queued` keeps the request queue's order.
            let mut w = session.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.queued.push_back(tx);
            if let Err(e) = session
                .client
                .try_publish(topic, self.qos, retain, msg.content)
            {
                w.queued.pop_back();
                return Err(format!("mqtt publish: {e}"));
            }
        }
        match tokio::time::timeout(self.write_timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err("the MQTT connection ended before the broker confirmed".into()),
            Err(_) => Err(format!(
                "the broker did not confirm within {:?} (write_timeout)",
                self.write_timeout
            )),
        }
    }
}

/// Polls the event loop until the session is dropped or the connection is lost, resolving
/// writes as the broker acknowledges them. A lost connection fails the waiting writes and
/// ends the session; the next write connects again.
async fn drive(
    mut event_loop: EventLoop,
    waiting: Arc<Mutex<Waiting>>,
    qos: QoS,
    link: Arc<Link>,
    dead: CancellationToken,
    stop: CancellationToken,
) {
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            e = event_loop.poll() => e,
        };
        let event = match polled {
            Ok(e) => e,
            Err(e) => {
                let why = format!("mqtt: {e}");
                link.failed(&why);
                dead.cancel();
                waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .fail_all(&why);
                return;
            }
        };
        let mut w = waiting.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Outgoing(Outgoing::Publish(id)) => {
                let writer = match w.collided.take() {
                    Some((cid, writer)) if cid == id => Some(writer),
                    other => {
                        w.collided = other;
                        w.queued.pop_front()
                    }
                };
                if let Some(writer) = writer {
                    if qos == QoS::AtMostOnce {
                        let _ = writer.send(Ok(()));
                    } else {
                        w.by_id.insert(id, writer);
                    }
                }
            }
            Event::Outgoing(Outgoing::AwaitAck(id)) => {
                if let Some(writer) = w.queued.pop_front() {
                    w.collided = Some((id, writer));
                }
            }
            Event::Incoming(Packet::PubAck(ack)) if qos == QoS::AtLeastOnce => {
                if let Some(writer) = w.by_id.remove(&ack.pkid) {
                    let _ = writer.send(Ok(()));
                }
            }
            Event::Incoming(Packet::PubComp(comp)) if qos == QoS::ExactlyOnce => {
                if let Some(writer) = w.by_id.remove(&comp.pkid) {
                    let _ = writer.send(Ok(()));
                }
            }
            _ => {}
        }
    }
    dead.cancel();
    waiting
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .fail_all("the MQTT output stopped");
}

impl Output for MqttOutput {
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

    fn build(v: Value) -> Result<MqttOutput, StreamError> {
        MqttOutput::new(&v, "out.mqtt", &mut Vec::new())
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let url = "tcp://127.0.0.1:1883";
        let cases = [
            (json!({"urls": [url]}), "out.mqtt.topic"),
            (json!({"topic": "t"}), "out.mqtt.urls"),
            (
                json!({"urls": [url], "topic": "t", "qos": 9}),
                "out.mqtt.qos",
            ),
            (
                json!({"urls": [url], "topic": "${! nope( }"}),
                "out.mqtt.topic",
            ),
            (
                json!({"urls": [url], "topic": "t", "write_timeout": "later"}),
                "out.mqtt.write_timeout",
            ),
            (
                json!({"urls": ["mqtts://h"], "topic": "t"}),
                "out.mqtt.urls[0]",
            ),
            (
                json!({"urls": [url], "topic": "t", "batching": {"count": 2}}),
                "out.mqtt.batching",
            ),
        ];
        crate::config::assert_refused(build, cases);
    }

    #[tokio::test]
    async fn a_write_without_a_broker_fails_and_reports_the_link() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut links = Vec::new();
        let o = MqttOutput::new(
            &json!({"urls": [format!("tcp://127.0.0.1:{port}")], "topic": "t", "connect_timeout": "1s"}),
            "out.mqtt",
            &mut links,
        )
        .unwrap();
        let e = o.write(Message::default(), None).await.unwrap_err();
        assert!(e.contains("mqtt connect"), "{e}");
        assert_eq!(links[0].describe()["state"], "disconnected");
    }

    #[test]
    fn waiting_writes_fail_together() {
        let mut w = Waiting::default();
        let (a, ra) = oneshot::channel();
        let (b, rb) = oneshot::channel();
        w.queued.push_back(a);
        w.by_id.insert(3, b);
        w.fail_all("gone");
        assert_eq!(ra.blocking_recv_ok(), Err("gone".to_string()));
        assert_eq!(rb.blocking_recv_ok(), Err("gone".to_string()));
    }

    trait RecvNow {
        fn blocking_recv_ok(self) -> Outcome;
    }

    impl RecvNow for oneshot::Receiver<Outcome> {
        fn blocking_recv_ok(mut self) -> Outcome {
            self.try_recv().expect("resolved")
        }
    }
}
