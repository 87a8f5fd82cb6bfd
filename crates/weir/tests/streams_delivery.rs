//! Streams that do not lose messages: an SSE consumer cut off mid-stream resumes with
//! `Last-Event-ID`; Kafka → mapping → Kafka survives `kill -9`; a reload replaces only the
//! stream that changed; idle per-consumer instances stop; counters reach /metrics.

mod common;

use common::streams::{Sse, control_get, listing, sse_output, start, streams_api};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use weir_testkit::Tansu;

/// An HTTP feed: POST /in, Server-Sent Events on /events (heartbeat off so every event counts).
fn feed() -> Value {
    json!({
        "feed": {
            "input": {"http_server": {"path": "/in"}},
            "pipeline": {"processors": [{"mapping": "root = this\nroot.seen = true"}]},
            "output": sse_output("/events")
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_consumer_cut_off_three_times_receives_all_1000_in_order() {
    const TOTAL: usize = 1000;
    let gw = start(&[("live", streams_api("live", feed()))], json!({}));
    let http = common::h1();
    let events = gw.url("/live/events");
    // A second tab stays connected throughout, so messages keep flowing while the first is away.
    let mut steady = Sse::open(&http, &events, None).await;
    let mut tab = Sse::open(&http, &events, None).await;

    let producer = {
        let (http, url) = (http.clone(), gw.url("/live/in"));
        tokio::spawn(async move {
            for n in 0..TOTAL {
                let resp = http
                    .post(&url)
                    .body(json!({"n": n}).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "POST {n}");
            }
        })
    };

    let mut got = Vec::with_capacity(TOTAL);
    let mut cuts = 0;
    while got.len() < TOTAL {
        let Some((id, data)) = tab.next(Duration::from_secs(20)).await else {
            panic!("stalled at {} of {TOTAL}\n{}", got.len(), gw.logs());
        };
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v["seen"], true);
        got.push(v["n"].as_u64().unwrap() as usize);
        if cuts < 3 && got.len() == (cuts + 1) * TOTAL / 4 {
            // The connection drops; messages go on for the other tab meanwhile.
            drop(tab);
            cuts += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
            tab = Sse::open(&http, &events, Some(&id)).await;
        }
    }
    producer.await.unwrap();
    assert_eq!(cuts, 3);
    assert_eq!(got, (0..TOTAL).collect::<Vec<_>>(), "all, once, in order");

    // The tab that stayed saw every message too: live consumers each get everything.
    let mut steady_got = Vec::new();
    while steady_got.len() < TOTAL {
        let (_, data) = steady
            .next(Duration::from_secs(20))
            .await
            .expect("steady tab");
        let v: Value = serde_json::from_str(&data).unwrap();
        steady_got.push(v["n"].as_u64().unwrap() as usize);
    }
    assert_eq!(steady_got, (0..TOTAL).collect::<Vec<_>>());

    // The counters reach /metrics.
    let metrics = control_get(&gw, "/metrics").await;
    for line in [
        r#"weir_stream_received_total{api_id="live",stream="feed"} 1000"#,
        r#"weir_stream_sent_total{api_id="live",stream="feed"} 1000"#,
        r#"weir_stream_errors_total{api_id="live",stream="feed"} 0"#,
        r#"weir_stream_instances{api_id="live",stream="feed"} 1"#,
    ] {
        assert!(metrics.contains(line), "no `{line}` in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_kafka_loses_nothing_when_weir_is_killed_midway() {
    const TOTAL: usize = 2000;
    let broker = Tansu::start(None);
    broker.create_topics(&[("src", 1), ("dst", 1)]).await;
    let producer = broker.producer();
    for n in 0..TOTAL {
        Tansu::produce(&producer, "src", json!({"n": n}).to_string().as_bytes()).await;
    }
    // One message in flight at a time, so the kill lands midway through the 2,000.
    let relay = json!({
        "relay": {
            "input": {"kafka": {"addresses": [broker.bootstrap()], "topics": ["src"], "consumer_group": "relay", "checkpoint_limit": 1}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"relayed\": true})"}]},
            "output": {"kafka": {"addresses": [broker.bootstrap()], "topic": "dst", "max_in_flight": 1}}
        }
    });
    let api = streams_api("relay", relay);
    let dst = broker.consumer("check", &["dst"]);

    let mut gw = start(&[("relay", api.clone())], json!({}));
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while counts.len() < TOTAL / 4 {
        assert!(
            Instant::now() < deadline,
            "only {} relayed\n{}",
            counts.len(),
            gw.logs()
        );
        for m in Tansu::collect(&dst, 1, Duration::from_secs(1)).await {
            let v: Value = serde_json::from_slice(&m).unwrap();
            assert_eq!(v["relayed"], true);
            *counts.entry(v["n"].as_u64().unwrap() as usize).or_default() += 1;
        }
    }
    gw.signal(9);
    assert!(gw.wait_exit(Duration::from_secs(5)).is_some());
    let at_kill = counts.len();
    assert!(at_kill < TOTAL, "the kill came after the end");
    // The dead member still holds the partition until its session times out (Bento's default
    // `group.session_timeout`, 10 s). Apache Kafka rebalances when the new member joins;
    // tansu 0.6 hands a member that joins a formed group an empty assignment instead, so the
    // restart waits the session out, as a supervisor's restart delay would.
    tokio::time::sleep(Duration::from_secs(11)).await;

    let gw = start(&[("relay", api)], json!({}));
    let deadline = Instant::now() + Duration::from_secs(120);
    while counts.len() < TOTAL {
        assert!(
            Instant::now() < deadline,
            "lost: {} of {TOTAL} arrived\n{}",
            counts.len(),
            gw.logs()
        );
        for m in Tansu::collect(&dst, 100, Duration::from_secs(1)).await {
            let v: Value = serde_json::from_slice(&m).unwrap();
            *counts.entry(v["n"].as_u64().unwrap() as usize).or_default() += 1;
        }
    }
    // Late redeliveries are still counted as duplicates.
    for m in Tansu::collect(&dst, TOTAL, Duration::from_secs(3)).await {
        let v: Value = serde_json::from_slice(&m).unwrap();
        *counts.entry(v["n"].as_u64().unwrap() as usize).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "kafka crash test: {TOTAL} sent, killed with {at_kill} relayed, all {} arrived, {duplicates} duplicate(s)",
        counts.len()
    );
    assert_eq!(counts.len(), TOTAL);
    assert!(
        (0..TOTAL).all(|n| counts.contains_key(&n)),
        "every message arrived at least once"
    );
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_the_changed_stream_and_leaves_the_other_running() {
    let two = |tag: &str| {
        json!({
            "changing": {
                "input": {"http_server": {"path": "/a-in"}},
                "pipeline": {"processors": [{"mapping": format!("root = \"{tag}\"")}]},
                "output": {"http_server": {"path": "/a-out"}}
            },
            "steady": {
                "input": {"http_server": {"path": "/b-in"}},
                "output": sse_output("/b-events")
            }
        })
    };
    let gw = start(&[("pair", streams_api("pair", two("v1")))], json!({}));
    let http = common::h1();
    // The POST's write waits for a consumer, so the GET runs alongside it.
    let poll_a = || async {
        let (posted, got) = tokio::join!(
            http.post(gw.url("/pair/a-in")).body("x").send(),
            http.get(gw.url("/pair/a-out")).send()
        );
        assert_eq!(posted.unwrap().status(), 200);
        got.unwrap().text().await.unwrap()
    };
    let mut b = Sse::open(&http, &gw.url("/pair/b-events"), None).await;
    let post_b = |n: u32| {
        let http = http.clone();
        let url = gw.url("/pair/b-in");
        async move {
            let r = http.post(url).body(n.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    assert_eq!(poll_a().await, "v1");
    post_b(1).await;
    assert_eq!(b.next(Duration::from_secs(10)).await.unwrap().1, "1");

    gw.write_api("pair.json", streams_api("pair", two("v2")).to_string());
    gw.reload();
    assert_eq!(
        poll_a().await,
        "v2",
        "the changed stream runs its new config"
    );
    // The steady stream's consumer never noticed: same connection, next message.
    post_b(2).await;
    assert_eq!(b.next(Duration::from_secs(10)).await.unwrap().1, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_per_consumer_instance_stops_and_a_new_client_starts_another() {
    let per_user = json!({
        "echo": {
            "input": {"http_server": {"path": "/in"}},
            "pipeline": {"processors": [{"mapping": "root = \"for $tyk_context.request_data_user\""}]},
            "output": {"sync_response": {}}
        }
    });
    let gw = start(
        &[("mine", streams_api("mine", per_user))],
        json!({"streaming": {"enabled": true, "stream_idle_timeout": 1}}),
    );
    let http = common::h1();
    for user in ["ann", "ben"] {
        let r = http
            .post(gw.url(&format!("/mine/in?user={user}")))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), format!("for {user}"));
    }
    let streams = listing(&gw).await;
    assert_eq!(
        streams[0]["instances"].as_array().unwrap().len(),
        2,
        "{streams}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let streams = listing(&gw).await;
        if streams[0]["instances"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle instances still running: {streams}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = http
        .post(gw.url("/mine/in?user=ann"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "for ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_websocket_consumer_resumes_after_its_last_acknowledged_message() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let streams = json!({
        "feed": {
            "input": {"http_server": {"path": "/in"}},
            "output": {"http_server": {"ws_path": "/ws", "ws_message_type": "text"}}
        }
    });
    let gw = start(&[("acks", streams_api("acks", streams))], json!({}));
    let http = common::h1();
    let ws_url = format!("ws://127.0.0.1:{}/acks/ws?consumer=dashboard-1", gw.port());
    let post = |n: usize| {
        let (http, url) = (http.clone(), gw.url("/acks/in"));
        async move {
            let r = http.post(url).body(n.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 200, "POST {n}");
        }
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    for n in 0..10 {
        post(n).await;
    }
    for n in 0..10 {
        assert_eq!(recv_text(&mut ws).await, n.to_string());
    }
    // Only the first five were processed (acknowledged) when the connection dropped.
    for _ in 0..5 {
        ws.send(WsMessage::text("ack")).await.unwrap();
    }
    // A plain live consumer keeps the stream flowing while the named one is away.
    let (mut other, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/acks/ws", gw.port()).as_str())
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(ws);
    for n in 10..15 {
        post(n).await;
        assert_eq!(recv_text(&mut other).await, n.to_string());
    }
    let (mut again, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    for n in 5..15 {
        assert_eq!(
            recv_text(&mut again).await,
            n.to_string(),
            "resumed after the last ack"
        );
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn recv_text(ws: &mut Ws) -> String {
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    match tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame within 10 s")
        .unwrap()
        .unwrap()
    {
        WsMessage::Text(t) => t.to_string(),
        other => panic!("unexpected frame {other:?}"),
    }
}
