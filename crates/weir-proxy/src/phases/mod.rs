//! One module per lifecycle phase (see `lifecycle.rs` for their order).

pub mod auth;
pub mod context_vars;
pub mod cors;
pub mod endpoint_lists;
pub mod grpc_web;
pub mod headers;
pub mod internal_endpoints;
pub mod ip_access;
pub mod method_transform;
pub mod plugins;
pub mod size_limit;
pub mod stream_hooks;
pub mod url_rewrite;
pub mod url_rewrite_triggers;
pub mod validate;
pub mod version_check;
pub mod virtual_endpoints;
