//! `redis_list` (output): pushes each message onto a list; the write resolves when Redis has
//! it.

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

/// Bento's `redis_list` output fields, beside the connection fields (`url`, `kind`, `master`, `tls`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisListOutputConfig {
    /// The list (interpolated).
    pub key: String,
    /// `rpush` (default) or `lpush`.
    pub command: String,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
}

impl Default for RedisListOutputConfig {
    fn default() -> Self {
        RedisListOutputConfig {
            key: String::new(),
            command: "rpush".into(),
            max_in_flight: 64,
        }
    }
}

/// A checked `redis_list` output.
pub struct RedisListOutput {
    inner: Arc<Inner>,
    max_in_flight: usize,
}

struct Inner {
    endpoint: RedisEndpoint,
    conn: Lazy<MultiplexedConnection>,
    key: bloblang::Interpolation,
    command: &'static str,
}

impl RedisListOutput {
    /// Checks the config (the connection is made at the first write).
    pub fn new(body: &Value, path: &str, built: &mut Built<'_>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::redis_client::split(body, path)?;
        let cfg: RedisListOutputConfig = crate::config::typed(&rest, path)?;
        if cfg.key.is_empty() {
            return Err(StreamError::new(format!("{path}.key"), "a key is required"));
        }
        let command = match cfg.command.as_str() {
            "rpush" => "RPUSH",
            "lpush" => "LPUSH",
            other => {
                return Err(StreamError::new(
                    format!("{path}.command"),
                    format!("expected `rpush` or `lpush`, found `{other}`"),
                ));
            }
        };
        let link = Link::register(path, &mut built.links);
        Ok(RedisListOutput {
            inner: Arc::new(Inner {
                endpoint,
                conn: Lazy::new(link),
                key: crate::config::interpolation(&cfg.key, &format!("{path}.key"))?,
                command,
            }),
            max_in_flight: cfg.max_in_flight.max(1),
        })
    }
}

impl Output for RedisListOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let key = inner.key.render(&msg).map_err(|e| format!("key: {e}"))?;
            let mut cmd = redis::cmd(inner.command);
            cmd.arg(key).arg(msg.content);
            write(&inner.conn, &inner.endpoint, cmd).await
        })
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}
