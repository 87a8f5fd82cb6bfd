//! Weir's shared vocabulary: Tyk's error bodies and the gRPC status codes the gateway emits.
//!
//! This crate does no I/O; the proxy, the control API and (later) the plugin host use it so
//! that every error a client sees has the same shape.

pub mod errors;
pub mod grpc;

pub use errors::{GatewayError, error_json};
