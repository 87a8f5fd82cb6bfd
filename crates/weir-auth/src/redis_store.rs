//! Sessions in Redis, in Tyk's layout (`apikey-<name>` holds the session's JSON), and the
//! notices nodes send each other on Tyk's channel `tyk.cluster.notifications`: a key changed
//! (`KeySpaceUpdateNotification`, payload the stored names, comma-separated) and a group reload
//! (`GroupReload`).

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::limits::Decision;
use crate::redis_connect::{Conn, RedisTarget};
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

/// A connection to the shared Redis (one server, Sentinel's master, or a cluster).
pub struct RedisStore {
    conn: Conn,
    limiter: RedisRateLimiter,
}

impl RedisStore {
    /// Prepares a connection to `target` without waiting for Redis: a node starts (and
    /// serves keyless APIs) while Redis is down, and connects when it comes back.
    pub fn new(target: &RedisTarget) -> Result<Self, String> {
        Ok(RedisStore {
            conn: Conn::new(target).map_err(|e| e.to_string())?,
            limiter: RedisRateLimiter::default(),
        })
    }

    /// True on a Redis Cluster: a request's counters must then share a hash slot.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
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

    /// Every stored name (on every master of a cluster).
    pub async fn names(&self) -> redis::RedisResult<Vec<String>> {
        let mut names: Vec<String> = (self.conn.scan("apikey-*").await?)
            .into_iter()
            .map(|key| key.trim_start_matches("apikey-").to_string())
            .collect();
        names.sort();
        names.dedup();
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
    /// (with back-off) or the master moves, and hands each notice to `heard`.
    pub async fn listen(&self, heard: impl Fn(Heard) + Send + Sync) {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            if let Ok(subscription) = self.conn.subscribe(CHANNEL, attempt).await {
                delay = Duration::from_millis(250);
                heard(Heard::Resubscribed);
                subscription
                    .for_each(|payload| {
                        if let Some(h) = interpret(&payload) {
                            heard(h);
                        }
                    })
                    .await;
                tracing::warn!("lost the Redis subscription to {CHANNEL}; resubscribing");
            }
            // A cluster's next seed node next time.
            attempt += 1;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

/// The rate log and quota counter of a key (`scoped`: `[<scope>-]<name>`), as Tyk names them:
/// `rate-limit-<scoped>`, `quota-<scoped>`. On a Redis Cluster `rate-limit-{<scoped>}` and
/// `quota-{<scoped>}`: the hash tag puts both in one slot, as the one script that counts them
/// needs (Weir's own counters; Tyk does not count with these).
pub fn counter_names(scoped: &str, cluster: bool) -> (String, String) {
    if cluster {
        (
            format!("rate-limit-{{{scoped}}}"),
            format!("quota-{{{scoped}}}"),
        )
    } else {
        (format!("rate-limit-{scoped}"), format!("quota-{scoped}"))
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

    #[test]
    fn cluster_counters_share_a_hash_tag() {
        let (rate, quota) = counter_names("pol-abc}{", true);
        // Redis hashes what lies between the first `{` and the next `}`: the same text.
        let tag = |k: &str| {
            let open = k.find('{').unwrap();
            let close = open + k[open..].find('}').unwrap();
            k[open + 1..close].to_string()
        };
        assert_eq!(tag(&rate), tag(&quota));
        assert_eq!(
            counter_names("abc", false),
            ("rate-limit-abc".into(), "quota-abc".into())
        );
    }
}
