//! `broker` (output): several outputs at once — `fan_out`, `fan_out_fail_fast`,
//! `fan_out_sequential`, `fan_out_sequential_fail_fast`, `round_robin`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use serde::Deserialize;
use serde_json::Value;

use super::Output;
use crate::build::Built;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};

/// Bento's `broker` output fields (batching is not built and is refused by name).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Copies of each output (only 1 is built).
    pub copies: u32,
    /// How messages are spread.
    pub pattern: String,
    /// The outputs.
    pub outputs: Vec<Value>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            copies: 1,
            pattern: "fan_out".into(),
            outputs: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Pattern {
    FanOut { fail_fast: bool },
    Sequential { fail_fast: bool },
    RoundRobin,
}

/// Writes to its outputs as its pattern says.
pub struct BrokerOutput {
    outputs: Vec<Arc<dyn Output>>,
    pattern: Pattern,
    next: AtomicUsize,
}

/// Longest wait between retries of a failing output (`fan_out` retries until it succeeds).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl BrokerOutput {
    /// Reads the config and builds the outputs.
    pub fn new(
        body: &Value,
        path: &str,
        built: &mut Built<'_>,
        depth: usize,
    ) -> Result<Self, StreamError> {
        let cfg: BrokerConfig = crate::config::typed(body, path)?;
        if cfg.copies != 1 {
            return Err(StreamError::new(
                format!("{path}.copies"),
                "only `copies: 1` is built",
            ));
        }
        let pattern = match cfg.pattern.as_str() {
            "fan_out" => Pattern::FanOut { fail_fast: false },
            "fan_out_fail_fast" => Pattern::FanOut { fail_fast: true },
            "fan_out_sequential" => Pattern::Sequential { fail_fast: false },
            "fan_out_sequential_fail_fast" => Pattern::Sequential { fail_fast: true },
            "round_robin" => Pattern::RoundRobin,
            other => {
                return Err(StreamError::new(
                    format!("{path}.pattern"),
                    format!(
                        "the pattern `{other}` is not built (fan_out, fan_out_fail_fast, fan_out_sequential, fan_out_sequential_fail_fast, round_robin are)"
                    ),
                ));
            }
        };
        if cfg.outputs.is_empty() {
            return Err(StreamError::new(
                format!("{path}.outputs"),
                "a broker needs at least one output",
            ));
        }
        let mut outputs = Vec::with_capacity(cfg.outputs.len());
        for (i, o) in cfg.outputs.iter().enumerate() {
            outputs.push(super::build(
                o,
                &format!("{path}.outputs[{i}]"),
                built,
                depth + 1,
            )?);
        }
        Ok(BrokerOutput {
            outputs,
            pattern,
            next: AtomicUsize::new(0),
        })
    }
}

/// Writes until the output takes the message, backing off between attempts.
async fn until_delivered(
    out: Arc<dyn Output>,
    first: BoxFuture<'static, Outcome>,
    msg: Message,
    sync: Option<Arc<SyncSlot>>,
) -> Outcome {
    let mut attempt = first;
    let mut backoff = Duration::from_millis(50);
    loop {
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "broker output failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                attempt = out.write(msg.clone(), sync.clone());
            }
        }
    }
}

impl Output for BrokerOutput {
    fn write(&self, msg: Message, sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        match self.pattern {
            Pattern::FanOut { fail_fast } => {
                let writes: Vec<_> = self
                    .outputs
                    .iter()
                    .map(|o| {
                        let first = o.write(msg.clone(), sync.clone());
                        if fail_fast {
                            first
                        } else {
                            Box::pin(until_delivered(o.clone(), first, msg.clone(), sync.clone()))
                        }
                    })
                    .collect();
                Box::pin(async move {
                    for r in join_all(writes).await {
                        r?;
                    }
                    Ok(())
                })
            }
            Pattern::Sequential { fail_fast } => {
                let outputs = self.outputs.clone();
                Box::pin(async move {
                    for o in outputs {
                        let first = o.write(msg.clone(), sync.clone());
                        if fail_fast {
                            first.await?;
                        } else {
                            until_delivered(o, first, msg.clone(), sync.clone()).await?;
                        }
                    }
                    Ok(())
                })
            }
            Pattern::RoundRobin => {
                let n = self.outputs.len();
                let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
                let outputs = self.outputs.clone();
                Box::pin(async move {
                    // A failure moves the message on to the next output, round and round.
                    let mut backoff = Duration::from_millis(50);
                    let mut i = start;
                    loop {
                        match outputs[i % n].write(msg.clone(), sync.clone()).await {
                            Ok(()) => return Ok(()),
                            Err(e) => {
                                tracing::warn!(error = %e, "round_robin output failed; trying the next");
                                i += 1;
                                if i % n == start {
                                    tokio::time::sleep(backoff).await;
                                    backoff = (backoff * 2).min(MAX_BACKOFF);
                                }
                            }
                        }
                    }
                })
            }
        }
    }

    fn max_in_flight(&self) -> usize {
        self.outputs
            .iter()
            .map(|o| o.max_in_flight())
            .min()
            .unwrap_or(1)
    }
}
