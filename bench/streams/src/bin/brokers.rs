//! Weir's NATS JetStream, RabbitMQ, MQTT and Redis streams connectors against each broker's
//! own client used directly, side by side in one run (see bench/brokers.sh, BENCHMARKS.md):
//!
//! * consume: N events already held by the broker (a JetStream stream, a queue, an MQTT
//!   persistent session, a Redis stream). Direct: the broker's client reads and acknowledges
//!   them. Weir: `<broker> → mapping (seed 001's Worker) → http_server` to an SSE client.
//!   Messages/s from the first message to the N-th.
//! * ingest: M events with C in flight. Direct: the broker's client publishes, each confirmed
//!   (JetStream PubAck, publisher confirm, PUBACK, XADD reply). Weir: C HTTP clients POSTing
//!   to `http_server → <broker>`, each answered once the broker confirmed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use streams_bench::{Proc, consume_sse, event, free_port, median, post_rate, start_weir, wait_port};

const MAPPING: &str = "root = this.merge({ \"result\": \"bar\" })";
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Clone, Copy, PartialEq)]
enum Broker {
    Nats,
    Amqp,
    Mqtt,
    Redis,
}

impl Broker {
    fn name(self) -> &'static str {
        match self {
            Broker::Nats => "NATS JetStream",
            Broker::Amqp => "RabbitMQ",
            Broker::Mqtt => "MQTT (mosquitto, QoS 1)",
            Broker::Redis => "Redis streams",
        }
    }
}

struct Args {
    weir: PathBuf,
    rounds: usize,
    messages: usize,
    posts: usize,
    concurrency: usize,
    brokers: Vec<Broker>,
}

fn args() -> Args {
    let mut a = Args {
        weir: PathBuf::from("target/release/weir"),
        rounds: 3,
        messages: 20_000,
        posts: 10_000,
        concurrency: 32,
        brokers: vec![Broker::Nats, Broker::Amqp, Broker::Mqtt, Broker::Redis],
    };
    for (flag, value) in streams_bench::flags() {
        match flag.as_str() {
            "--weir" => a.weir = value.into(),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            "--messages" => a.messages = value.parse().expect("--messages N"),
            "--posts" => a.posts = value.parse().expect("--posts N"),
            "--concurrency" => a.concurrency = value.parse().expect("--concurrency N"),
            "--brokers" => {
                a.brokers = value
                    .split(',')
                    .map(|b| match b {
                        "nats" => Broker::Nats,
                        "amqp" => Broker::Amqp,
                        "mqtt" => Broker::Mqtt,
                        "redis" => Broker::Redis,
                        other => panic!("unknown broker {other} (nats, amqp, mqtt, redis)"),
                    })
                    .collect()
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// The brokers' own servers on free loopback ports (RabbitMQ is the machine's, on 5672).
struct Servers {
    nats: u16,
    mqtt: u16,
    redis: u16,
    _procs: Vec<Proc>,
    _dir: tempfile::TempDir,
}

async fn servers() -> Servers {
    let dir = tempfile::tempdir().unwrap();
    let (nats, mqtt, redis) = (free_port(), free_port(), free_port());
    let quiet = |c: &mut Command| {
        c.stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
    };
    let mut n = Command::new("nats-server");
    n.args(["-js", "-a", "127.0.0.1", "-p", &nats.to_string(), "-sd"]).arg(dir.path().join("js"));
    quiet(&mut n);
    // Unlimited queues, so a persistent session holds every prefilled message.
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {mqtt} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n"),
    )
    .unwrap();
    let mut m = Command::new("mosquitto");
    m.arg("-c").arg(&conf);
    quiet(&mut m);
    let mut r = Command::new("redis-server");
    r.args(["--bind", "127.0.0.1", "--port", &redis.to_string(), "--save", "", "--appendonly", "no"]);
    quiet(&mut r);
    let procs = [n, m, r].into_iter().map(|mut c| Proc(c.spawn().expect("start a broker"))).collect();
    for port in [nats, mqtt, redis, 5672] {
        wait_port(port).await;
    }
    Servers { nats, mqtt, redis, _procs: procs, _dir: dir }
}

impl Servers {
    fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.nats)
    }
    fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.redis)
    }

    /// Weir's input reading what `prefill` put in for round `r`.
    fn weir_input(&self, b: Broker, r: usize) -> Value {
        match b {
            Broker::Nats => json!({"nats_jetstream": {"urls": [self.nats_url()], "subject": format!("bench.consume.{r}"), "durable": format!("weir-{r}"), "deliver": "all"}}),
            Broker::Amqp => json!({"amqp_0_9": {"urls": [AMQP_URL], "queue": format!("bench-consume-{r}-weir"), "prefetch_count": 100}}),
            Broker::Mqtt => json!({"mqtt": {"urls": [format!("tcp://127.0.0.1:{}", self.mqtt)], "client_id": format!("weir-{r}"), "clean_session": false, "topics": [format!("bench/consume/{r}")], "qos": 1}}),
            Broker::Redis => json!({"redis_streams": {"url": self.redis_url(), "streams": [format!("consume-{r}")], "consumer_group": "weir", "limit": 100}}),
        }
    }

    /// Weir's output for the ingest of round `r`.
    fn weir_output(&self, b: Broker, r: usize) -> Value {
        match b {
            Broker::Nats => json!({"nats_jetstream": {"urls": [self.nats_url()], "subject": format!("bench.ingest.{r}")}}),
            Broker::Amqp => json!({"amqp_0_9": {"urls": [AMQP_URL], "exchange": "", "key": format!("bench-ingest-{r}")}}),
            Broker::Mqtt => json!({"mqtt": {"urls": [format!("tcp://127.0.0.1:{}", self.mqtt)], "client_id": format!("weir-out-{r}"), "topic": format!("bench/ingest/{r}"), "qos": 1}}),
            Broker::Redis => json!({"redis_streams": {"url": self.redis_url(), "stream": format!("ingest-{r}")}}),
        }
    }

    /// Puts `n` events where both the direct client and Weir will read them.
    async fn prefill(&self, b: Broker, r: usize, n: usize) {
        match b {
            Broker::Nats => {
                let js = self.jetstream().await;
                publish_nats(&js, &format!("bench.consume.{r}"), n, 1000).await;
            }
            Broker::Amqp => {
                let (_conn, ch) = amqp_channel().await;
                for side in ["direct", "weir"] {
                    let q = format!("bench-consume-{r}-{side}");
                    ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
                    publish_amqp(&ch, &q, n, 1000).await;
                }
            }
            Broker::Mqtt => {
                for id in [format!("direct-{r}"), format!("weir-{r}")] {
                    self.mqtt_subscribe_and_leave(&id, &format!("bench/consume/{r}")).await;
                }
                self.publish_mqtt(&format!("prefill-{r}"), &format!("bench/consume/{r}"), n, 1000).await;
            }
            Broker::Redis => {
                let mut c = self.redis().await;
                publish_redis(&mut c, &format!("consume-{r}"), n, 1000).await;
            }
        }
    }

    /// The broker's own client reads and acknowledges `n` events; messages/s.
    async fn consume_direct(&self, b: Broker, r: usize, n: usize) -> f64 {
        let mut got = 0;
        let mut first = None;
        let mut count = |first: &mut Option<Instant>| {
            first.get_or_insert_with(Instant::now);
            got += 1;
            got >= n
        };
        match b {
            Broker::Nats => {
                use async_nats::jetstream::consumer::pull;
                let js = self.jetstream().await;
                let stream = js.get_stream("BENCH").await.unwrap();
                let consumer = stream
                    .create_consumer(pull::Config {
                        durable_name: Some(format!("direct-{r}")),
                        filter_subject: format!("bench.consume.{r}"),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let mut messages = consumer.messages().await.unwrap();
                while let Some(m) = messages.next().await {
                    m.unwrap().ack().await.unwrap();
                    if count(&mut first) {
                        break;
                    }
                }
            }
            Broker::Amqp => {
                let (_conn, ch) = amqp_channel().await;
                ch.basic_qos(100, BasicQosOptions::default()).await.unwrap();
                let q = format!("bench-consume-{r}-direct");
                let mut deliveries = ch
                    .basic_consume(q.as_str().into(), "direct".into(), BasicConsumeOptions::default(), FieldTable::default())
                    .await
                    .unwrap();
                while let Some(d) = deliveries.next().await {
                    d.unwrap().acker.ack(BasicAckOptions::default()).await.unwrap();
                    if count(&mut first) {
                        break;
                    }
                }
            }
            Broker::Mqtt => {
                let mut opts = MqttOptions::new(format!("direct-{r}"), "127.0.0.1", self.mqtt);
                opts.set_clean_session(false).set_keep_alive(Duration::from_secs(30));
                let (_client, mut events) = AsyncClient::new(opts, 1000);
                loop {
                    if let Event::Incoming(Packet::Publish(_)) = events.poll().await.expect("mqtt") {
                        if count(&mut first) {
                            break;
                        }
                    }
                }
            }
            Broker::Redis => {
                let mut c = self.redis().await;
                let stream = format!("consume-{r}");
                let _: () = redis::cmd("XGROUP").arg("CREATE").arg(&stream).arg("direct").arg("0").query_async(&mut c).await.unwrap();
                'read: loop {
                    type Reply = Option<Vec<(String, Vec<(String, Vec<Vec<u8>>)>)>>;
                    let reply: Reply = redis::cmd("XREADGROUP")
                        .arg("GROUP").arg("direct").arg("direct").arg("COUNT").arg(100)
                        .arg("BLOCK").arg(1000).arg("STREAMS").arg(&stream).arg(">")
                        .query_async(&mut c)
                        .await
                        .unwrap();
                    for (_, entries) in reply.unwrap_or_default() {
                        let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
                        let _: i64 = redis::cmd("XACK").arg(&stream).arg("direct").arg(&ids).query_async(&mut c).await.unwrap();
                        for _ in &ids {
                            if count(&mut first) {
                                break 'read;
                            }
                        }
                    }
                }
            }
        }
        n as f64 / first.unwrap().elapsed().as_secs_f64()
    }

    /// The broker's own client publishes `n` events, `c` in flight, each confirmed; messages/s.
    async fn publish_direct(&self, b: Broker, r: usize, n: usize, c: usize) -> f64 {
        let start = Instant::now();
        match b {
            Broker::Nats => publish_nats(&self.jetstream().await, &format!("bench.ingest.{r}"), n, c).await,
            Broker::Amqp => {
                let (_conn, ch) = amqp_channel().await;
                publish_amqp(&ch, &format!("bench-ingest-{r}"), n, c).await
            }
            Broker::Mqtt => self.publish_mqtt(&format!("direct-out-{r}"), &format!("bench/ingest/{r}"), n, c).await,
            Broker::Redis => publish_redis(&mut self.redis().await, &format!("ingest-{r}"), n, c).await,
        }
        n as f64 / start.elapsed().as_secs_f64()
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        let js = async_nats::jetstream::new(async_nats::connect(self.nats_url()).await.unwrap());
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        js
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// Makes a persistent session for `id` subscribed to `topic`, then disconnects.
    async fn mqtt_subscribe_and_leave(&self, id: &str, topic: &str) {
        let mut opts = MqttOptions::new(id, "127.0.0.1", self.mqtt);
        opts.set_clean_session(false);
        let (client, mut events) = AsyncClient::new(opts, 10);
        client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        while !matches!(events.poll().await.expect("mqtt"), Event::Incoming(Packet::SubAck(_))) {}
        client.disconnect().await.unwrap();
        while events.poll().await.is_ok() {}
    }

    async fn publish_mqtt(&self, id: &str, topic: &str, n: usize, in_flight: usize) {
        let mut opts = MqttOptions::new(id, "127.0.0.1", self.mqtt);
        opts.set_inflight(in_flight.min(u16::MAX as usize) as u16);
        let (client, mut events) = AsyncClient::new(opts, in_flight);
        let topic = topic.to_string();
        let publisher = tokio::spawn(async move {
            for i in 0..n {
                client.publish(topic.as_str(), QoS::AtLeastOnce, false, event(i)).await.unwrap();
            }
            client
        });
        let mut acked = 0;
        while acked < n {
            if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.expect("mqtt") {
                acked += 1;
            }
        }
        let _ = publisher.await.unwrap().disconnect().await;
    }
}

async fn publish_nats(js: &async_nats::jetstream::Context, subject: &str, n: usize, in_flight: usize) {
    futures_util::stream::iter(0..n)
        .map(|i| async move {
            let ack = js.publish(subject.to_string(), event(i).into()).await.unwrap();
            ack.await.unwrap();
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
}

async fn amqp_channel() -> (Connection, lapin::Channel) {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await.expect("RabbitMQ on 127.0.0.1:5672");
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    (conn, ch)
}

async fn publish_amqp(ch: &lapin::Channel, queue: &str, n: usize, in_flight: usize) {
    ch.queue_declare(queue.into(), QueueDeclareOptions::default(), FieldTable::default()).await.unwrap();
    futures_util::stream::iter(0..n)
        .map(|i| async move {
            let payload = event(i);
            let confirm = ch
                .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), &payload, BasicProperties::default())
                .await
                .unwrap();
            confirm.await.unwrap();
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
}

async fn publish_redis(c: &mut redis::aio::MultiplexedConnection, stream: &str, n: usize, in_flight: usize) {
    futures_util::stream::iter(0..n)
        .map(|i| {
            let mut c = c.clone();
            async move {
                let _: String = redis::cmd("XADD").arg(stream).arg("*").arg("body").arg(event(i)).query_async(&mut c).await.unwrap();
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
}

struct Round {
    direct_consume: f64,
    weir_consume: f64,
    direct_ingest: f64,
    weir_ingest: f64,
    weir_sink: f64,
}

async fn round(a: &Args, s: &Servers, b: Broker, r: usize) -> Round {
    s.prefill(b, r, a.messages).await;
    let direct_consume = s.consume_direct(b, r, a.messages).await;
    let streams = json!({
        "consume": {
            "input": s.weir_input(b, r),
            "pipeline": {"threads": threads(), "processors": [{"mapping": MAPPING}]},
            "output": {"http_server": {"stream_path": "/events", "stream_format": "event_source", "heartbeat": "0s"}}
        },
        "ingest": {"input": {"http_server": {"path": "/ingest"}}, "output": s.weir_output(b, r)},
        "sink": {"input": {"http_server": {"path": "/sink"}}, "output": {"drop": {}}}
    });
    let (_weir, port, _dir) = start_weir(&a.weir, streams);
    wait_port(port).await;
    let base = format!("http://127.0.0.1:{port}/bench");
    let (weir_consume, _) = consume_sse(&format!("{base}/events"), a.messages).await;

    s.publish_direct(b, r, WARM_UP, a.concurrency).await;
    let direct_ingest = s.publish_direct(b, r, a.posts, a.concurrency).await;
    let http = reqwest::Client::builder().no_proxy().http1_only().pool_max_idle_per_host(a.concurrency).build().unwrap();
    let weir_ingest = post_rate(&http, &format!("{base}/ingest"), WARM_UP, a.posts, a.concurrency).await;
    // The same POSTs into a `drop` output: what HTTP ingest costs with no broker at all.
    let weir_sink = post_rate(&http, &format!("{base}/sink"), WARM_UP, a.posts, a.concurrency).await;
    Round { direct_consume, weir_consume, direct_ingest, weir_ingest, weir_sink }
}

/// `pipeline.threads` of the consuming stream: `BENCH_THREADS`, else -1 (one per CPU, as Bento).
fn threads() -> i64 {
    std::env::var("BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(-1)
}

/// Messages each side sends before its ingest is timed (connections made, producers up).
const WARM_UP: usize = 500;

#[tokio::main]
async fn main() {
    let a = args();
    let s = servers().await;
    println!("| Broker | consume {} msg/s: direct | Weir → SSE | Weir ÷ direct | ingest {} msg/s ({} in flight): direct | Weir (HTTP POST) | Weir ÷ direct | Weir POST → `drop` |", a.messages, a.posts, a.concurrency);
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for (i, &b) in a.brokers.iter().enumerate() {
        let mut rounds = Vec::new();
        for r in 0..a.rounds {
            let x = round(&a, &s, b, i * 100 + r).await;
            eprintln!(
                "{} round {r}: consume direct {:.0}/s weir {:.0}/s; ingest direct {:.0}/s weir {:.0}/s (drop {:.0}/s)",
                b.name(), x.direct_consume, x.weir_consume, x.direct_ingest, x.weir_ingest, x.weir_sink
            );
            rounds.push(x);
        }
        let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
        let (dc, wc, di, wi) = (m(|r| r.direct_consume), m(|r| r.weir_consume), m(|r| r.direct_ingest), m(|r| r.weir_ingest));
        let sink = m(|r| r.weir_sink);
        println!("| {} | {dc:.0} | {wc:.0} | {:.2}× | {di:.0} | {wi:.0} | {:.2}× | {sink:.0} |", b.name(), wc / dc, wi / di);
    }
}
