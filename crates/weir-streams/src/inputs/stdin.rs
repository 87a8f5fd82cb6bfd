//! `stdin` (input): one message per line of the process's standard input, for local runs
//! (`weir` fed from a pipe). The input ends at the end of the input.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Source, replayable};
use crate::error::StreamError;
use crate::message::{Message, Transaction};

/// Bento's `stdin` fields that Weir implements.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StdinConfig {
    /// How the input is cut into messages: `lines` only.
    pub codec: String,
    /// Largest line, in bytes; a longer line is cut there.
    pub max_buffer: usize,
    /// Deliver a nacked message again.
    pub auto_replay_nacks: bool,
}

impl Default for StdinConfig {
    fn default() -> Self {
        StdinConfig {
            codec: "lines".into(),
            max_buffer: 1_000_000,
            auto_replay_nacks: true,
        }
    }
}

/// A checked `stdin` input.
pub struct StdinInput {
    cfg: StdinConfig,
}

impl StdinInput {
    /// Checks the config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let cfg: StdinConfig = crate::config::typed(body, path)?;
        if cfg.codec != "lines" {
            return Err(StreamError::new(
                format!("{path}.codec"),
                format!("codec `{}` is not built; only `lines` is", cfg.codec),
            ));
        }
        Ok(StdinInput { cfg })
    }

    /// Sends one message per line of `reader` until it ends or `stop`.
    async fn read_lines(
        &self,
        mut reader: impl AsyncBufRead + Unpin,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) {
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = tokio::select! {
                _ = stop.cancelled() => return,
                r = reader.read_until(b'\n', &mut line) => r,
            };
            match read {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "stdin read failed");
                    return;
                }
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if line.is_empty() {
                continue;
            }
            line.truncate(self.cfg.max_buffer.max(1));
            let msg = Message {
                content: line.clone(),
                ..Message::default()
            };
            let t = replayable(&tx, msg, self.cfg.auto_replay_nacks);
            if tx.send(t).await.is_err() {
                return;
            }
        }
    }
}

impl Source for StdinInput {
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let reader = BufReader::new(tokio::io::stdin());
            self.read_lines(reader, tx, stop).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn each_line_is_a_message_and_blank_lines_are_skipped() {
        let input = StdinInput::new(&json!({}), "i").unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let data: &[u8] = b"one\r\n\ntwo\nthree";
        input
            .read_lines(BufReader::new(data), tx, CancellationToken::new())
            .await;
        let mut got = Vec::new();
        while let Some(t) = rx.recv().await {
            got.push(String::from_utf8(t.msg.content.clone()).unwrap());
            t.ack.resolve(Ok(()));
        }
        assert_eq!(got, ["one", "two", "three"]);
    }

    #[test]
    fn other_codecs_are_refused() {
        let e = StdinInput::new(&json!({"codec": "csv"}), "i")
            .err()
            .unwrap();
        assert_eq!(e.path, "i.codec");
    }
}
