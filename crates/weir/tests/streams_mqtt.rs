//! Streams through MQTT (`mqtt`): HTTP into a broker (QoS 1 and 2, retained), a broker into
//! Server-Sent Events across a broker restart, and nothing lost when Weir is killed with
//! messages unacknowledged. Each test starts a mosquitto of its own and talks to it with
//! rumqttc.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::streams::{
    Feed, Sse, Tally, connections, next_json, post_all, sse_client, sse_output, start, streams_api,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use weir_testkit::Mosquitto;

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

    /// The next message's payload as JSON.
    async fn next_json(&mut self, within: Duration) -> Option<Value> {
        let p = self.next(within).await?;
        Some(serde_json::from_slice(&p.payload).unwrap())
    }
}

impl Feed for Mqtt {
    async fn next(&mut self, within: Duration) -> Option<Value> {
        self.next_json(within).await
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
// 1. HTTP into the broker

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
// 2. The broker into Server-Sent Events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_reach_an_sse_consumer_and_survive_a_broker_restart() {
    let broker = Mosquitto::start();
    let port = broker.port();
    let streams = json!({
        "feed": {
            "input": {"mqtt": {"urls": [broker.url()], "topics": ["sensors/#"], "qos": 1, "client_id": "weir-feed"}},
            "pipeline": {"processors": [{"mapping":
                "root = this\nroot.topic = @mqtt_topic\nroot.qos = @mqtt_qos\nroot.retained = @mqtt_retained"}]},
            "output": sse_output("/events")
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
    let probe = sub.next_json(Duration::from_secs(20)).await.expect("probe");
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
    let at_kill = tally.kill_midway(&mut sub, gw, TOTAL).await;
    feeding.await.unwrap();
    publisher.wait_acked(TOTAL + 1).await;

    // Same client id, persistent session: the broker sends again what was unacknowledged,
    // and what queued meanwhile.
    let gw = start(&[("mrelay", api)], json!({}));
    tally
        .read_until(&mut sub, &gw, "lost", |t| t.missing(TOTAL) == 0)
        .await;
    tally.drain(&mut sub).await;
    eprintln!(
        "mqtt crash test: {TOTAL} sent, killed with {at_kill} relayed, all arrived, {} duplicate(s)",
        tally.duplicates()
    );
}
