//! `redis_streams` (output): appends each message to a stream with XADD; the write resolves
//! when Redis has the entry.

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
use crate::outputs::kafka::MetadataFilter;
use crate::redis_client::{RedisEndpoint, meta_value, write};

/// Bento's `redis_streams` output fields, beside the connection fields (`url`, `kind`, `master`, `tls`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisStreamsOutputConfig {
    /// The stream (interpolated).
    pub stream: String,
    /// The entry field that holds the body.
    pub body_key: String,
    /// Trim the stream to about this many entries (0: no trim).
    pub max_length: u64,
    /// Metadata not written as entry fields.
    pub metadata: MetadataFilter,
    /// Writes outstanding at once.
    pub max_in_flight: usize,
}

impl Default for RedisStreamsOutputConfig {
    fn default() -> Self {
        RedisStreamsOutputConfig {
            stream: String::new(),
            body_key: "body".into(),
            max_length: 0,
            metadata: MetadataFilter::default(),
            max_in_flight: 64,
        }
    }
}

/// A checked `redis_streams` output.
pub struct RedisStreamsOutput {
    inner: Arc<Inner>,
    max_in_flight: usize,
}

struct Inner {
    endpoint: RedisEndpoint,
    conn: Lazy<MultiplexedConnection>,
    stream: bloblang::Interpolation,
    body_key: String,
    max_length: u64,
    exclude_prefixes: Vec<String>,
}

impl RedisStreamsOutput {
    /// Checks the config (the connection is made at the first write).
    pub fn new(body: &Value, path: &str, built: &mut Built<'_>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::redis_client::split(body, path)?;
        let cfg: RedisStreamsOutputConfig = crate::config::typed(&rest, path)?;
        if cfg.stream.is_empty() {
            return Err(StreamError::new(
                format!("{path}.stream"),
                "a stream is required",
            ));
        }
        let link = Link::register(path, &mut built.links);
        Ok(RedisStreamsOutput {
            inner: Arc::new(Inner {
                endpoint,
                conn: Lazy::new(link),
                stream: crate::config::interpolation(&cfg.stream, &format!("{path}.stream"))?,
                body_key: cfg.body_key,
                max_length: cfg.max_length,
                exclude_prefixes: cfg.metadata.exclude_prefixes,
            }),
            max_in_flight: cfg.max_in_flight.max(1),
        })
    }
}

impl Inner {
    fn command(&self, msg: &Message) -> Result<redis::Cmd, String> {
        let stream = self
            .stream
            .render(msg)
            .map_err(|e| format!("stream: {e}"))?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream);
        if self.max_length > 0 {
            cmd.arg("MAXLEN").arg("~").arg(self.max_length);
        }
        cmd.arg("*");
        for (k, v) in msg.metadata.iter() {
            // The body wins a collision with a metadata key, as in Bento.
            if k == self.body_key
                || self
                    .exclude_prefixes
                    .iter()
                    .any(|p| k.starts_with(p.as_str()))
            {
                continue;
            }
            cmd.arg(k.as_str()).arg(meta_value(v));
        }
        cmd.arg(&self.body_key).arg(&msg.content);
        Ok(cmd)
    }
}

impl Output for RedisStreamsOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let cmd = inner.command(&msg)?;
            write(&inner.conn, &inner.endpoint, cmd).await
        })
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::tests::with_built;
    use serde_json::json;

    #[test]
    fn the_entry_has_the_body_and_the_metadata() {
        let out = with_built(|b| {
            RedisStreamsOutput::new(
                &json!({"url": "redis://h", "stream": "s-${! meta(\"k\") }", "max_length": 100,
                        "metadata": {"exclude_prefixes": ["skip"]}}),
                "o",
                b,
            )
        })
        .unwrap();
        let mut m = Message {
            content: b"hi".to_vec(),
            ..Message::default()
        };
        m.metadata.insert("k", bloblang::Value::String("a".into()));
        m.metadata
            .insert("skipme", bloblang::Value::String("x".into()));
        let cmd = out.inner.command(&m).unwrap();
        let args: Vec<String> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(
            args,
            [
                "XADD", "s-a", "MAXLEN", "~", "100", "*", "k", "a", "body", "hi"
            ]
        );
    }

    #[test]
    fn a_stream_is_required() {
        let e = with_built(|b| RedisStreamsOutput::new(&json!({"url": "redis://h"}), "o", b))
            .err()
            .unwrap();
        assert_eq!(e.path, "o.stream");
    }
}
