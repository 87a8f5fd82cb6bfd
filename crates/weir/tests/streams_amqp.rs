//! Streams through RabbitMQ (`amqp_0_9`): HTTP into an exchange, a queue into Server-Sent
//! Events, nothing lost when Weir is killed with messages unacknowledged, nacks that requeue
//! (or reject) at the broker, and connections the broker closes. RabbitMQ is the machine's
//! own (127.0.0.1:5672, see scripts/setup-brokers.sh), with names unique to each test; the
//! tests talk to it with lapin.

mod common;

use std::time::{Duration, Instant};

use common::streams::{
    Feed, Sse, Tally, connections, next_json, post_all, sse_client, sse_output, start, streams_api,
};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use weir_testkit::{rabbitmq_url, unique_name};

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

/// A relay's output queue, read by a consumer of the test's own.
struct Deliveries(lapin::Consumer);

impl Feed for Deliveries {
    async fn next(&mut self, within: Duration) -> Option<Value> {
        take(&mut self.0, 1, within).await.pop()
    }
}

// ---------------------------------------------------------------------------------------
// 1. HTTP into the broker

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

// ---------------------------------------------------------------------------------------
// 2. The broker into Server-Sent Events

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
            "output": sse_output("/events")
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

// ---------------------------------------------------------------------------------------
// 3. Nothing lost when Weir is killed

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
    let mut feed = Deliveries(rabbit.consume(&dst).await);
    let mut tally = Tally::default();
    let gw = start(&[("arelay", api.clone())], json!({}));
    let at_kill = tally.kill_midway(&mut feed, gw, TOTAL).await;

    // The broker requeued what the dead connection held unacknowledged.
    let gw = start(&[("arelay", api)], json!({}));
    tally
        .read_until(&mut feed, &gw, "lost", |t| t.missing(TOTAL) == 0)
        .await;
    tally.drain(&mut feed).await;
    eprintln!(
        "amqp crash test: {TOTAL} sent, killed with {at_kill} relayed, all arrived, {} duplicate(s)",
        tally.duplicates()
    );
    drop(gw);
    rabbit.cleanup().await;
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
