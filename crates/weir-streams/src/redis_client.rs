//! What every Redis connector shares: the connection fields (`url`, `kind`, `master`, `tls`)
//! and connecting with timeouts that fit blocking reads.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use serde_json::Value;

use crate::error::StreamError;
use crate::link::Lazy;
use crate::message::Outcome;

/// Bento's Redis connection fields.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConnConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// `simple` only.
    pub kind: String,
    /// The sentinel master name (`failover` only, which is not built).
    pub master: String,
    /// TLS (not built; refused when enabled).
    pub tls: Value,
}

/// Splits a component body into its connection fields, checked, and the rest (which the
/// component reads with its own config struct).
pub fn split(body: &Value, path: &str) -> Result<(RedisEndpoint, Value), StreamError> {
    let (conn, rest) = crate::config::split_fields(body, path, &["url", "kind", "master", "tls"])?;
    let cfg: RedisConnConfig = crate::config::typed(&conn, path)?;
    Ok((RedisEndpoint::new(&cfg, path)?, rest))
}

/// A checked Redis endpoint.
#[derive(Clone)]
pub struct RedisEndpoint {
    client: redis::Client,
}

impl RedisEndpoint {
    /// Checks the connection fields of the component at `path` (nothing connects yet).
    pub fn new(cfg: &RedisConnConfig, path: &str) -> Result<Self, StreamError> {
        match cfg.kind.as_str() {
            "" | "simple" => {}
            other => {
                return Err(StreamError::new(
                    format!("{path}.kind"),
                    format!("kind `{other}` is not built; only `simple` (one server) is"),
                ));
            }
        }
        if !cfg.master.is_empty() {
            return Err(StreamError::new(
                format!("{path}.master"),
                "sentinel failover is not built",
            ));
        }
        if cfg.tls.get("enabled").and_then(Value::as_bool) == Some(true) {
            return Err(StreamError::new(
                format!("{path}.tls"),
                "TLS to Redis is not built in the stream connectors",
            ));
        }
        if cfg.url.is_empty() {
            return Err(StreamError::new(format!("{path}.url"), "a url is required"));
        }
        if cfg.url.starts_with("rediss://") {
            return Err(StreamError::new(
                format!("{path}.url"),
                "rediss:// (TLS) is not built in the stream connectors",
            ));
        }
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|e| StreamError::new(format!("{path}.url"), e.to_string()))?;
        Ok(RedisEndpoint { client })
    }

    /// A connection whose replies may take `wait` longer than usual (a blocking read).
    pub async fn connect(&self, wait: Duration) -> Result<MultiplexedConnection, String> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(wait + Duration::from_secs(5)));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| format!("redis: {e}"))
    }

    /// A connection for subscriptions.
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, String> {
        self.client
            .get_async_pubsub()
            .await
            .map_err(|e| format!("redis: {e}"))
    }
}

/// Runs a write command on an output's connection, made at first use; a connection that
/// failed is dropped so the next write reconnects.
pub async fn write(
    conn: &Lazy<MultiplexedConnection>,
    endpoint: &RedisEndpoint,
    cmd: redis::Cmd,
) -> Outcome {
    let mut c = conn.get(|| endpoint.connect(Duration::ZERO)).await?;
    match cmd.query_async::<redis::Value>(&mut c).await {
        Ok(_) => Ok(()),
        Err(e) => {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                conn.reset(&e).await;
            }
            Err(format!("redis: {e}"))
        }
    }
}

/// A metadata value as Redis stores it: strings raw, other values as JSON.
pub fn meta_value(v: &bloblang::Value) -> String {
    match v {
        bloblang::Value::String(s) => s.to_string(),
        other => bloblang::json::to_message_json(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint(v: Value) -> Result<RedisEndpoint, StreamError> {
        let cfg: RedisConnConfig = crate::config::typed(&v, "r")?;
        RedisEndpoint::new(&cfg, "r")
    }

    #[test]
    fn only_a_plain_single_server_is_accepted() {
        assert!(endpoint(json!({"url": "redis://127.0.0.1:6379"})).is_ok());
        assert_eq!(endpoint(json!({})).err().unwrap().path, "r.url");
        let e = endpoint(json!({"url": "redis://h", "kind": "cluster"}))
            .err()
            .unwrap();
        assert_eq!(e.path, "r.kind");
        let e = endpoint(json!({"url": "rediss://h"})).err().unwrap();
        assert_eq!(e.path, "r.url");
        let e = endpoint(json!({"url": "redis://h", "tls": {"enabled": true}}))
            .err()
            .unwrap();
        assert_eq!(e.path, "r.tls");
        let e = endpoint(json!({"url": "nope://h"})).err().unwrap();
        assert_eq!(e.path, "r.url");
    }
}
