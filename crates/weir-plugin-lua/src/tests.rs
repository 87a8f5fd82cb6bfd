//! Driver tests: real Lua files in a temp dir, loaded and called through the driver traits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use weir_core::plugin::{
    ApiSpecInfo, Driver, GrpcMessage, HookContext, HookDecl, HookKind, LoadedPlugin,
    MessageDirection, MessageVerdict, PluginError, PluginSpec, Session,
};

use crate::{LuaDriver, LuaDriverOptions};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn api() -> Arc<ApiSpecInfo> {
    Arc::new(ApiSpecInfo {
        org_id: "org1".into(),
        api_id: "api1".into(),
        config_data: Some(r#"{"greeting":"hi"}"#.into()),
        bundle_hash: None,
    })
}

fn spec(hooks: &[(HookKind, &str)], path: &Path) -> PluginSpec {
    PluginSpec {
        driver: "lua".into(),
        hooks: hooks
            .iter()
            .map(|(kind, name)| HookDecl {
                kind: *kind,
                name: (*name).into(),
                path: Some(path.to_owned()),
                raw_body_only: false,
                require_session: false,
            })
            .collect(),
        api: api(),
        config_data: serde_json::Value::Null,
        file: "apps/api1.json".into(),
        timeout: None,
    }
}

fn options(deadline_ms: u64, memory: usize) -> LuaDriverOptions {
    LuaDriverOptions {
        call_deadline: Duration::from_millis(deadline_ms),
        memory_limit: memory,
        threads: 1,
    }
}

fn load(opts: LuaDriverOptions, hooks: &[(HookKind, &str)], path: &Path) -> Arc<dyn LoadedPlugin> {
    LuaDriver::new(opts).load(&spec(hooks, path)).unwrap()
}

fn request(kind: HookKind, name: &str) -> HookContext {
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
async fn tyk_middleware_sets_headers_and_reads_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mw.lua",
        r#"
local cjson = require "cjson"
function MyPre(request, session, spec)
  tyk.req.set_header("X-Lua", "yes")
  tyk.req.clear_header("X-Drop")
  local cfg = cjson.decode(spec["config_data"])
  request.set_headers["X-Seen"] = request.headers["User-Agent"] .. "|" ..
    request.params["b"] .. "|" .. request.method .. "|" .. spec.APIID .. "|" .. cfg.greeting
  request.add_params["c"] = "3"
  request.delete_params = {"a"}
  request.body = request.body .. " world"
  return request, session
end
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "MyPre")], &file);
    let mut ctx = request(HookKind::Pre, "MyPre");
    plugin.call(&mut ctx).await.unwrap();
    let h = &ctx.request.headers;
    assert_eq!(h.get("x-lua").unwrap(), "yes");
    assert_eq!(h.get("x-seen").unwrap(), "curl/8|2|GET|api1|hi");
    assert!(h.get("x-drop").is_none());
    assert_eq!(ctx.request.url, "/api1/items?b=2&c=3");
    assert_eq!(ctx.request.body.as_ref(), b"hello world");
    assert_eq!(ctx.request.return_overrides.response_code, -1);
    assert!(ctx.session.is_none());
}

#[tokio::test]
async fn return_overrides_short_circuit_fields_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "deny.lua",
        r#"
function Deny(request, session, spec)
  request.return_overrides.response_code = 403
  request.return_overrides.response_error = "go away"
  request.return_overrides.headers = { ["X-Reason"] = "lua" }
  return request, session
end
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "Deny")], &file);
    let mut ctx = request(HookKind::Pre, "Deny");
    plugin.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 403);
    assert_eq!(o.response_error, "go away");
    assert_eq!(o.response_body, "go away");
    assert_eq!(o.headers, vec![("X-Reason".to_owned(), "lua".to_owned())]);
    assert!(!o.override_error);
}

#[tokio::test]
async fn auth_hook_makes_a_session_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "auth.lua",
        r#"
function MyAuth(request, session, metadata, spec)
  session = { rate = 10, per = 1, quota_max = -1, metadata = { plan = "gold" } }
  metadata["token"] = request.headers["Authorization"] or "none"
  return request, session, metadata
end
"#,
    );
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::CustomAuth, "MyAuth")],
        &file,
    );
    let mut ctx = request(HookKind::CustomAuth, "MyAuth");
    ctx.request
        .headers
        .insert("authorization", HeaderValue::from_static("key-1"));
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.metadata.get("token").map(String::as_str), Some("key-1"));
    let session: &Session = ctx.session.as_ref().unwrap();
    assert_eq!(session.rate, 10.0);
    assert_eq!(session.quota_max, -1);
    assert_eq!(session.metadata["plan"], "gold");
}

#[tokio::test]
async fn a_lua_error_fails_the_call_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "boom.lua",
        "function Boom(request, session, spec)\n  error(\"kaput\")\nend\n",
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Post, "Boom")], &file);
    let mut ctx = request(HookKind::Post, "Boom");
    let err = plugin.call(&mut ctx).await.unwrap_err();
    match err {
        PluginError::Crashed { hook, reason } => {
            assert_eq!(hook, "Boom");
            assert!(reason.contains("boom.lua:2:"), "{reason}");
            assert!(reason.contains("kaput"), "{reason}");
        }
        other => panic!("expected Crashed, got {other:?}"),
    }
}

#[tokio::test]
async fn an_endless_loop_is_cut_at_the_deadline_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "loop.lua",
        r#"
function Spin(request, session, spec)
  while true do end
end
function Quick(request, session, spec)
  tyk.req.set_header("X-Quick", "1")
  return request, session
end
"#,
    );
    let hooks = [(HookKind::Pre, "Spin"), (HookKind::Pre, "Quick")];
    let plugin = load(options(100, 16 << 20), &hooks, &file);
    let started = Instant::now();
    let mut ctx = request(HookKind::Pre, "Spin");
    let err = plugin.call(&mut ctx).await.unwrap_err();
    assert_eq!(
        err,
        PluginError::Timeout {
            hook: "Spin".into(),
            limit: Duration::from_millis(100)
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // One worker thread: the same state that was interrupted serves the next call.
    let mut ctx = request(HookKind::Pre, "Quick");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-quick").unwrap(), "1");
}

#[test]
fn a_syntax_error_refuses_the_load_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.lua",
        "function Pre(request, session, spec)\n  return request,, session\nend\n",
    );
    let err = LuaDriver::new(options(1000, 16 << 20))
        .load(&spec(&[(HookKind::Pre, "Pre")], &file))
        .err()
        .unwrap();
    assert!(err.contains("broken.lua:2:"), "{err}");
    assert!(err.contains("syntax error"), "{err}");
}

#[test]
fn a_missing_hook_function_or_response_hook_refuses_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "one.lua", "function One() end\n");
    let driver = LuaDriver::new(options(1000, 16 << 20));
    let err = driver
        .load(&spec(&[(HookKind::Pre, "Two")], &file))
        .err()
        .unwrap();
    assert!(err.contains("`Two`"), "{err}");
    let err = driver
        .load(&spec(&[(HookKind::Response, "One")], &file))
        .err()
        .unwrap();
    assert!(err.contains("response"), "{err}");
}

#[tokio::test]
async fn a_memory_hog_hits_the_limit_and_the_state_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hog.lua",
        r#"
function Hog(request, session, spec)
  local t = {}
  for i = 1, 100000000 do t[i] = string.rep("x", 1000) .. i end
  return request, session
end
function Small(request, session, spec)
  tyk.req.set_header("X-Ok", "1")
  return request, session
end
"#,
    );
    let hooks = [(HookKind::Pre, "Hog"), (HookKind::Pre, "Small")];
    let plugin = load(options(10_000, 8 << 20), &hooks, &file);
    let mut ctx = request(HookKind::Pre, "Hog");
    match plugin.call(&mut ctx).await.unwrap_err() {
        PluginError::Crashed { reason, .. } => {
            assert!(reason.contains("memory"), "{reason}")
        }
        other => panic!("expected Crashed, got {other:?}"),
    }
    let mut ctx = request(HookKind::Pre, "Small");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-ok").unwrap(), "1");
}

fn grpc_message(hook: &str, payload: &'static [u8]) -> GrpcMessage {
    GrpcMessage {
        hook: hook.into(),
        direction: MessageDirection::ToUpstream,
        method: "/pkg.Svc/Call".into(),
        payload: Bytes::from_static(payload),
        index: 0,
        headers: Arc::new(http::HeaderMap::new()),
        session: None,
        spec: api(),
    }
}

#[tokio::test]
async fn stream_hooks_replace_pass_drop_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "stream.lua",
        r#"
function Upper(message, session, spec)
  message.payload = string.upper(message.payload) .. "\0" .. message.direction
  return message
end
function Same(message, session, spec) return message end
function Drop(message, session, spec) return nil end
function Stop(message, session, spec)
  return { grpc_status = 7, grpc_message = "no " .. spec.APIID }
end
"#,
    );
    let hooks = [
        (HookKind::GrpcMessage, "Upper"),
        (HookKind::GrpcMessage, "Same"),
        (HookKind::GrpcMessage, "Drop"),
        (HookKind::GrpcMessage, "Stop"),
    ];
    let plugin = load(options(1000, 16 << 20), &hooks, &file);

    let mut msg = grpc_message("Upper", b"ab\x01");
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    assert_eq!(msg.payload.as_ref(), b"AB\x01\0to_upstream");

    let mut msg = grpc_message("Same", b"keep");
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Pass)
    );
    assert_eq!(msg.payload.as_ref(), b"keep");

    let mut msg = grpc_message("Drop", b"x");
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::Drop)
    );

    let mut msg = grpc_message("Stop", b"x");
    assert_eq!(
        plugin.on_grpc_message(&mut msg).await,
        Ok(MessageVerdict::End {
            code: 7,
            message: "no api1".into()
        })
    );
}

#[tokio::test]
async fn a_bundle_directory_loads_every_lua_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a_helpers.lua",
        "function greet() return \"hi\" end\n",
    );
    write(
        dir.path(),
        "b_mw.lua",
        "function Pre(request, session, spec)\n  tyk.req.set_header(\"X-Greet\", greet())\n  return request, session\nend\n",
    );
    write(dir.path(), "notes.txt", "not lua (");
    let plugin = load(
        options(1000, 16 << 20),
        &[(HookKind::Pre, "Pre")],
        dir.path(),
    );
    let mut ctx = request(HookKind::Pre, "Pre");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-greet").unwrap(), "hi");
}

#[tokio::test]
async fn an_undeclared_hook_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "p.lua",
        "function P(r, s) return r, s end\nfunction Q(r, s) return r, s end\n",
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "P")], &file);
    let mut ctx = request(HookKind::Pre, "Q");
    assert!(matches!(
        plugin.call(&mut ctx).await,
        Err(PluginError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn loops_hidden_in_pcall_or_coroutines_are_cut_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "sly.lua",
        r#"
function Sly(request, session, spec)
  while true do pcall(function() while true do end end) end
end
function Co(request, session, spec)
  coroutine.wrap(function() while true do end end)()
end
"#,
    );
    let hooks = [(HookKind::Pre, "Sly"), (HookKind::Pre, "Co")];
    let plugin = load(options(50, 16 << 20), &hooks, &file);
    for name in ["Sly", "Co"] {
        let mut ctx = request(HookKind::Pre, name);
        let err = plugin.call(&mut ctx).await.unwrap_err();
        assert!(
            matches!(err, PluginError::Timeout { .. }),
            "{name}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hook_does_not_hold_up_another_call() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mixed.lua",
        r#"
function Spin(request, session, spec) while true do end end
function Quick(request, session, spec) return request, session end
"#,
    );
    let hooks = [(HookKind::Pre, "Spin"), (HookKind::Pre, "Quick")];
    let mut opts = options(1500, 16 << 20);
    opts.threads = 2;
    let plugin = load(opts, &hooks, &file);
    let slow = {
        let plugin = plugin.clone();
        tokio::spawn(async move {
            let mut ctx = request(HookKind::Pre, "Spin");
            plugin.call(&mut ctx).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let mut ctx = request(HookKind::Pre, "Quick");
    plugin.call(&mut ctx).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(!slow.is_finished());
    assert!(matches!(
        slow.await.unwrap(),
        Err(PluginError::Timeout { .. })
    ));
}

#[test]
fn an_endless_loop_at_load_refuses_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "top.lua",
        "function P() end\nwhile true do end\n",
    );
    let err = LuaDriver::new(options(50, 16 << 20))
        .load(&spec(&[(HookKind::Pre, "P")], &file))
        .err()
        .unwrap();
    assert!(err.contains("top.lua") && err.contains("deadline"), "{err}");
}
