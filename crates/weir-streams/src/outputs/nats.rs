//! `nats` (output): publishes each message on core NATS. At-most-once: the server confirms
//! nothing and keeps nothing, so a subscriber that is not connected misses the message; a
//! write succeeds once the message is flushed to the server's socket. A write fails (and the
//! input delivers again) while the connection is down or when the flush does not complete
//! within [`WRITE_TIMEOUT`]. The connection is made at the first write; the client reconnects
//! by itself and the link follows its events.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::link::{Lazy, Link};
use crate::message::{Message, Outcome, SyncSlot};
use crate::nats_client::NatsConn;
use crate::nats_client::output::{OutputConfig, OutputTarget, usable};

/// How long a write may wait for its flush to the server.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bento's `nats` output fields (`subject`, `headers`, `metadata`, `max_in_flight`), beside
/// the connection fields (`urls`, `max_reconnects`, `tls`, `tls_handshake_first`, `auth`).
pub type NatsOutputConfig = OutputConfig;

/// Writes outstanding at once unless `max_in_flight` says otherwise.
pub const MAX_IN_FLIGHT: usize = 64;

/// A checked `nats` output.
pub struct NatsOutput {
    inner: Arc<Inner>,
}

struct Inner {
    target: OutputTarget,
    conn: Lazy<NatsConn>,
}

impl NatsOutput {
    /// Checks the config (the connection is made at the first write).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let target = NatsOutputConfig::read(body, path, MAX_IN_FLIGHT)?;
        let link = Link::register(path, links);
        Ok(NatsOutput {
            inner: Arc::new(Inner {
                target,
                conn: Lazy::new(link),
            }),
        })
    }
}

impl Output for NatsOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (subject, headers) = inner.target.render(&msg)?;
            let connect = || inner.target.endpoint.connect(&inner.conn.link, None, true);
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
        self.inner.target.max_in_flight
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
}
