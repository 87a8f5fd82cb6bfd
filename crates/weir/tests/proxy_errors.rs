//! Gateway-generated errors (no route, refused, timeout, reset) and
//! round-robin load balancing that skips refusing hosts.

mod common;

use std::time::{Duration, Instant};

use common::{api, assert_json_error, closed_url, h1, h2c, json_body, start};
use serde_json::json;
use weir_testkit::HttpUpstream;

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let up = HttpUpstream::start();
    let gw = start(&[api("a1", "/a1/", &up.url(), true)], json!({}));
    for client in [h1(), h2c()] {
        let resp = client.get(gw.url("/nope/echo")).send().await.unwrap();
        assert_json_error(resp, 404).await;
    }
    assert_eq!(up.request_count(), 0);
}

#[tokio::test]
async fn refused_upstream_is_a_json_502() {
    let gw = start(&[api("dead", "/dead/", &closed_url(), true)], json!({}));
    for client in [h1(), h2c()] {
        let resp = client.get(gw.url("/dead/echo")).send().await.unwrap();
        assert_json_error(resp, 502).await;
    }
}

#[tokio::test]
async fn slow_upstream_hits_proxy_default_timeout_with_504() {
    let up = HttpUpstream::start();
    let gw = start(
        &[api("a1", "/a1/", &up.url(), true)],
        json!({ "proxy_default_timeout": 1 }),
    );
    let started = Instant::now();
    let resp = h1().get(gw.url("/a1/slow?ms=3000")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_json_error(resp, 504).await;
    assert!(
        elapsed >= Duration::from_millis(900),
        "gave up before the timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1800),
        "timeout not enforced: {elapsed:?}"
    );
    assert_eq!(up.request_count(), 1);
}

#[tokio::test]
async fn upstream_reset_mid_body_fails_that_request_only() {
    let up = HttpUpstream::start();
    let other = HttpUpstream::start();
    let gw = start(
        &[
            api("a1", "/a1/", &up.url(), true),
            api("a2", "/a2/", &other.url(), true),
        ],
        json!({}),
    );
    let client = h1();

    // The upstream promised 100000 bytes and sent 1000: the client must not
    // see a complete, successful body.
    match client.get(gw.url("/a1/reset")).send().await {
        Err(_) => {}
        Ok(resp) => match resp.bytes().await {
            Err(_) => {}
            Ok(body) => assert!(
                body.len() < 100_000,
                "got a full body of {} bytes",
                body.len()
            ),
        },
    }

    // The gateway keeps serving, on another route and on the same one.
    let echo = json_body(client.get(gw.url("/a2/echo/after")).send().await.unwrap()).await;
    assert_eq!(echo["path"], "/echo/after");
    let resp = h2c().get(gw.url("/a1/echo/again")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(other.request_count(), 1);
}

#[tokio::test]
async fn load_balancing_round_robins_and_skips_refusing_hosts() {
    let (a, b) = (HttpUpstream::start(), HttpUpstream::start());
    let mut def = api("lb", "/lb/", &a.url(), true);
    def["proxy"]["enable_load_balancing"] = json!(true);
    def["proxy"]["target_list"] = json!([closed_url(), a.url(), b.url()]);
    let gw = start(&[def], json!({}));
    let client = h1();
    for i in 0..20 {
        let resp = client
            .get(gw.url(&format!("/lb/echo/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "request {i}");
        let echo = json_body(resp).await;
        assert_eq!(echo["path"], format!("/echo/{i}"));
    }
    let (na, nb) = (a.request_count(), b.request_count());
    assert_eq!(na + nb, 20, "each request reached exactly one upstream");
    assert!(na >= 5 && nb >= 5, "not balanced: A={na} B={nb}");
}
