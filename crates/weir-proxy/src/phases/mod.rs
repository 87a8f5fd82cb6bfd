//! One module per lifecycle phase (see `lifecycle.rs` for their order).

pub mod auth;
pub mod cors;
pub mod grpc_web;
pub mod headers;
pub mod plugins;
pub mod stream_hooks;
pub mod virtual_endpoints;
