//! NATS connectors against a nats-server of the test's own: HTTP POST into core NATS and
//! JetStream; core NATS and JetStream into Server-Sent Events; a JetStream relay that loses
//! nothing when Weir is killed; three nodes sharing one durable consumer (and one queue
//! group); a server that goes away and comes back; a missing stream; credentials.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::streams::{Sse, control_get, start, streams_api};
use futures_util::StreamExt;
use serde_json::{Value, json};
use weir_testkit::async_nats::jetstream::{self, consumer, stream};
use weir_testkit::async_nats::{self, Client};
use weir_testkit::{Gateway, Nats};

async fn client(url: &str) -> Client {
    async_nats::connect(url)
        .await
        .expect("connect to the test's nats-server")
}

/// Makes a file-backed JetStream stream (it survives a server restart).
async fn make_stream(js: &jetstream::Context, name: &str, subjects: &[&str]) {
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("create stream {name}: {e}"));
}

/// Publishes and waits for each PubAck.
async fn publish_all(js: &jetstream::Context, subject: &str, bodies: impl Iterator<Item = String>) {
    for b in bodies {
        let ack = js.publish(subject.to_string(), b.into()).await.unwrap();
        ack.await.expect("stored");
    }
}

async fn stored(js: &jetstream::Context, name: &str) -> u64 {
    js.get_stream(name)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .messages
}

/// Every message in stream `name` now, read with a consumer of the test's own.
async fn read_all(js: &jetstream::Context, name: &str) -> Vec<Value> {
    let s = js.get_stream(name).await.unwrap();
    let total = s.get_info().await.unwrap().state.messages as usize;
    let c: consumer::PullConsumer = s
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = c.messages().await.unwrap();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("stored messages readable")
            .unwrap()
            .unwrap();
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

/// Reads `name` until every n in `0..total` arrived (or the deadline), counting each.
async fn collect_all(
    js: &jetstream::Context,
    name: &str,
    total: u64,
    within: Duration,
) -> BTreeMap<u64, usize> {
    let deadline = Instant::now() + within;
    loop {
        while stored(js, name).await < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut counts = BTreeMap::new();
        for v in read_all(js, name).await {
            *counts.entry(v["n"].as_u64().unwrap()).or_default() += 1;
        }
        if counts.len() as u64 >= total || Instant::now() >= deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listing(gw: &Gateway) -> Value {
    serde_json::from_str(&control_get(gw, "/tyk/streams").await).unwrap()
}

/// The first connection of `stream`'s first instance, as the control API shows it.
fn connection(listing: &Value, stream: &str) -> Value {
    listing
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == stream)
        .map(|s| s["instances"][0]["connections"][0].clone())
        .unwrap_or(Value::Null)
}

/// Waits until every stream in `streams` shows its connection in `state`.
async fn wait_state(gw: &Gateway, streams: &[&str], state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let l = listing(gw).await;
        if streams.iter().all(|s| connection(&l, s)["state"] == state) {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "never {state}: {l}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Messages each node's `stream` delivered, from their /tyk/streams, once they add up to
/// `total` (a node counts a write when its confirmation arrives, just after the message).
async fn sent_per_node(nodes: &[Gateway], stream: &str, total: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut per_node = Vec::new();
        for gw in nodes {
            let l = listing(gw).await;
            let sent = l
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["stream"] == stream);
            per_node.push(sent.map(|s| s["sent"].as_u64().unwrap()).sum());
        }
        if per_node.iter().sum::<u64>() >= total || Instant::now() >= deadline {
            return per_node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True when /metrics has `name` for `stream` with a value `ok` accepts.
fn metric(metrics: &str, name: &str, stream: &str, ok: impl Fn(&str) -> bool) -> bool {
    metrics.lines().any(|l| {
        l.starts_with(&format!("{name}{{"))
            && l.contains(&format!("stream=\"{stream}\""))
            && l.rsplit(' ').next().is_some_and(&ok)
    })
}

fn sse(path: &str) -> Value {
    json!({"http_server": {"stream_path": path, "stream_format": "event_source", "heartbeat": "0s"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_posts_reach_core_nats_and_jetstream() {
    let nats = Nats::start();
    let url = nats.url();
    let nc = client(&url).await;
    let js = jetstream::new(nc.clone());
    make_stream(&js, "OUT", &["js.out.>"]).await;
    let mut sub = nc.subscribe("core.out.>").await.unwrap();
    nc.flush().await.unwrap();
    let streams = json!({
        "to_core": {
            "input": {"http_server": {"path": "/core"}},
            "pipeline": {"processors": [{"mapping": "root = content()\nmeta kind = \"order\"\nmeta keep_id = \"k-\" + content().string()"}]},
            "output": {"nats": {"urls": [url], "subject": "core.out.${! meta(\"kind\") }",
                                "headers": {"X-Source": "weir"},
                                "metadata": {"include_prefixes": ["keep_"]}}}
        },
        "to_js": {
            "input": {"http_server": {"path": "/js"}},
            "output": {"nats_jetstream": {"urls": [url], "subject": "js.out.${! meta(\"http_server_verb\").lowercase() }"}}
        }
    });
    let gw = start(&[("nin", streams_api("nin", streams))], json!({}));
    let http = common::h1();
    for n in 0..5 {
        for path in ["/nin/core", "/nin/js"] {
            let r = http
                .post(gw.url(path))
                .body(format!("m{n}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}: {}", gw.logs());
        }
    }
    for n in 0..5 {
        let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("published on core NATS")
            .unwrap();
        assert_eq!(m.subject.as_str(), "core.out.order");
        assert_eq!(m.payload, format!("m{n}"));
        let h = m.headers.expect("headers");
        assert_eq!(h.get("X-Source").unwrap().as_str(), "weir");
        assert_eq!(h.get("keep_id").unwrap().as_str(), format!("k-m{n}"));
        assert!(h.get("kind").is_none(), "only keep_* metadata is sent");
    }
    // The POSTs returned once JetStream had stored each message.
    assert_eq!(stored(&js, "OUT").await, 5);
    let c: consumer::PullConsumer = js
        .get_stream("OUT")
        .await
        .unwrap()
        .create_consumer(consumer::pull::Config::default())
        .await
        .unwrap();
    let mut batch = c.fetch().max_messages(5).messages().await.unwrap();
    for n in 0..5 {
        let m = batch.next().await.unwrap().unwrap();
        assert_eq!(m.subject.as_str(), "js.out.post");
        assert_eq!(m.payload, format!("m{n}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_and_jetstream_feed_server_sent_events() {
    let nats = Nats::start();
    let url = nats.url();
    let nc = client(&url).await;
    let js = jetstream::new(nc.clone());
    make_stream(&js, "IN", &["js.in.>"]).await;
    let streams = json!({
        "from_core": {
            "input": {"nats": {"urls": [url], "subject": "core.in.>"}},
            "pipeline": {"processors": [{"mapping": "root = meta(\"nats_subject\") + \":\" + content().string().uppercase()"}]},
            "output": sse("/core")
        },
        "from_js": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "js.in.>", "durable": "web"}},
            "pipeline": {"processors": [{"mapping": "root = meta(\"nats_subject\") + \"#\" + meta(\"nats_sequence_stream\") + \":\" + content().string() + \" by \" + meta(\"user\")"}]},
            "output": sse("/js")
        }
    });
    let gw = start(&[("nout", streams_api("nout", streams))], json!({}));
    let http = common::h1();
    let mut from_core = Sse::open(&http, &gw.url("/nout/core"), None).await;
    let mut from_js = Sse::open(&http, &gw.url("/nout/js"), None).await;
    // Connected means subscribed: core NATS keeps nothing for late subscribers.
    wait_state(
        &gw,
        &["from_core", "from_js"],
        "connected",
        Duration::from_secs(20),
    )
    .await;
    for n in 1..=3 {
        nc.publish(format!("core.in.{n}"), format!("hi{n}").into())
            .await
            .unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("user", "ann");
        let ack = js
            .publish_with_headers(format!("js.in.{n}"), headers, format!("job{n}").into())
            .await
            .unwrap();
        ack.await.unwrap();
    }
    nc.flush().await.unwrap();
    for n in 1..=3 {
        let within = Duration::from_secs(10);
        assert_eq!(
            from_core.next(within).await.unwrap().1,
            format!("core.in.{n}:HI{n}")
        );
        assert_eq!(
            from_js.next(within).await.unwrap().1,
            format!("js.in.{n}#{n}:job{n} by ann")
        );
    }
    // send_ack: a request is answered `+ACK` once its message has been delivered.
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        nc.request("core.in.req", "req".into()),
    )
    .await
    .expect("answered in time")
    .expect("answered");
    assert_eq!(reply.payload, "+ACK");
    assert_eq!(
        from_core.next(Duration::from_secs(5)).await.unwrap().1,
        "core.in.req:REQ"
    );
    // Everything delivered was acknowledged to the durable consumer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = js
            .get_stream("IN")
            .await
            .unwrap()
            .consumer_info("web")
            .await
            .unwrap();
        if info.num_ack_pending == 0 && info.num_pending == 0 && info.ack_floor.stream_sequence == 3
        {
            break;
        }
        assert!(Instant::now() < deadline, "not acknowledged: {info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_relay_loses_nothing_when_weir_is_killed_midway() {
    const TOTAL: u64 = 2000;
    let nats = Nats::start();
    let url = nats.url();
    let js = jetstream::new(client(&url).await);
    make_stream(&js, "SRC", &["src"]).await;
    make_stream(&js, "DST", &["dst"]).await;
    publish_all(&js, "src", (0..TOTAL).map(|n| json!({"n": n}).to_string())).await;
    // One message unacknowledged at a time, so the kill lands midway; a short ack_wait so
    // the one in flight at the kill comes back soon.
    let relay = json!({
        "relay": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "src", "durable": "relay",
                                         "ack_wait": "3s", "max_ack_pending": 1}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"relayed\": true})"}]},
            "output": {"nats_jetstream": {"urls": [url], "subject": "dst", "max_in_flight": 1}}
        }
    });
    let api = streams_api("relay", relay);
    let mut gw = start(&[("relay", api.clone())], json!({}));
    let deadline = Instant::now() + Duration::from_secs(40);
    while stored(&js, "DST").await < TOTAL / 4 {
        assert!(
            Instant::now() < deadline,
            "only {} relayed\n{}",
            stored(&js, "DST").await,
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.signal(9);
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let at_kill = stored(&js, "DST").await;
    assert!(at_kill < TOTAL, "the kill came after the end");

    let gw = start(&[("relay", api)], json!({}));
    let counts = collect_all(&js, "DST", TOTAL, Duration::from_secs(40)).await;
    let missing: Vec<u64> = (0..TOTAL).filter(|n| !counts.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "lost {} (first {:?})\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        gw.logs()
    );
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    // At-least-once: only what was delivered and not yet acknowledged at the kill (one
    // message, max_ack_pending) can come twice.
    assert!(duplicates <= 1, "{duplicates} duplicates");
    eprintln!(
        "jetstream crash test: {TOTAL} sent, killed with {at_kill} relayed, all arrived, {duplicates} duplicate(s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_a_durable_consumer_and_a_queue_group() {
    const ROUND: u64 = 3000;
    const QUEUED: u64 = 300;
    let nats = Nats::start();
    let url = nats.url();
    let nc = client(&url).await;
    let js = jetstream::new(nc.clone());
    make_stream(&js, "WORK", &["work"]).await;
    make_stream(&js, "DONE", &["done"]).await;
    let streams = json!({
        "relay": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "work", "durable": "workers", "ack_wait": "10s"}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"done\": true})"}]},
            "output": {"nats_jetstream": {"urls": [url], "subject": "done", "max_in_flight": 1}}
        },
        "queued": {
            "input": {"nats": {"urls": [url], "subject": "qwork", "queue": "workers"}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"done\": true})"}]},
            "output": {"nats": {"urls": [url], "subject": "qdone"}}
        }
    });
    let api = streams_api("work", streams);
    let mut nodes: Vec<Gateway> = (0..3)
        .map(|_| start(&[("work", api.clone())], json!({})))
        .collect();
    for gw in &nodes {
        wait_state(
            gw,
            &["relay", "queued"],
            "connected",
            Duration::from_secs(20),
        )
        .await;
    }

    // Core NATS queue group: each message goes to one member.
    let mut qdone = nc.subscribe("qdone").await.unwrap();
    nc.flush().await.unwrap();
    for n in 0..QUEUED {
        nc.publish("qwork", json!({"n": n}).to_string().into())
            .await
            .unwrap();
    }
    nc.flush().await.unwrap();
    let mut queued: BTreeMap<u64, usize> = BTreeMap::new();
    while (queued.len() as u64) < QUEUED {
        let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), qdone.next()).await else {
            panic!("{} of {QUEUED} came back", queued.len());
        };
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        *queued.entry(v["n"].as_u64().unwrap()).or_default() += 1;
    }
    let per_member = sent_per_node(&nodes, "queued", QUEUED).await;
    assert_eq!(
        per_member.iter().sum::<u64>(),
        QUEUED,
        "each message processed once: {per_member:?}"
    );
    assert!(
        per_member.iter().all(|n| *n > 0),
        "a queue member did no work: {per_member:?}"
    );

    // JetStream: one durable consumer pulled by all three.
    publish_all(&js, "work", (0..ROUND).map(|n| json!({"n": n}).to_string())).await;
    let counts = collect_all(&js, "DONE", ROUND, Duration::from_secs(40)).await;
    assert_eq!(counts.len() as u64, ROUND, "not all processed");
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        twice.is_empty(),
        "processed more than once while all were up: {twice:?}"
    );
    let per_node = sent_per_node(&nodes, "relay", ROUND).await;
    assert_eq!(per_node.iter().sum::<u64>(), ROUND, "{per_node:?}");
    assert!(
        per_node.iter().all(|n| *n > 0),
        "a node did no work: {per_node:?}"
    );
    eprintln!("per node: queue group {per_member:?}, durable consumer {per_node:?}");

    // A node dies mid-round: its unacknowledged messages go to the others after ack_wait.
    let publishing = {
        let js = js.clone();
        tokio::spawn(async move {
            publish_all(
                &js,
                "work",
                (ROUND..2 * ROUND).map(|n| json!({"n": n}).to_string()),
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&js, "DONE").await < ROUND + 300 {
        assert!(Instant::now() < deadline, "the second round did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[0].signal(9);
    assert!(nodes[0].wait_exit(Duration::from_secs(10)).is_some());
    let at_kill = stored(&js, "DONE").await;
    assert!(at_kill < 2 * ROUND, "the kill came after the end");
    publishing.await.unwrap();
    let counts = collect_all(&js, "DONE", 2 * ROUND, Duration::from_secs(40)).await;
    let missing: Vec<u64> = (0..2 * ROUND).filter(|n| !counts.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} lost after a node died (first {:?})\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        nodes[1].logs()
    );
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "killed a node with {at_kill} of {} done; after the kill: {duplicates} duplicates (at-least-once)",
        2 * ROUND
    );
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_that_goes_away_is_reported_and_reconnected_to() {
    let mut nats = Nats::start();
    let url = nats.url();
    {
        let js = jetstream::new(client(&url).await);
        make_stream(&js, "W", &["w.js"]).await;
    }
    let streams = json!({
        "core": {
            "input": {"nats": {"urls": [url], "subject": "w.core"}},
            "output": sse("/core")
        },
        "js": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "w.js", "durable": "w"}},
            "output": sse("/js")
        },
        "steady": {
            "input": {"http_server": {"path": "/echo"}},
            "output": {"sync_response": {}}
        }
    });
    let gw = start(&[("nrc", streams_api("nrc", streams))], json!({}));
    let http = common::h1();
    let mut core = Sse::open(&http, &gw.url("/nrc/core"), None).await;
    let mut js_events = Sse::open(&http, &gw.url("/nrc/js"), None).await;
    wait_state(&gw, &["core", "js"], "connected", Duration::from_secs(20)).await;

    nats.kill();
    let l = wait_state(
        &gw,
        &["core", "js"],
        "disconnected",
        Duration::from_secs(20),
    )
    .await;
    assert!(connection(&l, "core")["last_error"].is_string(), "{l}");
    let metrics = control_get(&gw, "/metrics").await;
    for stream in ["core", "js"] {
        let down = metric(&metrics, "weir_stream_connections_down", stream, |v| {
            v == "1"
        });
        assert!(down, "{stream}: {metrics}");
    }
    // Other streams keep running meanwhile.
    let r = http
        .post(gw.url("/nrc/echo"))
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "still here");

    nats.restart();
    wait_state(&gw, &["core", "js"], "connected", Duration::from_secs(30)).await;
    // The client re-subscribes after it reconnects; core NATS drops what comes before, so
    // publish until one arrives.
    let nc = client(&url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        nc.publish("w.core", "after".into()).await.unwrap();
        if let Some((_, data)) = core.next(Duration::from_millis(300)).await {
            assert_eq!(data, "after");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "core subscription not back\n{}",
            gw.logs()
        );
    }
    // The stream and the durable consumer were kept on disk: JetStream carries on.
    let js = jetstream::new(nc.clone());
    js.publish("w.js", "stored".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        js_events.next(Duration::from_secs(20)).await.unwrap().1,
        "stored"
    );
    let metrics = control_get(&gw, "/metrics").await;
    for stream in ["core", "js"] {
        let again = metric(&metrics, "weir_stream_reconnects_total", stream, |v| {
            v != "0"
        });
        assert!(again, "{stream}: {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_jetstream_stream_is_reported_until_it_exists() {
    let nats = Nats::start();
    let url = nats.url();
    let streams = json!({
        "late": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "late.x"}},
            "output": sse("/late")
        }
    });
    let gw = start(&[("nlate", streams_api("nlate", streams))], json!({}));
    let http = common::h1();
    let mut events = Sse::open(&http, &gw.url("/nlate/late"), None).await;
    let l = wait_state(&gw, &["late"], "disconnected", Duration::from_secs(20)).await;
    let why = connection(&l, "late")["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("no stream holds the subject `late.x`"), "{l}");
    let js = jetstream::new(client(&url).await);
    make_stream(&js, "LATE", &["late.>"]).await;
    wait_state(&gw, &["late"], "connected", Duration::from_secs(20)).await;
    js.publish("late.x", "finally".into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        events.next(Duration::from_secs(10)).await.unwrap().1,
        "finally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_auth_block_and_from_urls() {
    let nats = Nats::start_with(&["--user", "weir", "--pass", "s3cret"]);
    let port = nats.port();
    let plain = format!("nats://127.0.0.1:{port}");
    let streams = json!({
        "in": {
            "input": {"nats": {"urls": [format!("nats://weir:s3cret@127.0.0.1:{port}")], "subject": "auth.in"}},
            "output": {"nats": {"urls": [plain], "subject": "auth.out", "auth": {"user": "weir", "password": "s3cret"}}}
        },
        "refused": {
            "input": {"nats": {"urls": [plain], "subject": "auth.in", "auth": {"user": "weir", "password": "wrong"}}},
            "output": {"drop": {}}
        }
    });
    let gw = start(&[("nauth", streams_api("nauth", streams))], json!({}));
    wait_state(&gw, &["in"], "connected", Duration::from_secs(20)).await;
    let l = wait_state(&gw, &["refused"], "disconnected", Duration::from_secs(20)).await;
    let why = connection(&l, "refused")["last_error"]
        .to_string()
        .to_lowercase();
    assert!(why.contains("authoriz"), "{l}");
    let nc = async_nats::ConnectOptions::with_user_and_password("weir".into(), "s3cret".into())
        .connect(&plain)
        .await
        .unwrap();
    let mut out = nc.subscribe("auth.out").await.unwrap();
    nc.flush().await.unwrap();
    nc.publish("auth.in", "hello".into()).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), out.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload, "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_are_delivered_again_by_jetstream_and_from_memory() {
    let nats = Nats::start();
    let url = nats.url();
    let nc = client(&url).await;
    let js = jetstream::new(nc.clone());
    make_stream(&js, "NK", &["nk.src"]).await;
    // No stream holds `nk.dst` yet: every write fails (no responders) and is nacked.
    let out = json!({"nats_jetstream": {"urls": [url], "subject": "nk.dst"}});
    let streams = json!({
        "js": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "nk.src", "durable": "nk", "ack_wait": "60s"}},
            "output": out
        },
        "core": {
            "input": {"nats": {"urls": [url], "subject": "nk.core"}},
            "output": out
        }
    });
    let gw = start(&[("nnak", streams_api("nnak", streams))], json!({}));
    wait_state(&gw, &["js", "core"], "connected", Duration::from_secs(20)).await;
    publish_all(&js, "nk.src", (0..3).map(|n| json!({"n": n}).to_string())).await;
    for n in 3..6 {
        nc.publish("nk.core", json!({"n": n}).to_string().into())
            .await
            .unwrap();
    }
    nc.flush().await.unwrap();
    // The server delivers the nacked messages again (long before ack_wait).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = js
            .get_stream("NK")
            .await
            .unwrap()
            .consumer_info("nk")
            .await
            .unwrap();
        if info.num_redelivered >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never redelivered: {info:?}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    make_stream(&js, "DST", &["nk.dst"]).await;
    let counts = collect_all(&js, "DST", 6, Duration::from_secs(15)).await;
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5],
        "{}",
        gw.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_subscription_buffers_prefetch_count_and_drops_the_overflow() {
    const SENT: usize = 2000;
    let nats = Nats::start();
    let url = nats.url();
    // No SSE client yet: the output holds back, the pipeline fills, then the subscription's
    // buffer (16) does, and the client drops what comes after.
    let streams = json!({
        "slow": {
            "input": {"nats": {"urls": [url], "subject": "slow", "prefetch_count": 16}},
            "output": sse("/slow")
        }
    });
    let gw = start(&[("nslow", streams_api("nslow", streams))], json!({}));
    wait_state(&gw, &["slow"], "connected", Duration::from_secs(20)).await;
    let nc = client(&url).await;
    for n in 0..SENT {
        nc.publish("slow", n.to_string().into()).await.unwrap();
    }
    nc.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw.logs().contains("slow consumer") {
        assert!(
            Instant::now() < deadline,
            "no slow consumer reported\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http = common::h1();
    let mut events = Sse::open(&http, &gw.url("/nslow/slow"), None).await;
    let mut got = Vec::new();
    while let Some((_, data)) = events.next(Duration::from_secs(2)).await {
        got.push(data.parse::<usize>().unwrap());
    }
    assert!(
        !got.is_empty() && got.len() < SENT,
        "{} of {SENT} delivered",
        got.len()
    );
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, with a gap: {got:?}"
    );
}
