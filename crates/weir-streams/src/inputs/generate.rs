//! `generate` (input): creates messages from a Bloblang mapping, on an interval, for demos
//! and tests.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Source, replayable};
use crate::error::StreamError;
use crate::message::{Message, Transaction};

/// Bento's `generate` fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerateConfig {
    /// The mapping that makes each message (run against an empty message).
    pub mapping: String,
    /// Time between messages (a Go duration; empty for as fast as the output takes them).
    pub interval: String,
    /// Messages to make before the input ends (0: no end).
    pub count: u64,
    /// Messages made per interval.
    pub batch_size: u64,
    /// Deliver a nacked message again.
    pub auto_replay_nacks: bool,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            mapping: String::new(),
            interval: "1s".into(),
            count: 0,
            batch_size: 1,
            auto_replay_nacks: true,
        }
    }
}

/// A checked `generate` input.
pub struct GenerateInput {
    mapping: bloblang::Mapping,
    interval: Option<Duration>,
    count: u64,
    batch_size: u64,
    replay: bool,
    path: String,
}

impl GenerateInput {
    /// Compiles the mapping and reads the interval.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let cfg: GenerateConfig = crate::config::typed(body, path)?;
        if cfg.mapping.is_empty() {
            return Err(StreamError::new(
                format!("{path}.mapping"),
                "a mapping is required",
            ));
        }
        let mapping = crate::config::mapping(&cfg.mapping, &format!("{path}.mapping"))?;
        let interval = match cfg.interval.trim() {
            "" => None,
            s if s.starts_with('@') || s.contains(' ') => {
                return Err(StreamError::new(
                    format!("{path}.interval"),
                    "cron expressions are not built; give a duration such as `1s`",
                ));
            }
            s => Some(
                crate::duration::parse_go_duration(s)
                    .map_err(|e| StreamError::new(format!("{path}.interval"), e))?,
            ),
        };
        Ok(GenerateInput {
            mapping,
            interval: interval.filter(|d| !d.is_zero()),
            count: cfg.count,
            batch_size: cfg.batch_size.max(1),
            replay: cfg.auto_replay_nacks,
            path: path.to_string(),
        })
    }

    fn make(&self) -> Option<Message> {
        let empty = Message::default();
        let out = match self.mapping.run_message(&empty) {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(input = %self.path, error = %e, "generate mapping failed");
                return None;
            }
        };
        match out.content(&[]) {
            Ok(Some(content)) => Some(Message {
                content,
                metadata: out.metadata,
                ..Message::default()
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(input = %self.path, error = %e, "generate mapping failed");
                None
            }
        }
    }
}

impl Source for GenerateInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut made = 0u64;
            let mut first = true;
            loop {
                if !first && let Some(every) = self.interval {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                }
                first = false;
                for _ in 0..self.batch_size {
                    if self.count > 0 && made >= self.count {
                        return;
                    }
                    made += 1;
                    let Some(msg) = self.make() else { continue };
                    let t = replayable(&tx, msg, self.replay);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        sent = tx.send(t) => if sent.is_err() { return },
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn makes_count_messages_from_the_mapping_then_ends() {
        let g = Arc::new(
            GenerateInput::new(
                &json!({"mapping": "root.n = counter()\nmeta kind = \"demo\"", "interval": "", "count": 3}),
                "input.generate",
            )
            .unwrap(),
        );
        let (tx, mut rx) = mpsc::channel(8);
        g.run(tx, CancellationToken::new()).await;
        let mut got = Vec::new();
        while let Some(t) = rx.recv().await {
            assert_eq!(
                crate::message::meta_string(&t.msg, "kind").as_deref(),
                Some("demo")
            );
            got.push(String::from_utf8(t.msg.content.clone()).unwrap());
            t.ack.resolve(Ok(()));
        }
        assert_eq!(got, [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_spaces_messages_and_the_first_comes_at_once() {
        let g = Arc::new(
            GenerateInput::new(
                &json!({"mapping": "root = \"x\"", "interval": "2s", "count": 2}),
                "g",
            )
            .unwrap(),
        );
        let (tx, mut rx) = mpsc::channel(8);
        let start = tokio::time::Instant::now();
        tokio::spawn(g.run(tx, CancellationToken::new()));
        rx.recv().await.unwrap().ack.resolve(Ok(()));
        assert_eq!(start.elapsed(), Duration::ZERO);
        rx.recv().await.unwrap().ack.resolve(Ok(()));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn bad_fields_are_named() {
        let e = GenerateInput::new(&json!({"interval": "1s"}), "g")
            .err()
            .unwrap();
        assert_eq!(e.path, "g.mapping");
        let e = GenerateInput::new(
            &json!({"mapping": "root = 1", "interval": "@every 1s"}),
            "g",
        )
        .err()
        .unwrap();
        assert_eq!(e.path, "g.interval");
        let e = GenerateInput::new(&json!({"mapping": "root = ", "interval": "1s"}), "g")
            .err()
            .unwrap();
        assert_eq!(e.path, "g.mapping");
    }
}
