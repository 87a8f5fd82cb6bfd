//! One request's life through an Envoy-style filter (examples/plugins/wasm/filter-lifecycle):
//! one context across the request and response phases, `proxy_on_log` once per request,
//! local answers through the response callbacks, root timers, and gRPC calls and streams to
//! a real HTTP/2 gRPC service started here on 127.0.0.1.

mod common;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use common::*;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use weir_core::plugin::{Driver, HookContext, HookKind, HookResponse, LoadedPlugin};
use weir_plugin_wasm::{WasmDriver, WasmOptions};

/// A response body of ready frames (data and trailers).
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn grpc_frame(m: &[u8]) -> Bytes {
    let mut b = vec![0u8];
    b.extend_from_slice(&(m.len() as u32).to_be_bytes());
    b.extend_from_slice(m);
    Bytes::from(b)
}

fn messages(mut body: Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        body.advance(5);
        out.push(body.split_to(len));
    }
    out
}

fn trailers(code: u32, message: &str) -> Frame<Bytes> {
    let mut h = http::HeaderMap::new();
    h.insert("grpc-status", code.to_string().parse().unwrap());
    if !message.is_empty() {
        h.insert("grpc-message", message.parse().unwrap());
    }
    Frame::trailers(h)
}

/// `test.Check`: `Check` answers `ok:<msg> from <x-from>`, `Fail` is trailers-only status 7,
/// `Slow` answers after 5 s, `Echo` streams back `echo:<msg>` with initial metadata
/// `x-echo: yes`.
async fn grpc_service() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_owned();
                        let from = req
                            .headers()
                            .get("x-from")
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let input = messages(body);
                        let ok = |frames: Vec<Frame<Bytes>>| {
                            Response::builder()
                                .header("content-type", "application/grpc")
                                .header("x-echo", "yes")
                                .body(Frames(frames.into()))
                                .unwrap()
                        };
                        let resp = match path.as_str() {
                            "/test.Check/Check" => {
                                let m = format!(
                                    "ok:{} from {from}",
                                    String::from_utf8_lossy(&input[0])
                                );
                                ok(vec![Frame::data(grpc_frame(m.as_bytes())), trailers(0, "")])
                            }
                            "/test.Check/Slow" => {
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                ok(vec![trailers(0, "")])
                            }
                            "/test.Check/Echo" => {
                                let mut frames: Vec<_> = input
                                    .iter()
                                    .map(|m| Frame::data(grpc_frame(&[b"echo:", &m[..]].concat())))
                                    .collect();
                                frames.push(trailers(0, ""));
                                ok(frames)
                            }
                            _ => Response::builder()
                                .header("content-type", "application/grpc")
                                .header("grpc-status", "7")
                                .header("grpc-message", "no%20way")
                                .body(Frames(VecDeque::new()))
                                .unwrap(),
                        };
                        Ok::<_, Infallible>(resp)
                    });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn driver(upstreams: &[(&str, &str)]) -> WasmDriver {
    WasmDriver::new(WasmOptions {
        upstreams: upstreams
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        ..WasmOptions::default()
    })
    .unwrap()
}

const NAME: &str = "life";

/// The filter as a `pre` hook only, or as `pre` and `response` under one name.
fn filter(d: &WasmDriver, with_response: bool, config: Option<&str>) -> Arc<dyn LoadedPlugin> {
    let file = wasm("filter_lifecycle");
    let mut hooks = vec![(HookKind::Pre, NAME, file.as_path())];
    if with_response {
        hooks.push((HookKind::Response, NAME, file.as_path()));
    }
    load(d as &dyn Driver, &hooks, config)
}

/// One request as the proxy runs it: the pre hook, then (unless it answered) the response
/// hook on the same context, which is then dropped with the request.
async fn exchange(p: &dyn LoadedPlugin, pairs: &[(&str, &str)], respond: bool) -> HookContext {
    let mut ctx = request(HookKind::Pre, NAME, pairs, "");
    p.call(&mut ctx).await.unwrap();
    if respond && ctx.request.return_overrides.response_code < 0 {
        ctx.kind = HookKind::Response;
        ctx.response = Some(HookResponse {
            status: 200,
            headers: headers(&[("content-type", "text/plain")]),
            body: Bytes::from_static(b"upstream"),
        });
        p.call(&mut ctx).await.unwrap();
    }
    ctx
}

fn resp_header<'a>(ctx: &'a HookContext, name: &str) -> Option<&'a str> {
    ctx.response
        .as_ref()?
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn one_context_spans_the_request_and_on_log_runs_once() {
    let d = driver(&[]);
    let p = filter(&d, true, None);
    for n in 0..3 {
        let ctx = exchange(p.as_ref(), &[("host", "gw")], true).await;
        let id = header(&ctx, "x-request-context").expect("request phase ran");
        assert_eq!(resp_header(&ctx, "x-response-context"), Some(id));
        assert_eq!(resp_header(&ctx, "x-saw-request"), Some("yes"));
        // The context ended after the response hook, once per request before this one.
        assert_eq!(
            resp_header(&ctx, "x-logs-before"),
            Some(n.to_string().as_str())
        );
        assert!(ctx.driver_state.0.is_none(), "closed after its last hook");
    }
}

#[tokio::test]
async fn a_request_that_ends_early_still_ends_its_context_once() {
    let d = driver(&[]);
    let p = filter(&d, true, None);
    // The pre hook ran; the upstream failed, so the response hook never comes: dropping the
    // request's context ends the filter's.
    let mut ctx = request(HookKind::Pre, NAME, &[("host", "gw")], "");
    p.call(&mut ctx).await.unwrap();
    assert!(
        ctx.driver_state.0.is_some(),
        "kept open for the response hook"
    );
    drop(ctx);
    let ctx = exchange(p.as_ref(), &[("host", "gw")], true).await;
    assert_eq!(resp_header(&ctx, "x-logs-before"), Some("1"));
}

#[tokio::test]
async fn a_local_answer_goes_through_the_filters_response_callbacks() {
    let d = driver(&[]);
    let p = filter(&d, true, None);
    let ctx = exchange(p.as_ref(), &[("host", "gw"), ("x-deny", "401")], true).await;
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 401);
    assert_eq!(o.response_body, "denied\n");
    let has = |k: &str, v: &str| o.headers.iter().any(|(a, b)| a == k && b == v);
    assert!(has("x-denied-by", "filter-lifecycle"), "{:?}", o.headers);
    assert!(has("x-seen-status", "401"), "{:?}", o.headers);
    assert!(has("x-saw-request", "yes"), "{:?}", o.headers);

    // Declared in the request phase only, the filter's answer is sent as it gave it.
    let p = filter(&driver(&[]), false, None);
    let ctx = exchange(p.as_ref(), &[("host", "gw"), ("x-deny", "401")], false).await;
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 401);
    assert!(!o.headers.iter().any(|(k, _)| k == "x-seen-status"));
}

#[tokio::test]
async fn a_root_timer_ticks_until_the_plugin_is_dropped() {
    let d = driver(&[]);
    // A string config_data reaches the filter as its raw bytes: "20", not "\"20\"".
    let p = filter(&d, true, Some("\"20\""));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ctx = exchange(p.as_ref(), &[("host", "gw")], true).await;
    let ticks: u32 = resp_header(&ctx, "x-ticks").unwrap().parse().unwrap();
    assert!(ticks >= 5, "only {ticks} ticks in 400 ms at 20 ms");
    drop(p);
    // Shared data is the driver's: a plugin without a timer reads the count, which stays.
    let quiet = filter(&d, true, None);
    let before = exchange(quiet.as_ref(), &[("host", "gw")], true).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = exchange(quiet.as_ref(), &[("host", "gw")], true).await;
    assert_eq!(
        resp_header(&before, "x-ticks"),
        resp_header(&after, "x-ticks")
    );
}

#[tokio::test]
async fn grpc_calls_deliver_the_answer_or_the_status() {
    let base = grpc_service().await;
    let d = driver(&[("grpc", &base)]);
    let p = filter(&d, false, None);

    let ctx = exchange(
        p.as_ref(),
        &[("host", "gw"), ("x-grpc-check", "hello")],
        false,
    )
    .await;
    assert_eq!(
        header(&ctx, "x-grpc-answer"),
        Some("ok:hello from filter-lifecycle")
    );

    let pairs = [
        ("host", "gw"),
        ("x-grpc-check", "x"),
        ("x-grpc-method", "Fail"),
    ];
    let ctx = exchange(p.as_ref(), &pairs, false).await;
    assert_eq!(header(&ctx, "x-grpc-status"), Some("7 no way"));

    let pairs = [
        ("host", "gw"),
        ("x-grpc-check", "x"),
        ("x-grpc-method", "Slow"),
    ];
    let ctx = exchange(p.as_ref(), &pairs, false).await;
    let status = header(&ctx, "x-grpc-status").unwrap();
    assert!(status.starts_with("4 "), "{status}");

    // An upstream the gateway config does not name is refused to the filter.
    let p = filter(&driver(&[]), false, None);
    let ctx = exchange(
        p.as_ref(),
        &[("host", "gw"), ("x-grpc-check", "hello")],
        false,
    )
    .await;
    assert_eq!(header(&ctx, "x-grpc-error"), Some("ParseFailure"));
}

#[tokio::test]
async fn a_grpc_stream_delivers_metadata_each_message_and_the_close() {
    let base = grpc_service().await;
    let p = filter(&driver(&[("grpc", &base)]), false, None);
    let ctx = exchange(
        p.as_ref(),
        &[("host", "gw"), ("x-grpc-stream", "a,b,c")],
        false,
    )
    .await;
    assert_eq!(
        header(&ctx, "x-stream"),
        Some("meta:yes,echo:a,echo:b,echo:c")
    );
    assert_eq!(header(&ctx, "x-stream-status"), Some("0"));
}
