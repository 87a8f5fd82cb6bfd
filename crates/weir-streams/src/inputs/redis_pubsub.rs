//! `redis_pubsub` (input): subscribes to channels (or patterns). Redis pub/sub keeps nothing:
//! a message published while Weir is not subscribed is gone, and one that arrived but was
//! not delivered when Weir stops is lost. At-most-once; a nack is replayed from memory while
//! the stream runs (`auto_replay_nacks`).

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Source, replayable};
use crate::error::StreamError;
use crate::link::Link;
use crate::message::{Message, Transaction};
use crate::redis_client::RedisEndpoint;

/// Bento's `redis_pubsub` input fields, beside the connection fields (`url`, `kind`, `master`, `tls`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisPubsubInputConfig {
    /// Channels (or patterns) to subscribe to.
    pub channels: Vec<String>,
    /// Channels are glob patterns (PSUBSCRIBE).
    pub use_patterns: bool,
    /// Deliver a nacked message again from memory.
    pub auto_replay_nacks: bool,
}

impl Default for RedisPubsubInputConfig {
    fn default() -> Self {
        RedisPubsubInputConfig {
            channels: Vec::new(),
            use_patterns: false,
            auto_replay_nacks: true,
        }
    }
}

/// A checked `redis_pubsub` input.
pub struct RedisPubsubInput {
    cfg: RedisPubsubInputConfig,
    endpoint: RedisEndpoint,
    link: Arc<Link>,
}

impl RedisPubsubInput {
    /// Checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::redis_client::split(body, path)?;
        let cfg: RedisPubsubInputConfig = crate::config::typed(&rest, path)?;
        if cfg.channels.is_empty() {
            return Err(StreamError::new(
                format!("{path}.channels"),
                "at least one channel is required",
            ));
        }
        let link = Link::register(path, links);
        Ok(RedisPubsubInput {
            cfg,
            endpoint,
            link,
        })
    }

    async fn subscribe(&self) -> Result<redis::aio::PubSub, String> {
        let mut pubsub = self.endpoint.pubsub().await?;
        for ch in &self.cfg.channels {
            let done = if self.cfg.use_patterns {
                pubsub.psubscribe(ch).await
            } else {
                pubsub.subscribe(ch).await
            };
            done.map_err(|e| format!("subscribing to `{ch}`: {e}"))?;
        }
        Ok(pubsub)
    }

    async fn consume(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        while let Some(pubsub) = self.link.connect(&stop, || self.subscribe()).await {
            let mut messages = pubsub.into_on_message();
            loop {
                let m = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = messages.next() => m,
                };
                let Some(m) = m else {
                    self.link.failed("the subscription connection closed");
                    break;
                };
                let mut msg = Message {
                    content: m.get_payload_bytes().to_vec(),
                    ..Message::default()
                };
                msg.metadata.insert(
                    "redis_pubsub_channel",
                    bloblang::Value::String(m.get_channel_name().into()),
                );
                let t = replayable(&tx, msg, self.cfg.auto_replay_nacks);
                if tx.send(t).await.is_err() {
                    return;
                }
            }
            if !self.link.pause(&stop).await {
                return;
            }
        }
    }
}

impl Source for RedisPubsubInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.consume(tx, stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn channels_are_required() {
        let e = RedisPubsubInput::new(&json!({"url": "redis://h"}), "i", &mut Vec::new())
            .err()
            .unwrap();
        assert_eq!(e.path, "i.channels");
    }
}
