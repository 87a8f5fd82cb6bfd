//! The shared cache between gateway nodes (optional, `redis_url`): behind each node's local
//! cache and in front of the database. Key `weir:vision:camera:<id>`, kept for the same TTL;
//! a camera the registry does not have is stored too, so the negative cache is shared as well.
//!
//! Redis is an optimisation, never a dependency: when it fails, lookups go to the database
//! and Redis is left alone for [`PAUSE_AFTER_ERROR`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use weir_plugin_sdk::serde_json::{self, Map, Value, json};

use crate::cache::CameraInfo;
use crate::config::redact;

/// After an error, Redis is skipped for this long, so an outage costs each lookup nothing.
pub const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(1);

/// The key of a camera in Redis.
pub fn key(id: &str) -> String {
    format!("weir:vision:camera:{id}")
}

/// What Redis holds for a camera: the row, or `{"absent": true}`.
fn encode(info: Option<&CameraInfo>) -> String {
    match info {
        None => json!({"absent": true}).to_string(),
        Some(info) => json!({
            "location": info.location,
            "status": info.status,
            "install_date": info.install_date,
        })
        .to_string(),
    }
}

/// Reads what [`encode`] wrote; `None` for anything else (then the database is asked).
fn decode(text: &str) -> Option<Option<CameraInfo>> {
    let value: Map<String, Value> = serde_json::from_str(text).ok()?;
    if value.get("absent") == Some(&Value::Bool(true)) {
        return Some(None);
    }
    let field = |name: &str| match value.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    };
    Some(Some(CameraInfo {
        location: field("location")?,
        status: field("status")?,
        install_date: field("install_date")?,
    }))
}

/// A hit: the camera's row (or its absence) and how much longer Redis keeps it.
pub type Hit = (Option<CameraInfo>, Option<Duration>);

/// The connection to Redis, opened on first use.
pub struct SharedCache {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    timeout: Duration,
    started: Instant,
    /// Milliseconds after `started` before which Redis is not tried.
    paused_until: AtomicU64,
}

impl SharedCache {
    /// Checks the URL; connects later, on the plugin's runtime.
    pub fn new(url: &str, timeout: Duration) -> Result<SharedCache, String> {
        let client = redis::Client::open(url)
            .map_err(|e| format!("config key `redis_url`: bad URL `{}`: {e}", redact(url)))?;
        Ok(SharedCache {
            client,
            conn: OnceCell::new(),
            timeout,
            started: Instant::now(),
            paused_until: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// True while Redis is skipped after an error.
    pub fn paused(&self) -> bool {
        self.now_ms() < self.paused_until.load(Ordering::Relaxed)
    }

    fn pause(&self) {
        let until = self.now_ms() + PAUSE_AFTER_ERROR.as_millis() as u64;
        self.paused_until.store(until, Ordering::Relaxed);
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .conn
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config))
            .await
            .map_err(|e| format!("cannot connect to Redis: {e}"))?;
        Ok(conn.clone())
    }

    /// Runs `f` on a connection within the timeout; an error pauses Redis.
    async fn run<T, F>(&self, f: impl FnOnce(ConnectionManager) -> F) -> Result<T, String>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let work = async {
            let conn = self.connection().await?;
            f(conn).await.map_err(|e| format!("Redis: {e}"))
        };
        let result = match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(format!("Redis did not answer within {:?}", self.timeout)),
        };
        if result.is_err() {
            self.pause();
        }
        result
    }

    /// The camera's entry, when Redis has a readable one.
    pub async fn get(&self, id: &str) -> Result<Option<Hit>, String> {
        let key = key(id);
        let (text, pttl): (Option<String>, i64) = self
            .run(|mut conn| async move {
                redis::pipe()
                    .cmd("GET")
                    .arg(&key)
                    .cmd("PTTL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let Some(info) = text.as_deref().and_then(decode) else {
            return Ok(None);
        };
        // PTTL is -1 for a key without expiry (set by hand): then the local TTL applies.
        let left = u64::try_from(pttl).ok().map(Duration::from_millis);
        Ok(Some((info, left)))
    }

    /// Stores the camera's entry for `ttl`.
    pub async fn put(
        &self,
        id: &str,
        info: Option<&CameraInfo>,
        ttl: Duration,
    ) -> Result<(), String> {
        let key = key(id);
        let value = encode(info);
        let ms = ttl.as_millis().max(1) as u64;
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let full = CameraInfo {
            location: Some("North Gate".into()),
            status: Some("active".into()),
            install_date: Some("2023-04-01".into()),
        };
        let nulls = CameraInfo {
            status: Some("maintenance".into()),
            ..CameraInfo::default()
        };
        for info in [Some(&full), Some(&nulls), None] {
            assert_eq!(decode(&encode(info)), Some(info.cloned()));
        }
    }

    #[test]
    fn unreadable_entries_are_misses() {
        for text in ["", "[]", "null", r#"{"location": 5}"#, "not json"] {
            assert_eq!(decode(text), None, "{text}");
        }
        assert_eq!(decode("{}"), Some(Some(CameraInfo::default())));
    }

    #[test]
    fn bad_urls_name_the_key() {
        let err = SharedCache::new("redis://[::1", Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.contains("redis_url"), "{err}");
    }
}
