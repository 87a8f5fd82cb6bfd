//! Driver tests: real JS files in a temp dir, loaded and called through the driver traits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use weir_core::plugin::{
    ApiSpecInfo, Driver, HookContext, HookDecl, HookKind, HookResponse, LoadedPlugin, PluginSpec,
    Session,
};

use crate::{JsDriver, JsDriverOptions};

pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn api() -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: "org1".into(),
        api_id: "api1".into(),
        config_data: Some(r#"{"greeting":"hi"}"#.into()),
        bundle_hash: None,
    })
}

pub(crate) fn spec_with(hooks: &[(HookKind, &str, bool)], path: &Path) -> PluginSpec {
    PluginSpec {
        driver: "otto".into(),
        hooks: hooks
            .iter()
            .map(|(kind, name, require_session)| HookDecl {
                kind: *kind,
                name: (*name).into(),
                path: Some(path.to_owned()),
                raw_body_only: false,
                require_session: *require_session,
            })
            .collect(),
        api: api(),
        config_data: serde_json::Value::Null,
        file: "apps/api1.json".into(),
        timeout: None,
    }
}

pub(crate) fn options(deadline_ms: u64, memory: usize) -> JsDriverOptions {
    JsDriverOptions {
        enabled: true,
        default_timeout: Duration::from_millis(deadline_ms),
        memory_limit: memory,
        threads: 1,
    }
}

pub(crate) fn load(
    opts: JsDriverOptions,
    hooks: &[(HookKind, &str)],
    path: &Path,
) -> Arc<dyn LoadedPlugin> {
    let hooks: Vec<(HookKind, &str, bool)> = hooks.iter().map(|(k, n)| (*k, *n, false)).collect();
    JsDriver::new(opts).load(&spec_with(&hooks, path)).unwrap()
}

pub(crate) fn request(kind: HookKind, name: &str) -> HookContext {
    let mut ctx = HookContext::blank(kind, api());
    ctx.name = name.into();
    ctx.request.method = "GET".into();
    ctx.request.url = "/api1/items?a=1&b=2".into();
    ctx.request.request_uri = ctx.request.url.clone();
    ctx.request.scheme = "http".into();
    let h = &mut ctx.request.headers;
    h.insert("host", HeaderValue::from_static("gw.example"));
    h.insert("user-agent", HeaderValue::from_static("curl/8"));
    h.insert("x-drop", HeaderValue::from_static("1"));
    ctx.request.body = Bytes::from_static(b"hello");
    ctx
}

#[tokio::test]
async fn tyk_middleware_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mw.js",
        r#"
var mw = new TykJS.TykMiddleware.NewMiddleware({});
mw.NewProcessRequest(function(request, session, config) {
  request.SetHeaders["X-Js"] = "yes";
  request.DeleteHeaders.push("X-Drop");
  request.SetHeaders["X-Seen"] = [request.Headers["User-Agent"][0], request.Headers["Host"][0],
    request.Params["b"][0], request.Method, request.RequestURI, request.Scheme,
    config.APIID, config.OrgID, config.config_data.greeting].join("|");
  request.AddParams["c"] = "3";
  request.DeleteParams.push("a");
  request.ExtendedParams["e"] = ["x", "y"];
  request.Body = request.Body + " world";
  return mw.ReturnData(request, session.meta_data);
});
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "mw")], &file);
    let mut ctx = request(HookKind::Pre, "mw");
    plugin.call(&mut ctx).await.unwrap();
    let h = &ctx.request.headers;
    assert_eq!(h.get("x-js").unwrap(), "yes");
    assert_eq!(
        h.get("x-seen").unwrap(),
        "curl/8|gw.example|2|GET|/api1/items?a=1&b=2|http|api1|org1|hi"
    );
    assert!(h.get("x-drop").is_none());
    assert_eq!(ctx.request.url, "/api1/items?b=2&c=3&e=x&e=y");
    assert_eq!(ctx.request.body.as_ref(), b"hello world");
    assert_eq!(ctx.request.return_overrides.response_code, -1);
    assert!(ctx.session.is_none());
}

#[tokio::test]
async fn url_method_and_ignore_body() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "rw.js",
        r#"
var rw = new TykJS.TykMiddleware.NewMiddleware({});
rw.NewProcessRequest(function(request, session, config) {
  request.URL = "/api1/other?q=1";
  request.Method = "POST";
  request.Body = "ignored";
  request.IgnoreBody = true;
  return rw.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Post, "rw")], &file);
    let mut ctx = request(HookKind::Post, "rw");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.url, "/api1/other?q=1");
    assert_eq!(ctx.request.method, "POST");
    assert_eq!(ctx.request.body.as_ref(), b"hello");
}

#[tokio::test]
async fn return_overrides_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "deny.js",
        r#"
var deny = new TykJS.TykMiddleware.NewMiddleware({});
deny.NewProcessRequest(function(request, session) {
  request.ReturnOverrides.ResponseCode = 418;
  request.ReturnOverrides.ResponseBody = "teapot";
  request.ReturnOverrides.ResponseHeaders = {"X-Reason": "js"};
  request.ReturnOverrides.OverrideError = true;
  return deny.ReturnData(request, {});
});
var err = new TykJS.TykMiddleware.NewMiddleware({});
err.NewProcessRequest(function(request, session) {
  request.ReturnOverrides.ResponseCode = 403;
  request.ReturnOverrides.ResponseError = "go away";
  return err.ReturnData(request, {});
});
"#,
    );
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::Pre, "deny"), (HookKind::Pre, "err")],
        &file,
    );
    let mut ctx = request(HookKind::Pre, "deny");
    plugin.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 418);
    assert_eq!(o.response_body, "teapot");
    assert_eq!(o.headers, vec![("X-Reason".to_owned(), "js".to_owned())]);
    assert!(o.override_error);

    let mut ctx = request(HookKind::Pre, "err");
    plugin.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(
        (o.response_code, o.response_error.as_str()),
        (403, "go away")
    );
    assert_eq!(o.response_body, "go away");
    assert!(!o.override_error);
}

fn session_with(meta: &[(&str, &str)]) -> Session {
    let mut s = Session {
        rate: 10.0,
        per: 1.0,
        ..Default::default()
    };
    for (k, v) in meta {
        s.metadata.insert((*k).into(), (*v).into());
    }
    s
}

#[tokio::test]
async fn session_meta_is_written_back_only_with_require_session() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "meta.js",
        r#"
var meta = new TykJS.TykMiddleware.NewMiddleware({});
meta.NewProcessRequest(function(request, session) {
  var m = session.meta_data;
  request.SetHeaders["X-Plan"] = m.plan;
  m.seen = "yes";
  return meta.ReturnData(request, m);
});
"#,
    );
    let with = JsDriver::new(options(1000, 16 << 20))
        .load(&spec_with(&[(HookKind::PostKeyAuth, "meta", true)], &file))
        .unwrap();
    let mut ctx = request(HookKind::PostKeyAuth, "meta");
    ctx.session = Some(session_with(&[("plan", "gold")]));
    with.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-plan").unwrap(), "gold");
    let m = &ctx.session.as_ref().unwrap().metadata;
    assert_eq!(m.get("seen").and_then(|v| v.as_str()), Some("yes"));
    assert_eq!(m.get("plan").and_then(|v| v.as_str()), Some("gold"));

    let without = load(
        options(1000, 16 << 20),
        &[(HookKind::PostKeyAuth, "meta")],
        &file,
    );
    let mut ctx = request(HookKind::PostKeyAuth, "meta");
    ctx.session = Some(session_with(&[("plan", "gold")]));
    without.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-plan").unwrap(), "gold");
    assert!(!ctx.session.as_ref().unwrap().metadata.contains_key("seen"));
}

#[tokio::test]
async fn auth_hook_makes_a_session_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "auth.js",
        r#"
var jsAuth = new TykJS.TykMiddleware.NewMiddleware({});
jsAuth.NewProcessRequest(function(request, session, config) {
  var token = request.Headers["Authorization"];
  if (token === undefined || token[0] !== "letmein") {
    request.ReturnOverrides.ResponseCode = 401;
    request.ReturnOverrides.ResponseError = "Not authorized (JS middleware)";
    return jsAuth.ReturnData(request, {});
  }
  var thisSession = {"rate": 100, "per": 1, "quota_max": -1, "access_rights": {},
                     "meta_data": {"user": "ann"}};
  var out = jsAuth.ReturnAuthData(request, thisSession);
  if (request.Params["keyed"]) { out.AuthValue = token[0]; }
  return out;
});
"#,
    );
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::CustomAuth, "jsAuth")],
        &file,
    );
    let mut ctx = request(HookKind::CustomAuth, "jsAuth");
    ctx.request
        .headers
        .insert("authorization", HeaderValue::from_static("letmein"));
    plugin.call(&mut ctx).await.unwrap();
    let session = ctx.session.as_ref().expect("a session");
    assert_eq!(
        (session.rate, session.per, session.quota_max),
        (100.0, 1.0, -1)
    );
    assert_eq!(session.metadata["user"], "ann");
    assert!(session.extra.contains_key("access_rights"));
    assert_eq!(ctx.metadata["token"], "jsvm-auth-jsAuth");

    let mut ctx = request(HookKind::CustomAuth, "jsAuth");
    ctx.request.url = "/api1/items?keyed=1".into();
    ctx.request
        .headers
        .insert("authorization", HeaderValue::from_static("letmein"));
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.metadata["token"], "letmein");

    let mut ctx = request(HookKind::CustomAuth, "jsAuth");
    plugin.call(&mut ctx).await.unwrap();
    assert!(ctx.session.is_none());
    assert!(!ctx.metadata.contains_key("token"));
    assert_eq!(ctx.request.return_overrides.response_code, 401);
    assert_eq!(
        ctx.request.return_overrides.response_error,
        "Not authorized (JS middleware)"
    );
}

#[tokio::test]
async fn response_hook_rewrites_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "resp.js",
        r#"
var resp = new TykJS.TykMiddleware.NewMiddleware({});
resp.NewProcessResponse(function(response, request, session, config) {
  var body = JSON.parse(response.Body);
  body.seen = request.Method + " " + request.URL + " " + session.meta_data.user;
  response.Body = JSON.stringify(body);
  response.SetHeaders["X-Upstream-Type"] = response.Headers["Content-Type"][0];
  response.DeleteHeaders.push("X-Secret");
  response.StatusCode = response.StatusCode + 1;
  return resp.ReturnResponseData(response, session.meta_data);
});
"#,
    );
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::Response, "resp")],
        &file,
    );
    let mut ctx = request(HookKind::Response, "resp");
    ctx.session = Some(session_with(&[("user", "ann")]));
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-secret", HeaderValue::from_static("s"));
    ctx.response = Some(HookResponse {
        status: 200,
        headers,
        body: Bytes::from_static(br#"{"a":1}"#),
    });
    plugin.call(&mut ctx).await.unwrap();
    let r = ctx.response.as_ref().unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(
        r.headers.get("x-upstream-type").unwrap(),
        "application/json"
    );
    assert!(r.headers.get("x-secret").is_none());
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["a"], 1);
    assert_eq!(body["seen"], "GET /api1/items?a=1&b=2 ann");
    assert_eq!(
        r.headers.get("content-length").unwrap(),
        r.body.len().to_string().as_str()
    );
}
