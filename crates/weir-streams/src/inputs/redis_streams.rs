//! `redis_streams` (input): reads streams through a consumer group with XREADGROUP. An entry
//! is acknowledged with XACK only once the output took it; until then it stays in the group's
//! pending list, so a node that crashes gets its entries again when it comes back (its own
//! pending entries are read first), and entries a consumer left pending longer than
//! [`CLAIM_IDLE`] are claimed by another (XAUTOCLAIM). At-least-once.

use std::sync::{Arc, Mutex};
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

/// Pending entries idle this long are taken over from the consumer that read them (it is
/// presumed gone). Not a Bento setting: Bento leaves such entries pending.
pub const CLAIM_IDLE: Duration = Duration::from_secs(30);

/// Bento's `redis_streams` input fields, beside the connection fields (`url`, `kind`, `master`, `tls`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisStreamsInputConfig {
    /// Streams to read.
    pub streams: Vec<String>,
    /// The entry field holding the message body; the other fields become metadata.
    pub body_key: String,
    /// The consumer group.
    pub consumer_group: String,
    /// This consumer's name in the group (unique per node; default `weir-<hostname>`).
    pub client_id: String,
    /// Create missing streams and the group (MKSTREAM).
    pub create_streams: bool,
    /// A new group starts at the oldest entry (else at new entries only).
    pub start_from_oldest: bool,
    /// How often acknowledgements are sent (XACK is batched).
    #[serde(with = "crate::config::go_duration")]
    pub commit_period: Duration,
    /// Entries per read.
    pub limit: usize,
    /// How long a read blocks waiting for entries.
    #[serde(with = "crate::config::go_duration")]
    pub timeout: Duration,
    /// Deliver a nacked message again from memory (it stays pending in Redis meanwhile).
    pub auto_replay_nacks: bool,
}

impl Default for RedisStreamsInputConfig {
    fn default() -> Self {
        RedisStreamsInputConfig {
            streams: Vec::new(),
            body_key: "body".into(),
            consumer_group: String::new(),
            client_id: String::new(),
            create_streams: true,
            start_from_oldest: true,
            commit_period: Duration::from_secs(1),
            limit: 10,
            timeout: Duration::from_secs(1),
            auto_replay_nacks: true,
        }
    }
}

/// A checked `redis_streams` input.
pub struct RedisStreamsInput {
    cfg: RedisStreamsInputConfig,
    endpoint: RedisEndpoint,
    consumer: String,
    link: Arc<Link>,
}

/// One entry as read: stream, id, fields.
type Entry = (String, String, Vec<Vec<u8>>);

impl RedisStreamsInput {
    /// Checks the config (nothing connects yet).
    pub fn new(body: &Value, path: &str, links: &mut Vec<Arc<Link>>) -> Result<Self, StreamError> {
        let (endpoint, rest) = crate::redis_client::split(body, path)?;
        let cfg: RedisStreamsInputConfig = crate::config::typed(&rest, path)?;
        if cfg.streams.is_empty() {
            return Err(StreamError::new(
                format!("{path}.streams"),
                "at least one stream is required",
            ));
        }
        if cfg.consumer_group.is_empty() {
            return Err(StreamError::new(
                format!("{path}.consumer_group"),
                "a consumer group is required: entries are acknowledged to it",
            ));
        }
        let consumer = if cfg.client_id.is_empty() {
            format!("weir-{}", hostname())
        } else {
            cfg.client_id.clone()
        };
        let link = Link::register(path, links);
        Ok(RedisStreamsInput {
            cfg,
            endpoint,
            consumer,
            link,
        })
    }

    async fn open(&self) -> Result<MultiplexedConnection, String> {
        let mut conn = self.endpoint.connect(self.cfg.timeout).await?;
        let start = if self.cfg.start_from_oldest { "0" } else { "$" };
        for stream in &self.cfg.streams {
            let mut cmd = redis::cmd("XGROUP");
            cmd.arg("CREATE")
                .arg(stream)
                .arg(&self.cfg.consumer_group)
                .arg(start);
            if self.cfg.create_streams {
                cmd.arg("MKSTREAM");
            }
            match cmd.query_async::<()>(&mut conn).await {
                Ok(()) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(format!("creating group on `{stream}`: {e}")),
            }
        }
        Ok(conn)
    }

    /// XREADGROUP after `from`, one id per stream (`>` for new entries; an id for this
    /// consumer's pending entries after it).
    async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        from: &[String],
        block: bool,
    ) -> Result<Vec<Entry>, String> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.cfg.consumer_group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(self.cfg.limit.max(1));
        if block {
            cmd.arg("BLOCK")
                .arg(self.cfg.timeout.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(&self.cfg.streams).arg(from);
        type Reply = Option<Vec<(String, Vec<(String, Option<Vec<Vec<u8>>>)>)>>;
        let reply: Reply = cmd
            .query_async(conn)
            .await
            .map_err(|e| format!("XREADGROUP: {e}"))?;
        Ok(reply
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(stream, entries)| {
                entries
                    .into_iter()
                    .map(move |(id, fields)| (stream.clone(), id, fields.unwrap_or_default()))
            })
            .collect())
    }

    /// Takes over entries other consumers left pending for [`CLAIM_IDLE`].
    async fn claim(&self, conn: &mut MultiplexedConnection) -> Result<Vec<Entry>, String> {
        let mut out = Vec::new();
        for stream in &self.cfg.streams {
            type Reply = (String, Vec<(String, Option<Vec<Vec<u8>>>)>, Value2);
            type Value2 = redis::Value;
            let reply: Reply = redis::cmd("XAUTOCLAIM")
                .arg(stream)
                .arg(&self.cfg.consumer_group)
                .arg(&self.consumer)
                .arg(CLAIM_IDLE.as_millis() as u64)
                .arg("0")
                .arg("COUNT")
                .arg(self.cfg.limit.max(1))
                .query_async(conn)
                .await
                .map_err(|e| format!("XAUTOCLAIM: {e}"))?;
            out.extend(
                reply
                    .1
                    .into_iter()
                    .filter_map(|(id, f)| Some((stream.clone(), id, f?))),
            );
        }
        Ok(out)
    }

    fn to_message(&self, (stream, id, fields): &Entry) -> Message {
        let mut msg = Message::default();
        for pair in fields.chunks(2) {
            let [k, v] = pair else { continue };
            if k == self.cfg.body_key.as_bytes() {
                msg.content = v.clone();
            } else {
                msg.metadata.insert(
                    String::from_utf8_lossy(k).as_ref(),
                    bloblang::Value::String(String::from_utf8_lossy(v).into_owned()),
                );
            }
        }
        msg.metadata
            .insert("redis_stream", bloblang::Value::String(id.clone()));
        msg.metadata
            .insert("redis_stream_key", bloblang::Value::String(stream.clone()));
        msg
    }

    async fn consume(self: Arc<Self>, tx: mpsc::Sender<Transaction>, stop: CancellationToken) {
        let acks = Arc::new(Acks::default());
        let limit = Arc::new(Semaphore::new(self.cfg.limit.max(1) * 4));
        let flusher = tokio::spawn(flush_acks(self.clone(), acks.clone(), stop.clone()));
        'connect: while let Some(mut conn) = self.link.connect(&stop, || self.open()).await {
            // This consumer's own pending entries first (read before a crash or a lost
            // connection, never acked), walking each stream's list by id; then entries
            // abandoned by others; then new ones.
            let mut backlog: Option<Vec<String>> = Some(vec!["0".into(); self.cfg.streams.len()]);
            let new = vec![">".to_string(); self.cfg.streams.len()];
            let mut last_claim = tokio::time::Instant::now();
            loop {
                // Read only when a whole batch fits under the bound of unacknowledged entries.
                let room = tokio::select! {
                    _ = stop.cancelled() => break 'connect,
                    p = limit.clone().acquire_many_owned(self.cfg.limit.max(1) as u32) => p,
                };
                drop(room);
                let read = if let Some(from) = &backlog {
                    self.read(&mut conn, from, false).await
                } else if last_claim.elapsed() >= CLAIM_IDLE / 2 {
                    last_claim = tokio::time::Instant::now();
                    self.claim(&mut conn).await
                } else {
                    tokio::select! {
                        _ = stop.cancelled() => break 'connect,
                        r = self.read(&mut conn, &new, true) => r,
                    }
                };
                let entries = match read {
                    Ok(e) => e,
                    Err(e) => {
                        self.link.failed(e);
                        if !self.link.pause(&stop).await {
                            break 'connect;
                        }
                        continue 'connect;
                    }
                };
                if let Some(from) = &mut backlog {
                    if entries.is_empty() {
                        backlog = None;
                    } else {
                        for (stream, id, _) in &entries {
                            if let Some(i) = self.cfg.streams.iter().position(|s| s == stream) {
                                from[i] = id.clone();
                            }
                        }
                    }
                }
                for entry in entries {
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        break 'connect;
                    };
                    let msg = self.to_message(&entry);
                    let (stream, id, _) = entry;
                    let acks = acks.clone();
                    let done = Box::new(move |outcome: crate::message::Outcome| {
                        // A final nack (no replay) leaves the entry pending for XAUTOCLAIM.
                        if outcome.is_ok() {
                            acks.push(stream, id);
                        }
                        drop(permit);
                    });
                    let t = Transaction {
                        ack: replaying_ack(
                            tx.clone(),
                            msg.clone(),
                            self.cfg.auto_replay_nacks,
                            done,
                        ),
                        msg,
                        sync: None,
                    };
                    if tx.send(t).await.is_err() {
                        break 'connect;
                    }
                }
            }
        }
        // Whatever was acknowledged is sent before the input ends.
        stop.cancel();
        let _ = flusher.await;
    }

    async fn xack(
        &self,
        conn: &mut MultiplexedConnection,
        batch: &[(String, String)],
    ) -> Result<(), String> {
        for stream in &self.cfg.streams {
            let ids: Vec<&str> = batch
                .iter()
                .filter(|(s, _)| s == stream)
                .map(|(_, id)| id.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            redis::cmd("XACK")
                .arg(stream)
                .arg(&self.cfg.consumer_group)
                .arg(&ids)
                .query_async::<i64>(conn)
                .await
                .map_err(|e| format!("XACK: {e}"))?;
        }
        Ok(())
    }
}

/// Acknowledged entries waiting for the next XACK.
#[derive(Default)]
struct Acks(Mutex<Vec<(String, String)>>);

impl Acks {
    fn push(&self, stream: String, id: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((stream, id));
    }

    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Sends the acknowledged entries every `commit_period`, and once more when stopping.
async fn flush_acks(input: Arc<RedisStreamsInput>, acks: Arc<Acks>, stop: CancellationToken) {
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(input.cfg.commit_period) => false,
        };
        let batch = acks.take();
        if !batch.is_empty() {
            if conn.is_none() {
                conn = input.endpoint.connect(Duration::ZERO).await.ok();
            }
            let sent = match conn.as_mut() {
                Some(c) => input.xack(c, &batch).await,
                None => Err("not connected".into()),
            };
            if let Err(e) = sent {
                // Kept for the next round; the entries stay pending meanwhile.
                tracing::warn!(input = %input.link.component, error = %e, "acknowledgements not sent yet");
                conn = None;
                acks.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(batch);
            }
        }
        if stopping {
            return;
        }
    }
}

impl Source for RedisStreamsInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(self.consume(tx, stop))
    }
}

/// This machine's name, for a default consumer name that a restarted node reuses.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<RedisStreamsInput, StreamError> {
        RedisStreamsInput::new(&v, "i", &mut Vec::new())
    }

    #[test]
    fn checks_name_the_field() {
        let ok = json!({"url": "redis://127.0.0.1:6379", "streams": ["s"], "consumer_group": "g"});
        assert!(input(ok.clone()).is_ok());
        let mut v = ok.clone();
        v["streams"] = json!([]);
        assert_eq!(input(v).err().unwrap().path, "i.streams");
        let mut v = ok.clone();
        v["consumer_group"] = json!("");
        assert_eq!(input(v).err().unwrap().path, "i.consumer_group");
        let mut v = ok;
        v["batching"] = json!({"count": 2});
        assert_eq!(input(v).err().unwrap().path, "i.batching");
    }

    #[test]
    fn the_body_key_is_the_content_and_other_fields_are_metadata() {
        let i =
            input(json!({"url": "redis://h", "streams": ["s"], "consumer_group": "g"})).unwrap();
        let m = i.to_message(&(
            "s".into(),
            "1-0".into(),
            vec![
                b"body".to_vec(),
                b"hi".to_vec(),
                b"user".to_vec(),
                b"ann".to_vec(),
            ],
        ));
        assert_eq!(m.content, b"hi");
        assert_eq!(
            crate::message::meta_string(&m, "user").as_deref(),
            Some("ann")
        );
        assert_eq!(
            crate::message::meta_string(&m, "redis_stream").as_deref(),
            Some("1-0")
        );
    }
}
