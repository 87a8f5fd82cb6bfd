//! The proxy: listeners, routing, upstream connections, and the request path.
//!
//! Configuration arrives already validated from `weir-config`; [`api::CompiledApi`] and
//! [`router::RoutingTable`] turn it into values the request path only reads. A reload builds
//! a new table and swaps it in with [`Gateway::swap_table`]. Each API's request path is its
//! [`lifecycle::Lifecycle`]: one ordered list of phases, one module per phase in `phases/`.

pub mod activity;
pub mod api;
pub mod auth;
pub mod body;
pub mod context_vars;
pub mod cors;
pub mod drain;
pub mod endpoint;
pub mod error_overrides;
pub mod exchange;
pub mod flood;
pub mod fuzzing;
pub mod gateway;
pub mod grpc_frame;
pub mod grpc_web;
pub mod grpc_web_text;
pub mod headers;
pub mod lifecycle;
pub mod limits;
pub mod listen_path;
pub mod looping;
pub mod message_hooks;
pub mod metrics;
pub mod path;
pub mod phases;
pub mod pipeline;
pub mod request_validation;
pub mod respond;
pub mod router;
pub mod server;
pub mod stream_hooks;
pub mod streams;
pub mod tls;
pub mod transforms;
pub mod upstream;
pub mod upstream_body;
pub mod validation_messages;
pub mod versions;
pub mod websocket;

pub use api::{ApiPlugins, CompiledApi};
pub use body::ProxyBody;
pub use gateway::{ConnInfo, ControlPlane, Gateway, ResponseFuture};
pub use router::RoutingTable;
pub use server::{Server, ServerError};
