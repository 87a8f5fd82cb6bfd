//! `proxy_http_call`: a filter pauses on a call to a real HTTP server (started here on
//! 127.0.0.1), the host awaits it, delivers the answer, and the filter resumes or answers.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use weir_core::plugin::HookKind;
use weir_plugin_wasm::{WasmDriver, WasmOptions};

/// An authorisation service: `/check?key=good` → 200 "user-42", anything else → 401.
async fn authz() -> String {
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
                        let ok = req.uri().query() == Some("key=good")
                            && req.headers()["host"] == "authz";
                        let (code, body) = if ok { (200, "user-42") } else { (401, "no") };
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(code)
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_paused_filter_resumes_after_its_http_call() {
    let base = authz().await;
    let d = WasmDriver::new(WasmOptions {
        upstreams: HashMap::from([("authz".to_string(), base)]),
        ..WasmOptions::default()
    })
    .unwrap();
    let p = load(
        &d,
        &[(HookKind::Pre, "callout", &wasm("http_callout"))],
        None,
    );

    let mut ctx = request(HookKind::Pre, "callout", &[("x-api-key", "good")], "");
    p.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-authz"), Some("user-42"));
    assert_eq!(ctx.request.return_overrides.response_code, -1);

    let mut ctx = request(HookKind::Pre, "callout", &[("x-api-key", "bad")], "");
    p.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 403);
    assert_eq!(o.response_body, "denied by authz");
    assert!(o.headers.contains(&("x-authz-status".into(), "401".into())));
}

#[tokio::test]
async fn calls_to_unknown_or_unreachable_upstreams_fail_cleanly() {
    // No allow-listed upstreams: the host refuses the call and the filter answers 500.
    let d = WasmDriver::new(WasmOptions::default()).unwrap();
    let p = load(
        &d,
        &[(HookKind::Pre, "callout", &wasm("http_callout"))],
        None,
    );
    let mut ctx = request(HookKind::Pre, "callout", &[("x-api-key", "good")], "");
    p.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.return_overrides.response_code, 500);
    assert_eq!(
        ctx.request.return_overrides.response_body,
        "callout failed: BadArgument"
    );

    // An allow-listed upstream nobody listens on: the filter sees a failed call (no headers).
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let d = WasmDriver::new(WasmOptions {
        upstreams: HashMap::from([("authz".to_string(), base)]),
        ..WasmOptions::default()
    })
    .unwrap();
    let p = load(
        &d,
        &[(HookKind::Pre, "callout", &wasm("http_callout"))],
        None,
    );
    let mut ctx = request(HookKind::Pre, "callout", &[("x-api-key", "good")], "");
    p.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.return_overrides.response_code, 403);
    assert!(
        ctx.request
            .return_overrides
            .headers
            .contains(&("x-authz-status".into(), "none".into()))
    );
}

#[test]
fn https_upstreams_are_refused_up_front() {
    let err = WasmDriver::new(WasmOptions {
        upstreams: HashMap::from([("a".to_string(), "https://example.invalid".to_string())]),
        ..WasmOptions::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("must be http://host:port"), "{err}");
}
