//! Helpers for the stream tests: an OAS API serving streams, a gateway with streaming on,
//! a Server-Sent Events reader and the control API.

use std::time::Duration;

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
