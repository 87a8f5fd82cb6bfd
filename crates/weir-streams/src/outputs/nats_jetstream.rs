//! `nats_jetstream` (output): publishes each message to JetStream. At-least-once: a write
//! succeeds when the server's PubAck says a stream stored the message, and fails (so the
//! input delivers again) when no stream holds the subject, when the connection is down, or
//! when the PubAck does not come within [`ACK_TIMEOUT`] (the message may then be stored
//! twice). The connection is made at the first write; the client reconnects by itself and
//! the link follows its events.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::ContextBuilder};
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::link::{Lazy, Link};
use crate::message::{Message, Outcome, SyncSlot};
use crate::nats_client::NatsConn;
use crate::nats_client::output::{OutputConfig, OutputTarget, usable};

/// How long a write waits for the server's PubAck.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Bento's `nats_jetstream` output fields (`subject`, `headers`, `metadata`, `max_in_flight`), beside
/// the connection fields (`urls`, `max_reconnects`, `tls`, `tls_handshake_first`, `auth`).
pub type NatsJetStreamOutputConfig = OutputConfig;

/// Writes outstanding at once unless `max_in_flight` says otherwise, each write waiting for its PubAck.
pub const MAX_IN_FLIGHT: usize = 1024;

/// A checked `nats_jetstream` output.
pub struct NatsJetStreamOutput {
    inner: Arc<Inner>,
}

struct Inner {
    target: OutputTarget,
    conn: Lazy<(NatsConn, jetstream::Context)>,
}

impl NatsJetStreamOutput {
    /// Checks the config (the connection is made at the first write).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let target = NatsJetStreamOutputConfig::read(body, path, MAX_IN_FLIGHT)?;
        let link = Link::register(path, links);
        Ok(NatsJetStreamOutput {
            inner: Arc::new(Inner {
                target,
                conn: Lazy::new(link),
            }),
        })
    }
}

impl Inner {
    /// A connection and its JetStream context (made once per connection: it runs a task).
    async fn connect(&self) -> Result<(NatsConn, jetstream::Context), String> {
        let c = self
            .target
            .endpoint
            .connect(&self.conn.link, None, true)
            .await?;
        let js = ContextBuilder::new()
            .ack_timeout(ACK_TIMEOUT)
            .max_ack_inflight(self.target.max_in_flight)
            .backpressure_on_inflight(true)
            .build(c.client.clone());
        Ok((c, js))
    }
}

impl Output for NatsJetStreamOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (subject, headers) = inner.target.render(&msg)?;
            let (_, js) = usable(&inner.conn, || inner.connect(), |(c, _)| c).await?;
            let payload = bytes::Bytes::from(msg.content);
            let ack = match headers {
                Some(h) => js.publish_with_headers(subject.clone(), h, payload).await,
                None => js.publish(subject.clone(), payload).await,
            }
            .map_err(|e| format!("nats jetstream: publish to `{subject}`: {e}"))?;
            ack.await
                .map(|_| ())
                .map_err(|e| format!("nats jetstream: publish to `{subject}` not stored: {e}"))
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

    fn output(v: Value) -> Result<NatsJetStreamOutput, StreamError> {
        NatsJetStreamOutput::new(&v, "o", &mut Vec::new())
    }

    #[test]
    fn the_config_is_checked_naming_the_field() {
        let ok = output(json!({"urls": ["nats://h"], "subject": "${! meta(\"to\") }"})).unwrap();
        assert_eq!(ok.max_in_flight(), 1024);
        let u = json!(["nats://h"]);
        for (body, field) in [
            (json!({"urls": u}), "o.subject"),
            (json!({"subject": "a"}), "o.urls"),
            (json!({"urls": u, "subject": "a.>"}), "o.subject"),
            (
                json!({"urls": u, "subject": "a", "headers": {"X": "${! bad( }"}}),
                "o.headers.X",
            ),
            (
                json!({"urls": u, "subject": "a", "stream": "S"}),
                "o.stream",
            ),
            (
                json!({"urls": u, "subject": "a", "tls": {"skip_cert_verify": true}}),
                "o.tls.skip_cert_verify",
            ),
        ] {
            let e = output(body).err().unwrap();
            assert_eq!(e.path, field, "{e}");
        }
    }
}
