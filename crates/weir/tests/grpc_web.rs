//! gRPC-Web through the gateway with clients nobody here wrote: @connectrpc/connect-web
//! (binary) and Google's grpc-web runtime (text and binary), under Node, against a tonic
//! upstream. Needs `scripts/setup-grpc-web.sh` (./test.sh runs it).

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;
use support::bin;
use weir_testkit::{Gateway, GrpcUpstream};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn web_api(target: &str, strip: bool) -> serde_json::Value {
    json!({
        "api_id": "web", "name": "gRPC-Web echo", "org_id": "1", "use_keyless": true, "active": true,
        "proxy": {"listen_path": "/weir.test.Echo/", "target_url": target, "strip_listen_path": strip,
                  "enable_grpc": true, "enable_grpc_web": true},
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}}
    })
}

fn run_clients(base: &str) -> String {
    let dir = repo().join("examples/grpc-web-client");
    assert!(
        dir.join("node_modules").exists(),
        "run scripts/setup-grpc-web.sh first"
    );
    let out = Command::new("node")
        .arg(dir.join("client.mjs"))
        .arg(base)
        .output()
        .expect("node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "gRPC-Web clients failed:\n{text}");
    text
}

#[test]
fn browser_clients_in_binary_and_text_mode() {
    let up = GrpcUpstream::start();
    // The seed's trap: strip_listen_path true on a gRPC service path must still work.
    let gw = Gateway::start(bin(), &[("web.json", web_api(&up.url(), true))], json!({}));
    let out = run_clients(&gw.url(""));
    assert!(out.contains(" 0 failed"), "{out}");
    assert!(up.call_count() > 0);
}

#[test]
fn unreachable_upstream_is_a_grpc_web_unavailable() {
    let port = weir_testkit::free_port();
    let gw = Gateway::start(
        bin(),
        &[(
            "web.json",
            web_api(&format!("grpc://127.0.0.1:{port}"), false),
        )],
        json!({}),
    );
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "POST",
            "-H",
            "content-type: application/grpc-web+proto",
            "-H",
            "origin: http://page.example",
            "--data-binary",
            "@-",
        ])
        .arg(gw.url("/weir.test.Echo/Unary"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: application/grpc-web"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("access-control-allow-origin: http://page.example"),
        "{text}"
    );
    assert!(
        text.contains("grpc-status:14"),
        "no UNAVAILABLE trailer frame: {text}"
    );
}

#[test]
fn preflight_is_answered_for_browsers() {
    let up = GrpcUpstream::start();
    let gw = Gateway::start(bin(), &[("web.json", web_api(&up.url(), false))], json!({}));
    let out = Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "OPTIONS",
            "-H",
            "origin: http://page.example",
            "-H",
            "access-control-request-method: POST",
            "-H",
            "access-control-request-headers: content-type,x-grpc-web",
        ])
        .arg(gw.url("/weir.test.Echo/Unary"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 204"), "{text}");
    assert!(
        text.contains("access-control-allow-origin: http://page.example"),
        "{text}"
    );
    assert!(text.contains("x-grpc-web"), "{text}");
    assert_eq!(up.call_count(), 0);
}
