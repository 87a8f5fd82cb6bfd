//! gRPC through the gateway (h2c inbound, `grpc://` upstream): all four call
//! kinds, metadata, trailers, error statuses.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{closed_url, start};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tonic::transport::Channel;
use weir_testkit::pb::echo_client::EchoClient;
use weir_testkit::pb::{EchoRequest, StreamRequest};
use weir_testkit::{Gateway, GrpcUpstream};

fn grpc_api(target: &str, strip: bool) -> Value {
    json!({
        "api_id": "grpc",
        "name": "gRPC echo",
        "org_id": "1",
        "use_keyless": true,
        "active": true,
        "proxy": {
            "listen_path": "/weir.test.Echo/",
            "target_url": target,
            "strip_listen_path": strip,
            "enable_grpc": true
        },
        "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } }
    })
}

async fn client(gw: &Gateway) -> EchoClient<Channel> {
    let channel = Channel::from_shared(gw.url(""))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to gateway");
    EchoClient::new(channel)
}

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_string(),
        payload: message.as_bytes().to_vec(),
    }
}

async fn check_unary(gw: &Gateway) {
    let mut c = client(gw).await;
    let mut request = tonic::Request::new(req("hello"));
    request
        .metadata_mut()
        .insert("x-test", "meta-value".parse().unwrap());
    let resp = c.unary(request).await.expect("unary through gateway");
    assert_eq!(
        resp.metadata().get("x-test").map(|v| v.to_str().unwrap()),
        Some("meta-value")
    );
    // tonic merges trailing metadata of a unary call into the response metadata.
    assert_eq!(
        resp.metadata()
            .get("x-trailer")
            .map(|v| v.to_str().unwrap()),
        Some("done")
    );
    let reply = resp.into_inner();
    assert_eq!(reply.message, "hello");
    assert_eq!(reply.payload, b"hello");
}

#[tokio::test]
async fn unary_with_metadata_and_trailer() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), false)], json!({}));
    check_unary(&gw).await;
    assert_eq!(up.call_count(), 1);
}

#[tokio::test]
async fn strip_listen_path_is_ignored_for_grpc() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), true)], json!({}));
    check_unary(&gw).await;
}

#[tokio::test]
async fn server_streaming_delivers_every_message() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), false)], json!({}));
    let mut c = client(&gw).await;
    let resp = c
        .server_stream(StreamRequest {
            count: 100,
            size: 512,
            gap_ms: 0,
        })
        .await
        .unwrap();
    let mut stream = resp.into_inner();
    let mut n = 0u32;
    while let Some(m) = stream.message().await.expect("stream message") {
        assert_eq!(m.seq, n);
        assert_eq!(m.message, format!("msg {n}"));
        assert_eq!(m.payload.len(), 512);
        n += 1;
    }
    assert_eq!(n, 100);
    let trailers = stream.trailers().await.unwrap().expect("trailing metadata");
    assert_eq!(
        trailers.get("x-trailer").map(|v| v.to_str().unwrap()),
        Some("done")
    );
}

#[tokio::test]
async fn client_streaming_is_aggregated() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), false)], json!({}));
    let mut c = client(&gw).await;
    let msgs: Vec<EchoRequest> = (0..20).map(|i| req(&format!("{i},"))).collect();
    let expected: String = (0..20).map(|i| format!("{i},")).collect();
    let reply = c
        .client_stream(futures_util::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.seq, 20);
    assert_eq!(reply.message, expected);
    assert_eq!(reply.payload, expected.as_bytes());
}

#[tokio::test]
async fn bidi_streams_in_lockstep() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), false)], json!({}));
    let mut c = client(&gw).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(1);
    let outbound =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    // Queue the first message before the call so nothing depends on when
    // response headers arrive.
    tx.send(req("m0")).await.unwrap();
    let mut inbound = c.bidi(outbound).await.expect("bidi call").into_inner();
    for i in 0..50u32 {
        if i > 0 {
            tx.send(req(&format!("m{i}"))).await.unwrap();
        }
        // The next message is only sent once this reply arrived: a gateway
        // that buffers either direction makes this time out.
        let reply = tokio::time::timeout(Duration::from_secs(5), inbound.message())
            .await
            .unwrap_or_else(|_| panic!("no reply to message {i}"))
            .expect("bidi reply")
            .expect("stream ended early");
        assert_eq!(reply.seq, i);
        assert_eq!(reply.message, format!("m{i}"));
    }
    drop(tx);
    assert!(
        inbound.message().await.unwrap().is_none(),
        "server ends after the client"
    );
}

#[tokio::test]
async fn error_status_reaches_the_client() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), false)], json!({}));
    let mut c = client(&gw).await;
    let status = c
        .unary(req("fail"))
        .await
        .expect_err("upstream returns an error");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(status.message(), "you asked for failure");
    // The connection stays usable for the next call.
    let reply = c.unary(req("ok")).await.unwrap().into_inner();
    assert_eq!(reply.message, "ok");
}

#[tokio::test]
async fn unreachable_upstream_is_unavailable() {
    let target = closed_url().replace("http://", "grpc://");
    let gw = start(&[grpc_api(&target, false)], json!({}));
    let mut c = client(&gw).await;
    let status = c.unary(req("hello")).await.expect_err("no upstream");
    assert_eq!(
        status.code(),
        tonic::Code::Unavailable,
        "status: {status:?}"
    );

    // And it is a real gRPC status 14 from the gateway, not tonic mapping a
    // bare HTTP error code: grpc-status is in the headers (trailers-only
    // response) or in the trailers.
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = http::Request::post(gw.url("/weir.test.Echo/Unary"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap();
    let resp = client.request(request).await.unwrap();
    let in_headers = resp.headers().get("grpc-status").cloned();
    let collected = resp.into_body().collect().await.unwrap();
    let grpc_status = in_headers.or_else(|| {
        collected
            .trailers()
            .and_then(|t| t.get("grpc-status").cloned())
    });
    assert_eq!(
        grpc_status.as_ref().map(|v| v.to_str().unwrap()),
        Some("14")
    );
}

/// Tyk's own convention for gRPC upstreams is `h2c://`; it must behave like `grpc://`.
#[tokio::test]
async fn h2c_scheme_upstream_works_like_grpc() {
    let up = GrpcUpstream::start();
    let target = up.url().replace("grpc://", "h2c://");
    assert!(target.starts_with("h2c://"));
    let gw = start(&[grpc_api(&target, false)], json!({}));
    check_unary(&gw).await;
}

/// Hundreds of small unary calls in flight at once on one upstream HTTP/2 connection must
/// all succeed (h2's small-frame flood guard once closed the connection at ~130).
#[tokio::test]
async fn many_concurrent_small_calls_share_one_upstream_connection() {
    let up = GrpcUpstream::start();
    let gw = start(&[grpc_api(&up.url(), false)], json!({}));
    let c = client(&gw).await;
    let calls = (0..400).map(|i| {
        let mut c = c.clone();
        async move {
            c.unary(req(&format!("m{i}")))
                .await
                .map(|r| r.into_inner().message)
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of 400 calls failed: {:?}",
        failed.len(),
        failed.first()
    );
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.as_ref().unwrap(), &format!("m{i}"));
    }
}
