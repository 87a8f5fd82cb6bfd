//! The driver against the real Python plugin server (examples/plugins/grpc-python), over TCP
//! and a Unix socket: every hook, applied to real hook contexts.

mod common;

use std::time::{Duration, Instant};

use common::{Lang, PluginServer, auth_check, ctx, header, load, response_ctx};
use serde_json::json;
use weir_core::plugin::{HookKind, PluginError, Session};

async fn python() -> PluginServer {
    PluginServer::start(Lang::Python, "127.0.0.1:0").await
}

#[tokio::test]
async fn pre_hook_changes_headers_params_and_sees_the_object() {
    let server = python().await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(
        HookKind::Pre,
        "MyPreHook",
        "/api/get?q=hello&remove_me=1&other=a%2Fb",
        &[("host", "gw.test"), ("x-remove", "bye"), ("x-keep", "k")],
        b"hello body",
    );
    // Even when one exists, pre hooks are not sent the session (as in Tyk).
    c.session = Some(Session::default());
    plugin.call(&mut c).await.unwrap();

    assert_eq!(header(&c, "x-pre"), "done");
    assert!(c.request.headers.get("x-remove").is_none());
    assert_eq!(header(&c, "x-keep"), "k");
    assert_eq!(c.request.url, "/api/get?q=hello&other=a%2Fb&added=yes");
    assert_eq!(c.request.method, "POST");
    assert_eq!(&c.request.body[..], b"hello body");
    // What the server saw: canonical header names, first param values, spec, sentinel.
    assert_eq!(header(&c, "x-seen-host"), "gw.test");
    assert_eq!(header(&c, "x-seen-param"), "hello");
    assert_eq!(header(&c, "x-seen-body"), "hello body");
    assert_eq!(header(&c, "x-seen-raw-len"), "10");
    assert_eq!(header(&c, "x-seen-hook-type"), "Pre");
    assert_eq!(header(&c, "x-seen-api"), "api1");
    assert_eq!(header(&c, "x-seen-config"), r#"{"greeting":"hi"}"#);
    assert_eq!(header(&c, "x-seen-override"), "-1");
    assert_eq!(header(&c, "x-seen-session"), "no");
    assert_eq!(header(&c, "x-seen-method"), "POST");
    assert_eq!(
        header(&c, "x-seen-uri"),
        "/api/get?q=hello&remove_me=1&other=a%2Fb"
    );
    assert_eq!(header(&c, "x-seen-scheme"), "http");
    assert_eq!(c.request.return_overrides.response_code, -1);
    assert_eq!(c.session, Some(Session::default()));
}

#[tokio::test]
async fn body_string_only_for_utf8_without_raw_body_only() {
    let server = python().await;
    let driver = server.driver();
    let raw_only = load(&driver, HookKind::Pre, "MyPreHook", true);
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"text");
    raw_only.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-seen-body"), "");
    assert_eq!(header(&c, "x-seen-raw-len"), "4");
    assert_eq!(&c.request.body[..], b"text");

    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let binary = [0xff, 0xfe, 0x00, 0x80];
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], &binary);
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-seen-body"), "");
    assert_eq!(header(&c, "x-seen-raw-len"), "4");
    assert_eq!(&c.request.body[..], &binary);
}

#[tokio::test]
async fn post_hook_rewrites_url_method_body_and_session() {
    let server = python().await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Post, "MyPostHook", false);
    let mut c = ctx(
        HookKind::Post,
        "MyPostHook",
        "/api/anything?drop=1",
        &[("content-length", "8")],
        b"old body",
    );
    let session: Session = serde_json::from_value(json!({
        "rate": 10.0, "per": 1.0, "quota_max": 100,
        "meta_data": {"user": "bob", "level": 3},
        "access_rights": {"api1": {"api_id": "api1", "limit": {"rate": 1}}}
    }))
    .unwrap();
    c.session = Some(session);
    plugin.call(&mut c).await.unwrap();

    assert_eq!(c.request.url, "/rewritten/path?kept=1");
    assert_eq!(c.request.method, "PUT");
    assert_eq!(&c.request.body[..], b"new body"); // raw_body wins over body
    assert_eq!(header(&c, "content-length"), "8");
    assert_eq!(header(&c, "x-seen-session-rate"), "10.0");
    assert_eq!(header(&c, "x-seen-meta-user"), "bob");
    assert_eq!(header(&c, "x-seen-meta-level"), "3");
    let s = c.session.as_ref().unwrap();
    assert_eq!(s.quota_max, 555);
    assert_eq!(s.rate, 10.0);
    assert_eq!(s.metadata["seen_by"], json!("MyPostHook"));
    assert_eq!(
        s.metadata["level"],
        json!(3),
        "unchanged values keep their JSON type"
    );
    assert_eq!(s.extra["access_rights"]["api1"]["limit"]["rate"], json!(1));
    assert_eq!(c.metadata["post"], "ran");
}

#[tokio::test]
async fn auth_check_accepts_good_token_and_rejects_others() {
    let server = python().await;
    auth_check(&server, "Not authorised by the plugin").await;
}

#[tokio::test]
async fn short_circuits() {
    let server = python().await;
    let driver = server.driver();

    let plugin = load(&driver, HookKind::Pre, "MyShortCircuit", false);
    let mut c = ctx(HookKind::Pre, "MyShortCircuit", "/x", &[], b"");
    plugin.call(&mut c).await.unwrap();
    let o = &c.request.return_overrides;
    assert_eq!(o.response_code, 200);
    assert_eq!(o.response_body, "short-circuited");
    assert_eq!(
        o.headers,
        vec![("X-Short".to_string(), "circuit".to_string())]
    );

    let plugin = load(&driver, HookKind::Pre, "MyShortCircuitTeapot", false);
    let mut c = ctx(HookKind::Pre, "MyShortCircuitTeapot", "/x", &[], b"");
    plugin.call(&mut c).await.unwrap();
    let o = &c.request.return_overrides;
    assert_eq!(o.response_code, 418);
    assert!(o.override_error);
    assert_eq!(o.response_body, "I'm a teapot");

    let plugin = load(&driver, HookKind::Pre, "MyShortCircuitDenied", false);
    let mut c = ctx(HookKind::Pre, "MyShortCircuitDenied", "/x", &[], b"");
    plugin.call(&mut c).await.unwrap();
    let o = &c.request.return_overrides;
    assert_eq!(o.response_code, 401);
    assert!(!o.override_error);
    assert_eq!(o.response_error, "denied by plugin");
    assert_eq!(o.response_body, "denied by plugin");
}

#[tokio::test]
async fn response_hook_rewrites_headers_body_and_status() {
    let server = python().await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Response, "MyResponseHook", false);
    let mut c = response_ctx(
        "MyResponseHook",
        200,
        &[
            ("content-type", "text/plain"),
            ("x-drop", "gone"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-length", "8"),
        ],
        b"upstream",
    );
    plugin.call(&mut c).await.unwrap();
    let r = c.response.as_ref().unwrap();
    assert_eq!(r.status, 202);
    assert_eq!(&r.body[..], b"rewritten: upstream");
    assert_eq!(r.headers["x-resp"], "added");
    assert!(r.headers.get("x-drop").is_none());
    assert_eq!(r.headers["content-type"], "text/plain");
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(
        cookies,
        ["a=1", "b=2"],
        "untouched multi-value headers survive"
    );
    assert_eq!(r.headers["content-length"], "19");
}

#[tokio::test]
async fn garbage_and_bad_urls_are_bad_replies() {
    let server = python().await;
    let driver = server.driver();

    let plugin = load(&driver, HookKind::Response, "Garbage", false);
    let mut c = response_ctx("Garbage", 200, &[], b"x");
    let err = plugin.call(&mut c).await.unwrap_err();
    assert!(matches!(err, PluginError::BadReply { .. }), "{err:?}");
    assert_eq!(c.response.as_ref().unwrap().status, 200, "left untouched");

    let plugin = load(&driver, HookKind::Pre, "Garbage", false);
    let mut c = ctx(HookKind::Pre, "Garbage", "/x", &[], b"");
    let err = plugin.call(&mut c).await.unwrap_err();
    assert!(matches!(err, PluginError::BadReply { .. }), "{err:?}");

    let plugin = load(&driver, HookKind::Pre, "BadUrl", false);
    let mut c = ctx(HookKind::Pre, "BadUrl", "/x", &[], b"");
    let err = plugin.call(&mut c).await.unwrap_err();
    let PluginError::BadReply { hook, reason } = err else {
        panic!("expected BadReply, got {err:?}");
    };
    assert_eq!(hook, "BadUrl");
    assert!(reason.contains("not a url"), "{reason}");
}

#[tokio::test]
async fn slow_hook_hits_the_callers_deadline_and_others_still_run() {
    let server = python().await;
    let driver = server.driver();
    let slow = load(&driver, HookKind::Pre, "Slow", false);
    let mut c = ctx(HookKind::Pre, "Slow", "/x", &[], b"");
    let started = Instant::now();
    let res = tokio::time::timeout(Duration::from_millis(500), slow.call(&mut c)).await;
    assert!(res.is_err(), "the deadline should fire, got {res:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let pre = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(HookKind::Pre, "MyPreHook", "/x", &[], b"");
    pre.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-pre"), "done");
}

#[tokio::test]
async fn unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("plugin.sock");
    let server = PluginServer::start(Lang::Python, &format!("unix:{}", sock.display())).await;
    assert!(server.tyk_address().starts_with("unix:///"));
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Pre, "MyPreHook", false);
    let mut c = ctx(
        HookKind::Pre,
        "MyPreHook",
        "/u?q=1",
        &[("host", "sock.test")],
        b"",
    );
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-pre"), "done");
    assert_eq!(header(&c, "x-seen-host"), "sock.test");
    assert_eq!(c.request.url, "/u?q=1&added=yes");
    auth_check(&server, "Not authorised by the plugin").await;
}

#[tokio::test]
async fn dispatch_event_reaches_the_server() {
    let server = python().await;
    let driver = server.driver();
    let payload = json!({
        "message": {"Type": "AuthFailure", "Meta": {}, "TimeStamp": "now"},
        "handler_name": "MyHandler",
        "spec": {"APIID": "api1", "OrgID": "org1"}
    });
    driver.dispatch_event(payload.to_string()).await.unwrap();
    let plugin = load(&driver, HookKind::Pre, "LastEvent", false);
    let mut c = ctx(HookKind::Pre, "LastEvent", "/x", &[], b"");
    plugin.call(&mut c).await.unwrap();
    assert_eq!(header(&c, "x-last-event"), "MyHandler");
}

#[tokio::test]
async fn unknown_hooks_pass_through_unchanged() {
    let server = python().await;
    let driver = server.driver();
    let plugin = load(&driver, HookKind::Post, "NotImplementedHere", false);
    let mut c = ctx(
        HookKind::Post,
        "NotImplementedHere",
        "/a?b=c",
        &[("x-a", "1")],
        b"body",
    );
    let before = c.clone();
    plugin.call(&mut c).await.unwrap();
    assert_eq!(c.request.url, before.request.url);
    assert_eq!(c.request.method, before.request.method);
    assert_eq!(c.request.headers, before.request.headers);
    assert_eq!(c.request.body, before.request.body);
    assert_eq!(c.request.return_overrides, before.request.return_overrides);
}
