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

#[cfg(test)]
mod tests {
    use super::super::tests::{Log, Recorder, entries, msg, recorder, recorder_with, with_built};
    use super::*;
    use serde_json::json;

    /// A broker with `pattern` built from config, its outputs replaced by `outs`.
    fn broker(pattern: &str, outs: &[Arc<Recorder>]) -> BrokerOutput {
        let outputs: Vec<Value> = outs.iter().map(|_| json!({"drop": {}})).collect();
        let mut b = with_built(|built| {
            BrokerOutput::new(
                &json!({"pattern": pattern, "outputs": outputs}),
                "o.broker",
                built,
                0,
            )
        })
        .unwrap();
        b.outputs = outs.iter().map(|r| r.clone() as Arc<dyn Output>).collect();
        b
    }

    fn e(name: &str, content: &str) -> (String, String) {
        (name.to_string(), content.to_string())
    }

    fn attempts(r: &Recorder) -> usize {
        r.attempts.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn fan_out_gives_every_output_the_message() {
        let log = Log::default();
        let outs = [
            recorder("a", &log),
            recorder("b", &log),
            recorder("c", &log),
        ];
        let b = broker("fan_out", &outs);
        assert_eq!(b.write(msg("m"), None).await, Ok(()));
        let mut got = entries(&log);
        got.sort();
        assert_eq!(got, [e("a", "m"), e("b", "m"), e("c", "m")]);
    }

    #[tokio::test]
    async fn fan_out_is_the_default_pattern_and_writes_concurrently() {
        let log = Log::default();
        let slow = recorder_with("slow", &log, 0, Duration::from_millis(50));
        let fast = recorder("fast", &log);
        let mut b = with_built(|built| {
            BrokerOutput::new(
                &json!({"outputs": [{"drop": {}}, {"drop": {}}]}),
                "o.broker",
                built,
                0,
            )
        })
        .unwrap();
        b.outputs = vec![slow.clone(), fast.clone()];
        b.write(msg("m"), None).await.unwrap();
        assert_eq!(entries(&log), [e("fast", "m"), e("slow", "m")]);
    }

    #[tokio::test]
    async fn fan_out_retries_a_failing_output_until_it_delivers() {
        let log = Log::default();
        let flaky = recorder_with("flaky", &log, 2, Duration::ZERO);
        let ok = recorder("ok", &log);
        let b = broker("fan_out", &[flaky.clone(), ok.clone()]);
        assert_eq!(b.write(msg("m"), None).await, Ok(()));
        assert_eq!(attempts(&flaky), 3);
        assert_eq!(attempts(&ok), 1, "a delivered output is not written again");
        let mut got = entries(&log);
        got.sort();
        assert_eq!(got, [e("flaky", "m"), e("ok", "m")]);
    }

    #[tokio::test]
    async fn fan_out_fail_fast_nacks_on_a_failure() {
        let log = Log::default();
        let bad = recorder_with("bad", &log, 1, Duration::ZERO);
        let ok = recorder("ok", &log);
        let b = broker("fan_out_fail_fast", &[bad.clone(), ok.clone()]);
        assert_eq!(b.write(msg("m"), None).await, Err("bad failed".to_string()));
        assert_eq!(attempts(&bad), 1);
        assert_eq!(entries(&log), [e("ok", "m")]);
    }

    #[tokio::test]
    async fn fan_out_sequential_writes_one_output_after_the_other() {
        let log = Log::default();
        let slow = recorder_with("slow", &log, 0, Duration::from_millis(50));
        let fast = recorder("fast", &log);
        let b = broker("fan_out_sequential", &[slow.clone(), fast.clone()]);
        let w = b.write(msg("m"), None);
        assert_eq!(attempts(&fast), 0, "the second output waits for the first");
        assert_eq!(w.await, Ok(()));
        assert_eq!(entries(&log), [e("slow", "m"), e("fast", "m")]);
    }

    #[tokio::test]
    async fn fan_out_sequential_retries_before_moving_on() {
        let log = Log::default();
        let flaky = recorder_with("flaky", &log, 1, Duration::ZERO);
        let next = recorder("next", &log);
        let b = broker("fan_out_sequential", &[flaky.clone(), next.clone()]);
        assert_eq!(b.write(msg("m"), None).await, Ok(()));
        assert_eq!(attempts(&flaky), 2);
        assert_eq!(entries(&log), [e("flaky", "m"), e("next", "m")]);
    }

    #[tokio::test]
    async fn fan_out_sequential_fail_fast_stops_at_the_failure() {
        let log = Log::default();
        let bad = recorder_with("bad", &log, 1, Duration::ZERO);
        let next = recorder("next", &log);
        let b = broker("fan_out_sequential_fail_fast", &[bad.clone(), next.clone()]);
        assert!(b.write(msg("m"), None).await.is_err());
        assert_eq!(attempts(&next), 0);
        assert!(entries(&log).is_empty());
    }

    #[tokio::test]
    async fn round_robin_alternates() {
        let log = Log::default();
        let b = broker("round_robin", &[recorder("a", &log), recorder("b", &log)]);
        for i in 0..4 {
            b.write(msg(&i.to_string()), None).await.unwrap();
        }
        assert_eq!(
            entries(&log),
            [e("a", "0"), e("b", "1"), e("a", "2"), e("b", "3")]
        );
    }

    #[tokio::test]
    async fn round_robin_moves_a_failed_message_to_the_next_output() {
        let log = Log::default();
        let a = recorder_with("a", &log, 1, Duration::ZERO);
        let b = recorder("b", &log);
        let broker = broker("round_robin", &[a.clone(), b.clone()]);
        broker.write(msg("0"), None).await.unwrap();
        broker.write(msg("1"), None).await.unwrap();
        assert_eq!(entries(&log), [e("b", "0"), e("b", "1")]);
        assert_eq!(attempts(&a), 1);
    }

    #[tokio::test]
    async fn a_broker_built_from_config_reaches_real_outputs() {
        let o = with_built(|b| {
            super::super::build(
                &json!({"broker": {"pattern": "fan_out_sequential", "outputs": [
                    {"drop": {}},
                    {"sync_response": {}, "processors": [{"mapping": "root = \"second\""}]},
                ]}}),
                "o",
                b,
                0,
            )
        })
        .unwrap();
        let slot = Arc::new(SyncSlot::default());
        o.write(msg("first"), Some(slot.clone())).await.unwrap();
        assert_eq!(slot.take().unwrap().content, b"second");
    }

    #[test]
    fn broker_config_errors_name_the_field() {
        let err = |v: Value| {
            with_built(|b| BrokerOutput::new(&v, "o.broker", b, 0))
                .err()
                .unwrap()
        };
        let one = json!([{"drop": {}}]);
        let x = err(json!({"copies": 2, "outputs": one}));
        assert_eq!(x.path, "o.broker.copies");
        let x = err(json!({"pattern": "greedy", "outputs": one}));
        assert_eq!(x.path, "o.broker.pattern");
        assert!(x.reason.contains("`greedy`"), "{}", x.reason);
        let x = err(json!({"pattern": "fan_out"}));
        assert_eq!(x.path, "o.broker.outputs");
        let x = err(json!({"outputs": one, "batching": {"count": 10}}));
        assert_eq!(x.path, "o.broker.batching");
        let x = err(json!({"outputs": [{"drop": {}}, {"nope": {}}]}));
        assert_eq!(x.path, "o.broker.outputs[1].nope");
    }

    #[test]
    fn max_in_flight_is_the_smallest_of_its_outputs() {
        let log = Log::default();
        let b = broker("fan_out", &[recorder("a", &log)]);
        assert_eq!(b.max_in_flight(), 1);
        let b = with_built(|built| {
            BrokerOutput::new(
                &json!({"outputs": [{"drop": {}}, {"sync_response": {}}]}),
                "o.broker",
                built,
                0,
            )
        })
        .unwrap();
        assert!(b.max_in_flight() > 1);
    }
}
