//! `http_client` as a webhook sink and a polling source, `generate` and `stdout` for local
//! runs, and back-pressure: a slow output slows the input instead of filling a queue.

mod common;

use std::time::{Duration, Instant};

use common::streams::{Sse, sse_output, start, streams_api};
use redis::AsyncCommands;
use serde_json::{Value, json};
use weir_testkit::{HttpUpstream, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sink_posts_each_message_and_can_answer_with_the_response() {
    let upstream = HttpUpstream::start();
    let streams = json!({
        "hook": {
            "input": {"http_server": {"path": "/in"}},
            "pipeline": {"processors": [{"mapping": "root = this\nmeta kind = this.kind"}]},
            "output": {"http_client": {
                "url": format!("{}/echo/${{! meta(\"kind\") }}", upstream.url()),
                "verb": "PUT",
                "headers": {"X-Kind": "${! meta(\"kind\") }", "Content-Type": "application/json"},
                "propagate_response": true
            }}
        }
    });
    let gw = start(&[("hook", streams_api("hook", streams))], json!({}));
    // The POST's reply is the webhook's response (propagate_response), which echoes what it got.
    let r = common::h1()
        .post(gw.url("/hook/in"))
        .body(r#"{"kind":"order","id":7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", gw.logs());
    let echoed: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["path"], "/echo/order");
    assert_eq!(echoed["headers"]["x-kind"][0], "order");
    let body: Value = serde_json::from_str(echoed["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"kind": "order", "id": 7}));
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_retried_then_refused() {
    let upstream = HttpUpstream::start();
    let streams = json!({
        "hook": {
            "input": {"http_server": {"path": "/in"}},
            "output": {"http_client": {"url": format!("{}/status/503", upstream.url()),
                                       "retries": 2, "retry_period": "10ms"}}
        }
    });
    let gw = start(&[("hook", streams_api("hook", streams))], json!({}));
    let r = common::h1()
        .post(gw.url("/hook/in"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200, "a refused delivery is not a success");
    assert_eq!(upstream.request_count(), 3, "one attempt and two retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_source_feeds_server_sent_events() {
    let upstream = HttpUpstream::start();
    let streams = json!({
        "poll": {
            "input": {"http_client": {"url": format!("{}/echo/feed", upstream.url()), "verb": "POST", "payload": "give"}},
            "pipeline": {"processors": [{"mapping": "root.got = this.body\nroot.status = meta(\"http_status_code\")"}]},
            "output": sse_output("/events")
        }
    });
    let gw = start(&[("poll", streams_api("poll", streams))], json!({}));
    let mut sse = Sse::open(&common::h1(), &gw.url("/poll/events"), None).await;
    for _ in 0..3 {
        let (_, data) = sse.next(Duration::from_secs(10)).await.expect("polled");
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v, json!({"got": "give", "status": "200"}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_writes_to_stdout() {
    let streams = json!({
        "demo": {
            "input": {"generate": {"mapping": "root.tick = counter()", "interval": "10ms", "count": 3}},
            "output": {"stdout": {}}
        }
    });
    let gw = start(&[("demo", streams_api("demo", streams))], json!({}));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.logs().contains(r#"{"tick":3}"#) {
        assert!(Instant::now() < deadline, "{}", gw.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = gw.logs();
    for n in 1..=3 {
        assert!(
            logs.lines().any(|l| l == format!(r#"{{"tick":{n}}}"#)),
            "{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_output_slows_the_input_instead_of_queueing() {
    const TOTAL: usize = 300;
    let redis = RedisServer::start();
    let upstream = HttpUpstream::start();
    let mut c = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for n in 0..TOTAL {
        let _: i64 = c.rpush("work", n.to_string()).await.unwrap();
    }
    // Each delivery takes 100 ms: Weir may only take from the list as fast as that.
    let streams = json!({
        "drain": {
            "input": {"redis_list": {"url": redis.url(), "key": "work", "timeout": "1s"}},
            "output": {"http_client": {"url": format!("{}/slow?ms=100", upstream.url()), "max_in_flight": 1}}
        }
    });
    let gw = start(&[("drain", streams_api("drain", streams))], json!({}));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left: usize = c.llen("work").await.unwrap();
    let delivered = upstream.request_count();
    // About 20 delivered in 2 s; what left the list is what was delivered plus the few
    // messages held between input and output, never the whole list.
    assert!(
        delivered <= 25,
        "{delivered} delivered in 2 s at 100 ms each"
    );
    let taken = TOTAL - left;
    assert!(
        taken <= delivered + 70,
        "{taken} taken from the list but only {delivered} delivered: the input ran ahead\n{}",
        gw.logs()
    );
}
