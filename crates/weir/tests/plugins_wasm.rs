//! Wasm (proxy-wasm) filters through the gateway: filters written with the proxy-wasm Rust SDK
//! (as for Envoy), built for wasm32-wasip1 by this test, loaded by the real weir binary.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{bin, json_of, plugin_api_with, send};
use weir_testkit::{Gateway, HttpUpstream};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Builds examples/plugins/wasm once per test binary; returns the folder of .wasm files.
fn wasm_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target"))
            .join("wasm-examples");
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip1",
                "--manifest-path",
            ])
            .arg(repo().join("examples/plugins/wasm/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the wasm examples failed (scripts/setup-wasm.sh adds the target):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-wasip1/release")
    })
    .clone()
}

fn wasm(name: &str) -> PathBuf {
    wasm_dir().join(format!("{name}.wasm"))
}

fn api(id: &str, target: &str, middleware: Value, config: Value) -> Value {
    plugin_api_with(id, target, middleware, config)
}

#[tokio::test]
async fn envoy_style_filters_run_unchanged() {
    let up = HttpUpstream::start();
    let mut auth = api(
        "auth",
        &up.url(),
        json!({"driver": "wasm", "auth_check": {"name": "auth", "path": wasm("auth_reject")}}),
        Value::Null,
    );
    auth["use_keyless"] = json!(false);
    auth["custom_plugin_auth_enabled"] = json!(true);
    let gw = Gateway::start(
        bin(),
        &[
            (
                "hdr.json",
                api(
                    "hdr",
                    &up.url(),
                    json!({"driver": "wasm", "pre": [{"name": "hdr", "path": wasm("header_rewrite")}]}),
                    Value::Null,
                ),
            ),
            (
                "cfg.json",
                api(
                    "cfg",
                    &up.url(),
                    json!({"driver": "wasm", "pre": [{"name": "cfg", "path": wasm("config_driven")}]}),
                    json!({"add_headers": {"x-from-config": "yes"}}),
                ),
            ),
            (
                "body.json",
                api(
                    "body",
                    &up.url(),
                    json!({"driver": "wasm",
                "pre": [{"name": "body", "path": wasm("body_rewrite")}],
                "response": [{"name": "body", "path": wasm("body_rewrite")}]}),
                    Value::Null,
                ),
            ),
            ("auth.json", auth),
        ],
        json!({}),
    );

    let (status, _, body) = send(
        reqwest::Method::GET,
        &gw.url("/hdr/echo"),
        &[("x-remove-me", "1")],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["headers"]["x-weir-wasm"][0], "header-rewrite");
    assert!(echo["headers"].get("x-remove-me").is_none());

    let (status, _, body) = send(reqwest::Method::GET, &gw.url("/cfg/echo"), &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json_of(&body)["headers"]["x-from-config"][0],
        "yes",
        "{body}"
    );

    let (status, _, body) = send(reqwest::Method::GET, &gw.url("/auth/echo"), &[], "").await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = send(
        reqwest::Method::GET,
        &gw.url("/auth/echo"),
        &[("x-api-key", "secret")],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The request body is rewritten on the way up, the response body on the way back.
    let (status, _, body) = send(
        reqwest::Method::POST,
        &gw.url("/body/echo"),
        &[("x-note", "upstream")],
        "an apple a day",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo = json_of(&body);
    assert_eq!(echo["body"], "an orange a day");
    assert_eq!(echo["headers"]["x-note"][0], "wasm");
}

#[tokio::test]
async fn a_looping_or_trapping_filter_fails_only_its_request() {
    let up = HttpUpstream::start();
    let gw = Gateway::start(
        bin(),
        &[(
            "m.json",
            api(
                "m",
                &up.url(),
                json!({"driver": "wasm", "pre": [{"name": "m", "path": wasm("misbehave")}]}),
                Value::Null,
            ),
        )],
        json!({}),
    );
    let started = Instant::now();
    let (status, _, body) = send(
        reqwest::Method::GET,
        &gw.url("/m/echo"),
        &[("x-misbehave", "loop")],
        "",
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(json_of(&body)["error"], "Middleware error");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the loop was not pre-empted"
    );
    let (status, _, _) = send(
        reqwest::Method::GET,
        &gw.url("/m/echo"),
        &[("x-misbehave", "panic")],
        "",
    )
    .await;
    assert_eq!(status, 500);
    let (status, _, _) = send(reqwest::Method::GET, &gw.url("/m/echo"), &[], "").await;
    assert_eq!(status, 200, "the filter did not recover");
    let (status, h, body) = send(
        reqwest::Method::GET,
        &gw.url("/m/echo"),
        &[("x-misbehave", "reply")],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "Hello from wasm"));
    assert_eq!(h["x-from"], "wasm");
    assert_eq!(up.request_count(), 1);
}

/// A filter declared as `pre` and `response` under one name is one Envoy filter through the
/// gateway: one context per request, its local answer passes its response callbacks, and the
/// gRPC upstream it calls is the one the gateway config names in `wasm_upstreams`.
#[tokio::test]
async fn a_filter_spans_the_request_and_calls_upstreams_named_in_the_gateway_config() {
    let up = HttpUpstream::start();
    let grpc = weir_testkit::GrpcUpstream::start();
    let hook = json!([{"name": "life", "path": wasm("filter_lifecycle")}]);
    let gw = Gateway::start(
        bin(),
        &[(
            "life.json",
            api(
                "life",
                &up.url(),
                json!({"driver": "wasm", "pre": hook, "response": hook}),
                Value::Null,
            ),
        )],
        json!({"wasm_upstreams": {"grpc": grpc.http_url()}}),
    );

    let (status, headers, body) = send(reqwest::Method::GET, &gw.url("/life/echo"), &[], "").await;
    assert_eq!(status, 200, "{body}");
    let seen = json_of(&body)["headers"]["x-request-context"][0].clone();
    assert_eq!(
        headers["x-response-context"].to_str().unwrap(),
        seen.as_str().unwrap()
    );
    assert_eq!(headers["x-saw-request"], "yes");

    let (status, headers, body) = send(
        reqwest::Method::GET,
        &gw.url("/life/echo"),
        &[("x-deny", "429")],
        "",
    )
    .await;
    assert_eq!((status, body.as_str()), (429, "denied\n"));
    assert_eq!(
        headers["x-seen-status"], "429",
        "the local answer passed the response phase"
    );
    assert_eq!(
        headers["x-logs-before"], "1",
        "on_log ran once for the first request"
    );

    // The upstream is a real gRPC server without a `test.Check` service: the call reaches it
    // through the configured name and comes back UNIMPLEMENTED (12).
    let (status, _, body) = send(
        reqwest::Method::GET,
        &gw.url("/life/echo"),
        &[("x-grpc-check", "hi")],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer = json_of(&body)["headers"]["x-grpc-status"][0].clone();
    let code = answer.as_str().and_then(|a| a.split(' ').next());
    assert_eq!(code, Some("12"), "{body}");
}
