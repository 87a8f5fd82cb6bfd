//! JSVM virtual endpoints (Tyk's `extended_paths.virtual`): a function that answers a path
//! and method instead of the upstream. The JS driver loads them; the proxy matches the paths
//! and calls them through [`VirtualHandler`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

use crate::plugin::{ApiSpecInfo, BoxFuture, PluginError, Session};

/// Where the function's code is (`function_source_type` / `function_source_uri`).
#[derive(Debug, Clone, PartialEq)]
pub enum VirtualCode {
    /// A `.js` file.
    File(PathBuf),
    /// The code, base64-encoded.
    Blob(String),
}

/// What a driver needs to load one virtual endpoint.
#[derive(Debug, Clone)]
pub struct VirtualSpec {
    /// `response_function_name`.
    pub function: String,
    /// The code.
    pub code: VirtualCode,
    /// The API (ids and config_data).
    pub api: Arc<ApiSpecInfo>,
    /// The deadline of one call.
    pub timeout: Duration,
}

/// The request a virtual endpoint answers.
#[derive(Debug, Clone, Default)]
pub struct VirtualRequest {
    /// Path and query, as the client sent them.
    pub url: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The session the function gets as its second argument (Tyk passes it when the
    /// endpoint's `use_session` is on and the request has one); `None` gives it an empty one.
    pub session: Option<Session>,
}

/// A virtual endpoint's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualAnswer {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// `SessionMeta`, when the function returned an object there (Tyk writes it to the
    /// session when `use_session` is on).
    pub session_meta: Option<BTreeMap<String, serde_json::Value>>,
}

/// A loaded virtual endpoint function.
pub trait VirtualHandler: Send + Sync {
    /// Runs the function on one request.
    fn call(&self, request: VirtualRequest) -> BoxFuture<'_, Result<VirtualAnswer, PluginError>>;
}

/// A virtual endpoint of an API, loaded: where it answers and what answers.
#[derive(Clone)]
pub struct VirtualEndpoint {
    /// The path as declared (Tyk's pattern; the proxy compiles it).
    pub path: String,
    /// Method, upper-case.
    pub method: String,
    /// `proxy_on_error`: on a failure, the request goes to the upstream.
    pub proxy_on_error: bool,
    /// `ignore_case` of the entry.
    pub ignore_case: bool,
    /// The function.
    pub handler: Arc<dyn VirtualHandler>,
}
