//! Self-tests: each upstream talks directly to a client, no gateway involved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use weir_testkit::pb::echo_client::EchoClient;
use weir_testkit::pb::{EchoRequest, StreamRequest};
use weir_testkit::{
    GrpcUpstream, HttpUpstream, HttpsUpstream, SelfSigned, WsEchoUpstream, checksum,
};

fn h1() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn h2() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

async fn get_json(client: &Client<HttpConnector, Full<Bytes>>, url: &str) -> Value {
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn http_echo_h1_and_h2() {
    let up = HttpUpstream::start();
    let v = get_json(&h1(), &format!("{}/echo/x?q=1", up.url())).await;
    assert_eq!(v["path"], "/echo/x");
    assert_eq!(v["query"], "q=1");
    assert_eq!(v["version"], "HTTP/1.1");
    assert_eq!(v["headers"]["host"][0], up.addr().to_string());
    let v = get_json(&h2(), &format!("{}/anything", up.url())).await;
    assert_eq!(v["path"], "/anything");
    assert_eq!(v["version"], "HTTP/2.0");
    assert_eq!(up.request_count(), 2);

    let req = Request::post(format!("{}/echo", up.url()))
        .header("x-custom", "a")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let resp = h1().request(req).await.unwrap();
    assert_eq!(resp.headers()["x-upstream"], "testkit");
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body"], "payload");
    assert_eq!(up.last_headers().unwrap()["x-custom"], "a");
}

#[tokio::test]
async fn http_status_big_upload() {
    let up = HttpUpstream::start();
    let resp = h1()
        .get(format!("{}/status/418", up.url()).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 418);
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "status 418"
    );

    let resp = h2()
        .get(format!("{}/big?bytes=300000", up.url()).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-length"], "300000");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.as_ref(), HttpUpstream::big_body(300_000).as_slice());

    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    let req = Request::post(format!("{}/upload", up.url()))
        .body(Full::new(Bytes::from(data.clone())))
        .unwrap();
    let resp = h1().request(req).await.unwrap();
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["len"], 100_000);
    assert_eq!(v["sum"], checksum(&data));
}

#[tokio::test]
async fn http_sse_streams_and_trailers_and_reset() {
    let up = HttpUpstream::start();
    let start = Instant::now();
    let resp = h1()
        .get(format!("{}/sse?n=3&gap_ms=200", up.url()).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut times = vec![];
    while let Some(f) = body.frame().await {
        if f.unwrap().is_data() {
            times.push(start.elapsed());
        }
    }
    assert_eq!(times.len(), 3);
    assert!(times[0] < Duration::from_millis(150), "{times:?}");
    assert!(times[2] >= Duration::from_millis(380), "{times:?}");

    let resp = h2()
        .get(format!("{}/trailers", up.url()).parse().unwrap())
        .await
        .unwrap();
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers");
    assert_eq!(trailers["x-checksum"], "abc");
    assert_eq!(trailers["x-done"], "yes");
    assert_eq!(collected.to_bytes(), "hello");

    let resp = h1()
        .get(format!("{}/reset", up.url()).parse().unwrap())
        .await
        .unwrap();
    assert!(resp.into_body().collect().await.is_err());
}

#[tokio::test]
async fn https_upstream_h2_and_h1() {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]);
    let up = HttpsUpstream::start(&cert);
    for (alpn, version) in [
        (&b"h2"[..], Version::HTTP_2),
        (&b"http/1.1"[..], Version::HTTP_11),
    ] {
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(cert.client_config_with_alpn(&[alpn])));
        let tcp = tokio::net::TcpStream::connect(up.addr()).await.unwrap();
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let io = TokioIo::new(tls);
        let req = Request::get("/echo/tls")
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = if version == Version::HTTP_2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut req = req;
            *req.uri_mut() = format!("https://localhost:{}/echo/tls", up.addr().port())
                .parse()
                .unwrap();
            send.send_request(req).await.unwrap()
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        };
        assert_eq!(resp.version(), version);
        let v: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(v["path"], "/echo/tls");
    }
    assert_eq!(up.request_count(), 2);
}

#[tokio::test]
async fn ws_echo() {
    let up = WsEchoUpstream::start();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/chat?room=1", up.ws_url()))
        .await
        .unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![1u8, 2, 3])
    );
    let up_req = up.last_upgrade().unwrap();
    assert_eq!(up_req.path_and_query, "/chat?room=1");
    assert_eq!(up_req.headers["upgrade"], "websocket");
}

#[tokio::test]
async fn grpc_echo_all_kinds() {
    let up = GrpcUpstream::start();
    let mut client = EchoClient::connect(up.http_url()).await.unwrap();

    let mut req = tonic::Request::new(EchoRequest {
        message: "hi".into(),
        payload: vec![1, 2],
    });
    req.metadata_mut().insert("x-test", "abc".parse().unwrap());
    let resp = client.unary(req).await.unwrap();
    assert_eq!(resp.metadata().get("x-test").unwrap(), "abc");
    assert_eq!(resp.get_ref().message, "hi");
    // tonic merges a unary call's trailers into the response metadata.
    assert_eq!(resp.metadata().get("x-trailer").unwrap(), "done");

    let resp = client
        .server_stream(StreamRequest {
            count: 10,
            size: 3,
            gap_ms: 0,
        })
        .await
        .unwrap();
    let mut stream = resp.into_inner();
    let mut n = 0;
    while let Some(m) = stream.message().await.unwrap() {
        assert_eq!(m.seq, n);
        n += 1;
    }
    assert_eq!(n, 10);
    let trailers = stream.trailers().await.unwrap().expect("trailers");
    assert_eq!(trailers.get("x-trailer").unwrap(), "done");

    let msgs = futures_util::stream::iter(["a", "b", "c"].map(|m| EchoRequest {
        message: m.into(),
        payload: vec![],
    }));
    let r = client.client_stream(msgs).await.unwrap().into_inner();
    assert_eq!((r.message.as_str(), r.seq), ("abc", 3));

    let err = client
        .unary(EchoRequest {
            message: "fail".into(),
            payload: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.message(), "you asked for failure");
    assert_eq!(err.metadata().get("x-trailer").unwrap(), "done");
}
