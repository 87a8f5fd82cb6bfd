//! Plain HTTP proxying: HTTP/1.1 and h2c inbound to an HTTP/1.1 upstream,
//! path rewriting, headers, bodies, routing.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{api, echoed, h1, h2c, json_body, start};
use serde_json::{Value, json};
use weir_testkit::{HttpUpstream, checksum};

/// The API from the brief: strips `/a1/`, adds/removes request headers and
/// adds a response header.
fn a1(target: &str, strip: bool) -> Value {
    let mut def = api("a1", "/a1/", target, strip);
    def["version_data"]["versions"]["Default"] = json!({
        "name": "Default",
        "global_headers": { "X-Added": "yes" },
        "global_headers_remove": ["X-Remove-Me"],
        "global_response_headers": { "X-Resp": "r" }
    });
    def
}

/// POST through `/a1/` with `client` and check everything the upstream saw
/// and everything the client got back.
async fn check_request_rewrite(client: reqwest::Client, expect_inbound_version: reqwest::Version) {
    let up = HttpUpstream::start();
    let gw = start(&[a1(&up.url(), true)], json!({}));

    let resp = client
        .post(gw.url("/a1/echo/x?q=1&r=two%20words"))
        .header("X-Remove-Me", "please")
        .header("X-Keep", "kept")
        .body("hello weir \u{1F600}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), expect_inbound_version);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-resp"], "r", "global_response_headers");
    assert_eq!(
        resp.headers()["x-upstream"],
        "testkit",
        "upstream headers pass through"
    );
    let echo = json_body(resp).await;

    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/x", "listen path stripped");
    assert_eq!(echo["query"], "q=1&r=two%20words");
    assert_eq!(echo["body"], "hello weir \u{1F600}");
    assert_eq!(echo["version"], "HTTP/1.1", "upstream is HTTP/1.1");
    assert_eq!(echoed(&echo, "x-added"), Some("yes"), "global_headers");
    assert_eq!(echoed(&echo, "x-remove-me"), None, "global_headers_remove");
    assert_eq!(echoed(&echo, "x-keep"), Some("kept"));
    let xff = echoed(&echo, "x-forwarded-for").expect("X-Forwarded-For");
    assert!(xff.contains("127.0.0.1"), "X-Forwarded-For {xff:?}");
    assert_eq!(echoed(&echo, "x-forwarded-proto"), Some("http"));
    let gw_host = format!("127.0.0.1:{}", gw.port());
    assert_eq!(echoed(&echo, "x-forwarded-host"), Some(gw_host.as_str()));
    let up_host = up.addr().to_string();
    assert_eq!(
        echoed(&echo, "host"),
        Some(up_host.as_str()),
        "Host is the upstream's"
    );
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn h1_request_is_rewritten_and_forwarded() {
    check_request_rewrite(h1(), reqwest::Version::HTTP_11).await;
}

#[tokio::test]
async fn h2c_request_is_rewritten_and_forwarded() {
    check_request_rewrite(h2c(), reqwest::Version::HTTP_2).await;
}

#[tokio::test]
async fn strip_listen_path_false_keeps_the_prefix() {
    let up = HttpUpstream::start();
    let gw = start(&[a1(&up.url(), false)], json!({}));
    for client in [h1(), h2c()] {
        let resp = client.get(gw.url("/a1/echo/x?q=1")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let echo = json_body(resp).await;
        assert_eq!(echo["method"], "GET");
        assert_eq!(echo["path"], "/a1/echo/x");
        assert_eq!(echo["query"], "q=1");
    }
}

#[tokio::test]
async fn status_headers_and_big_body_pass_through() {
    let up = HttpUpstream::start();
    let gw = start(&[a1(&up.url(), true)], json!({}));
    let expected = HttpUpstream::big_body(3_000_000);
    for client in [h1(), h2c()] {
        let resp = client.get(gw.url("/a1/status/201")).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["x-upstream"], "testkit");
        assert_eq!(resp.headers()["content-type"], "text/plain");
        assert_eq!(resp.headers()["x-resp"], "r");
        assert_eq!(resp.text().await.unwrap(), "status 201");

        let resp = client
            .get(gw.url("/a1/big?bytes=3000000"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        let body = resp.bytes().await.unwrap();
        assert_eq!(body.len(), expected.len());
        assert!(body.as_ref() == expected.as_slice(), "big body differs");
    }
}

#[tokio::test]
async fn five_megabyte_upload_is_streamed_intact() {
    let up = HttpUpstream::start();
    let gw = start(&[a1(&up.url(), true)], json!({}));
    // 80 chunks of 64 KiB = 5 MiB, sent as a stream (chunked on HTTP/1.1).
    let chunks: Vec<Bytes> = (0..80u32)
        .map(|c| {
            Bytes::from(
                (0..65_536u32)
                    .map(|i| (i.wrapping_mul(31) ^ c) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    let (len, sum) = chunks.iter().fold((0u64, 0u64), |(l, s), c| {
        (l + c.len() as u64, s.wrapping_add(checksum(c)))
    });
    for client in [h1(), h2c()] {
        let stream =
            futures_util::stream::iter(chunks.clone().into_iter().map(Ok::<_, std::io::Error>));
        let resp = client
            .post(gw.url("/a1/upload"))
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v = json_body(resp).await;
        assert_eq!(v["len"], len);
        assert_eq!(v["sum"], sum);
    }
}

#[tokio::test]
async fn host_header_is_upstream_unless_preserved() {
    let up = HttpUpstream::start();
    let plain = api("plain", "/plain/", &up.url(), true);
    let mut keep = api("keep", "/keep/", &up.url(), true);
    keep["proxy"]["preserve_host_header"] = json!(true);
    let gw = start(&[plain, keep], json!({}));
    let client = h1();

    let resp = client
        .get(gw.url("/plain/echo"))
        .header("host", "client.example")
        .send()
        .await
        .unwrap();
    let echo = json_body(resp).await;
    let up_host = up.addr().to_string();
    assert_eq!(echoed(&echo, "host"), Some(up_host.as_str()));
    assert_eq!(echoed(&echo, "x-forwarded-host"), Some("client.example"));

    let resp = client
        .get(gw.url("/keep/echo"))
        .header("host", "client.example")
        .send()
        .await
        .unwrap();
    let echo = json_body(resp).await;
    assert_eq!(echoed(&echo, "host"), Some("client.example"));
}

#[tokio::test]
async fn longest_listen_path_wins() {
    let (up_a, up_b) = (HttpUpstream::start(), HttpUpstream::start());
    let gw = start(
        &[
            api("short", "/a/", &up_a.url(), true),
            api("long", "/a/b/", &up_b.url(), true),
        ],
        json!({}),
    );
    let client = h1();

    let echo = json_body(client.get(gw.url("/a/b/x")).send().await.unwrap()).await;
    assert_eq!(echo["path"], "/x");
    assert_eq!((up_a.request_count(), up_b.request_count()), (0, 1));

    let echo = json_body(client.get(gw.url("/a/x")).send().await.unwrap()).await;
    assert_eq!(echo["path"], "/x");
    assert_eq!((up_a.request_count(), up_b.request_count()), (1, 1));
}

#[tokio::test]
async fn domain_routes_before_the_domainless_api() {
    let (up_foo, up_any) = (HttpUpstream::start(), HttpUpstream::start());
    let mut foo = api("foo", "/d/", &up_foo.url(), true);
    foo["domain"] = json!("foo.example");
    let any = api("any", "/d/", &up_any.url(), true);
    let gw = start(&[foo, any], json!({"enable_custom_domains": true}));
    let client = h1();

    let resp = client
        .get(gw.url("/d/echo"))
        .header("host", "foo.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!((up_foo.request_count(), up_any.request_count()), (1, 0));

    let resp = client
        .get(gw.url("/d/echo"))
        .header("host", "bar.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!((up_foo.request_count(), up_any.request_count()), (1, 1));

    let resp = client.get(gw.url("/d/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!((up_foo.request_count(), up_any.request_count()), (1, 2));
}

/// As in Tyk, an API's `domain` counts only with `enable_custom_domains` (off by default).
#[tokio::test]
async fn domain_is_ignored_without_enable_custom_domains() {
    let up = HttpUpstream::start();
    let mut foo = api("foo", "/d/", &up.url(), true);
    foo["domain"] = json!("foo.example");
    let gw = start(&[foo], json!({}));
    let resp = h1()
        .get(gw.url("/d/echo"))
        .header("host", "bar.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.request_count(), 1);
}

/// An upstream that stalls mid-body fails the response after `upstream_read_idle_timeout`
/// (nginx's proxy_read_timeout) instead of holding the client forever; slow but steady bodies
/// pass whole.
#[tokio::test]
async fn an_upstream_stalled_mid_body_is_cut_at_the_read_idle_timeout() {
    let up = HttpUpstream::start();
    let gw = start(
        &[api("slow", "/slow/", &up.url(), true)],
        json!({"upstream_read_idle_timeout": 1}),
    );
    let client = h1();
    let started = std::time::Instant::now();
    let resp = client
        .get(gw.url("/slow/chunks?n=3&size=10&gap_ms=4000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the head came at once");
    let body = resp.bytes().await;
    assert!(body.is_err(), "a stalled body must fail, got {body:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "cut after {took:?}");

    let resp = client
        .get(gw.url("/slow/chunks?n=4&size=10&gap_ms=400"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.bytes().await.unwrap().len(),
        40,
        "gaps under the limit pass"
    );
}
