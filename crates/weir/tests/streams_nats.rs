//! NATS connectors against a nats-server of the test's own: HTTP POST into core NATS and
//! JetStream; core NATS and JetStream into Server-Sent Events; a JetStream relay that loses
//! nothing when Weir is killed; a server that goes away and comes back; a missing stream;
//! credentials; nacks; a subscription buffer that overflows. Three nodes sharing a durable
//! consumer are in streams_nats_cluster.rs.

mod common;

use std::time::{Duration, Instant};

use common::nats::{client, collect_all, make_stream, publish_all, stored};
use common::streams::{
    Sse, assert_down_alone, assert_none_lost, assert_reconnects_counted, connection, echo_stream,
    post_all, sse_output, start, streams_api, wait_state,
};
use futures_util::StreamExt;
use serde_json::json;
use weir_testkit::Nats;
use weir_testkit::async_nats;
use weir_testkit::async_nats::jetstream::{self, consumer};

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
    for path in ["/nin/core", "/nin/js"] {
        post_all(&gw, path, (0..5).map(|n| format!("m{n}"))).await;
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
            "output": sse_output("/core")
        },
        "from_js": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "js.in.>", "durable": "web"}},
            "pipeline": {"processors": [{"mapping": "root = meta(\"nats_subject\") + \"#\" + meta(\"nats_sequence_stream\") + \":\" + content().string() + \" by \" + meta(\"user\")"}]},
            "output": sse_output("/js")
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
    let duplicates = assert_none_lost(&counts, TOTAL, &gw);
    // At-least-once: only what was delivered and not yet acknowledged at the kill (one
    // message, max_ack_pending) can come twice.
    assert!(duplicates <= 1, "{duplicates} duplicates");
    eprintln!(
        "jetstream crash test: {TOTAL} sent, killed with {at_kill} relayed, all arrived, {duplicates} duplicate(s)"
    );
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
            "output": sse_output("/core")
        },
        "js": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "w.js", "durable": "w"}},
            "output": sse_output("/js")
        },
        "steady": echo_stream()
    });
    let gw = start(&[("nrc", streams_api("nrc", streams))], json!({}));
    let http = common::h1();
    let mut core = Sse::open(&http, &gw.url("/nrc/core"), None).await;
    let mut js_events = Sse::open(&http, &gw.url("/nrc/js"), None).await;
    wait_state(&gw, &["core", "js"], "connected", Duration::from_secs(20)).await;

    nats.kill();
    assert_down_alone(&gw, "nrc", &["core", "js"]).await;

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
    assert_reconnects_counted(&gw, &["core", "js"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_jetstream_stream_is_reported_until_it_exists() {
    let nats = Nats::start();
    let url = nats.url();
    let streams = json!({
        "late": {
            "input": {"nats_jetstream": {"urls": [url], "subject": "late.x"}},
            "output": sse_output("/late")
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
            "output": sse_output("/slow")
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
