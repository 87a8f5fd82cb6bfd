//! `nats` (output): publishes each message on core NATS. At-most-once: the server confirms
//! nothing and keeps nothing, so a subscriber that is not connected misses the message; a
//! write succeeds once the message is flushed to the server's socket. A write fails (and the
//! input delivers again) while the connection is down or when the flush does not complete
//! within [`WRITE_TIMEOUT`]. The connection is made at the first write; the client reconnects
//! by itself and the link follows its events.

use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::link::{Lazy, Link};
use crate::message::{Message, Outcome, SyncSlot, meta_string};
use crate::nats_client::{NatsConn, NatsEndpoint, check_subject};

/// How long a write may wait for its flush to the server.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bento's `nats` output fields, beside the connection fields (`urls`, `max_reconnects`,
/// `tls`, `tls_handshake_first`, `auth`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsOutputConfig {
    /// The subject (interpolated).
    pub subject: String,
    /// Headers (values interpolated).
    pub headers: BTreeMap<String, String>,
    /// Which metadata becomes headers.
    pub metadata: MetadataInclude,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
}

impl Default for NatsOutputConfig {
    fn default() -> Self {
        NatsOutputConfig {
            subject: String::new(),
            headers: BTreeMap::new(),
            metadata: MetadataInclude::default(),
            max_in_flight: 64,
        }
    }
}

/// A checked `nats` output.
pub struct NatsOutput {
    inner: Arc<Inner>,
    max_in_flight: usize,
}

struct Inner {
    endpoint: NatsEndpoint,
    conn: Lazy<NatsConn>,
    subject: bloblang::Interpolation,
    headers: OutputHeaders,
}

impl NatsOutput {
    /// Checks the config (the connection is made at the first write).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::nats_client::split(body, path)?;
        let cfg: NatsOutputConfig = crate::config::typed(&rest, path)?;
        let at = format!("{path}.subject");
        let subject = crate::config::interpolation(&cfg.subject, &at)?;
        // A fixed subject is checked now; an interpolated one at each write.
        if subject.is_static() {
            check_subject(&cfg.subject, false, &at)?;
        }
        let headers = OutputHeaders::new(&cfg.headers, &cfg.metadata, path)?;
        let link = Link::new(path);
        links.push(link.clone());
        Ok(NatsOutput {
            inner: Arc::new(Inner {
                endpoint,
                conn: Lazy::new(link),
                subject,
                headers,
            }),
            max_in_flight: cfg.max_in_flight.max(1),
        })
    }
}

impl Output for NatsOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let subject = inner
                .subject
                .render(&msg)
                .map_err(|e| format!("subject: {e}"))?;
            let headers = inner.headers.render(&msg)?;
            let connect = || inner.endpoint.connect(&inner.conn.link, None, true);
            let c = usable(&inner.conn, connect, |c| c).await?;
            let payload = bytes::Bytes::from(msg.content);
            match headers {
                Some(h) => c.client.publish_with_headers(subject, h, payload).await,
                None => c.client.publish(subject, payload).await,
            }
            .map_err(|e| format!("nats: publish: {e}"))?;
            match tokio::time::timeout(WRITE_TIMEOUT, c.client.flush()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("nats: flush: {e}")),
                Err(_) => Err(format!("nats: not flushed within {WRITE_TIMEOUT:?}")),
            }
        })
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}

/// An output's connection, made if there is none (`nats` picks the client out of `T`). A
/// write while the connection is down fails at once rather than queue behind the
/// reconnection; a client that gave up is replaced at the next write.
pub(crate) async fn usable<T, F, Fut>(
    conn: &Lazy<T>,
    connect: F,
    nats: fn(&T) -> &NatsConn,
) -> Result<T, String>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let c = conn.get(connect).await?;
    let n = nats(&c);
    if n.is_dead() {
        conn.reset("the NATS client gave up reconnecting").await;
        return Err("nats: the connection closed; reconnecting".into());
    }
    if !n.is_up() {
        return Err("nats: not connected (reconnecting)".into());
    }
    Ok(c)
}

/// Bento's `metadata` block on NATS outputs: which metadata keys become headers.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataInclude {
    /// Keys starting with one of these.
    pub include_prefixes: Vec<String>,
    /// Keys matching one of these regular expressions.
    pub include_patterns: Vec<String>,
}

/// An output's headers: `headers` (interpolated; they win over metadata) and the metadata
/// `metadata.include_*` selects.
pub struct OutputHeaders {
    fixed: Vec<(HeaderName, bloblang::Interpolation)>,
    prefixes: Vec<String>,
    patterns: Vec<regex::Regex>,
}

impl OutputHeaders {
    /// Checks the header names and compiles the values and patterns.
    pub fn new(
        headers: &BTreeMap<String, String>,
        meta: &MetadataInclude,
        path: &str,
    ) -> Result<Self, StreamError> {
        let mut fixed = Vec::new();
        for (k, v) in headers {
            let at = format!("{path}.headers.{k}");
            let name = HeaderName::from_str(k)
                .map_err(|e| StreamError::new(&at, format!("not a header name: {e}")))?;
            fixed.push((name, crate::config::interpolation(v, &at)?));
        }
        let mut patterns = Vec::new();
        for (i, p) in meta.include_patterns.iter().enumerate() {
            patterns.push(regex::Regex::new(p).map_err(|e| {
                StreamError::new(
                    format!("{path}.metadata.include_patterns[{i}]"),
                    e.to_string(),
                )
            })?);
        }
        Ok(OutputHeaders {
            fixed,
            prefixes: meta.include_prefixes.clone(),
            patterns,
        })
    }

    /// The headers for `msg` (none: `None`). Metadata that cannot be a header (a name with
    /// `:` or a value with a line break) is left out; a `headers` value that cannot fails.
    pub fn render(&self, msg: &Message) -> Result<Option<HeaderMap>, String> {
        let mut map = HeaderMap::new();
        if !self.prefixes.is_empty() || !self.patterns.is_empty() {
            for (k, _) in msg.metadata.iter() {
                let wanted = self.prefixes.iter().any(|p| k.starts_with(p.as_str()))
                    || self.patterns.iter().any(|p| p.is_match(k));
                if !wanted {
                    continue;
                }
                let value = meta_string(msg, k).unwrap_or_default();
                match (HeaderName::from_str(k), HeaderValue::from_str(&value)) {
                    (Ok(n), Ok(v)) => map.insert(n, v),
                    _ => {
                        tracing::debug!(key = %k, "metadata not sendable as a NATS header; left out")
                    }
                }
            }
        }
        for (name, value) in &self.fixed {
            let text = value
                .render(msg)
                .map_err(|e| format!("header `{name}`: {e}"))?;
            let v = HeaderValue::from_str(&text).map_err(|e| format!("header `{name}`: {e}"))?;
            map.insert(name.clone(), v);
        }
        Ok((!map.is_empty()).then_some(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(v: Value) -> Result<NatsOutput, StreamError> {
        NatsOutput::new(&v, "o", &mut Vec::new())
    }

    #[test]
    fn the_config_is_checked_naming_the_field() {
        let ok = output(json!({"urls": ["nats://h"], "subject": "out.${! meta(\"k\") }",
                               "headers": {"X-A": "${! content() }"},
                               "metadata": {"include_prefixes": ["a_"], "include_patterns": ["^b"]}}))
        .unwrap();
        assert_eq!(ok.max_in_flight(), 64);
        let u = json!(["nats://h"]);
        for (body, field) in [
            (json!({"urls": u}), "o.subject"),
            (json!({"subject": "a"}), "o.urls"),
            (json!({"urls": u, "subject": "a.*"}), "o.subject"),
            (json!({"urls": u, "subject": "${! nope( }"}), "o.subject"),
            (
                json!({"urls": u, "subject": "a", "headers": {"a:b": "x"}}),
                "o.headers.a:b",
            ),
            (
                json!({"urls": u, "subject": "a", "metadata": {"exclude_prefixes": []}}),
                "o.metadata.exclude_prefixes",
            ),
            (
                json!({"urls": u, "subject": "a", "inject_tracing_map": "meta = @"}),
                "o.inject_tracing_map",
            ),
            (
                json!({"urls": u, "subject": "a", "batching": {"count": 2}}),
                "o.batching",
            ),
        ] {
            let e = output(body).err().unwrap();
            assert_eq!(e.path, field, "{e}");
        }
    }

    #[tokio::test]
    async fn a_write_with_no_server_fails_and_reports_the_link() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut links = Vec::new();
        let o = NatsOutput::new(
            &json!({"urls": [format!("nats://127.0.0.1:{port}")], "subject": "a"}),
            "o",
            &mut links,
        )
        .unwrap();
        let e = o.write(Message::default(), None).await.unwrap_err();
        assert!(e.contains("nats"), "{e}");
        assert_eq!(links[0].describe()["state"], "disconnected");
    }

    #[test]
    fn output_headers_from_fields_and_selected_metadata() {
        let fixed = BTreeMap::from([("X-Kind".to_string(), "${! meta(\"kind\") }".to_string())]);
        let meta = MetadataInclude {
            include_prefixes: vec!["keep_".into()],
            include_patterns: vec!["^also$".into()],
        };
        let h = OutputHeaders::new(&fixed, &meta, "o").unwrap();
        let mut m = Message::default();
        for (k, v) in [
            ("kind", "k1"),
            ("keep_a", "1"),
            ("also", "2"),
            ("drop", "3"),
            ("keep_:bad", "4"),
        ] {
            m.metadata.insert(k, bloblang::Value::String(v.into()));
        }
        let map = h.render(&m).unwrap().unwrap();
        assert_eq!(map.get("X-Kind").unwrap().as_str(), "k1");
        assert_eq!(map.get("keep_a").unwrap().as_str(), "1");
        assert_eq!(map.get("also").unwrap().as_str(), "2");
        assert!(map.get("drop").is_none() && map.get("kind").is_none());
        assert_eq!(map.len(), 3);
        let none = OutputHeaders::new(&BTreeMap::new(), &MetadataInclude::default(), "o").unwrap();
        assert!(none.render(&m).unwrap().is_none());
        let bad = BTreeMap::from([("a:b".to_string(), "x".to_string())]);
        let e = OutputHeaders::new(&bad, &MetadataInclude::default(), "o")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.headers.a:b");
        let bad = MetadataInclude {
            include_patterns: vec!["(".into()],
            ..Default::default()
        };
        let e = OutputHeaders::new(&BTreeMap::new(), &bad, "o")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.metadata.include_patterns[0]");
    }
}
