//! Redis connectors against a redis-server of the test's own: HTTP POST into a stream, a list
//! and a channel; Redis into Server-Sent Events; a Redis streams relay that loses nothing when
//! Weir is killed; and a Redis that goes away and comes back.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::streams::{
    Sse, assert_down_alone, assert_reconnects_counted, echo_stream, post_all, sse_output, start,
    streams_api, wait_state,
};
use futures_util::StreamExt;
use redis::AsyncCommands;
use serde_json::{Value, json};
use weir_testkit::RedisServer;

async fn conn(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test's redis")
}

/// Entries of a Redis stream: (id, body field).
async fn entries(c: &mut redis::aio::MultiplexedConnection, stream: &str) -> Vec<String> {
    let all: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(c)
        .await
        .unwrap();
    all.into_iter()
        .map(|(_, fields)| {
            fields
                .into_iter()
                .find(|(k, _)| k == "body")
                .map(|(_, v)| v)
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_posts_reach_a_redis_stream_a_list_and_a_channel() {
    let redis = RedisServer::start();
    let url = redis.url();
    let streams = json!({
        "to_stream": {
            "input": {"http_server": {"path": "/stream"}},
            "output": {"redis_streams": {"url": url, "stream": "events", "max_in_flight": 1}}
        },
        "to_list": {
            "input": {"http_server": {"path": "/list"}},
            "output": {"redis_list": {"url": url, "key": "jobs-${! meta(\"http_server_verb\").lowercase() }"}}
        },
        "to_channel": {
            "input": {"http_server": {"path": "/channel"}},
            "output": {"redis_pubsub": {"url": url, "channel": "news"}}
        }
    });
    let gw = start(&[("rin", streams_api("rin", streams))], json!({}));
    let mut c = conn(&redis).await;
    let mut sub = redis::Client::open(redis.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    sub.subscribe("news").await.unwrap();
    for path in ["/rin/stream", "/rin/list", "/rin/channel"] {
        post_all(&gw, path, (0..5).map(|n| format!("m{n}"))).await;
    }
    assert_eq!(
        entries(&mut c, "events").await,
        ["m0", "m1", "m2", "m3", "m4"]
    );
    let list: Vec<String> = c.lrange("jobs-post", 0, -1).await.unwrap();
    assert_eq!(list, ["m0", "m1", "m2", "m3", "m4"]);
    let mut news = sub.on_message();
    for n in 0..5 {
        let m = tokio::time::timeout(Duration::from_secs(5), news.next())
            .await
            .expect("published")
            .unwrap();
        assert_eq!(m.get_payload::<String>().unwrap(), format!("m{n}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_lists_and_channels_feed_server_sent_events() {
    let redis = RedisServer::start();
    let url = redis.url();
    let streams = json!({
        "from_stream": {
            "input": {"redis_streams": {"url": url, "streams": ["src"], "consumer_group": "web"}},
            "pipeline": {"processors": [{"mapping": "root = content().uppercase() + \" by \" + meta(\"user\")"}]},
            "output": sse_output("/stream")
        },
        "from_list": {
            "input": {"redis_list": {"url": url, "key": "q", "timeout": "1s"}},
            "pipeline": {"processors": [{"mapping": "root = \"list:\" + content()"}]},
            "output": sse_output("/list")
        },
        "from_channel": {
            "input": {"redis_pubsub": {"url": url, "channels": ["ch.*"], "use_patterns": true}},
            "pipeline": {"processors": [{"mapping": "root = meta(\"redis_pubsub_channel\") + \":\" + content()"}]},
            "output": sse_output("/channel")
        }
    });
    let gw = start(&[("rout", streams_api("rout", streams))], json!({}));
    let http = common::h1();
    let mut from_stream = Sse::open(&http, &gw.url("/rout/stream"), None).await;
    let mut from_list = Sse::open(&http, &gw.url("/rout/list"), None).await;
    let mut from_channel = Sse::open(&http, &gw.url("/rout/channel"), None).await;
    let mut c = conn(&redis).await;
    // The subscription is made when the stream starts; wait until Redis has a subscriber.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = redis::cmd("PUBSUB")
            .arg("NUMPAT")
            .query_async(&mut c)
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pattern subscriber: {}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in 0..3 {
        let _: String = redis::cmd("XADD")
            .arg("src")
            .arg("*")
            .arg("user")
            .arg("ann")
            .arg("body")
            .arg(format!("hi{n}"))
            .query_async(&mut c)
            .await
            .unwrap();
        let _: i64 = c.rpush("q", format!("job{n}")).await.unwrap();
        let _: i64 = c.publish("ch.a", format!("p{n}")).await.unwrap();
    }
    for n in 0..3 {
        let within = Duration::from_secs(10);
        assert_eq!(
            from_stream.next(within).await.unwrap().1,
            format!("HI{n} by ann")
        );
        assert_eq!(
            from_list.next(within).await.unwrap().1,
            format!("list:job{n}")
        );
        assert_eq!(
            from_channel.next(within).await.unwrap().1,
            format!("ch.a:p{n}")
        );
    }
    // Everything delivered was acknowledged to the group (XACK is sent every commit_period).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending: (i64, Value2, Value2, Value2) = redis::cmd("XPENDING")
            .arg("src")
            .arg("web")
            .query_async(&mut c)
            .await
            .unwrap();
        if pending.0 == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} entries never acknowledged",
            pending.0
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

type Value2 = redis::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_streams_relay_loses_nothing_when_weir_is_killed_midway() {
    const TOTAL: usize = 2000;
    let redis = RedisServer::start();
    let mut c = conn(&redis).await;
    for n in 0..TOTAL {
        let _: String = redis::cmd("XADD")
            .arg("src")
            .arg("*")
            .arg("body")
            .arg(json!({"n": n}).to_string())
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let relay = json!({
        "relay": {
            "input": {"redis_streams": {"url": redis.url(), "streams": ["src"], "consumer_group": "relay",
                                        "client_id": "node-1", "limit": 1, "commit_period": "100ms"}},
            "pipeline": {"processors": [{"mapping": "root = this.merge({\"relayed\": true})"}]},
            "output": {"redis_streams": {"url": redis.url(), "stream": "dst", "max_in_flight": 1}}
        }
    });
    let api = streams_api("relay", relay);
    let mut gw = start(&[("relay", api.clone())], json!({}));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let len: usize = c.xlen("dst").await.unwrap();
        if len >= TOTAL / 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {len} relayed\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.signal(9);
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let at_kill: usize = c.xlen("dst").await.unwrap();
    assert!(at_kill < TOTAL, "the kill came too late to test anything");
    let pending: (usize, Value2, Value2, Value2) = redis::cmd("XPENDING")
        .arg("src")
        .arg("relay")
        .query_async(&mut c)
        .await
        .unwrap();
    // The same consumer name comes back and reads its pending entries first.
    let gw = start(&[("relay", api)], json!({}));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    loop {
        counts.clear();
        for body in entries(&mut c, "dst").await {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["relayed"], true);
            *counts.entry(v["n"].as_u64().unwrap()).or_default() += 1;
        }
        if counts.len() == TOTAL {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {TOTAL} relayed after the restart\n{}",
            counts.len(),
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    // At-least-once: only entries still pending at the kill (read, and not yet XACKed: acks
    // go out every commit_period) are read again, so only they can come twice.
    assert!(
        duplicates <= pending.0,
        "{duplicates} duplicates, {} pending at the kill",
        pending.0
    );
    eprintln!(
        "killed at {at_kill}/{TOTAL}; {} pending; {duplicates} duplicates",
        pending.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_goes_away_is_reported_and_reconnected_to() {
    let mut redis = RedisServer::start();
    let streams = json!({
        "watch": {
            "input": {"redis_list": {"url": redis.url(), "key": "q", "timeout": "1s"}},
            "output": sse_output("/events")
        },
        "steady": echo_stream()
    });
    let gw = start(&[("rc", streams_api("rc", streams))], json!({}));
    let http = common::h1();
    let mut events = Sse::open(&http, &gw.url("/rc/events"), None).await;
    let within = Duration::from_secs(20);
    wait_state(&gw, &["watch"], "connected", within).await;
    redis.kill();
    assert_down_alone(&gw, "rc", &["watch"]).await;

    redis.restart();
    wait_state(&gw, &["watch"], "connected", within).await;
    let mut c = conn(&redis).await;
    let _: i64 = c.rpush("q", "after").await.unwrap();
    assert_eq!(
        events.next(Duration::from_secs(10)).await.unwrap().1,
        "after"
    );
    assert_reconnects_counted(&gw, &["watch"]).await;
}
