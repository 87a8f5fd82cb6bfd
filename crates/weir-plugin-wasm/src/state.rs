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

/// What a call handed back, readable while the callback that delivers it runs: an HTTP
/// call's answer, or one part of a gRPC call or stream (initial metadata, a message, or
/// trailing metadata).
#[derive(Default)]
pub(crate) struct CallResponse {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
    pub trailers: Vec<(String, Vec<u8>)>,
}

/// A call a filter made during the current callback, started when the callback returns.
pub(crate) enum Outbound {
    Http(PendingCall),
    Grpc(crate::grpc_call::GrpcRequest),
}

/// What the tasks running a context's calls report, delivered to the filter in order.
pub(crate) enum Event {
    /// An HTTP call ended; `None` when it failed.
    Http {
        id: u32,
        answer: Option<CallResponse>,
    },
    /// A gRPC stream's initial metadata.
    GrpcHeaders {
        id: u32,
        metadata: Vec<(String, Vec<u8>)>,
    },
    /// A gRPC response message (a unary call's answer, or one message of a stream).
    GrpcMessage { id: u32, message: Bytes },
    /// A gRPC stream's trailing metadata.
    GrpcTrailers {
        id: u32,
        trailers: Vec<(String, Vec<u8>)>,
    },
    /// A gRPC call or stream ended with a status (a unary call that succeeded ends with its
    /// message instead).
    GrpcClose { id: u32, code: u32, message: String },
}

impl Event {
    /// The call the event belongs to.
    pub fn id(&self) -> u32 {
        match self {
            Event::Http { id, .. }
            | Event::GrpcHeaders { id, .. }
            | Event::GrpcMessage { id, .. }
            | Event::GrpcTrailers { id, .. }
            | Event::GrpcClose { id, .. } => *id,
        }
    }
}

/// Whether a running call is a one-shot call (the filter's pause waits for it) or a stream.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum CallKind {
    Call,
    Stream,
}

/// The calls of the open HTTP context: where their tasks report, what runs, and the send
/// side of each open gRPC stream.
pub(crate) struct Callouts {
    pub events: tokio::sync::mpsc::UnboundedSender<Event>,
    pub running: HashMap<u32, (CallKind, Option<tokio::task::AbortHandle>)>,
    pub senders: HashMap<u32, tokio::sync::mpsc::UnboundedSender<Bytes>>,
}

impl Callouts {
    pub fn new(events: tokio::sync::mpsc::UnboundedSender<Event>) -> Self {
        Callouts {
            events,
            running: HashMap::new(),
            senders: HashMap::new(),
        }
    }

    /// Ends every call (the context is over): no callback of theirs will come.
    pub fn abort_all(&mut self) {
        for (_, (_, task)) in self.running.drain() {
            if let Some(task) = task {
                task.abort();
            }
        }
        self.senders.clear();
    }

    /// One-shot calls still running.
    pub fn calls(&self) -> usize {
        self.running
            .values()
            .filter(|(k, _)| *k == CallKind::Call)
            .count()
    }

    /// gRPC streams still open.
    pub fn streams(&self) -> usize {
        self.running
            .values()
            .filter(|(k, _)| *k == CallKind::Stream)
            .count()
    }
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
    pub pending: Vec<Outbound>,
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
    /// The open HTTP context's calls; `None` outside one (the root context cannot call out).
    pub callouts: Option<Callouts>,
    /// Status of the last gRPC call or stream that ended (`proxy_get_status`).
    pub grpc_status: (u32, String),
    /// The root context's timer period (`proxy_set_tick_period_milliseconds`); `None` = off.
    pub tick_period: Option<Duration>,
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
