//! Weir's shared vocabulary: Tyk's error bodies, the gRPC status codes the gateway emits, and
//! the plugin request model with the [`plugin::Driver`] trait.
//!
//! This crate does no I/O; the proxy, the control API and (later) the plugin host use it so
//! that every error a client sees has the same shape.

pub mod errors;
pub mod escape;
pub mod grpc;
pub mod headers;
pub mod plugin;
pub mod virtual_endpoint;
pub mod worker_hooks;

pub use errors::{GatewayError, error_json};
