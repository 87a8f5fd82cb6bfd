//! Weir's Kafka streams against rdkafka used directly, side by side in one run on one tansu
//! broker (see bench/streams.sh and BENCHMARKS.md):
//!
//! * consume: N events already in a topic. Direct: an rdkafka consumer reads them. Weir: a
//!   stream `kafka → mapping (seed 001's Worker) → http_server` delivers them to an SSE client.
//!   Messages/s from the first message to the N-th (group joins excluded on both sides).
//! * latency: events produced at a fixed rate, each carrying its send time; the direct consumer
//!   and Weir's SSE client read them at once; p50 and p99 of receive − send.
//! * ingest: M events. Direct: an rdkafka producer with C sends in flight. Weir: C HTTP clients
//!   POSTing to a stream `http_server → kafka`. Messages/s, each acknowledged by the broker.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use streams_bench::{Proc, consume_sse, event, free_port, median, now_us, percentile, post_rate, wait_port};

struct Args {
    weir: PathBuf,
    tansu: PathBuf,
    rounds: usize,
    messages: usize,
    posts: usize,
    concurrency: usize,
    rate: u64,
    secs: u64,
}

fn args() -> Args {
    let mut a = Args {
        weir: PathBuf::from("target/release/weir"),
        tansu: PathBuf::from(std::env::var("HOME").unwrap_or_default() + "/.cache/tansu/bin/tansu"),
        rounds: 3,
        messages: 50_000,
        posts: 20_000,
        concurrency: 32,
        rate: 2_000,
        secs: 5,
    };
    for (flag, value) in streams_bench::flags() {
        match flag.as_str() {
            "--weir" => a.weir = value.into(),
            "--tansu" => a.tansu = value.into(),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            "--messages" => a.messages = value.parse().expect("--messages N"),
            "--posts" => a.posts = value.parse().expect("--posts N"),
            "--concurrency" => a.concurrency = value.parse().expect("--concurrency N"),
            "--rate" => a.rate = value.parse().expect("--rate N"),
            "--secs" => a.secs = value.parse().expect("--secs N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

async fn create_topics(bootstrap: &str, names: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topics: Vec<NewTopic<'_>> = names.iter().map(|n| NewTopic::new(n, 1, TopicReplication::Fixed(1))).collect();
    for r in admin.create_topics(&topics, &AdminOptions::new()).await.unwrap() {
        r.unwrap();
    }
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("queue.buffering.max.ms", "1")
        .create()
        .unwrap()
}

fn consumer(bootstrap: &str, group: &str, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// Produces `count` events with `in_flight` sends outstanding; returns messages/s.
async fn produce(p: &FutureProducer, topic: &str, count: usize, in_flight: usize) -> f64 {
    let start = Instant::now();
    futures_util::stream::iter(0..count)
        .map(|n| async move {
            let payload = event(n);
            p.send(FutureRecord::<(), _>::to(topic).payload(&payload), Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .expect("produce");
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
    count as f64 / start.elapsed().as_secs_f64()
}

/// Reads `count` messages; messages/s from the first to the last, and each one's latency (µs).
async fn consume_direct(c: &StreamConsumer, count: usize) -> (f64, Vec<u64>) {
    let mut lat = Vec::with_capacity(count);
    let mut first = None;
    while lat.len() < count {
        let m = tokio::time::timeout(Duration::from_secs(30), c.recv())
            .await
            .unwrap_or_else(|_| panic!("direct: {} of {count} messages, then nothing for 30 s", lat.len()))
            .expect("consume");
        first.get_or_insert_with(Instant::now);
        let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        lat.push(now_us().saturating_sub(v["sent_us"].as_u64().unwrap()));
    }
    let secs = first.unwrap().elapsed().as_secs_f64();
    (count as f64 / secs.max(1e-9), lat)
}

fn start_weir(bin: &PathBuf, bootstrap: &str, round: usize) -> (Proc, u16, tempfile::TempDir) {
    let streams = json!({
        "relay": {
            "input": {"kafka": {"addresses": [bootstrap], "topics": [format!("consume-{round}")], "consumer_group": format!("weir-{round}")}},
            "pipeline": {"threads": std::env::var("BENCH_THREADS").ok().and_then(|t| t.parse::<i64>().ok()).unwrap_or(-1), "processors": [{"mapping": "root = this.merge({ \"result\": \"bar\" })"}]},
            "output": {"http_server": {"stream_path": "/events", "stream_format": "event_source", "heartbeat": "0s"}}
        },
        "live": {
            "input": {"kafka": {"addresses": [bootstrap], "topics": [format!("live-{round}")], "consumer_group": format!("weir-live-{round}")}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({ \"result\": \"bar\" })"}]},
            "output": {"http_server": {"stream_path": "/live", "stream_format": "event_source", "heartbeat": "0s"}}
        },
        "ingest": {
            "input": {"http_server": {"path": "/ingest"}},
            "output": {"kafka": {"addresses": [bootstrap], "topic": format!("ingest-{round}")}}
        }
    });
    streams_bench::start_weir(bin, streams)
}

struct Round {
    direct_consume: f64,
    weir_consume: f64,
    direct_p50: f64,
    direct_p99: f64,
    weir_p50: f64,
    weir_p99: f64,
    direct_ingest: f64,
    weir_ingest: f64,
}

async fn round(a: &Args, bootstrap: &str, r: usize) -> Round {
    let (consume_t, live_t, ingest_t) = (format!("consume-{r}"), format!("live-{r}"), format!("ingest-{r}"));
    create_topics(bootstrap, &[&consume_t, &live_t, &ingest_t]).await;
    let p = producer(bootstrap);
    produce(&p, &consume_t, a.messages, 1000).await;

    // Consume: the direct consumer first, then Weir's stream (started now, so its consumer
    // group joins while the SSE client connects; timing starts at the first event).
    let direct = consumer(bootstrap, &format!("direct-{r}"), &consume_t);
    let (direct_consume, _) = consume_direct(&direct, a.messages).await;
    drop(direct);
    let (_weir, port, _dir) = start_weir(&a.weir, bootstrap, r);
    wait_port(port).await;
    let base = format!("http://127.0.0.1:{port}/bench");
    let (weir_consume, _) = consume_sse(&format!("{base}/events"), a.messages).await;

    // Latency: both read a topic fed at a fixed rate.
    let live_count = (a.rate * a.secs) as usize;
    let direct = consumer(bootstrap, &format!("direct-live-{r}"), &live_t);
    let weir_reader = tokio::spawn({
        let url = format!("{base}/live");
        async move { consume_sse(&url, live_count).await }
    });
    let direct_reader = tokio::spawn(async move { consume_direct(&direct, live_count).await });
    // Let both consumer groups settle before the clock starts.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let every = Duration::from_secs(1) / a.rate as u32;
    let mut tick = tokio::time::interval(every);
    for n in 0..live_count {
        tick.tick().await;
        let payload = event(n);
        let _ = p.send_result(FutureRecord::<(), _>::to(&live_t).payload(&payload));
    }
    let (_, mut weir_lat) = weir_reader.await.unwrap();
    let (_, mut direct_lat) = direct_reader.await.unwrap();

    // Ingest: C concurrent sends either way, each side warmed up first (Weir creates its
    // producer at the first write; the HTTP clients open their connections).
    produce(&p, &ingest_t, WARM_UP, a.concurrency).await;
    let direct_ingest = produce(&p, &ingest_t, a.posts, a.concurrency).await;
    let http = reqwest::Client::builder().no_proxy().http1_only().pool_max_idle_per_host(a.concurrency).build().unwrap();
    let weir_ingest = post_rate(&http, &format!("{base}/ingest"), WARM_UP, a.posts, a.concurrency).await;

    Round {
        direct_consume,
        weir_consume,
        direct_p50: percentile(&mut direct_lat, 0.5),
        direct_p99: percentile(&mut direct_lat, 0.99),
        weir_p50: percentile(&mut weir_lat, 0.5),
        weir_p99: percentile(&mut weir_lat, 0.99),
        direct_ingest,
        weir_ingest,
    }
}

/// Messages each side sends before its ingest is timed.
const WARM_UP: usize = 500;

#[tokio::main]
async fn main() {
    let a = args();
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let _tansu = Proc(
        Command::new(&a.tansu)
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu"),
    );
    wait_port(port).await;
    let bootstrap = format!("127.0.0.1:{port}");
    let mut rounds = Vec::new();
    for r in 0..a.rounds {
        let x = round(&a, &bootstrap, r).await;
        eprintln!(
            "round {r}: consume direct {:.0}/s weir {:.0}/s; latency direct p50 {:.2} p99 {:.2} ms, weir p50 {:.2} p99 {:.2} ms; ingest direct {:.0}/s weir {:.0}/s",
            x.direct_consume, x.weir_consume, x.direct_p50, x.direct_p99, x.weir_p50, x.weir_p99, x.direct_ingest, x.weir_ingest
        );
        rounds.push(x);
    }
    let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    println!("| Measure | Direct (rdkafka) | Weir | Weir ÷ direct |");
    println!("|---|--:|--:|--:|");
    let (dc, wc) = (m(|r| r.direct_consume), m(|r| r.weir_consume));
    println!("| consume {} events, msg/s (Weir: kafka → Worker mapping → SSE) | {dc:.0} | {wc:.0} | {:.2}× |", a.messages, wc / dc);
    println!("| latency at {} msg/s, p50 ms | {:.2} | {:.2} | |", a.rate, m(|r| r.direct_p50), m(|r| r.weir_p50));
    println!("| latency at {} msg/s, p99 ms | {:.2} | {:.2} | |", a.rate, m(|r| r.direct_p99), m(|r| r.weir_p99));
    let (di, wi) = (m(|r| r.direct_ingest), m(|r| r.weir_ingest));
    println!("| ingest {} events, {} in flight, msg/s (Weir: HTTP POST → kafka) | {di:.0} | {wi:.0} | {:.2}× |", a.posts, a.concurrency, wi / di);
}
