//! Outputs: one file each, one config struct each. An output takes a message and resolves,
//! once it has delivered it (or failed to), the outcome that acknowledges the input.

mod broker;
mod drop;
pub mod http_server;
pub mod kafka;
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
