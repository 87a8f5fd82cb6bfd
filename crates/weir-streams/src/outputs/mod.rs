//! Outputs: one file each, one config struct each. An output takes a message and resolves,
//! once it has delivered it (or failed to), the outcome that acknowledges the input.

mod amqp_0_9;
mod broker;
mod drop;
mod http_client;
pub mod http_server;
pub mod kafka;
mod mqtt;
mod nats;
mod nats_jetstream;
mod redis_list;
mod redis_pubsub;
mod redis_streams;
mod stdout;
mod switch;
mod sync_response;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::build::Built;
use crate::config::component;
use crate::error::StreamError;
use crate::message::{Message, Outcome, SyncSlot};
use crate::processors::{self, Chain};

/// Where messages leave a stream.
pub trait Output: Send + Sync {
    /// Writes a message. Whatever must happen in message order (queueing in a producer)
    /// happens before this returns; the future resolves when delivery is confirmed.
    fn write(&self, msg: Message, sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome>;

    /// How many writes may be outstanding at once (`max_in_flight`).
    fn max_in_flight(&self) -> usize {
        1
    }
}

/// `output_resources`: outputs declared once by label and used as `resource: <label>`.
#[derive(Default)]
pub struct OutputResources {
    /// label → (config, path).
    pub outputs: Vec<(String, Value, String)>,
}

const MAX_DEPTH: usize = 16;

/// Builds an output (with its own `processors`, if any).
pub(crate) fn build(
    v: &Value,
    path: &str,
    built: &mut Built<'_>,
    depth: usize,
) -> Result<Arc<dyn Output>, StreamError> {
    if depth > MAX_DEPTH {
        return Err(StreamError::new(
            path,
            "outputs nest too deeply (or a resource refers to itself)",
        ));
    }
    let c = component(v, path, true)?;
    let procs = Chain::build(c.processors, &format!("{path}.processors"), built.resources)?;
    let out: Arc<dyn Output> = match c.kind {
        "drop" => Arc::new(drop::DropOutput::new(c.body, &c.path)?),
        "sync_response" => Arc::new(sync_response::SyncResponseOutput::new(c.body, &c.path)?),
        "broker" => Arc::new(broker::BrokerOutput::new(c.body, &c.path, built, depth)?),
        "switch" => Arc::new(switch::SwitchOutput::new(c.body, &c.path, built, depth)?),
        "kafka" => Arc::new(kafka::KafkaOutput::new(c.body, &c.path)?),
        "http_client" => Arc::new(http_client::HttpClientOutput::new(c.body, &c.path)?),
        "stdout" => Arc::new(stdout::StdoutOutput::new(c.body, &c.path)?),
        "amqp_0_9" => Arc::new(amqp_0_9::AmqpOutput::new(
            c.body,
            &c.path,
            &mut built.links,
        )?),
        "mqtt" => Arc::new(mqtt::MqttOutput::new(c.body, &c.path, &mut built.links)?),
        "nats" => Arc::new(nats::NatsOutput::new(c.body, &c.path, &mut built.links)?),
        "nats_jetstream" => Arc::new(nats_jetstream::NatsJetStreamOutput::new(
            c.body,
            &c.path,
            &mut built.links,
        )?),
        "redis_streams" => Arc::new(redis_streams::RedisStreamsOutput::new(
            c.body, &c.path, built,
        )?),
        "redis_pubsub" => Arc::new(redis_pubsub::RedisPubsubOutput::new(
            c.body, &c.path, built,
        )?),
        "redis_list" => Arc::new(redis_list::RedisListOutput::new(c.body, &c.path, built)?),
        "http_server" => {
            let out = Arc::new(http_server::HttpServerOutput::new(c.body, &c.path)?);
            built.http_outputs.push(out.clone());
            Arc::new(http_server::HttpServerWriter(out))
        }
        "resource" => {
            let name = c.body.as_str().ok_or_else(|| {
                StreamError::new(&c.path, "expected the label of an output resource")
            })?;
            let (_, cfg, at) = built
                .output_resources
                .outputs
                .iter()
                .find(|(l, _, _)| l == name)
                .cloned()
                .ok_or_else(|| {
                    StreamError::new(&c.path, format!("no output resource labelled `{name}`"))
                })?;
            build(&cfg, &at, built, depth + 1)?
        }
        other => return Err(processors::not_built(&c.path, "output", other)),
    };
    Ok(if procs.is_empty() {
        out
    } else {
        Arc::new(WithProcessors {
            procs: Arc::new(procs),
            inner: out,
        })
    })
}

/// An output with its own `processors`, run just before it.
struct WithProcessors {
    procs: Arc<Chain>,
    inner: Arc<dyn Output>,
}

impl Output for WithProcessors {
    fn write(&self, msg: Message, sync: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
        match self.procs.run(msg, sync.as_deref()) {
            Some(msg) => self.inner.write(msg, sync),
            // Dropped by its processors: delivered nowhere, acknowledged.
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::Resources;
    use serde_json::json;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// What recorders delivered, in delivery order: (recorder name, content).
    pub(super) type Log = Arc<Mutex<Vec<(String, String)>>>;

    /// An output that records each message it delivers. Its first `fail` writes fail;
    /// each write waits `delay` before it delivers.
    pub(super) struct Recorder {
        name: String,
        log: Log,
        fail: AtomicUsize,
        delay: Duration,
        pub(super) attempts: AtomicUsize,
    }

    impl Output for Recorder {
        fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let failing = self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let (log, name, delay) = (self.log.clone(), self.name.clone(), self.delay);
            Box::pin(async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if failing {
                    return Err(format!("{name} failed"));
                }
                let content = String::from_utf8_lossy(&msg.content).into_owned();
                log.lock().unwrap().push((name, content));
                Ok(())
            })
        }
    }

    pub(super) fn recorder(name: &str, log: &Log) -> Arc<Recorder> {
        recorder_with(name, log, 0, Duration::ZERO)
    }

    /// A recorder that fails its first `fail` writes and waits `delay` before delivering.
    pub(super) fn recorder_with(
        name: &str,
        log: &Log,
        fail: usize,
        delay: Duration,
    ) -> Arc<Recorder> {
        Arc::new(Recorder {
            name: name.into(),
            log: log.clone(),
            fail: AtomicUsize::new(fail),
            delay,
            attempts: AtomicUsize::new(0),
        })
    }

    pub(super) fn entries(log: &Log) -> Vec<(String, String)> {
        log.lock().unwrap().clone()
    }

    pub(super) fn msg(content: &str) -> Message {
        Message {
            content: content.as_bytes().to_vec(),
            ..Message::default()
        }
    }

    /// Runs `f` with an empty [`Built`] (no resources).
    pub(super) fn with_built<T>(f: impl FnOnce(&mut Built<'_>) -> T) -> T {
        let resources = Resources::default();
        let output_resources = OutputResources::default();
        let mut built = Built {
            resources: &resources,
            output_resources: &output_resources,
            http_outputs: Vec::new(),
            links: Vec::new(),
        };
        f(&mut built)
    }

    fn output(v: Value) -> Result<Arc<dyn Output>, StreamError> {
        with_built(|b| build(&v, "o", b, 0))
    }

    #[tokio::test]
    async fn output_processors_run_before_the_output() {
        let o = output(json!({
            "sync_response": {},
            "processors": [{"mapping": "root = content().uppercase()"}],
        }))
        .unwrap();
        let slot = Arc::new(SyncSlot::default());
        assert_eq!(o.write(msg("hi"), Some(slot.clone())).await, Ok(()));
        assert_eq!(slot.take().unwrap().content, b"HI");
    }

    #[tokio::test]
    async fn a_message_dropped_by_output_processors_is_acknowledged_and_not_written() {
        let o = output(json!({
            "sync_response": {},
            "processors": [{"mapping": "root = deleted()"}],
        }))
        .unwrap();
        let slot = Arc::new(SyncSlot::default());
        assert_eq!(o.write(msg("hi"), Some(slot.clone())).await, Ok(()));
        assert!(slot.take().is_none());
    }

    #[tokio::test]
    async fn output_resources_are_built_by_label() {
        let resources = Resources::default();
        let output_resources = OutputResources {
            outputs: vec![(
                "reply".into(),
                json!({"label": "reply", "sync_response": {},
                       "processors": [{"mapping": "root = \"from resource\""}]}),
                "res[0]".into(),
            )],
        };
        let mut built = Built {
            resources: &resources,
            output_resources: &output_resources,
            http_outputs: Vec::new(),
            links: Vec::new(),
        };
        let o = build(&json!({"resource": "reply"}), "o", &mut built, 0).unwrap();
        let slot = Arc::new(SyncSlot::default());
        o.write(msg("x"), Some(slot.clone())).await.unwrap();
        assert_eq!(slot.take().unwrap().content, b"from resource");
        let e = build(&json!({"resource": "other"}), "o", &mut built, 0)
            .err()
            .unwrap();
        assert_eq!(e.path, "o.resource");
        assert!(e.reason.contains("`other`"), "{}", e.reason);
    }

    #[test]
    fn an_output_resource_referring_to_itself_is_refused() {
        let resources = Resources::default();
        let output_resources = OutputResources {
            outputs: vec![(
                "me".into(),
                json!({"label": "me", "resource": "me"}),
                "res[0]".into(),
            )],
        };
        let mut built = Built {
            resources: &resources,
            output_resources: &output_resources,
            http_outputs: Vec::new(),
            links: Vec::new(),
        };
        let e = build(&json!({"resource": "me"}), "o", &mut built, 0)
            .err()
            .unwrap();
        assert!(e.reason.contains("nest too deeply"), "{}", e.reason);
    }

    #[test]
    fn unknown_outputs_and_fields_are_refused_by_name() {
        let e = output(json!({"aws_s3": {"bucket": "b"}})).err().unwrap();
        assert_eq!(e.path, "o.aws_s3");
        assert!(
            e.reason.contains("output `aws_s3` is not built"),
            "{}",
            e.reason
        );
        let e = output(json!({"drop": {}, "processors": [{"nope": {}}]}))
            .err()
            .unwrap();
        assert_eq!(e.path, "o.processors[0].nope");
        let e = output(json!({"sync_response": {"status": 200}}))
            .err()
            .unwrap();
        assert_eq!(e.path, "o.sync_response.status");
    }

    #[test]
    fn http_server_outputs_are_collected_for_the_binding() {
        let n = with_built(|b| {
            build(
                &json!({"broker": {"outputs": [
                    {"http_server": {"path": "/a"}},
                    {"http_server": {"path": "/b", "stream_path": "", "ws_path": ""}},
                ]}}),
                "o",
                b,
                0,
            )
            .unwrap();
            b.http_outputs
                .iter()
                .map(|o| o.cfg.path.clone())
                .collect::<Vec<_>>()
        });
        assert_eq!(n, ["/a", "/b"]);
    }

    #[tokio::test]
    async fn recorder_fails_then_delivers() {
        let log = Log::default();
        let r = recorder_with("r", &log, 1, Duration::ZERO);
        assert!(r.write(msg("1"), None).await.is_err());
        assert!(r.write(msg("2"), None).await.is_ok());
        assert_eq!(entries(&log), [("r".to_string(), "2".to_string())]);
    }
}
