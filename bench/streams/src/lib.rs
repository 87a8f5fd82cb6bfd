//! What the stream benchmarks share: processes, events with their send time, an SSE reader,
//! concurrent POSTs, and Weir started on a streams definition.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{Value, json};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The command line as `--flag value` pairs (every flag of these benchmarks takes a value).
pub fn flags() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        out.push((flag, value));
    }
    out
}

/// A child process killed on drop.
pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// A ~250-byte job event like seed 001's, with its send time.
pub fn event(n: usize) -> Vec<u8> {
    json!({
        "message": "hello world, this is a job for the worker stream of seed 001",
        "user_id": format!("user-{}", n % 100),
        "job_id": format!("6f1c1c2e-8a3b-4c57-9d1e-{n:012}"),
        "attempt": 1,
        "tags": ["bench", "kafka", "sse"],
        "sent_us": now_us(),
    })
    .to_string()
    .into_bytes()
}

pub async fn wait_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// An SSE client's events; messages/s from the first to the last, and latencies (µs).
pub async fn consume_sse(url: &str, count: usize) -> (f64, Vec<u64>) {
    let client = reqwest::Client::builder().no_proxy().http1_only().build().unwrap();
    let resp = client.get(url).send().await.expect("SSE GET");
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut lat = Vec::with_capacity(count);
    let mut first = None;
    while lat.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .unwrap_or_else(|_| panic!("SSE: {} of {count} events, then nothing for 30 s", lat.len()))
            .expect("SSE ended")
            .expect("SSE read");
        first.get_or_insert_with(Instant::now);
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = buf[start..].windows(2).position(|w| w == b"\n\n") {
            let block = &buf[start..start + end];
            for line in block.split(|b| *b == b'\n') {
                if let Some(data) = line.strip_prefix(b"data: ") {
                    let v: Value = serde_json::from_slice(data).unwrap();
                    assert_eq!(v["result"], "bar", "the Worker mapping ran");
                    lat.push(now_us().saturating_sub(v["sent_us"].as_u64().unwrap()));
                }
            }
            start += end + 2;
        }
        buf.drain(..start);
    }
    let secs = first.unwrap().elapsed().as_secs_f64();
    (count as f64 / secs.max(1e-9), lat)
}

pub fn percentile(lat: &mut [u64], p: f64) -> f64 {
    lat.sort_unstable();
    let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
    lat[i] as f64 / 1000.0
}

/// POSTs `count` events to `url` with `in_flight` requests outstanding.
pub async fn post_all(http: &reqwest::Client, url: &str, count: usize, in_flight: usize) {
    futures_util::stream::iter(0..count)
        .map(|n| {
            let (http, url) = (http.clone(), url.to_string());
            async move {
                let resp = http.post(&url).body(event(n)).send().await.expect("POST");
                assert_eq!(resp.status(), 200, "ingest POST");
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}


/// Starts weir with one OAS API `bench` at `/bench/` serving `streams`; its port and the
/// directory holding its config and log.
pub fn start_weir(bin: &Path, streams: Value) -> (Proc, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    let port = free_port();
    let api = json!({
        "openapi": "3.0.3", "info": {"title": "bench", "version": "1"}, "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": "bench", "name": "bench", "state": {"active": true}},
            "server": {"listenPath": {"value": "/bench/", "strip": true}},
            "upstream": {"url": ""}
        },
        "x-tyk-streaming": {"streams": streams}
    });
    std::fs::write(dir.path().join("apps/bench.json"), api.to_string()).unwrap();
    let conf = json!({
        "listen_address": "127.0.0.1", "listen_port": port, "secret": "bench", "app_path": "apps",
        "log_level": "warn", "access_logs": {"enabled": false}, "streaming": {"enabled": true}
    });
    std::fs::write(dir.path().join("weir.json"), conf.to_string()).unwrap();
    let log = std::fs::File::create(dir.path().join("weir.log")).unwrap();
    let child = Command::new(bin)
        .args(["run", "--conf"])
        .arg(dir.path().join("weir.json"))
        .current_dir(dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start weir");
    (Proc(child), port, dir)
}

/// POSTs `warm_up` untimed events (connections opened, producers created), then `count`
/// timed; messages/s of the timed part.
pub async fn post_rate(http: &reqwest::Client, url: &str, warm_up: usize, count: usize, in_flight: usize) -> f64 {
    post_all(http, url, warm_up, in_flight).await;
    let start = Instant::now();
    post_all(http, url, count, in_flight).await;
    count as f64 / start.elapsed().as_secs_f64()
}
