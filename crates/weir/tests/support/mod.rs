//! Helpers for the control-plane, reload, bad-input and CLI end-to-end tests
//! (each test file is its own crate and uses a subset, hence `dead_code`).
#![allow(dead_code)]

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weir_testkit::{Gateway, SECRET};

pub mod bundles;
pub mod plugin_server;

/// A keyless classic API at `/<id>/` with the plugin block `middleware` and a `config_data`
/// naming a header to set (the plugin examples read it).
pub fn plugin_api(id: &str, target: &str, middleware: Value) -> Value {
    let config = json!({"header_name": "X-Hello", "header_value": "from config"});
    plugin_api_with(id, target, middleware, config)
}

/// A keyless classic API at `/<id>/` with the plugin block `middleware` and `config_data`.
pub fn plugin_api_with(id: &str, target: &str, middleware: Value, config_data: Value) -> Value {
    json!({
        "api_id": id, "name": id, "org_id": "1", "use_keyless": true, "active": true,
        "proxy": {"listen_path": format!("/{id}/"), "target_url": target, "strip_listen_path": true},
        "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}},
        "config_data": config_data,
        "custom_middleware": middleware
    })
}

/// A file of `examples/plugins/<language>/`.
pub fn plugin_example(language: &str, file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/plugins")
        .join(language)
        .join(file)
}

/// The weir binary cargo built for these tests.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weir"))
}

/// Tyk's answer to a missing or wrong `X-Tyk-Authorization`.
pub const DENIED: &str = "Attempted administrative access with invalid or missing key!";

/// An HTTP/1.1 client with keep-alive, no proxies from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// `http://<control addr><path>`.
pub fn control_url(gw: &Gateway, path: &str) -> String {
    format!("http://{}{path}", gw.control_addr())
}

/// Calls the control API with the right secret; returns the status and the JSON body.
pub async fn admin(gw: &Gateway, method: &str, path: &str, body: Option<String>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(method, control_url(gw, path))
        .header("X-Tyk-Authorization", SECRET);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {text:?}"));
    (status, json)
}

/// Makes a key through `POST /tyk/keys` in org `org1`, with no rate limit or
/// quota, giving access to the `Default` version of each API of `apis`, and
/// `meta_data` unless it is null. Asserts a 200 answer; returns the key.
pub async fn create_key(gw: &Gateway, apis: &[&str], meta_data: Value) -> String {
    let rights: serde_json::Map<String, Value> = apis
        .iter()
        .map(|id| {
            let right = json!({"api_id": id, "api_name": id, "versions": ["Default"]});
            (id.to_string(), right)
        })
        .collect();
    let mut session =
        json!({"org_id": "org1", "rate": 0, "quota_max": -1, "access_rights": rights});
    if !meta_data.is_null() {
        session["meta_data"] = meta_data;
    }
    let (status, body) = admin(gw, "POST", "/tyk/keys", Some(session.to_string())).await;
    assert_eq!(status, 200, "{body}");
    body["key"].as_str().unwrap().to_string()
}

/// `GET /tyk/reload?block=true` through [`admin`], asserting `{"status":"ok"}`.
/// Returns the message (the reload's problems, if any).
pub async fn reload(gw: &Gateway) -> String {
    let (status, body) = admin(gw, "GET", "/tyk/reload?block=true", None).await;
    assert_eq!(status, 200, "reload: {body}");
    assert_eq!(body["status"], "ok", "reload: {body}");
    body["message"].as_str().unwrap_or("").to_string()
}

/// GET `url` and return the status (0 when the request failed).
pub async fn status_of(url: &str) -> u16 {
    match client().get(url).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Polls `check` every 50 ms until it returns true; false after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True once the gateway's logs hold every one of `needles`, polled for up to 5 s: the log is
/// written asynchronously, so a line about a load may land after the gateway answers.
pub fn logged(gw: &Gateway, needles: &[&str]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = gw.logs();
        if needles.iter().all(|n| logs.contains(n)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `bytes` on a fresh connection, half-closes nothing, and reads until
/// EOF or `timeout`. Write errors are ignored (the server may close early);
/// returns what was read, or the read error if nothing was.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => return Ok(out),
        }
    }
}

/// The status code of a raw HTTP/1.x response, if it starts with one.
pub fn raw_status(raw: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(raw);
    let line = text.lines().next()?;
    if !line.starts_with("HTTP/1.") {
        return None;
    }
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A plain `GET path` with `Connection: close` on a new connection; the status.
pub fn raw_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw_exchange(addr, req.as_bytes(), Duration::from_secs(5))
        .ok()
        .and_then(|r| raw_status(&r))
}

/// Runs the weir binary with `args` and extra environment variables.
pub fn run_weir(args: &[&str], envs: &[(&str, &str)], cwd: &Path) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(cwd);
    // Keep the caller's TYK_GW_* out of the child so tests are reproducible.
    for (k, _) in std::env::vars() {
        if k.starts_with("TYK_GW_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run weir")
}

/// Lines of a process's stderr.
pub fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Sends one request; returns status, headers and body text.
pub async fn send(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (status, h, resp.text().await.unwrap())
}

/// Parses a body as JSON, naming the body when it is not.
pub fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
