//! The Tyk globals: base64, `TykMakeHttpRequest` against a real local server, key access
//! through an installed [`KeyAccess`], and the refusals.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use weir_core::plugin::{Driver, HookContext, HookKind, PluginError};

use crate::tests::{api, load, options, spec_with, write};
use crate::{JsDriver, KeyAccess};

fn ctx(name: &str) -> HookContext {
    let mut ctx = HookContext::blank(HookKind::Pre, api());
    ctx.name = name.into();
    ctx.request.method = "GET".into();
    ctx.request.url = "/api1/x".into();
    ctx.request
        .headers
        .insert("host", HeaderValue::from_static("gw"));
    ctx
}

#[tokio::test]
async fn base64_helpers_behave_as_tyks() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "b64.js",
        r#"
var b = new TykJS.TykMiddleware.NewMiddleware({});
b.NewProcessRequest(function(request) {
  log("b64 test running");
  rawlog("raw line");
  request.SetHeaders["X-Enc"] = b64enc("hi?");
  request.SetHeaders["X-Raw-Enc"] = rawb64enc("hi?");
  request.SetHeaders["X-Dec"] = b64dec("aGk/") + "," + b64dec("aGk") + "," + rawb64dec("aGk/");
  request.SetHeaders["X-Bad"] = String(b64dec("***"));
  return b.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "b")], &file);
    let mut c = ctx("b");
    plugin.call(&mut c).await.unwrap();
    let h = &c.request.headers;
    assert_eq!(h["x-enc"], "aGk/");
    assert_eq!(h["x-raw-enc"], "aGk/");
    assert_eq!(h["x-dec"], "hi?,hi,hi?");
    assert_eq!(h["x-bad"], "undefined");
}

/// A one-shot HTTP/1.1 server: answers one request and hands back what it received.
fn one_shot_server() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let reply = "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        conn.write_all(reply.as_bytes()).unwrap();
        format!("{head}\n{}", String::from_utf8_lossy(&body))
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn tyk_make_http_request_calls_out_and_answers_tyks_shape() {
    let (base, server) = one_shot_server();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "http.js",
        r#"
var call = new TykJS.TykMiddleware.NewMiddleware({});
call.NewProcessRequest(function(request, session, config) {
  var out = TykMakeHttpRequest(JSON.stringify({
    Method: "POST", Domain: config.config_data.base, Resource: "/hook?x=1",
    Headers: {"X-From": "js"}, FormData: {b: "2 3", a: "1"}}));
  var resp = JSON.parse(out);
  request.SetHeaders["X-Result"] = [resp.Code, resp.code, resp.Body, resp.body,
    resp.Headers["Content-Type"][0], resp.Headers["X-Multi"].join("+")].join("|");
  request.SetHeaders["X-Fail"] = String(TykMakeHttpRequest(JSON.stringify({
    Method: "GET", Domain: "http://127.0.0.1:1", Resource: "/"})));
  return call.ReturnData(request, {});
});
"#,
    );
    let mut spec = spec_with(&[(HookKind::Pre, "call", false)], &file);
    let mut info = (*spec.api).clone();
    info.config_data = Some(serde_json::json!({ "base": base }).to_string());
    spec.api = Arc::new(info.clone());
    let plugin = JsDriver::new(options(5000, 16 << 20)).load(&spec).unwrap();
    let mut c = ctx("call");
    c.spec = Arc::new(info);
    plugin.call(&mut c).await.unwrap();
    assert_eq!(
        c.request.headers["x-result"],
        "201|201|hello|hello|text/plain|a+b"
    );
    assert_eq!(c.request.headers["x-fail"], "undefined");
    let seen = server.join().unwrap();
    assert!(seen.starts_with("POST /hook?x=1 HTTP/1.1"), "{seen}");
    assert!(seen.to_ascii_lowercase().contains("x-from: js"), "{seen}");
    assert!(seen.ends_with("\na=1&b=2+3"), "{seen}");
}

/// Keys in memory, as the gateway's key store would answer.
#[derive(Default)]
struct Keys(Mutex<BTreeMap<String, serde_json::Value>>);

impl KeyAccess for Keys {
    fn get(&self, key: &str, _api_id: &str) -> Option<serde_json::Value> {
        self.0.lock().unwrap().get(key).cloned()
    }

    fn set(&self, key: &str, session: serde_json::Value) -> Result<(), String> {
        if key.is_empty() {
            return Err("empty key".into());
        }
        self.0.lock().unwrap().insert(key.into(), session);
        Ok(())
    }
}

const KEYS_JS: &str = r#"
var k = new TykJS.TykMiddleware.NewMiddleware({});
k.NewProcessRequest(function(request, session, config) {
  var before = JSON.parse(TykGetKeyData("abc", config.APIID));
  TykSetKeyData("abc", JSON.stringify({rate: 5, per: 1, meta_data: {who: "js"}}), "1");
  var after = JSON.parse(TykGetKeyData("abc", config.APIID));
  request.SetHeaders["X-Keys"] = before.message + "|" + after.rate + "|" + after.meta_data.who;
  return k.ReturnData(request, {});
});
"#;

#[tokio::test]
async fn key_data_goes_through_the_installed_key_access() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "keys.js", KEYS_JS);
    let spec = spec_with(&[(HookKind::Pre, "k", false)], &file);
    let driver = JsDriver::new(options(1000, 16 << 20));

    let bare = driver.load(&spec).unwrap();
    let mut c = ctx("k");
    match bare.call(&mut c).await {
        Err(PluginError::Crashed { reason, .. }) => {
            assert!(reason.contains("key access is not configured"), "{reason}")
        }
        other => panic!("expected a crash, got {other:?}"),
    }

    let keys = Arc::new(Keys::default());
    driver.set_key_access(Some(keys.clone()));
    let plugin = driver.load(&spec).unwrap();
    let mut c = ctx("k");
    plugin.call(&mut c).await.unwrap();
    assert_eq!(c.request.headers["x-keys"], "Key not found|5|js");
    assert_eq!(keys.0.lock().unwrap()["abc"]["rate"], 5);
}

#[tokio::test]
async fn batch_requests_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "batch.js",
        r#"
var batch = new TykJS.TykMiddleware.NewMiddleware({});
batch.NewProcessRequest(function(request) {
  TykBatchRequest(JSON.stringify({requests: []}));
  return batch.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "batch")], &file);
    let mut c = ctx("batch");
    match plugin.call(&mut c).await {
        Err(PluginError::Crashed { reason, .. }) => {
            assert!(
                reason.contains("TykBatchRequest is not supported"),
                "{reason}"
            )
        }
        other => panic!("expected a crash, got {other:?}"),
    }
}

const VIRTUAL: &str = r#"
function myVirtualHandler(request, session, config) {
  if (request.Params["fail"]) { throw new Error("virtual boom"); }
  var responseObject = {
    Body: JSON.stringify({url: request.URL, who: request.Params["who"], form: request.Params["f"],
                          ua: request.Headers["User-Agent"][0], body: request.Body,
                          plan: session.meta_data.plan, api: config.APIID}),
    Headers: {"X-Virtual": "yes"},
    Code: 202
  };
  return TykJsResponse(responseObject, {plan: "updated"});
}
"#;

#[tokio::test]
async fn virtual_endpoints_answer_from_a_file_or_a_blob() {
    use base64::Engine as _;

    use weir_core::virtual_endpoint::{VirtualCode, VirtualRequest};
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "virtual.js", VIRTUAL);
    let driver = JsDriver::new(options(1000, 16 << 20));
    let blob = base64::engine::general_purpose::STANDARD.encode(VIRTUAL);
    for source in [VirtualCode::File(file), VirtualCode::Blob(blob)] {
        let endpoint = driver
            .load_virtual(api(), &source, "myVirtualHandler", None)
            .unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("user-agent", HeaderValue::from_static("curl/8"));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let mut session = weir_core::plugin::Session::default();
        session.metadata.insert("plan".into(), "gold".into());
        let req = VirtualRequest {
            url: "/api1/v?who=ann".into(),
            scheme: "http".into(),
            headers,
            body: bytes::Bytes::from_static(b"f=1&f=2"),
            session: Some(session),
        };
        let out = endpoint.call(req.clone()).await.unwrap();
        assert_eq!(out.status, 202);
        assert_eq!(
            out.headers,
            vec![("X-Virtual".to_owned(), "yes".to_owned())]
        );
        let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"url": "/api1/v?who=ann", "who": ["ann"], "form": ["1", "2"],
                "ua": "curl/8", "body": "f=1&f=2", "plan": "gold", "api": "api1"})
        );
        assert_eq!(out.session_meta.unwrap()["plan"], "updated");

        let failing = VirtualRequest {
            url: "/api1/v?fail=1".into(),
            ..req
        };
        let err = endpoint.call(failing).await.unwrap_err();
        assert!(
            matches!(&err, PluginError::Crashed { reason, .. } if reason.contains("virtual boom")),
            "{err:?}"
        );
    }
    let missing = driver.load_virtual(
        api(),
        &VirtualCode::Blob(base64::engine::general_purpose::STANDARD.encode("var x = 1;")),
        "myVirtualHandler",
        None,
    );
    assert!(
        missing
            .err()
            .unwrap()
            .to_string()
            .contains("myVirtualHandler")
    );
}
