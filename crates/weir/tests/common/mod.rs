//! Helpers shared by the end-to-end test files (each file is its own crate
//! and uses a different subset, hence the `dead_code` allowance).
#![allow(dead_code)]

pub mod nats;
pub mod streams;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weir_testkit::Gateway;

/// The weir binary cargo built for these tests.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weir"))
}

/// A keyless classic Tyk API definition.
pub fn api(id: &str, listen_path: &str, target: &str, strip: bool) -> Value {
    json!({
        "api_id": id,
        "name": id.to_uppercase(),
        "org_id": "1",
        "use_keyless": true,
        "active": true,
        "proxy": {
            "listen_path": listen_path,
            "target_url": target,
            "strip_listen_path": strip
        },
        "version_data": {
            "not_versioned": true,
            "versions": { "Default": { "name": "Default" } }
        }
    })
}

/// Starts a gateway with the given definitions (file names `<api_id>.json`)
/// and extra gateway config.
pub fn start(apis: &[Value], extra_conf: Value) -> Gateway {
    let files: Vec<(String, Value)> = apis
        .iter()
        .map(|a| {
            (
                format!("{}.json", a["api_id"].as_str().expect("api_id")),
                a.clone(),
            )
        })
        .collect();
    let refs: Vec<(&str, Value)> = files.iter().map(|(f, a)| (f.as_str(), a.clone())).collect();
    Gateway::start(bin(), &refs, extra_conf)
}

/// A URL on 127.0.0.1 where nothing listens.
pub fn closed_url() -> String {
    format!("http://127.0.0.1:{}", weir_testkit::free_port())
}

/// HTTP/1.1-only client, no proxies from the environment.
pub fn h1() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// HTTP/2 with prior knowledge (h2c) client.
pub fn h2c() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Reads a response body as JSON, panicking with the text if it is not.
pub async fn json_body(resp: reqwest::Response) -> Value {
    let text = resp.text().await.expect("read body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"))
}

/// The first value of header `name` in an upstream echo document.
pub fn echoed<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

/// Asserts a gateway error response: `status`, a JSON content type and a
/// JSON object body with an `"error"` string. Returns the message.
pub async fn assert_json_error(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
    let body = json_body(resp).await;
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"error\" string in {body}"))
        .to_string()
}
