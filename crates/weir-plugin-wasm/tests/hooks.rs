//! Every hook kind through the Driver, on real proxy-wasm modules built from
//! examples/plugins/wasm.

mod common;

use common::*;
use weir_core::plugin::{Driver, HookKind};
use weir_plugin_wasm::{WasmDriver, WasmOptions};

fn driver() -> WasmDriver {
    WasmDriver::new(WasmOptions::default()).unwrap()
}

#[tokio::test]
async fn header_rewrite_adds_and_removes_request_headers() {
    let d = driver();
    assert_eq!(d.names(), &["wasm"]);
    let file = wasm("header_rewrite");
    let p = load(&d, &[(HookKind::Pre, "rewrite", &file)], None);
    for _ in 0..3 {
        let mut ctx = request(
            HookKind::Pre,
            "rewrite",
            &[
                ("host", "gw.example"),
                ("x-remove-me", "bye"),
                ("x-keep", "stay"),
            ],
            "",
        );
        p.call(&mut ctx).await.unwrap();
        assert_eq!(header(&ctx, "x-weir-wasm"), Some("header-rewrite"));
        assert_eq!(header(&ctx, "x-remove-me"), None);
        assert_eq!(header(&ctx, "x-keep"), Some("stay"));
        assert_eq!(header(&ctx, "host"), Some("gw.example"));
        assert_eq!(ctx.request.method, "POST");
        assert_eq!(ctx.request.url, "/api/items?id=7");
        assert_eq!(ctx.request.return_overrides.response_code, -1);
    }
}

#[tokio::test]
async fn the_same_module_serves_post_key_auth_and_post_hooks() {
    let d = driver();
    let file = wasm("header_rewrite");
    let p = load(
        &d,
        &[
            (HookKind::PostKeyAuth, "a", &file),
            (HookKind::Post, "b", &file),
        ],
        None,
    );
    for (kind, name) in [(HookKind::PostKeyAuth, "a"), (HookKind::Post, "b")] {
        let mut ctx = request(kind, name, &[("x-remove-me", "1")], "");
        p.call(&mut ctx).await.unwrap();
        assert_eq!(header(&ctx, "x-weir-wasm"), Some("header-rewrite"));
        assert_eq!(header(&ctx, "x-remove-me"), None);
    }
    let mut other = request(HookKind::Pre, "a", &[], "");
    let err = p.call(&mut other).await.unwrap_err();
    assert!(err.to_string().contains("no wasm hook"), "{err}");
    assert_eq!(d.modules_compiled(), 1);
}

#[tokio::test]
async fn auth_check_without_key_is_rejected_with_the_filters_401() {
    let d = driver();
    let file = wasm("auth_reject");
    let p = load(&d, &[(HookKind::CustomAuth, "auth", &file)], None);
    let mut ctx = request(HookKind::CustomAuth, "auth", &[("x-api-key", "wrong")], "");
    p.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 401);
    assert!(o.override_error);
    assert_eq!(o.response_body, r#"{"error":"missing or bad x-api-key"}"#);
    assert!(
        o.headers
            .contains(&("www-authenticate".into(), "ApiKey".into()))
    );
    assert!(
        o.headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    assert!(ctx.session.is_none());
    assert!(!ctx.metadata.contains_key("token"));
}

#[tokio::test]
async fn auth_check_with_key_sets_session_and_token() {
    let d = driver();
    let file = wasm("auth_reject");
    let p = load(&d, &[(HookKind::CustomAuth, "auth", &file)], None);
    let mut ctx = request(HookKind::CustomAuth, "auth", &[("x-api-key", "secret")], "");
    p.call(&mut ctx).await.unwrap();
    assert_eq!(ctx.request.return_overrides.response_code, -1);
    let session = ctx.session.as_ref().expect("session set by the filter");
    assert_eq!(session.alias, "wasm-user");
    assert_eq!(session.org_id, "wasm-org");
    assert_eq!(session.rate, 100.0);
    assert_eq!(session.metadata["plan"], "gold");
    assert_eq!(
        ctx.metadata.get("token").map(String::as_str),
        Some("secret")
    );
    assert_eq!(
        ctx.metadata.get("via").map(String::as_str),
        Some("auth-reject")
    );
}

#[tokio::test]
async fn local_response_with_2xx_becomes_a_raw_answer() {
    let d = driver();
    let file = wasm("misbehave");
    let p = load(&d, &[(HookKind::Pre, "m", &file)], None);
    let mut ctx = request(HookKind::Pre, "m", &[("x-misbehave", "reply")], "");
    p.call(&mut ctx).await.unwrap();
    let o = &ctx.request.return_overrides;
    assert_eq!(o.response_code, 200);
    assert_eq!(o.response_body, "Hello from wasm");
    assert_eq!(o.headers, vec![("x-from".to_string(), "wasm".to_string())]);
    assert!(o.override_error);
}

#[tokio::test]
async fn properties_and_pseudo_headers_map_onto_the_request() {
    let d = driver();
    let file = wasm("misbehave");
    let p = load(&d, &[(HookKind::Pre, "inspector", &file)], None);
    let mut ctx = request(
        HookKind::Pre,
        "inspector",
        &[
            ("x-misbehave", "inspect"),
            ("host", "gw.example:8080"),
            ("user-agent", "tests/1"),
        ],
        "",
    );
    p.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-prop-path"), Some("/api/items?id=7"));
    assert_eq!(header(&ctx, "x-prop-url-path"), Some("/api/items"));
    assert_eq!(header(&ctx, "x-prop-method"), Some("POST"));
    assert_eq!(header(&ctx, "x-prop-host"), Some("gw.example:8080"));
    assert_eq!(header(&ctx, "x-prop-api"), Some("api-1"));
    assert_eq!(header(&ctx, "x-prop-org"), Some("org-1"));
    assert_eq!(header(&ctx, "x-prop-plugin"), Some("inspector"));
    assert_eq!(header(&ctx, "x-prop-ua"), Some("tests/1"));
    assert_eq!(header(&ctx, "x-authority"), Some("gw.example:8080"));
    assert_eq!(ctx.request.url, "/rewritten?by=wasm");
    assert_eq!(ctx.request.request_uri, "/api/items?id=7");
}

#[tokio::test]
async fn body_rewrite_changes_request_and_response_bodies() {
    let d = driver();
    let file = wasm("body_rewrite");
    let p = load(
        &d,
        &[
            (HookKind::Pre, "body", &file),
            (HookKind::Response, "body", &file),
        ],
        None,
    );

    let mut req = request(HookKind::Pre, "body", &[], "an apple a day, apple pie");
    p.call(&mut req).await.unwrap();
    assert_eq!(req.request.body, "an orange a day, orange pie");

    let mut resp = response(
        "body",
        201,
        &[("content-type", "text/plain")],
        "hello from upstream",
    );
    p.call(&mut resp).await.unwrap();
    let r = resp.response.as_ref().unwrap();
    assert_eq!(r.body, "hello from wasm");
    assert_eq!(r.status, 201);
    assert_eq!(r.headers.get("x-body-rewritten").unwrap(), "true");
    assert_eq!(r.headers.get("content-type").unwrap(), "text/plain");
    // The response hook does not replay the request callbacks.
    assert!(resp.request.body.is_empty());
}

#[tokio::test]
async fn config_driven_reads_the_apis_config_data() {
    let d = driver();
    let file = wasm("config_driven");
    let config = r#"{"add_headers": {"x-tenant": "acme", "x-tier": "gold"}, "other": 1}"#;
    let p = load(&d, &[(HookKind::Pre, "cfg", &file)], Some(config));
    let mut ctx = request(HookKind::Pre, "cfg", &[], "");
    p.call(&mut ctx).await.unwrap();
    assert_eq!(header(&ctx, "x-tenant"), Some("acme"));
    assert_eq!(header(&ctx, "x-tier"), Some("gold"));

    // Without configuration the filter's proxy_on_configure refuses: the load fails.
    let err = d
        .load(&spec(&[(HookKind::Pre, "cfg", &file)], None))
        .err()
        .expect("load must fail");
    assert!(err.contains("proxy_on_configure"), "{err}");
    assert!(err.contains("config-driven: no configuration"), "{err}");
}

#[tokio::test]
async fn a_hook_without_a_path_or_with_a_bad_file_fails_the_load() {
    let d = driver();
    let mut s = spec(
        &[(
            HookKind::Pre,
            "x",
            std::path::Path::new("/nonexistent/x.wasm"),
        )],
        None,
    );
    let err = d.load(&s).err().unwrap();
    assert!(err.contains("/nonexistent/x.wasm"), "{err}");
    s.hooks[0].path = None;
    let err = d.load(&s).err().unwrap();
    assert!(err.contains("has no `path`"), "{err}");
    let junk = std::env::temp_dir().join(format!("weir-junk-{}.wasm", std::process::id()));
    std::fs::write(&junk, b"not wasm").unwrap();
    let err = d
        .load(&spec(&[(HookKind::Pre, "x", &junk)], None))
        .err()
        .unwrap();
    assert!(err.contains("compiling"), "{err}");
    std::fs::remove_file(junk).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_the_pool() {
    let d = driver();
    let file = wasm("header_rewrite");
    let p = load(&d, &[(HookKind::Pre, "rewrite", &file)], None);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let mut ctx = request(HookKind::Pre, "rewrite", &[("x-n", &i.to_string())], "");
                p.call(&mut ctx).await.unwrap();
                assert_eq!(header(&ctx, "x-weir-wasm"), Some("header-rewrite"));
                assert_eq!(header(&ctx, "x-n"), Some(i.to_string().as_str()));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn a_warm_header_filter_call_costs_microseconds() {
    let d = driver();
    let file = wasm("header_rewrite");
    let p = load(&d, &[(HookKind::Pre, "rewrite", &file)], None);
    let template = request(
        HookKind::Pre,
        "rewrite",
        &[("host", "gw"), ("x-remove-me", "1"), ("accept", "*/*")],
        "",
    );
    let mut ctx = template.clone();
    p.call(&mut ctx).await.unwrap();
    let n = 5000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let mut ctx = template.clone();
        p.call(&mut ctx).await.unwrap();
    }
    let per_call = start.elapsed() / n;
    eprintln!("header-rewrite: {per_call:?} per call");
    // Generous for an unoptimised test build on a shared machine; release builds are far below.
    assert!(
        per_call < std::time::Duration::from_micros(500),
        "{per_call:?} per call"
    );
}

#[tokio::test]
async fn shared_data_queues_and_metrics_are_shared_across_apis_of_one_driver() {
    let d = driver();
    let file = wasm("misbehave");
    let a = load(&d, &[(HookKind::Pre, "m", &file)], None);
    let b = load(&d, &[(HookKind::Pre, "m", &file)], None);
    for (i, p) in [&a, &b, &a].into_iter().enumerate() {
        let mut ctx = request(HookKind::Pre, "m", &[("x-misbehave", "shared")], "");
        p.call(&mut ctx).await.unwrap();
        let n = (i + 1).to_string();
        assert_eq!(header(&ctx, "x-hits"), Some(n.as_str()));
        assert_eq!(header(&ctx, "x-stale-cas"), Some("Err(CasMismatch)"));
        assert_eq!(header(&ctx, "x-job"), Some(format!("job-{n}").as_str()));
        assert_eq!(header(&ctx, "x-queue-after"), Some("Ok(None)"));
        assert_eq!(header(&ctx, "x-metric"), Some(n.as_str()));
    }
}
