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

/// Lays `from` over `into`: objects merge key by key, recursively; any other
/// value (arrays included) replaces what was there.
pub fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// A keyless classic definition at `/<id>/` (listen path stripped), built by
/// [`api`], with `extra` merged over its top level.
pub fn classic_api(id: &str, target: &str, extra: Value) -> Value {
    let mut def = api(id, &format!("/{id}/"), target, true);
    merge(&mut def, extra);
    def
}

/// A keyless classic definition at `/<id>/`, named `id`, in org `org1` (the
/// org of `support::create_key`'s keys), with `version` merged into its
/// `Default` version.
pub fn classic_version(id: &str, target: &str, version: Value) -> Value {
    classic_api(
        id,
        target,
        json!({"name": id, "org_id": "org1",
            "version_data": {"versions": {"Default": version}}}),
    )
}

/// [`classic_version`] whose `Default` version has `use_extended_paths` on and
/// `extended` as its `extended_paths`.
pub fn classic_extended(id: &str, target: &str, extended: Value) -> Value {
    classic_version(
        id,
        target,
        json!({"use_extended_paths": true, "extended_paths": extended}),
    )
}

/// A keyless OAS definition at `listen_path` (stripped) with no `paths`;
/// `gateway` is merged into its `x-tyk-api-gateway`.
pub fn oas_api(id: &str, listen_path: &str, target: &str, gateway: Value) -> Value {
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": { "title": id, "version": "1.0.0" },
        "paths": {},
        "x-tyk-api-gateway": {
            "info": { "name": id, "id": id, "state": { "active": true } },
            "upstream": { "url": target },
            "server": { "listenPath": { "value": listen_path, "strip": true } }
        }
    });
    merge(&mut doc["x-tyk-api-gateway"], gateway);
    doc
}

/// A keyless OAS definition at `/<id>/` in org `org1` (as
/// [`classic_version`]) with these OpenAPI `paths`; `gateway` is merged into
/// its `x-tyk-api-gateway`.
pub fn oas_paths(id: &str, target: &str, paths: Value, gateway: Value) -> Value {
    let mut doc = oas_api(
        id,
        &format!("/{id}/"),
        target,
        json!({"info": {"orgId": "org1"}}),
    );
    doc["paths"] = paths;
    merge(&mut doc["x-tyk-api-gateway"], gateway);
    doc
}

/// [`oas_paths`] with `operations` as its `middleware.operations`.
pub fn oas_operations(id: &str, target: &str, paths: Value, operations: Value) -> Value {
    oas_paths(
        id,
        target,
        paths,
        json!({"middleware": {"operations": operations}}),
    )
}

/// Makes a definition of either form need an auth token in `Authorization`.
pub fn protect(mut api: Value) -> Value {
    if api.get("openapi").is_some() {
        api["security"] = json!([{ "authToken": [] }]);
        api["components"] = json!({ "securitySchemes": { "authToken": {
            "type": "apiKey", "in": "header", "name": "Authorization" } } });
        api["x-tyk-api-gateway"]["server"]["authentication"] = json!({
            "enabled": true, "securitySchemes": { "authToken": { "enabled": true } } });
    } else {
        api["use_keyless"] = json!(false);
    }
    api
}

/// The id of a definition of either form (`api_id`, or the OAS
/// `x-tyk-api-gateway.info.id`).
pub fn api_id(def: &Value) -> &str {
    def["api_id"]
        .as_str()
        .or_else(|| def.pointer("/x-tyk-api-gateway/info/id")?.as_str())
        .expect("an api_id or x-tyk-api-gateway.info.id")
}

/// Starts a gateway with the given definitions of either form (file names
/// `<id>.json`) and extra gateway config.
pub fn start(apis: &[Value], extra_conf: Value) -> Gateway {
    let files: Vec<(String, Value)> = apis
        .iter()
        .map(|a| (format!("{}.json", api_id(a)), a.clone()))
        .collect();
    let refs: Vec<(&str, Value)> = files.iter().map(|(f, a)| (f.as_str(), a.clone())).collect();
    Gateway::start(bin(), &refs, extra_conf)
}

/// [`start`] with the default gateway config.
pub fn start_apis(apis: &[Value]) -> Gateway {
    start(apis, json!({}))
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

/// `GET url` with [`h1`], unwrapped.
pub async fn get(url: &str) -> reqwest::Response {
    h1().get(url).send().await.unwrap()
}

/// Asserts that each API of `apis` was refused at load (`GET /<api><path>` is
/// 404: no API serves it) and that the gateway's log names every one of
/// `fields`, as a refusal must.
pub async fn assert_refused<S: AsRef<str>>(gw: &Gateway, apis: &[&str], path: &str, fields: &[S]) {
    for api in apis {
        let status = get(&gw.url(&format!("/{api}{path}"))).await.status();
        assert_eq!(status, 404, "{api} is not served");
    }
    // The log is written asynchronously: a refusal may land after the gateway answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut logs = gw.logs();
    while !fields.iter().all(|f| logs.contains(f.as_ref())) && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        logs = gw.logs();
    }
    for field in fields {
        let field = field.as_ref();
        assert!(logs.contains(field), "no error names {field}:\n{logs}");
    }
}
