//! Inputs: one file each, one config struct each.

pub mod http_server;
pub mod kafka;

use std::sync::Arc;

use serde_json::Value;

use crate::config::component;
use crate::error::StreamError;
use crate::processors::{self, Chain, Resources};

/// A checked input.
pub enum Input {
    /// Requests under the API's listen path.
    HttpServer(Arc<http_server::HttpServerInput>),
    /// A Kafka consumer group.
    Kafka(Arc<kafka::KafkaInput>),
}

/// Builds the input and its own processors.
pub fn build(v: &Value, path: &str, resources: &Resources) -> Result<(Input, Chain), StreamError> {
    let c = component(v, path, true)?;
    let procs = Chain::build(c.processors, &format!("{path}.processors"), resources)?;
    let input = match c.kind {
        "http_server" => Input::HttpServer(Arc::new(http_server::HttpServerInput::new(
            c.body, &c.path,
        )?)),
        "kafka" => Input::Kafka(Arc::new(kafka::KafkaInput::new(c.body, &c.path)?)),
        other => return Err(processors::not_built(&c.path, "input", other)),
    };
    Ok((input, procs))
}
