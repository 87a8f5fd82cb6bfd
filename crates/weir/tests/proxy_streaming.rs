//! Streaming through the gateway: SSE is not buffered, WebSocket upgrades
//! are tunnelled, HTTP/2 trailers are passed on.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{api, h1, h2c, start};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use weir_testkit::{HttpUpstream, WsEchoUpstream};

/// Reads an SSE response and returns, for each of `n` events, how long after
/// the response head it was first seen.
async fn event_arrivals(mut resp: reqwest::Response, n: usize) -> Vec<Duration> {
    let head = Instant::now();
    let mut text = String::new();
    let mut seen = vec![];
    while let Some(chunk) = resp.chunk().await.expect("read chunk") {
        text.push_str(std::str::from_utf8(&chunk).expect("utf8"));
        while seen.len() < n && text.contains(&format!("data: event {}\n\n", seen.len())) {
            seen.push(head.elapsed());
        }
    }
    assert_eq!(seen.len(), n, "events received: {text:?}");
    let expected: String = (0..n).map(|i| format!("data: event {i}\n\n")).collect();
    assert_eq!(text, expected);
    seen
}

async fn check_sse(client: reqwest::Client) {
    let up = HttpUpstream::start();
    let gw = start(&[api("sse", "/sse-api/", &up.url(), true)], json!({}));
    let resp = client
        .get(gw.url("/sse-api/sse?n=5&gap_ms=300"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let at = event_arrivals(resp, 5).await;
    assert!(
        at[0] < Duration::from_millis(250),
        "first event held back: {at:?}"
    );
    // The upstream sends event 4 ~1200 ms after event 0; a buffering gateway
    // would deliver them together.
    assert!(
        at[4] - at[0] >= Duration::from_millis(900),
        "events bunched: {at:?}"
    );
    assert!(
        at[1] - at[0] >= Duration::from_millis(150),
        "events bunched: {at:?}"
    );
}

#[tokio::test]
async fn sse_is_streamed_not_buffered_h1() {
    check_sse(h1()).await;
}

#[tokio::test]
async fn sse_is_streamed_not_buffered_h2c() {
    check_sse(h2c()).await;
}

#[tokio::test]
async fn chunks_arrive_as_sent() {
    let up = HttpUpstream::start();
    let gw = start(&[api("c", "/c/", &up.url(), true)], json!({}));
    let mut resp = h1()
        .get(gw.url("/c/chunks?n=4&size=1000&gap_ms=200"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let head = Instant::now();
    let mut first = None;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        first.get_or_insert(head.elapsed());
        body.extend_from_slice(&chunk);
    }
    let total = head.elapsed();
    let expected: Vec<u8> = (0..4u8).flat_map(|i| vec![b'a' + i; 1000]).collect();
    assert_eq!(body, expected);
    let first = first.expect("no body");
    assert!(
        first < Duration::from_millis(200),
        "first chunk held back: {first:?}"
    );
    assert!(
        total >= Duration::from_millis(500),
        "stream ended too early: {total:?}"
    );
}

#[tokio::test]
async fn websocket_is_tunnelled() {
    let ws_up = WsEchoUpstream::start();
    let gw = start(&[api("ws", "/ws/", &ws_up.url(), true)], json!({}));
    let url = format!("ws://127.0.0.1:{}/ws/chat?room=7", gw.port());
    let (mut ws, resp) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade through gateway");
    assert_eq!(resp.status(), 101);

    ws.send(Message::text("hello through weir")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, Message::text("hello through weir"));

    let bin: Vec<u8> = (0..=255u8).collect();
    ws.send(Message::binary(bin.clone())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, Message::binary(bin));

    for i in 0..20 {
        ws.send(Message::text(format!("m{i}"))).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Message::text(format!("m{i}")));
    }
    ws.close(None).await.unwrap();

    let upgrade = ws_up.last_upgrade().expect("upstream saw the upgrade");
    assert_eq!(upgrade.path_and_query, "/chat?room=7");
    assert_eq!(ws_up.upgrades().len(), 1);
}

#[tokio::test]
async fn h2_trailers_are_forwarded() {
    let up = HttpUpstream::start();
    let gw = start(&[api("a1", "/a1/", &up.url(), true)], json!({}));
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<Bytes>>();
    // `TE: trailers` says the client accepts trailers; the gateway forwards it,
    // and an HTTP/1.1 upstream (hyper, like many) only sends trailers when
    // the request carried it.
    let request = http::Request::get(gw.url("/a1/trailers"))
        .header("te", "trailers")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = client.request(request).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected
        .trailers()
        .cloned()
        .expect("response has trailers");
    assert_eq!(
        trailers.get("x-checksum").map(|v| v.to_str().unwrap()),
        Some("abc")
    );
    assert_eq!(
        trailers.get("x-done").map(|v| v.to_str().unwrap()),
        Some("yes")
    );
    assert_eq!(collected.to_bytes(), "hello");
}
