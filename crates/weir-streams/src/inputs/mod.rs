//! Inputs: one file each, one config struct each.

pub mod amqp_0_9;
pub mod generate;
pub mod http_client;
pub mod http_server;
pub mod kafka;
pub mod mqtt;
pub mod nats;
pub mod nats_jetstream;
pub mod redis_list;
pub mod redis_pubsub;
pub mod redis_streams;
pub mod stdin;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::component;
use crate::error::StreamError;
use crate::link::Link;
use crate::message::Transaction;
use crate::processors::{self, Chain, Resources};

/// An input that reads by itself (every input but `http_server`): it connects, reads until
/// `stop`, sends each message with an acknowledgement wired to its source's own (commit, ack,
/// nack), and reconnects with back-off when the source goes away. Reading waits on `tx`, whose
/// bound is the back-pressure a slow output puts on the source.
pub trait Source: Send + Sync {
    /// Reads until `stop` or until the source has nothing more (a finite `generate`, `stdin`).
    fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<Transaction>,
        stop: CancellationToken,
    ) -> BoxFuture<'static, ()>;
}

/// A checked input.
pub enum Input {
    /// Requests under the API's listen path.
    HttpServer(Arc<http_server::HttpServerInput>),
    /// Anything that reads by itself.
    Source(Arc<dyn Source>),
}

/// Builds the input and its own processors; connectors add their [`Link`] to `links`.
pub fn build(
    v: &Value,
    path: &str,
    resources: &Resources,
    links: &mut Vec<Arc<Link>>,
) -> Result<(Input, Chain), StreamError> {
    let c = component(v, path, true)?;
    let procs = Chain::build(c.processors, &format!("{path}.processors"), resources)?;
    let source = |s: Arc<dyn Source>| Input::Source(s);
    let input = match c.kind {
        "http_server" => Input::HttpServer(Arc::new(http_server::HttpServerInput::new(
            c.body, &c.path,
        )?)),
        "kafka" => source(Arc::new(kafka::KafkaInput::new(c.body, &c.path, links)?)),
        "generate" => source(Arc::new(generate::GenerateInput::new(c.body, &c.path)?)),
        "http_client" => source(Arc::new(http_client::HttpClientInput::new(
            c.body, &c.path, links,
        )?)),
        "stdin" => source(Arc::new(stdin::StdinInput::new(c.body, &c.path)?)),
        "amqp_0_9" => source(Arc::new(amqp_0_9::AmqpInput::new(c.body, &c.path, links)?)),
        "mqtt" => source(Arc::new(mqtt::MqttInput::new(c.body, &c.path, links)?)),
        "nats" => source(Arc::new(nats::NatsInput::new(c.body, &c.path, links)?)),
        "nats_jetstream" => source(Arc::new(nats_jetstream::NatsJetStreamInput::new(
            c.body, &c.path, links,
        )?)),
        "redis_streams" => source(Arc::new(redis_streams::RedisStreamsInput::new(
            c.body, &c.path, links,
        )?)),
        "redis_pubsub" => source(Arc::new(redis_pubsub::RedisPubsubInput::new(
            c.body, &c.path, links,
        )?)),
        "redis_list" => source(Arc::new(redis_list::RedisListInput::new(
            c.body, &c.path, links,
        )?)),
        other => return Err(processors::not_built(&c.path, "input", other)),
    };
    Ok((input, procs))
}

/// An acknowledgement for inputs whose source cannot redeliver by itself (core NATS, MQTT
/// QoS 0, Redis pub/sub, `generate`, `stdin`): a nack sends the same message again from
/// memory after a short pause when `replay` is on (Bento's `auto_replay_nacks`), else counts
/// as done. `done` runs once, with the final outcome.
pub(crate) fn replaying_ack(
    tx: mpsc::Sender<Transaction>,
    msg: crate::message::Message,
    replay: bool,
    done: Box<dyn FnOnce(crate::message::Outcome) + Send>,
) -> crate::message::Ack {
    crate::message::Ack::new(move |outcome| match outcome {
        Err(e) if replay && !tx.is_closed() => {
            tracing::debug!(error = %e, "message nacked; delivering it again");
            tokio::spawn(async move {
                tokio::time::sleep(REPLAY_PAUSE).await;
                let again = tx.clone();
                let t = Transaction {
                    ack: replaying_ack(again, msg.clone(), replay, done),
                    msg,
                    sync: None,
                };
                let _ = tx.send(t).await;
            });
        }
        other => done(other),
    })
}

/// The transaction of a message whose source keeps nothing to acknowledge (Redis pub/sub,
/// `generate`, `stdin`): a nack replays it from memory when `replay` is on.
pub(crate) fn replayable(
    tx: &mpsc::Sender<Transaction>,
    msg: crate::message::Message,
    replay: bool,
) -> Transaction {
    Transaction {
        ack: replaying_ack(tx.clone(), msg.clone(), replay, Box::new(|_| {})),
        msg,
        sync: None,
    }
}

/// How long a nacked message waits before it is delivered again.
pub(crate) const REPLAY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Spawns `f` (an acknowledgement's round trip to the broker) on the current runtime, if
/// there is one: an acknowledgement dropped while the process exits has none, and the broker
/// then redelivers.
pub(crate) fn spawn_detached(f: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_nacked_message_is_sent_again_and_done_runs_once() {
        let (tx, mut rx) = mpsc::channel(4);
        let finished = Arc::new(Mutex::new(Vec::new()));
        let f = finished.clone();
        let msg = Message {
            content: b"m".to_vec(),
            ..Message::default()
        };
        let ack = replaying_ack(
            tx.clone(),
            msg,
            true,
            Box::new(move |o| f.lock().unwrap().push(o)),
        );
        ack.resolve(Err("refused".into()));
        let again = rx.recv().await.unwrap();
        assert_eq!(again.msg.content, b"m");
        assert!(finished.lock().unwrap().is_empty());
        again.ack.resolve(Ok(()));
        assert_eq!(*finished.lock().unwrap(), [Ok(())]);
    }

    #[tokio::test]
    async fn without_replay_a_nack_is_final() {
        let (tx, _rx) = mpsc::channel(4);
        let finished = Arc::new(Mutex::new(Vec::new()));
        let f = finished.clone();
        replaying_ack(
            tx,
            Message::default(),
            false,
            Box::new(move |o| f.lock().unwrap().push(o)),
        )
        .resolve(Err("refused".into()));
        assert_eq!(*finished.lock().unwrap(), [Err("refused".to_string())]);
    }
}
