//! `redis_list` (input): pops messages from a list (BLPOP or BRPOP). A popped message is
//! Redis's no more: a nack replays it from memory, and if Weir stops before the output took
//! it, it is pushed back onto the list's head so nothing is lost on a clean stop. A crash
//! (kill -9) loses what was popped and not yet delivered: at-most-once across crashes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Source, replaying_ack};
use crate::error::StreamError;
use crate::link::Link;
use crate::message::{Message, Transaction};
use crate::redis_client::RedisEndpoint;

/// Bento's `redis_list` input fields, beside the connection fields (`url`, `kind`, `master`, `tls`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisListInputConfig {
    /// The list.
    pub key: String,
    /// `blpop` (default) or `brpop`.
    pub command: String,
    /// How long one pop blocks.
    #[serde(with = "crate::config::go_duration")]
    pub timeout: Duration,
    /// Messages popped and not yet delivered, at most.
    pub max_in_flight: usize,
    /// Deliver a nacked message again from memory.
    pub auto_replay_nacks: bool,
}

impl Default for RedisListInputConfig {
    fn default() -> Self {
        RedisListInputConfig {
            key: String::new(),
            command: "blpop".into(),
            timeout: Duration::from_secs(5),
            max_in_flight: 1,
            auto_replay_nacks: true,
        }
    }
}

/// A checked `redis_list` input.
pub struct RedisListInput {
    cfg: RedisListInputConfig,
    endpoint: RedisEndpoint,
    link: Arc<Link>,
}

impl RedisListInput {
    /// Checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::redis_client::split(body, path)?;
        let cfg: RedisListInputConfig = crate::config::typed(&rest, path)?;
        if cfg.key.is_empty() {
            return Err(StreamError::new(format!("{path}.key"), "a key is required"));
        }
        if !matches!(cfg.command.as_str(), "blpop" | "brpop") {
            return Err(StreamError::new(
                format!("{path}.command"),
                format!("expected `blpop` or `brpop`, found `{}`", cfg.command),
            ));
        }
        let link = Link::register(path, links);
        Ok(RedisListInput {
            cfg,
            endpoint,
            link,
        })
    }

    async fn consume(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        let limit = Arc::new(Semaphore::new(self.cfg.max_in_flight.max(1)));
        let mut pop = redis::cmd(&self.cfg.command.to_uppercase());
        pop.arg(&self.cfg.key).arg(self.cfg.timeout.as_secs_f64());
        let open = || self.endpoint.connect(self.cfg.timeout);
        'connect: while let Some(mut conn) = self.link.connect(&stop, open).await {
            loop {
                let permit = tokio::select! {
                    _ = stop.cancelled() => return,
                    p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                };
                let popped: Result<Option<(String, Vec<u8>)>, _> = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = pop.query_async(&mut conn) => r,
                };
                let content = match popped {
                    Ok(Some((_, content))) => content,
                    Ok(None) => continue,
                    Err(e) => {
                        self.link.failed(e);
                        if !self.link.pause(&stop).await {
                            return;
                        }
                        continue 'connect;
                    }
                };
                let msg = Message {
                    content,
                    ..Message::default()
                };
                let done = self.give_back_if_undelivered(conn.clone(), msg.content.clone(), permit);
                let t = Transaction {
                    ack: replaying_ack(tx.clone(), msg.clone(), self.cfg.auto_replay_nacks, done),
                    msg,
                    sync: None,
                };
                if tx.send(t).await.is_err() {
                    return;
                }
            }
        }
    }

    /// What runs when a popped message is done: nothing if delivered; pushed back onto the
    /// end it was popped from when the stream stopped before delivering it.
    fn give_back_if_undelivered(
        &self,
        mut conn: MultiplexedConnection,
        content: Vec<u8>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Box<dyn FnOnce(crate::message::Outcome) + Send> {
        let key = self.cfg.key.clone();
        let push = if self.cfg.command == "blpop" {
            "LPUSH"
        } else {
            "RPUSH"
        };
        // Without replay a nack means "drop it" (Bento); with replay only a stop ends in one.
        let give_back = self.cfg.auto_replay_nacks;
        Box::new(move |outcome| {
            drop(permit);
            if outcome.is_err() && give_back {
                tokio::spawn(async move {
                    if let Err(e) = redis::cmd(push)
                        .arg(&key)
                        .arg(content)
                        .query_async::<i64>(&mut conn)
                        .await
                    {
                        tracing::warn!(%key, error = %e, "an undelivered message could not be pushed back; it is lost");
                    }
                });
            }
        })
    }
}

impl Source for RedisListInput {
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
    fn checks_name_the_field() {
        let i = |v: Value| RedisListInput::new(&v, "i", &mut Vec::new());
        assert!(i(json!({"url": "redis://h", "key": "k"})).is_ok());
        assert_eq!(i(json!({"url": "redis://h"})).err().unwrap().path, "i.key");
        let e = i(json!({"url": "redis://h", "key": "k", "command": "lpop"}))
            .err()
            .unwrap();
        assert_eq!(e.path, "i.command");
    }
}
