//! `stdout` (output): writes each message and a newline to the process's standard output,
//! for local runs.

use std::io::Write;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};

/// Bento's `stdout` fields that Weir implements.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StdoutConfig {
    /// How messages are separated: `lines` only.
    pub codec: String,
}

impl Default for StdoutConfig {
    fn default() -> Self {
        StdoutConfig {
            codec: "lines".into(),
        }
    }
}

/// A checked `stdout` output.
pub struct StdoutOutput;

impl StdoutOutput {
    /// Checks the config.
    pub fn new(body: &Value, path: &str) -> Result<Self, StreamError> {
        let cfg: StdoutConfig = crate::config::typed(body, path)?;
        if cfg.codec != "lines" {
            return Err(StreamError::new(
                format!("{path}.codec"),
                format!("codec `{}` is not built; only `lines` is", cfg.codec),
            ));
        }
        Ok(StdoutOutput)
    }
}

/// One message as a line.
fn line(msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.content.len() + 1);
    out.extend_from_slice(&msg.content);
    out.push(b'\n');
    out
}

impl Output for StdoutOutput {
    fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        // Written whole under the lock, so lines of concurrent streams never interleave.
        let result = std::io::stdout()
            .lock()
            .write_all(&line(&msg))
            .map_err(|e| format!("stdout: {e}"));
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_is_one_line() {
        let m = Message {
            content: b"hello".to_vec(),
            ..Message::default()
        };
        assert_eq!(line(&m), b"hello\n");
        assert!(StdoutOutput::new(&json!({}), "o").is_ok());
        let e = StdoutOutput::new(&json!({"codec": "all-bytes"}), "o")
            .err()
            .unwrap();
        assert_eq!(e.path, "o.codec");
    }
}
