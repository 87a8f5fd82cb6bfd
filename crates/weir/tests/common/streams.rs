//! Helpers for the stream tests: an OAS API serving streams, a gateway with streaming on,
//! a Server-Sent Events reader, the control API and /metrics (connection states, messages
//! sent per node), and the tally of a relay that Weir is killed in the middle of.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use weir_testkit::{Gateway, SECRET};

/// A Tyk OAS definition with no upstream, serving `streams` under `/<name>/`.
pub fn streams_api(name: &str, streams: Value) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": name, "version": "1.0.0"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": name, "name": name, "state": {"active": true}},
            "middleware": {"global": {"contextVariables": {"enabled": true}}},
            "server": {"listenPath": {"value": format!("/{name}/"), "strip": true}},
            "upstream": {"url": ""}
        },
        "x-tyk-streaming": {"streams": streams}
    })
}

pub fn start(apis: &[(&str, Value)], conf: Value) -> Gateway {
    let files: Vec<(String, String)> = apis
        .iter()
        .map(|(name, def)| (format!("{name}.json"), def.to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, d)| (f.as_str(), d.as_str()))
        .collect();
    let mut c = json!({"streaming": {"enabled": true}});
    for (k, v) in conf.as_object().unwrap() {
        c[k] = v.clone();
    }
    Gateway::start(super::bin(), &refs, c)
}

/// One SSE connection's events: (id, data), read until `stop` says so or the body ends.
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: Vec<u8>,
}

impl Sse {
    pub async fn open(http: &reqwest::Client, url: &str, last_id: Option<&str>) -> Sse {
        let mut req = http.get(url);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("SSE GET");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            body: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
        }
    }

    /// The next event as (id, data), waiting up to `within`.
    pub async fn next(&mut self, within: Duration) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8(block).unwrap();
                let (mut id, mut data) = (String::new(), String::new());
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_string();
                    }
                }
                if data.is_empty() {
                    continue; // a comment (heartbeat)
                }
                return Some((id, data));
            }
            match tokio::time::timeout(within, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    }
}

pub async fn control_get(gw: &Gateway, path: &str) -> String {
    super::h1()
        .get(format!("http://127.0.0.1:{}{path}", gw.port()))
        .header("x-tyk-authorization", SECRET)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// An `http_server` output serving Server-Sent Events at `path` (heartbeat off, so every
/// event counts).
pub fn sse_output(path: &str) -> Value {
    json!({"http_server": {"stream_path": path, "stream_format": "event_source", "heartbeat": "0s"}})
}

/// A stream answering each POST to `/echo` with its body: it uses no broker, so it keeps
/// running while the broker of its API's other streams is away.
pub fn echo_stream() -> Value {
    json!({
        "input": {"http_server": {"path": "/echo"}},
        "output": {"sync_response": {}}
    })
}

/// An HTTP client without a total timeout, for event streams that stay open.
pub fn sse_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .build()
        .unwrap()
}

/// POSTs each body (JSON, or text) to `path`, expecting 200 for each.
pub async fn post_all<B: ToString>(gw: &Gateway, path: &str, bodies: impl IntoIterator<Item = B>) {
    let http = super::h1();
    for b in bodies {
        let b = b.to_string();
        let r = http
            .post(gw.url(path))
            .body(b.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "POST {b}: {}", r.text().await.unwrap());
    }
}

/// The next event's data as JSON, failing with the gateway's logs after 20 s.
pub async fn next_json(sse: &mut Sse, gw: &Gateway) -> Value {
    let Some((_, data)) = sse.next(Duration::from_secs(20)).await else {
        panic!("no event within 20 s\n{}", gw.logs());
    };
    serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))
}

/// The control API's list of streams (`/tyk/streams`).
pub async fn listing(gw: &Gateway) -> Value {
    serde_json::from_str(&control_get(gw, "/tyk/streams").await).unwrap()
}

/// The first connection of `stream`'s first instance, as the control API shows it.
pub fn connection(listing: &Value, stream: &str) -> Value {
    listing
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == stream)
        .map(|s| s["instances"][0]["connections"][0].clone())
        .unwrap_or(Value::Null)
}

/// The connection entries of every instance of every stream, from the control API.
pub async fn connections(gw: &Gateway) -> Vec<Value> {
    let listing = listing(gw).await;
    let mut all = Vec::new();
    for stream in listing.as_array().into_iter().flatten() {
        for inst in stream["instances"].as_array().into_iter().flatten() {
            all.extend(inst["connections"].as_array().cloned().unwrap_or_default());
        }
    }
    all
}

/// Waits until every stream in `streams` shows its connection in `state`; the listing then.
pub async fn wait_state(gw: &Gateway, streams: &[&str], state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let l = listing(gw).await;
        if streams.iter().all(|s| connection(&l, s)["state"] == state) {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "never {state}: {l}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True when /metrics has `name` for `stream` with a value `ok` accepts.
pub fn metric(metrics: &str, name: &str, stream: &str, ok: impl Fn(&str) -> bool) -> bool {
    metrics.lines().any(|l| {
        l.starts_with(&format!("{name}{{"))
            && l.contains(&format!("stream=\"{stream}\""))
            && l.rsplit(' ').next().is_some_and(&ok)
    })
}

/// Once the broker of `streams` (in the API at `/<api>/`) went away: waits until they are
/// disconnected, and checks that each says why, that /metrics counts it down, and that the
/// API's [`echo_stream`] still answers. The listing then.
pub async fn assert_down_alone(gw: &Gateway, api: &str, streams: &[&str]) -> Value {
    let l = wait_state(gw, streams, "disconnected", Duration::from_secs(20)).await;
    let metrics = control_get(gw, "/metrics").await;
    for stream in streams {
        assert!(connection(&l, stream)["last_error"].is_string(), "{l}");
        let down = metric(&metrics, "weir_stream_connections_down", stream, |v| {
            v == "1"
        });
        assert!(down, "{stream}: {metrics}");
    }
    let r = super::h1()
        .post(gw.url(&format!("/{api}/echo")))
        .body("still here")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "still here");
    l
}

/// Checks that /metrics counts a reconnection for each of `streams`.
pub async fn assert_reconnects_counted(gw: &Gateway, streams: &[&str]) {
    let metrics = control_get(gw, "/metrics").await;
    for stream in streams {
        let again = metric(&metrics, "weir_stream_reconnects_total", stream, |v| {
            v != "0"
        });
        assert!(again, "{stream}: {metrics}");
    }
}

/// Messages `stream` delivered on `gw` (all its instances), from /tyk/streams.
pub async fn sent(gw: &Gateway, stream: &str) -> u64 {
    listing(gw)
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stream"] == stream)
        .map(|s| s["sent"].as_u64().unwrap())
        .sum()
}

/// Messages each node's `stream` delivered once they add up to `total` (a node counts a
/// write when its confirmation arrives, just after the message), or after 10 s.
pub async fn sent_per_node(nodes: &[Gateway], stream: &str, total: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut per_node = Vec::new();
        for gw in nodes {
            per_node.push(sent(gw, stream).await);
        }
        if per_node.iter().sum::<u64>() >= total || Instant::now() >= deadline {
            return per_node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks that the nodes shared the work: `total` messages in all, each node some.
pub fn assert_shared(per_node: &[u64], total: u64) {
    assert_eq!(per_node.iter().sum::<u64>(), total, "{per_node:?}");
    assert!(
        per_node.iter().all(|n| *n > 0),
        "a node did no work: {per_node:?}"
    );
}

/// How often each relayed message (by its `n`) arrived.
#[derive(Default)]
pub struct Tally(pub BTreeMap<i64, usize>);

/// Where a relay test reads the relayed messages from.
pub trait Feed {
    /// The next message, if one comes within `within`.
    fn next(&mut self, within: Duration) -> impl Future<Output = Option<Value>>;
}

impl Tally {
    /// Counts a relayed message (which says so: `"relayed": true`).
    pub fn add(&mut self, v: &Value) {
        assert_eq!(v["relayed"], true, "{v}");
        *self.0.entry(v["n"].as_i64().unwrap()).or_default() += 1;
    }

    /// How many of `0..total` never arrived.
    pub fn missing(&self, total: usize) -> usize {
        (0..total as i64)
            .filter(|n| !self.0.contains_key(n))
            .count()
    }

    /// Arrivals beyond the first of each.
    pub fn duplicates(&self) -> usize {
        self.0.values().map(|c| c - 1).sum()
    }

    /// Reads `feed` until `done` says so; fails naming `what` after 60 s.
    pub async fn read_until(
        &mut self,
        feed: &mut impl Feed,
        gw: &Gateway,
        what: &str,
        done: impl Fn(&Tally) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: {} distinct arrived\n{}",
                self.0.len(),
                gw.logs()
            );
            if let Some(v) = feed.next(Duration::from_secs(1)).await {
                self.add(&v);
            }
        }
    }

    /// Counts late redeliveries too, until nothing comes for two seconds.
    pub async fn drain(&mut self, feed: &mut impl Feed) {
        while let Some(v) = feed.next(Duration::from_secs(2)).await {
            self.add(&v);
        }
    }

    /// Kills Weir with SIGKILL once a quarter of `total` was relayed; how many had been.
    pub async fn kill_midway(
        &mut self,
        feed: &mut impl Feed,
        mut gw: Gateway,
        total: usize,
    ) -> usize {
        self.read_until(feed, &gw, "relaying stalled", |t| t.0.len() >= total / 4)
            .await;
        gw.signal(9);
        assert!(gw.wait_exit(Duration::from_secs(5)).is_some());
        assert!(self.missing(total) > 0, "the kill came after the end");
        self.0.len()
    }
}

/// Checks that each n in `0..total` arrived exactly once (`counts`: arrivals by n), as it
/// must while every node is up.
pub fn assert_each_once(counts: &BTreeMap<u64, usize>, total: u64) {
    assert_eq!(counts.len() as u64, total, "not all processed");
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        twice.is_empty(),
        "processed more than once while all were up: {twice:?}"
    );
}

/// Checks that every n in `0..total` arrived (`counts`: arrivals by n, `gw`: whose logs to
/// show when not); how many came more than once.
pub fn assert_none_lost(counts: &BTreeMap<u64, usize>, total: u64, gw: &Gateway) -> usize {
    let missing: Vec<u64> = (0..total).filter(|n| !counts.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} lost (first {:?})\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        gw.logs()
    );
    counts.values().map(|c| c - 1).sum()
}
