//! Weir's stream engine: Bento-shaped streams (input → processors → output) declared in an
//! API definition's `x-tyk-streaming` block, with acknowledgements travelling from the output
//! back to the input (at-least-once), and their HTTP binding under the API's listen path.
//!
//! Layout: [`config`] reads Bento's component shape; [`inputs`], [`processors`] and
//! [`outputs`] hold one file per component with one config struct each; [`build`] compiles a
//! stream; [`instance`] runs one; [`engine`] keeps one instance per distinct `$tyk_context`
//! substitution, stops idle ones and keeps unchanged streams across reloads; [`http`] serves
//! the endpoints.

#![warn(missing_docs)]

pub mod amqp_client;
pub mod build;
pub mod config;
pub mod context;
pub mod duration;
pub mod engine;
pub mod error;
pub mod http;
pub mod http_client;
pub mod inputs;
pub mod instance;
pub mod kafka_client;
pub mod link;
pub mod message;
pub mod metrics;
pub mod mqtt_client;
pub mod nats_client;
pub mod outputs;
pub mod processors;
pub mod redis_client;

pub use context::RequestContext;
pub use engine::{ApiStreams, Engine, check};
pub use error::StreamError;
