//! [`HostCtx`]: what a plugin's `WeirCtx` pointer stands for during one call — a request or
//! response hook's [`HookContext`], or one gRPC message of a stream hook.

use bytes::Bytes;
use http::HeaderMap;
use weir_core::plugin::{ApiSpecInfo, GrpcMessage, HookContext, Session};
use weir_plugin_abi::*;

/// What the current call works on.
pub(crate) enum Target<'a> {
    /// A request or response hook: everything is readable and most of it writable.
    Hook(&'a mut HookContext),
    /// A stream hook: the call's request is read-only, the message is replaced on the side.
    Message(MessageCall<'a>),
}

/// A stream hook's message and the verdict details the plugin gave through host calls.
pub(crate) struct MessageCall<'a> {
    /// Read-only during the call: the plugin holds pointers into its payload and method.
    pub msg: &'a GrpcMessage,
    /// What `set_grpc_message` gave, applied after the call on a pass.
    pub replacement: Option<Bytes>,
    /// What `set_grpc_status` gave, used when the hook returns `WEIR_GRPC_END`.
    pub status: Option<(u8, String)>,
}

/// The per-call context behind a plugin's `WeirCtx` pointer.
pub(crate) struct HostCtx<'a> {
    pub target: Target<'a>,
    /// The plugin's name, for its log lines.
    pub plugin: &'a str,
    /// Values built for the plugin (decoded parameters, session JSON).
    pub scratch: Vec<u8>,
    /// What the plugin said went wrong (`set_error`).
    pub error: Option<String>,
}

impl<'a> HostCtx<'a> {
    /// A context for a request or response hook.
    pub fn for_hook(hook: &'a mut HookContext, plugin: &'a str) -> Self {
        HostCtx::new(Target::Hook(hook), plugin)
    }

    /// A context for a stream hook on `msg`.
    pub fn for_message(msg: &'a GrpcMessage, plugin: &'a str) -> Self {
        let call = MessageCall {
            msg,
            replacement: None,
            status: None,
        };
        HostCtx::new(Target::Message(call), plugin)
    }

    fn new(target: Target<'a>, plugin: &'a str) -> Self {
        HostCtx {
            target,
            plugin,
            scratch: Vec::new(),
            error: None,
        }
    }

    pub fn as_ptr(&mut self) -> *mut WeirCtx {
        (self as *mut HostCtx<'a>).cast()
    }

    /// The hook context; `WEIR_ERR_UNAVAILABLE` in a stream hook, which changes no request.
    pub fn hook(&mut self) -> Result<&mut HookContext, WeirStatus> {
        match &mut self.target {
            Target::Hook(hook) => Ok(hook),
            Target::Message(_) => Err(WEIR_ERR_UNAVAILABLE),
        }
    }

    /// The message call; `WEIR_ERR_UNAVAILABLE` outside stream hooks.
    pub fn message(&mut self) -> Result<&mut MessageCall<'a>, WeirStatus> {
        match &mut self.target {
            Target::Message(call) => Ok(call),
            Target::Hook(_) => Err(WEIR_ERR_UNAVAILABLE),
        }
    }

    /// The request headers: as the hook sees them, or as they went upstream for a stream.
    pub fn request_headers(&self) -> &HeaderMap {
        match &self.target {
            Target::Hook(hook) => &hook.request.headers,
            Target::Message(call) => &call.msg.headers,
        }
    }

    pub fn session(&self) -> Option<&Session> {
        match &self.target {
            Target::Hook(hook) => hook.session.as_ref(),
            Target::Message(call) => call.msg.session.as_deref(),
        }
    }

    pub fn spec(&self) -> &ApiSpecInfo {
        match &self.target {
            Target::Hook(hook) => &hook.spec,
            Target::Message(call) => &call.msg.spec,
        }
    }

    /// A metadata entry; stream hooks have none (the request's metadata is not carried).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        match &self.target {
            Target::Hook(hook) => hook.metadata.get(key).map(String::as_str),
            Target::Message(_) => None,
        }
    }

    /// The declared hook's name, for log lines.
    pub fn hook_name(&self) -> &str {
        match &self.target {
            Target::Hook(hook) => &hook.name,
            Target::Message(call) => &call.msg.hook,
        }
    }
}
