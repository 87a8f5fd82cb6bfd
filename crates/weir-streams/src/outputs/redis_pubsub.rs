//! `redis_pubsub` (output): publishes each message to a channel. Redis confirms the publish,
//! not that anyone received it: subscribers that are not connected miss it (at-most-once).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::build::Built;
use crate::error::StreamError;
use crate::link::{Lazy, Link};
use crate::message::{Message, Outcome, SyncSlot};
use crate::redis_client::{RedisEndpoint, write};

/// Bento's `redis_pubsub` output fields, beside the connection fields (`url`, `kind`, `master`, `tls`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisPubsubOutputConfig {
    /// The channel (interpolated).
    pub channel: String,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
}

impl Default for RedisPubsubOutputConfig {
    fn default() -> Self {
        RedisPubsubOutputConfig {
            channel: String::new(),
            max_in_flight: 64,
        }
    }
}

/// A checked `redis_pubsub` output.
pub struct RedisPubsubOutput {
    inner: Arc<Inner>,
    max_in_flight: usize,
}

struct Inner {
    endpoint: RedisEndpoint,
    conn: Lazy<MultiplexedConnection>,
    channel: bloblang::Interpolation,
}

impl RedisPubsubOutput {
    /// Checks the config (the connection is made at the first write).
    pub fn new(body: &Value, path: &str, built: &mut Built<'_>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::redis_client::split(body, path)?;
        let cfg: RedisPubsubOutputConfig = crate::config::typed(&rest, path)?;
        if cfg.channel.is_empty() {
            return Err(StreamError::new(
                format!("{path}.channel"),
                "a channel is required",
            ));
        }
        let link = Link::register(path, &mut built.links);
        Ok(RedisPubsubOutput {
            inner: Arc::new(Inner {
                endpoint,
                conn: Lazy::new(link),
                channel: crate::config::interpolation(&cfg.channel, &format!("{path}.channel"))?,
            }),
            max_in_flight: cfg.max_in_flight.max(1),
        })
    }
}

impl Output for RedisPubsubOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let channel = inner
                .channel
                .render(&msg)
                .map_err(|e| format!("channel: {e}"))?;
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(channel).arg(msg.content);
            write(&inner.conn, &inner.endpoint, cmd).await
        })
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}
