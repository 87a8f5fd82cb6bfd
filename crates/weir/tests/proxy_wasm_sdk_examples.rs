//! The proxy-wasm Rust SDK's own examples (hello_world, http_headers, http_body, http_config,
//! http_auth_random, grpc_auth_random), unmodified, through the real weir binary, checked
//! against what each example's envoy.yaml and README say it does.
//!
//! The SDK is not part of Weir and is never committed here: `scripts/proxy-wasm-sdk-examples.sh
//! <sdk checkout>` builds its examples for wasm32-wasip1 and runs this test with
//! `WEIR_PROXY_WASM_SDK_EXAMPLES` set to the folder of `.wasm` files. The same behaviours are
//! covered on every run by Weir's own filters (tests/plugins_wasm.rs and the wasm driver's
//! tests); this test is the proof against the artefacts nobody here wrote.

mod support;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use support::{bin, eventually, send};
use tonic::transport::Channel;
use weir_testkit::pb::EchoRequest;
use weir_testkit::pb::echo_client::EchoClient;
use weir_testkit::{Gateway, GrpcUpstream, HttpUpstream};

fn example(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEIR_PROXY_WASM_SDK_EXAMPLES")
        .expect("WEIR_PROXY_WASM_SDK_EXAMPLES names the folder of the SDK's built examples");
    let file = PathBuf::from(dir).join(format!("proxy_wasm_example_{name}.wasm"));
    assert!(file.exists(), "{} is not built", file.display());
    file
}

/// A response body of ready frames (data, then trailers).
struct Frames(std::collections::VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// Serves HTTP/1.1 (or HTTP/2 prior knowledge) on a free loopback port; `answer` gets the
/// call's number (from 0) and the request.
async fn serve<F, Fut, B>(http2: bool, answer: F) -> String
where
    F: Fn(u32, Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (calls, answer) = (calls.clone(), answer.clone());
            let svc = hyper::service::service_fn(move |req| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let reply = answer(n, req);
                async move { Ok::<_, Infallible>(reply.await) }
            });
            let io = TokioIo::new(stream);
            tokio::spawn(async move {
                if http2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, svc)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Stands in for httpbin's `/bytes/1`: one byte per call, even then odd then even...
async fn bytes_service() -> String {
    serve(false, |n, req: Request<hyper::body::Incoming>| async move {
        let byte = if req.uri().path() == "/bytes/1" {
            vec![2 + (n % 2) as u8]
        } else {
            vec![]
        };
        Response::new(Full::new(Bytes::from(byte)))
    })
    .await
}

/// Stands in for grpcbin's `grpcbin.GRPCBin/RandomError`: OK (an empty message), then
/// status 3, then OK...
async fn random_error_service() -> String {
    serve(true, |n, req: Request<hyper::body::Incoming>| async move {
        let ok = req.uri().path() == "/grpcbin.GRPCBin/RandomError" && n.is_multiple_of(2);
        let resp = Response::builder().header("content-type", "application/grpc");
        if ok {
            // An empty message (google.protobuf.Empty), then status 0.
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let frames = vec![
                Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0])),
                Frame::trailers(trailers),
            ];
            resp.body(Frames(frames.into())).unwrap()
        } else {
            // Trailers-only: an odd status.
            resp.header("grpc-status", "3")
                .body(Frames(Default::default()))
                .unwrap()
        }
    })
    .await
}

fn api(id: &str, target: &str, hooks: Value, config: Value) -> Value {
    let mut hooks = hooks;
    hooks["driver"] = json!("wasm");
    json!({
        "api_id": id, "name": id, "org_id": "1", "use_keyless": true, "active": true,
        "proxy": {"listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true},
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
        "config_data": config,
        "custom_middleware": hooks
    })
}

/// The example as an Envoy filter: request and response phases, one name.
fn filter(name: &str) -> Value {
    let hook = json!([{"name": name, "path": example(name)}]);
    json!({"pre": hook, "response": hook})
}

#[tokio::test]
#[ignore = "needs the proxy-wasm SDK's examples: scripts/proxy-wasm-sdk-examples.sh <sdk checkout>"]
async fn the_sdk_examples_behave_as_their_envoy_configs_say() {
    let up = HttpUpstream::start();
    let grpc_up = GrpcUpstream::start();
    let httpbin = bytes_service().await;
    let grpcbin = random_error_service().await;
    let mut grpc_api = api(
        "grpc",
        &grpc_up.url(),
        json!({"pre": [{"name": "grpc_auth_random", "path": example("grpc_auth_random")}]}),
        Value::Null,
    );
    grpc_api["proxy"]["listen_path"] = json!("/weir.test.Echo/");
    grpc_api["proxy"]["strip_listen_path"] = json!(false);
    grpc_api["proxy"]["enable_grpc"] = json!(true);
    let hello = json!({"pre": [{"name": "hello_world", "path": example("hello_world")}]});
    let mut headers_api = api("headers", &up.url(), filter("http_headers"), Value::Null);
    headers_api["proxy"]["listen_path"] = json!("/");
    let gw = Gateway::start(
        bin(),
        &[
            (
                "greeter.json",
                api("greeter", &up.url(), hello, Value::Null),
            ),
            // At the root, so the filter sees `/hello` as Envoy's route "/" shows it.
            ("headers.json", headers_api),
            (
                "body.json",
                api("body", &up.url(), filter("http_body"), Value::Null),
            ),
            (
                "config.json",
                api(
                    "config",
                    &up.url(),
                    filter("http_config"),
                    json!("The secret to life is meaningless unless you discover it yourself"),
                ),
            ),
            (
                "auth.json",
                api("auth", &up.url(), filter("http_auth_random"), Value::Null),
            ),
            ("grpc.json", grpc_api),
        ],
        // `/hello` is Tyk's health endpoint; on a control port of its own it leaves the
        // proxy's `/hello` to the example.
        json!({"wasm_upstreams": {"httpbin": httpbin, "grpcbin": grpcbin},
               "control_api_port": weir_testkit::free_port()}),
    );

    // hello_world: a root context only (Envoy runs it as a bootstrap service): it greets at
    // start and tells the time every 5 s.
    assert!(gw.logs().contains("Hello, World!"), "{}", gw.logs());
    let ticked = eventually(Duration::from_secs(12), || async {
        gw.logs().contains("your lucky number is")
    })
    .await;
    assert!(ticked, "no tick in 12 s:\n{}", gw.logs());

    // http_headers: /hello is answered by the filter; other paths are logged both ways and
    // each request's context logs "completed" once.
    let (status, headers, body) = send(reqwest::Method::GET, &gw.url("/hello"), &[], "").await;
    assert_eq!((status, body.as_str()), (200, "Hello, World!\n"));
    assert_eq!(headers.get("hello").unwrap(), "World");
    let (status, _, _) = send(reqwest::Method::GET, &gw.url("/echo"), &[], "").await;
    assert_eq!(status, 200);
    // Log lines reach the file a moment after the answers.
    let completed = || {
        gw.logs()
            .lines()
            .filter(|l| l.contains(" completed."))
            .count()
    };
    eventually(Duration::from_secs(5), || async { completed() >= 2 }).await;
    let logs = gw.logs();
    assert_eq!(completed(), 2, "on_log once per request:\n{logs}");
    assert!(
        logs.contains("<- :status: 200"),
        "response headers logged:\n{logs}"
    );

    // http_body: a response body mentioning "secret" is redacted, its length dropped.
    let (status, headers, body) =
        send(reqwest::Method::GET, &gw.url("/body/secret"), &[], "").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("Original message body ("), "{body}");
    assert!(body.ends_with(" bytes) redacted.\n"), "{body}");
    assert_eq!(
        headers.get("content-length").unwrap(),
        &body.len().to_string()
    );

    // http_config: the StringValue configuration becomes a response header.
    let (status, headers, _) = send(reqwest::Method::GET, &gw.url("/config/echo"), &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("custom-header").unwrap(),
        "The secret to life is meaningless unless you discover it yourself"
    );

    // http_auth_random: an even byte from httpbin lets the request through, an odd one is a
    // 403; both answers say Powered-By once (the local answer passes the response phase too).
    let (status, headers, _) = send(reqwest::Method::GET, &gw.url("/auth/echo"), &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(headers.get_all("powered-by").iter().count(), 1);
    let (status, headers, body) = send(reqwest::Method::GET, &gw.url("/auth/echo"), &[], "").await;
    assert_eq!((status, body.as_str()), (403, "Access forbidden.\n"));
    assert_eq!(
        headers.get_all("powered-by").iter().collect::<Vec<_>>(),
        ["proxy-wasm"]
    );
    let told = || gw.logs().contains("Access granted.") && gw.logs().contains("Access forbidden.");
    assert!(eventually(Duration::from_secs(5), || async { told() }).await);

    // grpc_auth_random: non-gRPC clients get 503; gRPC calls pass when grpcbin's status is
    // even, and are aborted with the filter's status and metadata when it is odd.
    let (status, _, body) = send(
        reqwest::Method::GET,
        &gw.url("/weir.test.Echo/Unary"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (503, "Service accessible only to gRPC clients.\n")
    );
    let channel = Channel::from_shared(gw.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = EchoClient::new(channel);
    let req = || EchoRequest {
        message: "hi".into(),
        payload: b"hi".to_vec(),
    };
    let granted = client.unary(req()).await.expect("granted on status 0");
    assert_eq!(granted.get_ref().message, "hi");
    let aborted = client.unary(req()).await.expect_err("aborted on status 3");
    assert_eq!(aborted.code(), tonic::Code::Aborted);
    assert_eq!(aborted.message(), "Aborted by Proxy-Wasm!");
    assert_eq!(aborted.metadata().get("powered-by").unwrap(), "proxy-wasm");
}
