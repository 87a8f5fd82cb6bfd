//! Faults: exceptions, endless loops, memory hogs, deep recursion and load-time errors fail
//! only their call (or refuse the load) and the worker serves on.

use std::time::{Duration, Instant};

use weir_core::plugin::{Driver, HookKind, PluginError};

use crate::JsDriver;
use crate::tests::{load, options, request, spec_with, write};

#[tokio::test]
async fn a_thrown_exception_crashes_only_that_call() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "throw.js",
        r#"
var calls = 0;
var boom = new TykJS.TykMiddleware.NewMiddleware({});
boom.NewProcessRequest(function(request, session) {
  calls++;
  if (request.Params["fail"]) { throw new Error("kaboom " + calls); }
  request.SetHeaders["X-Calls"] = String(calls);
  return boom.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "boom")], &file);
    let mut ctx = request(HookKind::Pre, "boom");
    ctx.request.url = "/api1/x?fail=1".into();
    match plugin.call(&mut ctx).await {
        Err(PluginError::Crashed { hook, reason }) => {
            assert_eq!(hook, "boom");
            assert!(reason.contains("Error: kaboom 1"), "{reason}");
            assert!(reason.contains("throw.js:6"), "{reason}");
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    let mut ctx = request(HookKind::Pre, "boom");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-calls").unwrap(), "2");
}

#[tokio::test]
async fn a_middleware_that_returns_nothing_is_a_bad_reply() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "none.js",
        r#"
var none = new TykJS.TykMiddleware.NewMiddleware({});
none.NewProcessRequest(function(request, session) { request.SetHeaders["X-A"] = "b"; });
"#,
    );
    let plugin = load(options(1000, 16 << 20), &[(HookKind::Pre, "none")], &file);
    let mut ctx = request(HookKind::Pre, "none");
    let err = plugin.call(&mut ctx).await.unwrap_err();
    assert!(matches!(err, PluginError::BadReply { .. }), "{err:?}");
    assert!(ctx.request.headers.get("x-a").is_none());
}

#[tokio::test]
async fn an_endless_loop_is_interrupted_and_the_worker_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "loop.js",
        r#"
var spin = new TykJS.TykMiddleware.NewMiddleware({});
spin.NewProcessRequest(function(request, session) {
  if (request.Params["spin"]) {
    // A catch block must not swallow the interrupt.
    while (true) { try { while (true) {} } catch (e) {} }
  }
  request.SetHeaders["X-Ok"] = "1";
  return spin.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(200, 16 << 20), &[(HookKind::Pre, "spin")], &file);
    let mut ctx = request(HookKind::Pre, "spin");
    ctx.request.url = "/api1/x?spin=1".into();
    let started = Instant::now();
    let err = plugin.call(&mut ctx).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        PluginError::Timeout {
            hook: "spin".into(),
            limit: Duration::from_millis(200)
        }
    );
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // One worker thread: the same runtime answers the next call.
    let mut ctx = request(HookKind::Pre, "spin");
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-ok").unwrap(), "1");
}

#[tokio::test]
async fn the_definition_timeout_overrides_jsvm_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "slow.js",
        r#"
var slow = new TykJS.TykMiddleware.NewMiddleware({});
slow.NewProcessRequest(function(request, session) { while (true) {} });
"#,
    );
    let mut spec = spec_with(&[(HookKind::Pre, "slow", false)], &file);
    spec.timeout = Some(Duration::from_millis(100));
    let plugin = JsDriver::new(options(10_000, 16 << 20))
        .load(&spec)
        .unwrap();
    let mut ctx = request(HookKind::Pre, "slow");
    let started = Instant::now();
    let err = plugin.call(&mut ctx).await.unwrap_err();
    assert!(
        matches!(err, PluginError::Timeout { limit, .. } if limit == Duration::from_millis(100))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_memory_hog_crashes_and_the_worker_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "hog.js",
        r#"
var hog = new TykJS.TykMiddleware.NewMiddleware({});
hog.NewProcessRequest(function(request, session) {
  if (request.Params["hog"]) {
    var keep = [];
    while (true) { keep.push(new Array(100000).fill(keep.length)); }
  }
  request.SetHeaders["X-Ok"] = "1";
  return hog.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(5000, 16 << 20), &[(HookKind::Pre, "hog")], &file);
    let mut ctx = request(HookKind::Pre, "hog");
    ctx.request.url = "/api1/x?hog=1".into();
    match plugin.call(&mut ctx).await {
        Err(PluginError::Crashed { reason, .. }) => {
            assert!(reason.contains("memory"), "{reason}")
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    for _ in 0..3 {
        let mut ctx = request(HookKind::Pre, "hog");
        plugin.call(&mut ctx).await.unwrap();
        assert_eq!(ctx.request.headers.get("x-ok").unwrap(), "1");
    }
}

#[test]
fn a_syntax_error_refuses_the_load_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.js",
        "var mw = new TykJS.TykMiddleware.NewMiddleware({});\n\nmw.NewProcessRequest(function(r) {\n  return r +;\n});\n",
    );
    let err = JsDriver::new(options(1000, 16 << 20))
        .load(&spec_with(&[(HookKind::Pre, "mw", false)], &file))
        .err()
        .expect("refused");
    assert!(err.contains("broken.js"), "{err}");
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.contains("broken.js:4"), "{err}");
}

#[test]
fn load_refusals_name_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ok.js",
        "var mw = new TykJS.TykMiddleware.NewMiddleware({});\n",
    );
    let spec = spec_with(&[(HookKind::Pre, "mw", false)], &file);

    let off = JsDriver::default().load(&spec).err().expect("refused");
    assert!(off.contains("enable_jsvm"), "{off}");

    let driver = JsDriver::default();
    driver.configure(options(1000, 16 << 20));
    assert!(driver.load(&spec).is_ok());

    let missing = spec_with(&[(HookKind::Pre, "nothere", false)], &file);
    let err = driver.load(&missing).err().expect("refused");
    assert!(err.contains("nothere"), "{err}");

    let looping = write(dir.path(), "top.js", "while (true) {}\n");
    let err = JsDriver::new(options(100, 16 << 20))
        .load(&spec_with(&[(HookKind::Pre, "mw", false)], &looping))
        .err()
        .expect("refused");
    assert!(err.contains("top.js") && err.contains("deadline"), "{err}");

    let throwing = write(dir.path(), "throws.js", "\n\nnull.x;\n");
    let err = driver
        .load(&spec_with(&[(HookKind::Pre, "mw", false)], &throwing))
        .err()
        .expect("refused");
    assert!(
        err.contains("TypeError") && err.contains("throws.js:3"),
        "{err}"
    );
}

#[tokio::test]
async fn deep_recursion_and_cyclic_answers_fail_only_their_call() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "deep.js",
        r#"
function down(n) { return down(n + 1) + 1; }
var deep = new TykJS.TykMiddleware.NewMiddleware({});
deep.NewProcessRequest(function(request, session) {
  if (request.Params["deep"]) { down(0); }
  if (request.Params["cycle"]) { var out = deep.ReturnData(request, {}); out.self = out; return out; }
  request.SetHeaders["X-Ok"] = "1";
  return deep.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(5000, 32 << 20), &[(HookKind::Pre, "deep")], &file);
    for (query, needle) in [("deep=1", "RangeError"), ("cycle=1", "TypeError")] {
        let mut ctx = request(HookKind::Pre, "deep");
        ctx.request.url = format!("/api1/x?{query}");
        match plugin.call(&mut ctx).await {
            Err(PluginError::Crashed { reason, .. }) => {
                assert!(reason.contains(needle), "{query}: {reason}")
            }
            other => panic!("{query}: expected a crash, got {other:?}"),
        }
        let mut ctx = request(HookKind::Pre, "deep");
        plugin.call(&mut ctx).await.unwrap();
        assert_eq!(ctx.request.headers.get("x-ok").unwrap(), "1");
    }
}

#[tokio::test]
async fn promise_jobs_run_after_the_call_and_do_not_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "jobs.js",
        r#"
var done = 0;
var jobs = new TykJS.TykMiddleware.NewMiddleware({});
jobs.NewProcessRequest(function(request, session) {
  request.SetHeaders["X-Done"] = String(done);
  Promise.resolve().then(function () { done++; });
  if (request.Params["forever"]) {
    Promise.resolve().then(function () { while (true) {} });
  }
  return jobs.ReturnData(request, {});
});
"#,
    );
    let plugin = load(options(300, 16 << 20), &[(HookKind::Pre, "jobs")], &file);
    let mut ctx = request(HookKind::Pre, "jobs");
    ctx.request.url = "/api1/x?forever=1".into();
    plugin.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.headers.get("x-done").unwrap(), "0");
    for expected in ["1", "2"] {
        let mut ctx = request(HookKind::Pre, "jobs");
        plugin.call(&mut ctx).await.unwrap();
        assert_eq!(ctx.request.headers.get("x-done").unwrap(), expected);
    }
}
