//! The Tyk API: request, auth, post, response and stream hooks, bundles, the store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use weir_core::plugin::{
    GrpcMessage, HookKind, HookResponse, MessageDirection, MessageVerdict, Session,
};

use super::{api, load, options, request, write};

#[tokio::test]
async fn a_tyk_plugin_changes_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mw.py",
        r#"
import json
from tyk.decorators import *
from gateway import TykGateway as tyk

@Hook
def MyPre(request, session, spec):
    tyk.log("MyPre called", "info")
    cfg = json.loads(spec["config_data"])
    request.add_header("X-Python", "yes")
    request.delete_header("X-Drop")
    request.object.set_headers["X-Seen"] = "|".join([
        request.get_header("User-Agent"), request.get_header("user-agent"),
        request.object.params["b"], request.object.method, spec["APIID"], cfg["greeting"]])
    request.add_param("c", "3")
    request.delete_param("a")
    request.object.body = request.object.body + " world"
    return request, session

def Plain(request, session, spec):
    request.object.url = "/api1/other"
    request.object.method = "POST"
    return request, session
"#,
    );
    let plugin = load(
        options(1000, 1),
        &[(HookKind::Pre, "MyPre"), (HookKind::Post, "Plain")],
        &file,
    );
    let mut ctx = request(HookKind::Pre, "MyPre");
    plugin.call(&mut ctx).await.unwrap();
    let h = &ctx.request.headers;
    assert_eq!(h.get("x-python").unwrap(), "yes");
    assert_eq!(h.get("x-seen").unwrap(), "curl/8|curl/8|2|GET|api1|hi");
    assert!(h.get("x-drop").is_none());
    assert_eq!(ctx.request.url, "/api1/items?b=2&c=3");
    assert_eq!(ctx.request.body.as_ref(), b"hello world");
    assert_eq!(ctx.request.return_overrides.response_code, -1);
    assert!(
        ctx.session.is_none(),
        "a pre hook that leaves the session makes none"
    );

    let mut ctx = request(HookKind::Post, "Plain");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(
        (ctx.request.url.as_str(), ctx.request.method.as_str()),
        ("/api1/other", "POST")
    );
    assert_eq!(ctx.request.body.as_ref(), b"hello", "body untouched");
}

#[tokio::test]
async fn return_overrides_answer_instead_of_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "deny.py",
        r#"
from tyk.decorators import *

@Pre
def Deny(request, session, spec):
    request.object.return_overrides.response_code = 403
    request.object.return_overrides.response_error = "go away"
    request.object.return_overrides.headers["X-Reason"] = "python"
    return request, session
"#,
    );
    let plugin = load(options(1000, 1), &[(HookKind::Pre, "Deny")], &file);
    let mut ctx = request(HookKind::Pre, "Deny");
    plugin.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 403);
    assert_eq!(o.response_error, "go away");
    assert_eq!(o.response_body, "go away");
    assert_eq!(
        o.headers,
        vec![("X-Reason".to_owned(), "python".to_owned())]
    );
    assert!(!o.override_error);
}

#[tokio::test]
async fn auth_hook_makes_a_session_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "auth.py",
        r#"
from tyk.decorators import *

@Hook
def MyAuth(request, session, metadata, spec):
    token = request.get_header("Authorization")
    if token == "key-1":
        session.rate = 10.0
        session.per = 1.0
        session.quota_max = -1
        session.metadata["plan"] = "gold"
        metadata["token"] = token
    return request, session, metadata

@CustomKeyCheck
def SessionToken(request, session, metadata, spec):
    session.metadata["token"] = "from-session"
    return request, session, metadata
"#,
    );
    let plugin = load(
        options(1000, 1),
        &[
            (HookKind::CustomAuth, "MyAuth"),
            (HookKind::CustomAuth, "SessionToken"),
        ],
        &file,
    );
    let mut ctx = request(HookKind::CustomAuth, "MyAuth");
    ctx.request
        .headers
        .insert("authorization", HeaderValue::from_static("key-1"));
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.metadata.get("token").map(String::as_str), Some("key-1"));
    let session: &Session = ctx.session.as_ref().unwrap();
    assert_eq!(
        (session.rate, session.per, session.quota_max),
        (10.0, 1.0, -1)
    );
    assert_eq!(session.metadata["plan"], "gold");

    let mut ctx = request(HookKind::CustomAuth, "MyAuth");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.metadata.get("token"), None, "a wrong key gets no token");

    let mut ctx = request(HookKind::CustomAuth, "SessionToken");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.metadata["token"], "from-session");
}

#[tokio::test]
async fn post_hooks_see_and_change_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "post.py",
        r#"
from tyk.decorators import *

@Hook
def Tag(request, session, spec):
    request.add_header("X-Plan", session.metadata.get("plan", "none"))
    request.add_header("X-Rate", str(session.rate))
    session.metadata["seen"] = "yes"
    return request, session
"#,
    );
    let plugin = load(options(1000, 1), &[(HookKind::Post, "Tag")], &file);
    let mut ctx = request(HookKind::Post, "Tag");
    let mut session = Session {
        rate: 5.0,
        alias: "me".into(),
        ..Default::default()
    };
    session.metadata.insert("plan".into(), "silver".into());
    ctx.session = Some(session);
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers["x-plan"], "silver");
    assert_eq!(ctx.request.headers["x-rate"], "5.0");
    let s = ctx.session.unwrap();
    assert_eq!((s.alias.as_str(), s.rate), ("me", 5.0));
    assert_eq!(s.metadata["seen"], "yes");
}

#[tokio::test]
async fn response_hooks_change_status_headers_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "resp.py",
        r#"
from tyk.decorators import *

@Hook
def OnResponse(request, response, session, metadata, spec):
    response.headers["X-Upstream-Status"] = str(response.status_code)
    response.status_code = 201
    response.raw_body = response.raw_body.upper()
    return response
"#,
    );
    let plugin = load(
        options(1000, 1),
        &[(HookKind::Response, "OnResponse")],
        &file,
    );
    let mut ctx = request(HookKind::Response, "OnResponse");
    let mut headers = HeaderMap::new();
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    headers.insert("content-length", HeaderValue::from_static("5"));
    ctx.response = Some(HookResponse {
        status: 200,
        headers,
        body: Bytes::from_static(b"hello"),
    });
    plugin.call(&mut ctx).await.unwrap();
    let r = ctx.response.unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.body.as_ref(), b"HELLO");
    assert_eq!(r.headers["x-upstream-status"], "200");
    assert_eq!(
        r.headers.get_all("set-cookie").iter().count(),
        2,
        "multi-values kept"
    );
}

#[tokio::test]
async fn a_bundle_directory_loads_middleware_py_with_its_helpers_and_vendor() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    write(
        &bundle,
        "middleware.py",
        r#"
from tyk.decorators import *
import helpers
import vendored_lib

@Hook
def Pre(request, session, spec):
    request.add_header("X-Helper", helpers.VALUE + "/" + vendored_lib.NAME)
    return request, session
"#,
    );
    write(&bundle, "helpers.py", "VALUE = 'bundle-a'\n");
    write(
        &bundle,
        "vendor/vendored_lib/__init__.py",
        "NAME = 'vendored'\n",
    );
    // A second bundle with a helper of the same name gets its own.
    let other = dir.path().join("other");
    write(
        &other,
        "middleware.py",
        "import helpers\ndef Pre(request, session, spec):\n    request.add_header('X-Helper', helpers.VALUE)\n    return request, session\n",
    );
    write(&other, "helpers.py", "VALUE = 'bundle-b'\n");
    let a = load(options(1000, 1), &[(HookKind::Pre, "Pre")], &bundle);
    let b = load(options(1000, 1), &[(HookKind::Pre, "Pre")], &other);
    let mut ctx = request(HookKind::Pre, "Pre");
    a.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers["x-helper"], "bundle-a/vendored");
    let mut ctx = request(HookKind::Pre, "Pre");
    b.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers["x-helper"], "bundle-b");
}

#[tokio::test]
async fn a_bundle_of_one_file_uses_that_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "plugin.py",
        "def Pre(request, session, spec):\n    request.add_header('X-One', 'file')\n    return request, session\n",
    );
    let plugin = load(options(1000, 1), &[(HookKind::Pre, "Pre")], dir.path());
    let mut ctx = request(HookKind::Pre, "Pre");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers["x-one"], "file");
}

#[tokio::test]
async fn the_gateway_store_is_shared_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let writer = write(
        dir.path(),
        "writer.py",
        r#"
from gateway import TykGateway as tyk
def Put(request, session, spec):
    tyk.store_data("py-test-key", request.get_header("X-Value"), 1)
    tyk.store_data("py-test-bytes", b"\x00\x01", 0)
    return request, session
"#,
    );
    let reader = write(
        dir.path(),
        "reader.py",
        r#"
from gateway import TykGateway as tyk
def Get(request, session, spec):
    request.add_header("X-Got", repr(tyk.get_data("py-test-key")) + repr(tyk.get_data("py-test-bytes")))
    return request, session
"#,
    );
    let w = load(options(1000, 1), &[(HookKind::Pre, "Put")], &writer);
    let r = load(options(1000, 1), &[(HookKind::Pre, "Get")], &reader);
    let mut ctx = request(HookKind::Pre, "Put");
    ctx.request
        .headers
        .insert("x-value", HeaderValue::from_static("v1"));
    w.call(&mut ctx).await.unwrap();
    let mut ctx = request(HookKind::Pre, "Get");
    r.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers["x-got"], r"'v1'b'\x00\x01'");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut ctx = request(HookKind::Pre, "Get");
    r.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers["x-got"], r"Noneb'\x00\x01'");
}

fn grpc_message(hook: &str, payload: &'static [u8], index: u64) -> GrpcMessage {
    let mut headers = HeaderMap::new();
    headers.insert("x-tag", HeaderValue::from_static("t1"));
    GrpcMessage {
        hook: hook.into(),
        direction: MessageDirection::FromUpstream,
        method: "/vision.VisionService/StreamDetections".into(),
        payload: Bytes::from_static(payload),
        index,
        headers: Arc::new(headers),
        session: None,
        spec: api(),
    }
}

#[tokio::test]
async fn stream_hooks_pass_replace_drop_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "stream.py",
        r#"
from tyk.decorators import *

@Hook
def OnMessage(message, session, spec):
    if message.payload == b"drop":
        return None
    if message.payload == b"stop":
        return {"grpc_status": 7, "grpc_message": "denied at " + str(message.index)}
    if message.payload == b"keep":
        return message
    message.payload = message.payload + b"|" + message.headers["X-Tag"].encode() + b"|" + message.direction.encode()
    return message
"#,
    );
    let plugin = load(
        options(1000, 2),
        &[(HookKind::GrpcMessage, "OnMessage")],
        &file,
    );
    let mut msg = grpc_message("OnMessage", b"abc", 0);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(msg.payload.as_ref(), b"abc|t1|from_upstream");
    let mut msg = grpc_message("OnMessage", b"keep", 1);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Pass
    );
    assert_eq!(msg.payload.as_ref(), b"keep");
    let mut msg = grpc_message("OnMessage", b"drop", 2);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::Drop
    );
    let mut msg = grpc_message("OnMessage", b"stop", 3);
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await.unwrap(),
        MessageVerdict::End {
            code: 7,
            message: "denied at 3".into()
        }
    );
}
