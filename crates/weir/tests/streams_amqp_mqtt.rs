//! Streams through RabbitMQ (`amqp_0_9`) and MQTT (`mqtt`): HTTP into a broker, a broker
//! into Server-Sent Events, nothing lost when Weir is killed with messages unacknowledged,
//! and nacks that requeue (or reject) at the broker. RabbitMQ is the machine's own
//! (127.0.0.1:5672, see scripts/setup-brokers.sh), with names unique to each test; each MQTT
//! test starts a mosquitto of its own. The tests talk to the brokers with lapin and rumqttc.

mod common;

use common::streams::{Sse, control_get, start, streams_api};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use weir_testkit::{Mosquitto, rabbitmq_url, unique_name};

// ---------------------------------------------------------------------------------------
// RabbitMQ helpers

/// A connection and a channel in confirm mode, and what the test declared (deleted at the
/// end; queues also expire after ten unused minutes should a test fail first).
struct Rabbit {
    _conn: Connection,
    ch: Channel,
    queues: Vec<String>,
    exchanges: Vec<String>,
}

impl Rabbit {
    async fn connect() -> Rabbit {
        let conn = Connection::connect(&rabbitmq_url(), ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let ch = conn.create_channel().await.expect("channel");
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm.select");
        Rabbit {
            _conn: conn,
            ch,
            queues: Vec::new(),
            exchanges: Vec::new(),
        }
    }

    /// Declares a durable queue, with `args` on top of a ten-minute expiry.
    async fn queue(&mut self, name: &str, mut args: FieldTable) {
        args.insert("x-expires".into(), AMQPValue::LongInt(600_000));
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        self.ch
            .queue_declare(name.into(), options, args)
            .await
            .unwrap_or_else(|e| panic!("declare {name}: {e}"));
        self.queues.push(name.to_string());
    }

    /// Declares a durable direct exchange (as Weir's `exchange_declare` does) and binds
    /// `queue` to it with `key`.
    async fn exchange_to(&mut self, exchange: &str, key: &str, queue: &str) {
        let options = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        self.ch
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Direct,
                options,
                FieldTable::default(),
            )
            .await
            .expect("exchange.declare");
        self.exchanges.push(exchange.to_string());
        self.ch
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("queue.bind");
    }

    /// Publishes and waits for the broker's confirm; false when the message was returned
    /// as unroutable (`mandatory`).
    async fn publish(&self, exchange: &str, key: &str, body: &[u8], mandatory: bool) -> bool {
        let options = BasicPublishOptions {
            mandatory,
            ..BasicPublishOptions::default()
        };
        let props = BasicProperties::default().with_delivery_mode(2);
        let confirm = self
            .ch
            .basic_publish(exchange.into(), key.into(), options, body, props)
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(confirm.is_ack(), "the broker nacked a publish");
        confirm.take_message().is_none()
    }

    /// Publishes many to the default exchange (to `queue`), waiting for the confirms once.
    async fn fill(&self, queue: &str, bodies: impl Iterator<Item = Vec<u8>>) {
        let props = BasicProperties::default().with_delivery_mode(2);
        for body in bodies {
            let _confirm = self
                .ch
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions::default(),
                    &body,
                    props.clone(),
                )
                .await
                .expect("publish");
        }
        let returned = self.ch.wait_for_confirms().await.expect("confirms");
        assert!(returned.is_empty());
    }

    /// A consumer of `queue` that acknowledges automatically.
    async fn consume(&self, queue: &str) -> lapin::Consumer {
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        self.ch
            .basic_consume(queue.into(), "".into(), options, FieldTable::default())
            .await
            .expect("basic.consume")
    }

    async fn cleanup(&self) {
        for q in &self.queues {
            let _ = self
                .ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        for e in &self.exchanges {
            let _ = self
                .ch
                .exchange_delete(e.as_str().into(), Default::default())
                .await;
        }
    }
}

/// Up to `want` deliveries from `consumer`, waiting at most `within` for each.
async fn take(consumer: &mut lapin::Consumer, want: usize, within: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < want {
        match tokio::time::timeout(within, consumer.next()).await {
            Ok(Some(Ok(d))) => got.push(
                serde_json::from_slice(&d.data)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&d.data).into())),
            ),
            Ok(Some(Err(e))) => panic!("consumer: {e}"),
            _ => break,
        }
    }
    got
}

// ---------------------------------------------------------------------------------------
// MQTT helpers

/// A test's own MQTT client: publishes at QoS 1 and collects what its subscriptions get.
struct Mqtt {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Publish>,
    acked: Arc<AtomicUsize>,
    subscribed: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    async fn connect(broker: &Mosquitto, id: &str) -> Mqtt {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port());
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut event_loop) = AsyncClient::new(options, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let acked = Arc::new(AtomicUsize::new(0));
        let subscribed = Arc::new(AtomicUsize::new(0));
        let (a, s) = (acked.clone(), subscribed.clone());
        let (up_tx, up_rx) = tokio::sync::oneshot::channel();
        let mut up_tx = Some(up_tx);
        let task = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(t) = up_tx.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(p);
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        s.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), up_rx)
            .await
            .expect("test client connects to mosquitto")
            .unwrap();
        Mqtt {
            client,
            rx,
            acked,
            subscribed,
            _task: task,
        }
    }

    async fn subscribe(&self, filter: &str) {
        let before = self.subscribed.load(Ordering::SeqCst);
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        wait_until(Duration::from_secs(10), "SUBACK", || {
            self.subscribed.load(Ordering::SeqCst) > before
        })
        .await;
    }

    async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }

    /// Waits until the broker has acknowledged `n` publishes in all.
    async fn wait_acked(&self, n: usize) {
        wait_until(Duration::from_secs(30), "PUBACKs", || {
            self.acked.load(Ordering::SeqCst) >= n
        })
        .await;
    }

    async fn next(&mut self, within: Duration) -> Option<Publish> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

async fn wait_until(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "no {what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Shared

/// An HTTP client without a total timeout, for event streams that stay open.
fn sse_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .build()
        .unwrap()
}

async fn post_all(gw: &weir_testkit::Gateway, path: &str, bodies: &[Value]) {
    let http = common::h1();
    for b in bodies {
        let r = http
            .post(gw.url(path))
            .body(b.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "POST {b}: {}", r.text().await.unwrap());
    }
}

async fn next_json(sse: &mut Sse, gw: &weir_testkit::Gateway) -> Value {
    let Some((_, data)) = sse.next(Duration::from_secs(20)).await else {
        panic!("no event within 20 s\n{}", gw.logs());
    };
    serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))
}

/// The connection entries of every instance of every stream, from the control API.
async fn connections(gw: &weir_testkit::Gateway) -> Vec<Value> {
    let listing: Value = serde_json::from_str(&control_get(gw, "/tyk/streams").await).unwrap();
    let mut all = Vec::new();
    for stream in listing.as_array().into_iter().flatten() {
        for inst in stream["instances"].as_array().into_iter().flatten() {
            all.extend(inst["connections"].as_array().cloned().unwrap_or_default());
        }
    }
    all
}

// ---------------------------------------------------------------------------------------
// 1. HTTP into the brokers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_published_to_a_rabbitmq_exchange() {
    let mut rabbit = Rabbit::connect().await;
    let (queue, key) = (unique_name("weir-http-in"), unique_name("rk"));
    rabbit.queue(&queue, FieldTable::default()).await;
    rabbit
        .ch
        .queue_bind(
            queue.as_str().into(),
            "amq.direct".into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let streams = json!({
        "publish": {
            "input": {"http_server": {"path": "/in"}},
            "pipeline": {"processors": [{"mapping": "root = this\nmeta origin = \"http\""}]},
            "output": {"amqp_0_9": {
                "urls": [rabbitmq_url()], "exchange": "amq.direct", "key": key,
                "persistent": true, "content_type": "application/json",
                "message_id": "${! json(\"n\") }"
            }}
        }
    });
    let gw = start(&[("amqpin", streams_api("amqpin", streams))], json!({}));
    let mut consumer = rabbit.consume(&queue).await;
    let bodies: Vec<Value> = (0..20).map(|n| json!({"n": n})).collect();
    // Each POST returns once the broker has confirmed its message.
    post_all(&gw, "/amqpin/in", &bodies).await;
    let mut got = Vec::new();
    while got.len() < bodies.len() {
        let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(10), consumer.next()).await
        else {
            panic!("only {} of 20 arrived\n{}", got.len(), gw.logs());
        };
        let p = &d.properties;
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        let headers = p.headers().as_ref().expect("headers");
        assert!(
            matches!(headers.inner().get("origin"), Some(AMQPValue::LongString(s)) if s.as_bytes() == b"http"),
            "metadata travels as headers: {headers:?}"
        );
        let v: Value = serde_json::from_slice(&d.data).unwrap();
        assert_eq!(
            p.message_id().as_ref().map(|s| s.to_string()),
            Some(v["n"].to_string())
        );
        got.push(v);
    }
    assert_eq!(got, bodies, "each once, in order");
    rabbit.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_published_to_mqtt_and_confirmed() {
    let broker = Mosquitto::start();
    let mut sub = Mqtt::connect(&broker, "test-sub").await;
    sub.subscribe("rooms/#").await;
    let streams = json!({
        "publish": {
            "input": {"http_server": {"path": "/in"}},
            "output": {"mqtt": {
                "urls": [broker.url()], "topic": "rooms/${! json(\"room\") }", "qos": 1,
                "client_id": "weir-out"
            }}
        }
    });
    let gw = start(&[("mqttin", streams_api("mqttin", streams))], json!({}));
    let bodies: Vec<Value> = (0..20).map(|n| json!({"room": n % 3, "n": n})).collect();
    post_all(&gw, "/mqttin/in", &bodies).await;
    let mut got = Vec::new();
    while got.len() < bodies.len() {
        let Some(p) = sub.next(Duration::from_secs(10)).await else {
            panic!("only {} of 20 arrived\n{}", got.len(), gw.logs());
        };
        let v: Value = serde_json::from_slice(&p.payload).unwrap();
        assert_eq!(p.topic, format!("rooms/{}", v["room"]));
        got.push(v);
    }
    assert_eq!(got, bodies);

    // QoS 2 and the retained flag, per message.
    let streams = json!({
        "publish": {
            "input": {"http_server": {"path": "/in"}},
            "output": {"mqtt": {
                "urls": [broker.url()], "topic": "rooms/kept", "qos": 2,
                "retained_interpolated": "${! json(\"keep\") }"
            }}
        }
    });
    gw.write_api("mqttin.json", streams_api("mqttin", streams).to_string());
    gw.reload();
    post_all(&gw, "/mqttin/in", &[json!({"keep": true})]).await;
    let p = sub
        .next(Duration::from_secs(10))
        .await
        .expect("QoS 2 message");
    assert_eq!(p.topic, "rooms/kept");
    // A client that comes later gets the retained message.
    let mut late = Mqtt::connect(&broker, "test-late").await;
    late.subscribe("rooms/kept").await;
    let p = late.next(Duration::from_secs(10)).await.expect("retained");
    assert!(p.retain, "{p:?}");
}

// ---------------------------------------------------------------------------------------
// 2. Brokers into Server-Sent Events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_messages_reach_an_sse_consumer_transformed() {
    let rabbit = Rabbit::connect().await;
    let (queue, key) = (unique_name("weir-sse"), unique_name("rk"));
    // Weir declares the queue (gone with its consumer) and binds it.
    let streams = json!({
        "feed": {
            "input": {"amqp_0_9": {
                "urls": [rabbitmq_url()], "queue": queue,
                "queue_declare": {"enabled": true, "durable": false, "auto_delete": true},
                "bindings_declare": [{"exchange": "amq.direct", "key": key}]
            }},
            "pipeline": {"processors": [{"mapping":
                "root = this\nroot.key = @amqp_routing_key\nroot.redelivered = @amqp_redelivered\nroot.id = @amqp_message_id"}]},
            "output": {"http_server": {"stream_path": "/events", "stream_format": "event_source", "heartbeat": "0s"}}
        }
    });
    let gw = start(&[("rsse", streams_api("rsse", streams))], json!({}));
    let mut sse = Sse::open(&sse_client(), &gw.url("/rsse/events"), None).await;
    // The first message is published until the binding exists (unroutable ones come back).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rabbit
        .publish("amq.direct", &key, br#"{"n":0}"#, true)
        .await
    {
        assert!(Instant::now() < deadline, "never bound\n{}", gw.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 1..50 {
        assert!(
            rabbit
                .publish(
                    "amq.direct",
                    &key,
                    json!({"n": n}).to_string().as_bytes(),
                    true
                )
                .await
        );
    }
    for n in 0..50 {
        let v = next_json(&mut sse, &gw).await;
        assert_eq!(v["n"], n);
        assert_eq!(v["key"], key.as_str());
        assert_eq!(v["redelivered"], false);
    }
    let links = connections(&gw).await;
    assert!(
        links.iter().any(
            |l| l["component"].as_str().unwrap_or("").ends_with("amqp_0_9")
                && l["state"] == "connected"
        ),
        "{links:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_reach_an_sse_consumer_and_survive_a_broker_restart() {
    let broker = Mosquitto::start();
    let port = broker.port();
    let streams = json!({
        "feed": {
            "input": {"mqtt": {"urls": [broker.url()], "topics": ["sensors/#"], "qos": 1, "client_id": "weir-feed"}},
            "pipeline": {"processors": [{"mapping":
                "root = this\nroot.topic = @mqtt_topic\nroot.qos = @mqtt_qos\nroot.retained = @mqtt_retained"}]},
            "output": {"http_server": {"stream_path": "/events", "stream_format": "event_source", "heartbeat": "0s"}}
        }
    });
    let gw = start(&[("msse", streams_api("msse", streams))], json!({}));
    let mut sse = Sse::open(&sse_client(), &gw.url("/msse/events"), None).await;
    let publisher = Mqtt::connect(&broker, "test-pub").await;
    // A retained probe reaches Weir whether it subscribed before or after it was sent.
    publisher
        .publish("sensors/probe", br#"{"probe":1}"#.to_vec(), true)
        .await;
    let v = next_json(&mut sse, &gw).await;
    assert_eq!(v["probe"], 1);
    for n in 0..30 {
        publisher
            .publish(
                &format!("sensors/{}", n % 2),
                json!({"n": n}).to_string().into_bytes(),
                false,
            )
            .await;
    }
    for n in 0..30 {
        let v = next_json(&mut sse, &gw).await;
        assert_eq!(v["n"], n);
        assert_eq!(v["topic"], format!("sensors/{}", n % 2));
        assert_eq!(
            (v["qos"].clone(), v["retained"].clone()),
            (json!(1), json!(false))
        );
    }

    // The broker goes away and comes back on the same port: Weir reconnects and subscribes
    // again, and says so on the control API.
    drop(publisher);
    drop(broker);
    let broker = Mosquitto::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let links = connections(&gw).await;
        let mqtt = links
            .iter()
            .find(|l| l["component"].as_str().unwrap_or("").ends_with("mqtt"))
            .cloned()
            .unwrap_or_default();
        if mqtt["state"] == "connected" && mqtt["reconnects"].as_u64() >= Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reconnected: {links:?}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let publisher = Mqtt::connect(&broker, "test-pub").await;
    publisher
        .publish("sensors/probe", br#"{"probe":2}"#.to_vec(), true)
        .await;
    assert_eq!(next_json(&mut sse, &gw).await["probe"], 2);
    publisher
        .publish("sensors/x", br#"{"n":"after"}"#.to_vec(), false)
        .await;
    assert_eq!(next_json(&mut sse, &gw).await["n"], "after");
}

// ---------------------------------------------------------------------------------------
// 3. Nothing lost when Weir is killed

/// How often each relayed message (by its `n`) arrived.
#[derive(Default)]
struct Tally(BTreeMap<i64, usize>);

impl Tally {
    fn add(&mut self, v: &Value) {
        assert_eq!(v["relayed"], true, "{v}");
        *self.0.entry(v["n"].as_i64().unwrap()).or_default() += 1;
    }

    fn missing(&self, total: usize) -> usize {
        (0..total as i64)
            .filter(|n| !self.0.contains_key(n))
            .count()
    }

    fn duplicates(&self) -> usize {
        self.0.values().map(|c| c - 1).sum()
    }
}

/// Where relayed messages are read from.
enum Feed<'a> {
    Amqp(&'a mut lapin::Consumer),
    Mqtt(&'a mut Mqtt),
}

impl Feed<'_> {
    /// The next message, if one comes within `within`.
    async fn next(&mut self, within: Duration) -> Option<Value> {
        match self {
            Feed::Amqp(c) => take(c, 1, within).await.pop(),
            Feed::Mqtt(m) => m
                .next(within)
                .await
                .map(|p| serde_json::from_slice(&p.payload).unwrap()),
        }
    }

    /// Reads into `tally` until `done` says so; fails naming `what` after 60 s.
    async fn until(
        &mut self,
        tally: &mut Tally,
        gw: &weir_testkit::Gateway,
        what: &str,
        done: impl Fn(&Tally) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(tally) {
            assert!(
                Instant::now() < deadline,
                "{what}: {} distinct arrived\n{}",
                tally.0.len(),
                gw.logs()
            );
            if let Some(v) = self.next(Duration::from_secs(1)).await {
                tally.add(&v);
            }
        }
    }

    /// Counts late redeliveries too, until nothing comes for two seconds.
    async fn drain(&mut self, tally: &mut Tally) {
        while let Some(v) = self.next(Duration::from_secs(2)).await {
            tally.add(&v);
        }
    }
}

/// Kills Weir with SIGKILL once a quarter of `total` was relayed; how many had been.
async fn kill_midway(
    feed: &mut Feed<'_>,
    tally: &mut Tally,
    mut gw: weir_testkit::Gateway,
    total: usize,
) -> usize {
    feed.until(tally, &gw, "relaying stalled", |t| t.0.len() >= total / 4)
        .await;
    gw.signal(9);
    assert!(gw.wait_exit(Duration::from_secs(5)).is_some());
    assert!(tally.missing(total) > 0, "the kill came after the end");
    tally.0.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_to_rabbitmq_loses_nothing_when_weir_is_killed_midway() {
    const TOTAL: usize = 2000;
    let mut rabbit = Rabbit::connect().await;
    let (src, dst, exchange) = (
        unique_name("weir-src"),
        unique_name("weir-dst"),
        unique_name("weir-ex"),
    );
    rabbit.queue(&src, FieldTable::default()).await;
    rabbit.queue(&dst, FieldTable::default()).await;
    rabbit.exchange_to(&exchange, "relayed", &dst).await;
    let bodies = (0..TOTAL).map(|n| json!({"n": n}).to_string().into_bytes());
    rabbit.fill(&src, bodies).await;
    // A small window, one write at a time, so the kill lands midway.
    let relay = json!({
        "relay": {
            "input": {"amqp_0_9": {"urls": [rabbitmq_url()], "queue": src, "prefetch_count": 5}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"relayed\": true})"}]},
            "output": {"amqp_0_9": {
                "urls": [rabbitmq_url()], "exchange": exchange, "key": "relayed", "persistent": true,
                "exchange_declare": {"enabled": true, "type": "direct", "durable": true},
                "max_in_flight": 1
            }}
        }
    });
    let api = streams_api("arelay", relay);
    let mut out = rabbit.consume(&dst).await;
    let mut feed = Feed::Amqp(&mut out);
    let mut tally = Tally::default();
    let gw = start(&[("arelay", api.clone())], json!({}));
    let at_kill = kill_midway(&mut feed, &mut tally, gw, TOTAL).await;

    // The broker requeued what the dead connection held unacknowledged.
    let gw = start(&[("arelay", api)], json!({}));
    feed.until(&mut tally, &gw, "lost", |t| t.missing(TOTAL) == 0)
        .await;
    feed.drain(&mut tally).await;
    eprintln!(
        "amqp crash test: {TOTAL} sent, killed with {at_kill} relayed, all arrived, {} duplicate(s)",
        tally.duplicates()
    );
    drop(gw);
    rabbit.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_to_mqtt_loses_nothing_when_weir_is_killed_with_messages_unacknowledged() {
    const TOTAL: usize = 2000;
    let broker = Mosquitto::start();
    let mut sub = Mqtt::connect(&broker, "test-sub").await;
    sub.subscribe("out/#").await;
    let relay = json!({
        "relay": {
            "input": {"mqtt": {
                "urls": [broker.url()], "topics": ["in/#"], "qos": 1,
                "client_id": "weir-relay", "clean_session": false
            }},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"relayed\": true})"}]},
            "output": {"mqtt": {"urls": [broker.url()], "topic": "out/relayed", "qos": 1, "max_in_flight": 1}}
        }
    });
    let api = streams_api("mrelay", relay);
    let gw = start(&[("mrelay", api.clone())], json!({}));
    let publisher = Mqtt::connect(&broker, "test-pub").await;
    // Wait for Weir's subscription: a retained probe comes through once it exists.
    let probe = json!({"n": -1}).to_string().into_bytes();
    publisher.publish("in/probe", probe, true).await;
    let mut feed = Feed::Mqtt(&mut sub);
    let probe = feed.next(Duration::from_secs(20)).await.expect("probe");
    assert_eq!(probe, json!({"n": -1, "relayed": true}));

    // Published while Weir relays, so the kill comes while messages are unacknowledged.
    let client = publisher.client.clone();
    let feeding = tokio::spawn(async move {
        for n in 0..TOTAL {
            let body = json!({"n": n}).to_string().into_bytes();
            let sent = client.publish("in/data", QoS::AtLeastOnce, false, body);
            sent.await.unwrap();
        }
    });
    let mut tally = Tally::default();
    let at_kill = kill_midway(&mut feed, &mut tally, gw, TOTAL).await;
    feeding.await.unwrap();
    publisher.wait_acked(TOTAL + 1).await;

    // Same client id, persistent session: the broker sends again what was unacknowledged,
    // and what queued meanwhile.
    let gw = start(&[("mrelay", api)], json!({}));
    feed.until(&mut tally, &gw, "lost", |t| t.missing(TOTAL) == 0)
        .await;
    feed.drain(&mut tally).await;
    eprintln!(
        "mqtt crash test: {TOTAL} sent, killed with {at_kill} relayed, all arrived, {} duplicate(s)",
        tally.duplicates()
    );
}

// ---------------------------------------------------------------------------------------
// 4. Nacks at the broker

/// Two streams: `retry` nacks each message's first delivery (a strict `switch` that only
/// takes redeliveries); `reject` nacks `poison` with an error its reject pattern matches.
fn nack_streams(retry: (&str, &str), reject: (&str, &str)) -> Value {
    let to =
        |queue: &str| json!({"amqp_0_9": {"urls": [rabbitmq_url()], "exchange": "", "key": queue}});
    json!({
        "retry": {
            "input": {"amqp_0_9": {"urls": [rabbitmq_url()], "queue": retry.0}},
            "pipeline": {"processors": [{"mapping": "root = this\nroot.redelivered = @amqp_redelivered"}]},
            "output": {"switch": {"strict_mode": true, "cases": [
                {"check": "this.redelivered == true", "output": to(retry.1)}
            ]}}
        },
        "reject": {
            "input": {"amqp_0_9": {
                "urls": [rabbitmq_url()], "queue": reject.0,
                "nack_reject_patterns": ["no switch case matched"]
            }},
            "output": {"switch": {"strict_mode": true, "cases": [
                {"check": "this.kind == \"ok\"", "output": to(reject.1)}
            ]}}
        }
    })
}

/// Queue arguments that dead-letter rejected messages to `queue`.
fn dead_letter_to(queue: &str) -> FieldTable {
    let mut args = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(s.into());
    args.insert("x-dead-letter-exchange".into(), text(""));
    args.insert("x-dead-letter-routing-key".into(), text(queue));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_requeues_in_rabbitmq_and_a_matching_reject_pattern_dead_letters() {
    let mut rabbit = Rabbit::connect().await;
    let [retry_q, retry_out, reject_q, reject_out, dead] =
        ["retry", "retry-out", "reject", "reject-out", "dead"]
            .map(|n| unique_name(&format!("weir-{n}")));
    for q in [&retry_q, &retry_out, &reject_out, &dead] {
        rabbit.queue(q, FieldTable::default()).await;
    }
    rabbit.queue(&reject_q, dead_letter_to(&dead)).await;
    let streams = nack_streams((&retry_q, &retry_out), (&reject_q, &reject_out));
    let gw = start(&[("nacks", streams_api("nacks", streams))], json!({}));
    let mut retried = rabbit.consume(&retry_out).await;
    let mut passed = rabbit.consume(&reject_out).await;
    let mut died = rabbit.consume(&dead).await;
    for n in 0..3 {
        let body = json!({"n": n}).to_string();
        rabbit.publish("", &retry_q, body.as_bytes(), true).await;
    }
    for kind in ["ok", "poison", "ok"] {
        let body = json!({"kind": kind}).to_string();
        rabbit.publish("", &reject_q, body.as_bytes(), true).await;
    }
    let mut got = take(&mut retried, 3, Duration::from_secs(20)).await;
    got.sort_by_key(|v| v["n"].as_u64());
    let want: Vec<Value> = (0..3)
        .map(|n| json!({"n": n, "redelivered": true}))
        .collect();
    assert_eq!(
        got,
        want,
        "each delivered again after its nack\n{}",
        gw.logs()
    );
    let ok = json!({"kind": "ok"});
    assert_eq!(
        take(&mut passed, 2, Duration::from_secs(20)).await,
        [ok.clone(), ok]
    );
    assert_eq!(
        take(&mut died, 1, Duration::from_secs(20)).await,
        [json!({"kind": "poison"})],
        "the rejected message was dead-lettered\n{}",
        gw.logs()
    );
    // Rejected, not requeued: nothing more comes anywhere.
    assert!(take(&mut died, 1, Duration::from_secs(1)).await.is_empty());
    assert!(
        take(&mut passed, 1, Duration::from_millis(200))
            .await
            .is_empty()
    );
    drop(gw);
    rabbit.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// 5. Reconnection

/// Closes, with `rabbitmqctl`, every connection whose name mentions `marker`; how many.
fn close_connections(marker: &str) -> usize {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl (this test needs the local RabbitMQ's own tool)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut closed = 0;
    for line in text.lines().filter(|l| l.contains(marker)) {
        let Some(pid) = line.split_whitespace().next() else {
            continue;
        };
        let status = std::process::Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "closed by a Weir test"])
            .status()
            .expect("rabbitmqctl close_connection");
        assert!(status.success(), "close_connection {pid}");
        closed += 1;
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_connections_closed_by_the_broker_are_made_again() {
    let mut rabbit = Rabbit::connect().await;
    let (src, dst) = (unique_name("weir-rc-src"), unique_name("weir-rc-dst"));
    rabbit.queue(&src, FieldTable::default()).await;
    rabbit.queue(&dst, FieldTable::default()).await;
    // The stream's name is in the connections' names, so only this test's are closed.
    let stream = unique_name("reconnect");
    let streams = json!({
        stream.clone(): {
            "input": {"amqp_0_9": {"urls": [rabbitmq_url()], "queue": src}},
            "output": {"amqp_0_9": {"urls": [rabbitmq_url()], "exchange": "", "key": dst, "timeout": "5s"}}
        }
    });
    let gw = start(&[("areconn", streams_api("areconn", streams))], json!({}));
    let mut out = rabbit.consume(&dst).await;
    let send = |from: usize| {
        let rabbit = &rabbit;
        let src = src.clone();
        async move {
            for n in from..from + 10 {
                rabbit
                    .publish("", &src, json!({"n": n}).to_string().as_bytes(), true)
                    .await;
            }
        }
    };
    send(0).await;
    let mut seen: Vec<u64> = take(&mut out, 10, Duration::from_secs(20))
        .await
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(seen.len(), 10, "{}", gw.logs());

    assert_eq!(
        close_connections(&stream),
        2,
        "the input's and the output's"
    );
    send(10).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (10..20).any(|n| !seen.contains(&n)) {
        assert!(
            Instant::now() < deadline,
            "after the broker closed the connections only {seen:?} arrived\n{}",
            gw.logs()
        );
        seen.extend(
            take(&mut out, 1, Duration::from_secs(1))
                .await
                .iter()
                .map(|v| v["n"].as_u64().unwrap()),
        );
    }
    let links = connections(&gw).await;
    for kind in ["input.amqp_0_9", "output.amqp_0_9"] {
        let link = links
            .iter()
            .find(|l| l["component"].as_str().unwrap_or("").ends_with(kind))
            .unwrap_or_else(|| panic!("no {kind} in {links:?}"));
        assert_eq!(link["state"], "connected", "{link}");
        assert!(link["reconnects"].as_u64() >= Some(1), "{link}");
        assert!(
            !link["last_error"].as_str().unwrap_or("").is_empty(),
            "{link}"
        );
    }
    drop(gw);
    rabbit.cleanup().await;
}
