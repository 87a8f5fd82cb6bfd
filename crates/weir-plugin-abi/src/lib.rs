//! Weir's native plugin ABI, version 1: the `#[repr(C)]` types and constants that the host
//! (`weir-plugin-native`) and plugins (`weir-plugin-sdk`, or C via `include/weir_plugin.h`)
//! share. The header and these types are kept in step by a test that compiles the header with a
//! C compiler and compares every size and offset.
//!
//! # Shape
//! A plugin is a shared library exporting two symbols:
//! - [`ABI_VERSION_SYMBOL`] (`weir_plugin_abi_version`): a `u32` equal to
//!   [`WEIR_PLUGIN_ABI_VERSION`], read before anything else is touched;
//! - [`DESCRIPTOR_SYMBOL`] (`weir_plugin_v1`): `extern "C" fn() -> *const WeirPluginV1`,
//!   returning a descriptor with static lifetime.
//!
//! The plugin never receives a serialized request. Each hook call gets an opaque [`WeirCtx`]
//! pointer and the host's function table [`WeirHostApi`]; the plugin reads and changes only
//! what it needs, so a hook that sets one header costs a few function calls.
//!
//! # Rules both sides keep
//! - Strings and buffers cross as [`WeirStr`] (pointer + length, not NUL-terminated, UTF-8
//!   unless a function says bytes). Data the host hands out stays valid until the next host
//!   call on the same `ctx`, and never past the end of the hook call: copy what you keep.
//! - Host functions return a [`WeirStatus`]: [`WEIR_OK`], [`WEIR_NOT_FOUND`] for an absent
//!   value, or a negative error.
//! - `call` may run on several threads at once with the same instance; a `ctx` belongs to one
//!   call on one thread and is dead once the call returns.
//! - Growth within version 1 only appends fields: each side checks `struct_size` and reads
//!   only the fields it knows that the other side has ([`host_api_has`] tells a plugin whether
//!   the host's table reaches a field).
//!
//! # Stream hooks
//! `on_grpc_message` sees one gRPC message at a time. Its return status is the verdict:
//! [`WEIR_OK`] passes the message (replaced when the hook called `set_grpc_message`),
//! [`WEIR_GRPC_DROP`] drops it, [`WEIR_GRPC_END`] ends the call with the status given to
//! `set_grpc_status`; an error status fails the call with gRPC INTERNAL.

#![no_std]

use core::ffi::c_void;

/// The ABI version this crate describes. A plugin built for another version is refused at load.
pub const WEIR_PLUGIN_ABI_VERSION: u32 = 1;

/// Name of the exported `u32` holding the plugin's ABI version (NUL-terminated for `dlsym`).
pub const ABI_VERSION_SYMBOL: &[u8] = b"weir_plugin_abi_version\0";

/// Name of the exported descriptor function of ABI version 1 (NUL-terminated for `dlsym`).
pub const DESCRIPTOR_SYMBOL: &[u8] = b"weir_plugin_v1\0";

/// Result of a host function or hook call.
pub type WeirStatus = i32;

/// Success.
pub const WEIR_OK: WeirStatus = 0;
/// The asked-for value is absent (header, parameter, session, config data, ...).
pub const WEIR_NOT_FOUND: WeirStatus = 1;
/// An argument is invalid: not UTF-8, a bad header name or value, an unknown method, a null
/// pointer, an unknown hook kind.
pub const WEIR_ERR_INVALID: WeirStatus = -1;
/// The value does not exist in this hook (the response outside response hooks, a gRPC
/// message outside `on_grpc_message`).
pub const WEIR_ERR_UNAVAILABLE: WeirStatus = -2;
/// The hook failed; the plugin said why with `set_error` before returning.
pub const WEIR_ERR_HOOK: WeirStatus = -3;
/// The hook panicked (or threw); the message was passed with `set_error`.
pub const WEIR_ERR_PANIC: WeirStatus = -4;
/// The other side is built for an incompatible table (its `struct_size` is too small).
pub const WEIR_ERR_ABI: WeirStatus = -5;
/// A bug on the host side; the call failed without changing anything.
pub const WEIR_ERR_INTERNAL: WeirStatus = -6;

/// `on_grpc_message` verdict: do not send this message; the stream goes on.
pub const WEIR_GRPC_DROP: WeirStatus = 2;
/// `on_grpc_message` verdict: end the call with the status given to `set_grpc_status`.
pub const WEIR_GRPC_END: WeirStatus = 3;

/// `hook_kind` of a pre hook (numbers are Tyk's `coprocess.HookType`).
pub const WEIR_HOOK_PRE: u32 = 1;
/// `hook_kind` of a post hook.
pub const WEIR_HOOK_POST: u32 = 2;
/// `hook_kind` of a post-key-auth hook.
pub const WEIR_HOOK_POST_KEY_AUTH: u32 = 3;
/// `hook_kind` of a custom authentication hook (`auth_check`).
pub const WEIR_HOOK_AUTH_CHECK: u32 = 4;
/// `hook_kind` of a response hook.
pub const WEIR_HOOK_RESPONSE: u32 = 5;

/// Log level: trace.
pub const WEIR_LOG_TRACE: u32 = 0;
/// Log level: debug.
pub const WEIR_LOG_DEBUG: u32 = 1;
/// Log level: info.
pub const WEIR_LOG_INFO: u32 = 2;
/// Log level: warn.
pub const WEIR_LOG_WARN: u32 = 3;
/// Log level: error.
pub const WEIR_LOG_ERROR: u32 = 4;

/// `on_grpc_message` direction: a message from the client to the upstream.
pub const WEIR_GRPC_CLIENT_TO_SERVER: u32 = 1;
/// `on_grpc_message` direction: a message from the upstream to the client.
pub const WEIR_GRPC_SERVER_TO_CLIENT: u32 = 2;

/// The host's per-call context. Opaque: only a pointer to it crosses the boundary.
#[repr(C)]
pub struct WeirCtx {
    _opaque: [u8; 0],
}

/// A borrowed string or byte buffer: `ptr` may be null only when `len` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WeirStr {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl WeirStr {
    /// The empty string.
    pub const EMPTY: WeirStr = WeirStr {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// Borrows a byte slice (usable in `const` items, e.g. a static descriptor's name).
    pub const fn from_bytes(bytes: &[u8]) -> WeirStr {
        WeirStr {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows a string.
    pub const fn from_text(s: &str) -> WeirStr {
        WeirStr::from_bytes(s.as_bytes())
    }

    /// Views the bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid and unchanged for `'a` (or
    /// `len` must be 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            &[]
        } else {
            core::slice::from_raw_parts(self.ptr, self.len)
        }
    }
}

/// A buffer the host owns, into which `init` writes why it failed (truncated to `cap`).
#[repr(C)]
#[derive(Debug)]
pub struct WeirErrorBuf {
    /// Start of the buffer.
    pub ptr: *mut u8,
    /// Capacity in bytes.
    pub cap: usize,
    /// Bytes written (set by the plugin).
    pub len: usize,
}

/// Reads a value: `out` receives a string valid until the next host call on `ctx`.
pub type GetFn = unsafe extern "C" fn(ctx: *mut WeirCtx, out: *mut WeirStr) -> WeirStatus;
/// Replaces a value.
pub type SetFn = unsafe extern "C" fn(ctx: *mut WeirCtx, value: WeirStr) -> WeirStatus;
/// Reads a named value: [`WEIR_NOT_FOUND`] when absent.
pub type GetNamedFn =
    unsafe extern "C" fn(ctx: *mut WeirCtx, name: WeirStr, out: *mut WeirStr) -> WeirStatus;
/// Sets a named value.
pub type SetNamedFn =
    unsafe extern "C" fn(ctx: *mut WeirCtx, name: WeirStr, value: WeirStr) -> WeirStatus;
/// Deletes a named value (deleting an absent one is [`WEIR_OK`]).
pub type DeleteNamedFn = unsafe extern "C" fn(ctx: *mut WeirCtx, name: WeirStr) -> WeirStatus;

/// The host's function table, handed to `init` and to every call. Functions documented with
/// "request hooks" or "response hooks" return [`WEIR_ERR_UNAVAILABLE`] elsewhere.
#[repr(C)]
pub struct WeirHostApi {
    /// [`WEIR_PLUGIN_ABI_VERSION`] of the host.
    pub abi_version: u32,
    /// `size_of::<WeirHostApi>()` on the host: fields past it do not exist.
    pub struct_size: u32,
    /// The request method.
    pub get_method: GetFn,
    /// Sets the method (an HTTP token, e.g. `POST`).
    pub set_method: SetFn,
    /// The request's path and query, listen path included (Tyk's `request.url`).
    pub get_url: GetFn,
    /// Replaces path and query (no spaces or control characters).
    pub set_url: SetFn,
    /// The path and query as the client sent them (read-only).
    pub get_request_uri: GetFn,
    /// `http` or `https` (read-only).
    pub get_scheme: GetFn,
    /// First value of a request header (name case-insensitive; the value is bytes).
    pub get_request_header: GetNamedFn,
    /// Sets a request header, replacing every value it had.
    pub set_request_header: SetNamedFn,
    /// Deletes a request header.
    pub delete_request_header: DeleteNamedFn,
    /// The whole request body (bytes).
    pub get_request_body: GetFn,
    /// Replaces the request body (bytes).
    pub set_request_body: SetFn,
    /// First value of a query parameter, percent-decoded.
    pub get_query_param: GetNamedFn,
    /// Sets a query parameter, replacing every value it had (Tyk's `add_params`).
    pub set_query_param: SetNamedFn,
    /// Deletes every value of a query parameter.
    pub delete_query_param: DeleteNamedFn,
    /// The upstream's status (response hooks).
    pub get_response_status: unsafe extern "C" fn(ctx: *mut WeirCtx, out: *mut i32) -> WeirStatus,
    /// Sets the status sent to the client, 100..=999 (response hooks).
    pub set_response_status: unsafe extern "C" fn(ctx: *mut WeirCtx, status: i32) -> WeirStatus,
    /// First value of a response header (response hooks).
    pub get_response_header: GetNamedFn,
    /// Sets a response header, replacing every value (response hooks).
    pub set_response_header: SetNamedFn,
    /// Deletes a response header (response hooks).
    pub delete_response_header: DeleteNamedFn,
    /// The whole response body (bytes; response hooks).
    pub get_response_body: GetFn,
    /// Replaces the response body (bytes; response hooks).
    pub set_response_body: SetFn,
    /// Answers the client instead of the upstream (Tyk's return overrides): a code >= 400
    /// without `override_error` renders Tyk's error template with `body` as the message; any
    /// other code sends `body` (UTF-8) as is; `-1` removes the override (and its headers).
    /// Codes are 100..=999.
    /// `override_error` is a boolean (non-zero).
    pub set_return_override: unsafe extern "C" fn(
        ctx: *mut WeirCtx,
        code: i32,
        body: WeirStr,
        override_error: u32,
    ) -> WeirStatus,
    /// Adds a header to the override answer.
    pub add_override_header: SetNamedFn,
    /// A metadata entry (for `auth_check`, `token` names the key).
    pub get_metadata: GetNamedFn,
    /// Sets a metadata entry.
    pub set_metadata: SetNamedFn,
    /// The session as Tyk's REST JSON; [`WEIR_NOT_FOUND`] when there is none (always in pre
    /// and `auth_check`, as in Tyk).
    pub get_session_json: GetFn,
    /// Replaces the session with Tyk REST JSON; the JSON `null` removes it.
    pub set_session_json: SetFn,
    /// The API's `config_data` as JSON text; [`WEIR_NOT_FOUND`] when unset or disabled.
    pub get_config_data: GetFn,
    /// Logs a message through the gateway's logger. `ctx` may be null (e.g. during `init`).
    pub log: unsafe extern "C" fn(ctx: *mut WeirCtx, level: u32, msg: WeirStr) -> WeirStatus,
    /// Says why the hook failed; call before returning [`WEIR_ERR_HOOK`] or [`WEIR_ERR_PANIC`].
    pub set_error: SetFn,
    /// Replaces the message being processed (bytes; `on_grpc_message` only). The hook must
    /// then return [`WEIR_OK`]; the last call wins.
    pub set_grpc_message: SetFn,
    // Appended for stream hooks: a plugin checks `host_api_has` before calling these.
    /// Sets the gRPC status ending the call (`code` 0..=16, `message` UTF-8); the hook must
    /// then return [`WEIR_GRPC_END`] (`on_grpc_message` only).
    pub set_grpc_status:
        unsafe extern "C" fn(ctx: *mut WeirCtx, code: u32, message: WeirStr) -> WeirStatus,
    /// The message's position in its direction of the call, from 0, counting dropped
    /// messages (`on_grpc_message` only).
    pub get_grpc_message_index:
        unsafe extern "C" fn(ctx: *mut WeirCtx, out: *mut u64) -> WeirStatus,
    // Appended for plugin metrics: a plugin checks `host_api_has` before calling it.
    /// Adds `delta` to the plugin counter `name` of the call's API, shown on the gateway's
    /// `/metrics` as `weir_plugin_events_total{api_id, name}` (any hook; `delta` 0 just makes
    /// the series appear). `name` is 1..=64 bytes of `[A-Za-z0-9_.:-]`; an invalid name, or a
    /// new one past the gateway's limit on series, is [`WEIR_ERR_INVALID`].
    pub count: unsafe extern "C" fn(ctx: *mut WeirCtx, name: WeirStr, delta: u64) -> WeirStatus,
}

/// `struct_size` of the first version-1 host table, which ends at `set_grpc_message`. Every
/// version-1 host has at least this; hooks that call only those functions need no more.
pub const HOST_API_BASE_SIZE: usize = core::mem::offset_of!(WeirHostApi, set_grpc_status);

/// `struct_size` of the host tables that have the stream functions (`set_grpc_status`,
/// `get_grpc_message_index`) but may lack later ones such as `count`: what a stream hook
/// needs at least.
pub const HOST_API_STREAM_SIZE: usize = core::mem::offset_of!(WeirHostApi, count);

/// True when a host table of `struct_size` bytes has the field that starts at `offset` and is
/// `size` bytes long (use `offset_of!` and `size_of`), e.g. before calling `set_grpc_status`.
pub const fn host_api_has(struct_size: u32, offset: usize, size: usize) -> bool {
    struct_size as usize >= offset + size
}

/// `init`: builds an instance from the API's `config_data` (JSON text, `null` when unset).
/// Returns a non-null pointer (a stateless plugin may return the address of any static), or
/// null after writing why into `err`.
pub type InitFn = unsafe extern "C" fn(
    host: *const WeirHostApi,
    config_json: WeirStr,
    err: *mut WeirErrorBuf,
) -> *mut c_void;

/// `call`: runs the hook `hook_name` of kind `hook_kind` (`WEIR_HOOK_*`) on `ctx`.
pub type CallFn = unsafe extern "C" fn(
    instance: *mut c_void,
    host: *const WeirHostApi,
    ctx: *mut WeirCtx,
    hook_kind: u32,
    hook_name: WeirStr,
) -> WeirStatus;

/// `drop`: frees an instance; called once, after its last `call` has returned.
pub type DropFn = unsafe extern "C" fn(instance: *mut c_void);

/// `on_grpc_message`: sees one gRPC message (`direction` is `WEIR_GRPC_*`, `method_path` the
/// `/package.Service/Method` path, `message` the protobuf bytes without framing, decompressed;
/// both valid for the whole call) and answers with its status: [`WEIR_OK`] (pass; replaced when
/// it called `set_grpc_message`), [`WEIR_GRPC_DROP`], [`WEIR_GRPC_END`] (after
/// `set_grpc_status`), or an error ([`WEIR_ERR_HOOK`] / [`WEIR_ERR_PANIC`] after `set_error`).
/// Request getters (headers, session, config data) work on `ctx`; the method is `POST`; url,
/// body, query parameters and the response are [`WEIR_ERR_UNAVAILABLE`], and so are setters
/// other than the message ones. May be null in a plugin without stream hooks: declaring one
/// for it is then a load error.
pub type GrpcMessageFn = unsafe extern "C" fn(
    instance: *mut c_void,
    host: *const WeirHostApi,
    ctx: *mut WeirCtx,
    hook_name: WeirStr,
    direction: u32,
    method_path: WeirStr,
    message: WeirStr,
) -> WeirStatus;

/// What a plugin exports through `weir_plugin_v1()`: a descriptor with static lifetime.
#[repr(C)]
pub struct WeirPluginV1 {
    /// [`WEIR_PLUGIN_ABI_VERSION`] the plugin was built for.
    pub abi_version: u32,
    /// `size_of::<WeirPluginV1>()` in the plugin.
    pub struct_size: u32,
    /// The plugin's name, for logs.
    pub name: WeirStr,
    /// See [`InitFn`].
    pub init: InitFn,
    /// See [`CallFn`].
    pub call: CallFn,
    /// See [`DropFn`].
    pub drop: DropFn,
    /// See [`GrpcMessageFn`]; null when the plugin has no stream hooks.
    pub on_grpc_message: Option<GrpcMessageFn>,
}

// SAFETY: a descriptor is immutable static data (a name and function pointers) once built.
unsafe impl Sync for WeirPluginV1 {}
// SAFETY: as above; the name points to static bytes.
unsafe impl Send for WeirPluginV1 {}

/// Type of the exported descriptor function.
pub type DescriptorFn = unsafe extern "C" fn() -> *const WeirPluginV1;
