//! Sessions in Redis, in Tyk's layout (`apikey-<name>` holds the session's JSON), and the
//! notices nodes send each other on Tyk's channel `tyk.cluster.notifications`: a key changed
//! (`KeySpaceUpdateNotification`, payload the stored names, comma-separated) and a group reload
//! (`GroupReload`).

use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::limits::Decision;
use crate::redis_limits::{Ask, RedisRateLimiter};
use crate::session::Session;

/// Tyk's pub/sub channel for cluster notices.
pub const CHANNEL: &str = "tyk.cluster.notifications";

/// A notice between nodes, as Tyk writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `KeySpaceUpdateNotification`, `GroupReload`, `PolicyChanged`, …
    pub command: String,
    /// For key notices: the stored names, comma-separated (Tyk may suffix `:hashed`).
    #[serde(default)]
    pub payload: String,
}

/// What a node does when a notice arrives.
pub enum Heard {
    /// These keys changed: forget what is cached of them.
    Keys(Vec<String>),
    /// Reload definitions and policies.
    Reload,
    /// The subscription was (re)made: anything cached may be stale.
    Resubscribed,
}

/// A connection to the shared Redis.
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    limiter: RedisRateLimiter,
}

impl RedisStore {
    /// Prepares a connection to `url` without waiting for Redis: a node starts (and serves
    /// keyless APIs) while Redis is down, and connects when it comes back.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("{url}: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| format!("{url}: {e}"))?;
        Ok(RedisStore {
            client,
            conn,
            limiter: RedisRateLimiter::default(),
        })
    }

    /// The session stored under `name`.
    pub async fn get(&self, name: &str) -> redis::RedisResult<Option<Session>> {
        let raw: Option<String> = self.conn.clone().get(format!("apikey-{name}")).await?;
        // A session another writer broke is a missing key, not a crash.
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Stores a session and tells the other nodes.
    pub async fn put(&self, name: &str, session: &Session) -> redis::RedisResult<()> {
        let json = serde_json::to_string(session).unwrap_or_default();
        let mut conn = self.conn.clone();
        let () = conn.set(format!("apikey-{name}"), json).await?;
        self.tell_keys(name).await
    }

    /// Deletes a session and tells the other nodes; true when it existed.
    pub async fn delete(&self, name: &str) -> redis::RedisResult<bool> {
        let gone: i64 = self.conn.clone().del(format!("apikey-{name}")).await?;
        self.tell_keys(name).await?;
        Ok(gone > 0)
    }

    /// Every stored name.
    pub async fn names(&self) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let mut iter: redis::AsyncIter<String> = conn.scan_match("apikey-*").await?;
        let mut names = Vec::new();
        while let Some(item) = iter.next_item().await {
            let key = item?;
            names.push(key.trim_start_matches("apikey-").to_string());
        }
        names.sort();
        Ok(names)
    }

    /// Rate limit and quota of one request, in one round trip.
    pub async fn admit(
        &self,
        ask: &Ask<'_>,
        member: &str,
    ) -> redis::RedisResult<(Decision, Decision)> {
        self.limiter
            .admit(&mut self.conn.clone(), ask, member)
            .await
    }

    /// Takes up to `want` permits of both limits in one round trip (local-first limits).
    pub async fn lease(
        &self,
        ask: &Ask<'_>,
        member: &str,
        want: u64,
    ) -> redis::RedisResult<(Decision, Decision, u64)> {
        self.limiter
            .lease(&mut self.conn.clone(), ask, member, want)
            .await
    }

    /// Publishes a notice to every node (this one included).
    pub async fn publish(&self, notice: &Notice) -> redis::RedisResult<()> {
        let json = serde_json::to_string(notice).unwrap_or_default();
        let _: i64 = self.conn.clone().publish(CHANNEL, json).await?;
        Ok(())
    }

    async fn tell_keys(&self, name: &str) -> redis::RedisResult<()> {
        self.publish(&Notice {
            command: "KeySpaceUpdateNotification".into(),
            payload: name.to_string(),
        })
        .await
    }

    /// Listens on the channel until the process ends, resubscribing after Redis comes back
    /// (with back-off), and hands each notice to `heard`.
    pub async fn listen(&self, heard: impl Fn(Heard) + Send + Sync) {
        let mut delay = Duration::from_millis(250);
        loop {
            let subscribed = match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => pubsub.subscribe(CHANNEL).await.is_ok().then_some(pubsub),
                Err(_) => None,
            };
            if let Some(mut pubsub) = subscribed {
                {
                    delay = Duration::from_millis(250);
                    heard(Heard::Resubscribed);
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        if let Some(h) = interpret(&payload) {
                            heard(h);
                        }
                    }
                    tracing::warn!("lost the Redis subscription to {CHANNEL}; resubscribing");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

/// What a notice on the channel asks of this node; `None` for notices Weir does not act on.
fn interpret(payload: &str) -> Option<Heard> {
    let notice: Notice = serde_json::from_str(payload).ok()?;
    match notice.command.as_str() {
        "KeySpaceUpdateNotification" => Some(Heard::Keys(
            notice
                .payload
                .split(',')
                .map(|k| k.split(':').next().unwrap_or("").to_string())
                .filter(|k| !k.is_empty())
                .collect(),
        )),
        "GroupReload" | "PolicyChanged" => Some(Heard::Reload),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_notices_name_keys_and_drop_tyk_suffixes() {
        let Some(Heard::Keys(k)) = interpret(
            r#"{"command":"KeySpaceUpdateNotification","payload":"abc:hashed,def:resetQuota"}"#,
        ) else {
            panic!("a key notice");
        };
        assert_eq!(k, ["abc", "def"]);
        assert!(matches!(
            interpret(r#"{"command":"GroupReload","payload":""}"#),
            Some(Heard::Reload)
        ));
        assert!(interpret(r#"{"command":"ApiUpdated"}"#).is_none());
        assert!(interpret("not json").is_none());
    }
}
