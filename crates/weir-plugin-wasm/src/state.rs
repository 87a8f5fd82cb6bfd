//! What the host keeps per instance ([`HostState`], the wasmtime store data) and per driver
//! ([`Shared`]: shared data, queues, metrics).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Memory, ResourceLimiter, TypedFunc};
use weir_core::plugin::{ApiSpecInfo, HookContext, MessageDirection, Session};

/// State shared by every instance a driver creates (proxy-wasm's "shared" key-value store,
/// queues and metrics are host-wide).
#[derive(Default)]
pub(crate) struct Shared {
    /// key → (value, cas).
    pub data: Mutex<HashMap<String, (Vec<u8>, u32)>>,
    pub queues: Mutex<Queues>,
    pub metrics: Mutex<Vec<Metric>>,
}

/// Shared queues, keyed by name (Weir has one VM namespace per driver, so `vm_id` is ignored).
#[derive(Default)]
pub(crate) struct Queues {
    pub by_name: HashMap<String, u32>,
    pub items: HashMap<u32, VecDeque<Vec<u8>>>,
}

/// One defined metric.
pub(crate) struct Metric {
    pub kind: i32,
    pub name: String,
    pub value: i64,
}

/// A host-configured upstream `proxy_http_call` may reach (the allow-list).
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// `http://host:port`, no trailing slash.
    pub base: String,
}

/// An `proxy_http_call` the filter made during the current callback, not sent yet.
pub(crate) struct PendingCall {
    pub id: u32,
    pub upstream: Upstream,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// The answer to an HTTP call, readable while `proxy_on_http_call_response` runs.
pub(crate) struct CallResponse {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
}

/// The HTTP stream (one hook call) the instance is working on.
pub(crate) struct Stream {
    pub id: u32,
    pub ctx: HookContext,
    /// The filter called `proxy_send_local_response`.
    pub local_response: bool,
    /// The filter called `proxy_continue_stream` since the last check.
    pub resumed: bool,
    /// Properties set under paths Weir gives no meaning to, readable back in the same call.
    pub scratch: HashMap<Vec<u8>, Vec<u8>>,
    pub pending: Vec<PendingCall>,
    pub call_response: Option<CallResponse>,
    /// Set when the call is a stream hook on one gRPC message (`proxy_on_grpc_message`);
    /// `ctx` then only carries the call's request headers, read-only.
    pub grpc: Option<GrpcCall>,
}

/// The gRPC message a stream hook call works on, and what the filter asked for.
pub(crate) struct GrpcCall {
    pub direction: MessageDirection,
    pub method: Arc<str>,
    pub index: u64,
    /// The message as it stands: the original, or the filter's replacement.
    pub payload: Bytes,
    /// The filter called `weir_set_grpc_message`.
    pub replaced: bool,
    /// The filter called `weir_end_grpc_stream(code, message)`.
    pub end: Option<(u8, String)>,
    /// Shared with the gateway rather than copied into `ctx` for every message.
    pub session: Option<Arc<Session>>,
}

/// Per-instance host state (the wasmtime `Store` data).
pub(crate) struct HostState {
    pub shared: Arc<Shared>,
    pub upstreams: Arc<HashMap<String, Upstream>>,
    pub api: Arc<ApiSpecInfo>,
    pub memory: Option<Memory>,
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub memory_limit: usize,
    pub memory_exceeded: bool,
    pub plugin_config: Bytes,
    /// Name given to `plugin_name` outside a stream (the first hook using the module).
    pub root_name: String,
    pub root_id: u32,
    pub effective: u32,
    pub next_call_id: u32,
    pub stream: Option<Stream>,
    /// Last error-level log line or stderr output, to explain a crash.
    pub last_error: Option<String>,
    pub exit_code: Option<i32>,
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit || maximum.is_some_and(|m| desired > m) {
            // Refuse (memory.grow returns -1); the guest's allocator then aborts with a trap,
            // which the flag lets us report as a memory-limit crash.
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000 && maximum.is_none_or(|m| desired <= m))
    }
}
